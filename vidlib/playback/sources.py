"""The list of sources the player tries, in order of preference.

1. the pre-transcoded MP4, once it exists (a plain file: Range requests, seeks natively);
2. the file itself when it plays as it is (``direct``), or its live remux (``remux``);
3. the live transcode, always last: it plays anything ffmpeg reads, so the player falls back to
   it when a browser refuses what the probe promised (an odd profile, a broken header).
"""

from __future__ import annotations

from typing import Any

from vidlib.playback.compat import decide
from vidlib.streaming import mime_type


def stream_url(video_hash: str, mode: str, start: float = 0.0) -> str:
    """The URL of a live stream (``remux`` or ``transcode``) of a video from ``start`` seconds."""
    url = f"/video/{video_hash}/{mode}"
    return f"{url}?start={f'{start:.6f}'.rstrip('0').rstrip('.')}" if start > 0 else url


def playback_info(row: dict[str, Any], pretranscode: dict[str, Any]) -> dict[str, Any]:
    """``{mode, reason, pretranscode}`` for a videos row and the status of its pre-transcode."""
    mode, reason = decide(row.get("container"), row.get("video_codec"), row.get("audio_codec"), row.get("pix_fmt"))
    if row.get("playback") in ("direct", "remux", "transcode"):
        mode = row["playback"]  # decided at scan time
    return {"mode": mode, "reason": reason, "pretranscode": pretranscode}


def sources(video_hash: str, path: str, mode: str, pretranscoded_url: str | None) -> list[dict[str, str]]:
    """``[{url, type, mode}]`` in preference order (see the module docstring)."""
    found = []
    if pretranscoded_url:
        found.append({"url": pretranscoded_url, "type": "video/mp4", "mode": "pretranscoded"})
    if mode == "direct":
        found.append({"url": f"/video/{video_hash}", "type": mime_type(path), "mode": "direct"})
    elif mode == "remux":
        found.append({"url": stream_url(video_hash, "remux"), "type": "video/mp4", "mode": "remux"})
    found.append({"url": stream_url(video_hash, "transcode"), "type": "video/mp4", "mode": "transcode"})
    return found
