"""Preview media: kinds and their status rows (generation lives in the worker)."""

MEDIA_KINDS = ("poster", "preview_thumbnails", "seek_thumbnails", "teaser_small", "teaser_large")
