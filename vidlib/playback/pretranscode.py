"""Pre-transcoding: a browser-compatible MP4 written ahead of time by a worker job.

``MEDIA_DIR/<hash[:2]>/<hash>/playback.mp4``: H.264 + AAC with ``+faststart`` (or, for a video
whose streams only need a new container, the streams copied). Once it exists it is the first
source the player gets, served with Range like any file, so seeking is the browser's own.
"""

from __future__ import annotations

import logging
import os
import subprocess
from typing import Any, Callable

from vidlib.media.generate import MediaError, _remove, _tmp_name
from vidlib.playback.compat import decide
from vidlib.playback.live import ffmpeg_command

log = logging.getLogger(__name__)


def make_playback_file(video: dict[str, Any], out_path: str, config: dict[str, Any], progress: Callable[[float], None]) -> dict[str, Any]:
    """Write the compatible MP4 of ``video`` (a videos row) to ``out_path``; :class:`MediaError` for a bad file."""
    from vidlib.library.probe import ProbeError, probe

    mode = "remux" if decide(video.get("container"), video.get("video_codec"), video.get("audio_codec"), video.get("pix_fmt"))[0] == "remux" else "transcode"
    tmp = _tmp_name(out_path)
    cmd = ffmpeg_command(video, mode, config, ["-movflags", "+faststart", "-f", "mp4", "-progress", "pipe:1", "-y", tmp], prefix="PRETRANSCODE_")
    duration = float(video.get("duration") or 0)
    try:
        with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            for line in proc.stdout:  # -progress: key=value lines, out_time_us among them
                if line.startswith("out_time_us=") and duration > 0:
                    value = line.split("=", 1)[1].strip()
                    if value.lstrip("-").isdigit():
                        progress(min(0.99, max(0.0, int(value) / 1e6 / duration)))
            errors = proc.stderr.read()
        if proc.returncode != 0:
            lines = [line for line in errors.splitlines() if line.strip()]
            raise MediaError(f"ffmpeg could not convert the file: {lines[-1] if lines else f'exit status {proc.returncode}'}")
        try:
            info = probe(tmp)
        except ProbeError as exc:
            raise MediaError(f"the converted file is not playable: {exc}") from None
        if mode == "transcode" and info.video_codec != "h264":
            raise MediaError(f"the converted file has {info.video_codec} video, not h264")
        os.replace(tmp, out_path)
    finally:
        _remove(tmp)
    progress(1.0)
    log.info("pre-transcoded %s (%s) to %s", video.get("path"), mode, out_path)
    return {"mode": mode, "duration": info.duration, "bytes": os.path.getsize(out_path)}
