"""Preview media: kinds and their status rows (generation lives in the worker)."""

MEDIA_KINDS = ("poster", "preview_thumbnails", "seek_thumbnails", "teaser_small", "teaser_large")

# The optional pre-transcode (a browser-compatible MP4, docs/playback.md) is a job kind with a
# status row like the preview kinds, but it is never part of "every kind": it is only queued
# when asked for, and only makes sense for videos that do not play directly.
TRANSCODE_KIND = "transcode"
JOB_KINDS = MEDIA_KINDS + (TRANSCODE_KIND,)
