"""Live remux / transcode: ffmpeg started at a requested time, streaming fragmented MP4.

A stream is ``ffmpeg -ss START -i FILE ... -f mp4 -movflags frag_keyframe+empty_moov`` written
to a pipe and relayed to the client as it comes. Seeking is a new stream: the player knows the
duration from the probe, restarts the stream at the wanted time and shows ``start +
currentTime`` (docs/playback.md explains why this beat HLS here).

- **remux** copies the video (and browser-safe audio); output time 0 is the keyframe at or
  before the requested time, which :func:`keyframe_at_or_before` finds so the player can show
  the right time.
- **transcode** decodes from the keyframe before START and drops frames up to it (ffmpeg's
  accurate input seeking), so output time 0 is START exactly.

ffmpeg runs under ``nice`` and is killed when the response is closed (client gone, seek, server
stop). If the web worker itself dies, ffmpeg's next write to the pipe fails and it exits: no
orphans.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import subprocess
import tempfile
import time
from typing import Any, Iterator

from vidlib.playback.compat import audio_copies_to_mp4
from vidlib.playback.slots import Slot

log = logging.getLogger(__name__)

STREAM_MODES = ("remux", "transcode")
# ffmpeg moves an input -ss this much earlier when the video has B-frames and the demuxer seeks
# by dts (MKV, TS, AVI: ``seek_timestamp -= 3 * AV_TIME_BASE / 23`` in ffmpeg's option parsing),
# which would start a copy one GOP early. A remux asks for this much later than the keyframe.
DTS_SEEK_SLACK = 3 / 23 + 0.001
FRAGMENT_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
READ_BYTES = 256 * 1024


class StreamError(Exception):
    """ffmpeg could not produce the stream; the message says why (its last error line)."""


def ffmpeg_binary() -> str:
    return shutil.which("ffmpeg") or "ffmpeg"


def scale_filter(max_short_side: int) -> str:
    """Deinterlace what is interlaced; cap the short side at ``max_short_side`` px (portrait too), keep the aspect, even sizes, 4:2:0.

    ffmpeg applies the display rotation before the filters, so a rotated phone video comes out
    upright with the cap on its real short side.
    """
    m = int(max_short_side)
    return (
        # TV recordings (MPEG-2 TS) are often interlaced: frames flagged so are deinterlaced,
        # progressive ones pass through untouched.
        "yadif=deint=interlaced,"
        f"scale=w='if(gte(iw,ih),-2,trunc(min(iw,{m})/2)*2)':h='if(gte(iw,ih),trunc(min(ih,{m})/2)*2,-2)',"
        "format=yuv420p"
    )


def h264_args(config: dict[str, Any], prefix: str, fps: float | None) -> list[str]:
    """libx264 settings from the ``<prefix>PRESET`` / ``CRF`` / ``MAX_HEIGHT`` / ``THREADS`` settings."""
    gop = max(12, min(int(round((fps or 25) * 2)), 300))  # a keyframe every ~2 s
    args = [
        "-vf", scale_filter(config[prefix + "MAX_HEIGHT"]),
        "-c:v", "libx264", "-preset", config[prefix + "PRESET"], "-crf", str(config[prefix + "CRF"]),
        "-profile:v", "high", "-g", str(gop),
    ]
    if prefix == "TRANSCODE_":
        # Live: no lookahead and no B-frames, so the first frames leave the encoder at once
        # (3 s of 1080p HEVC as 720p after a seek: 2.4-3.3 s with veryfast, 1.0-1.6 s like this
        # with superfast; bench/playback.py). Costs some bitrate, which a LAN does not mind.
        args += ["-tune", "zerolatency"]
    if config[prefix + "THREADS"]:
        args += ["-threads", str(config[prefix + "THREADS"])]
    return args


def aac_args(config: dict[str, Any]) -> list[str]:
    return ["-c:a", "aac", "-b:a", config["TRANSCODE_AUDIO_BITRATE"], "-ac", "2"]


def ffmpeg_command(video: dict[str, Any], mode: str, config: dict[str, Any], output: list[str], start: float = 0.0, prefix: str = "TRANSCODE_") -> list[str]:
    """ffmpeg (under ``nice``) converting ``video`` (a videos row) from ``start`` s, then ``output``.

    ``remux`` copies the first video stream (and browser-safe audio, else AAC); ``transcode``
    encodes H.264 + AAC with the ``<prefix>*`` settings (live: ``TRANSCODE_``, pre-transcode:
    ``PRETRANSCODE_``).
    """
    if mode not in STREAM_MODES:
        raise ValueError(f"unknown stream mode {mode!r}")
    cmd = []
    nice = shutil.which("nice")
    if nice and config["TRANSCODE_NICE"]:
        cmd += [nice, "-n", str(config["TRANSCODE_NICE"])]
    cmd += [ffmpeg_binary(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
    if start > 0:
        cmd += ["-ss", f"{start + DTS_SEEK_SLACK if mode == 'remux' else start:.6f}"]
    if mode == "remux":
        cmd += ["-fflags", "+genpts"]  # AVI and raw-ish inputs carry no pts for MP4
    cmd += ["-i", video["path"], "-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]
    if mode == "remux":
        cmd += ["-c:v", "copy"]
        if video.get("video_codec") == "hevc":
            cmd += ["-tag:v", "hvc1"]  # the tag Safari wants for HEVC in MP4
        cmd += ["-c:a", "copy"] if audio_copies_to_mp4(video.get("audio_codec")) else aac_args(config)
    else:
        cmd += h264_args(config, prefix, video.get("fps")) + aac_args(config)
    return cmd + output


def stream_command(video: dict[str, Any], mode: str, start: float, config: dict[str, Any]) -> list[str]:
    """The ffmpeg command of a live stream from ``start`` seconds: fragmented MP4 on stdout."""
    # Short fragments: the browser gets its first frames without waiting for a whole GOP.
    output = ["-f", "mp4", "-movflags", FRAGMENT_MOVFLAGS, "-frag_duration", "500000", "pipe:1"]
    return ffmpeg_command(video, mode, config, output, start=start)


def keyframe_at_or_before(path: str, t: float) -> float:
    """The time (from the file's start) of the video keyframe a copy from ``t`` begins with.

    Seeks the way ffmpeg's ``-ss`` does (backward, to a keyframe) and reads the first keyframe
    packet from there: some demuxers (MPEG-TS) land after the wanted time, and the copy then
    starts at that later keyframe, so the packet read decides, not the wanted time. The copy's
    time 0 is that packet's decoding time (with B-frames a frame or two before it is shown), so
    that is the time returned; the stream command asks ffmpeg for it plus ``DTS_SEEK_SLACK``.
    """
    import av

    if t <= 0:
        return 0.0
    with av.open(path, metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        zero = container.start_time / av.time_base if container.start_time is not None else 0.0
        container.seek(int((zero + t) * av.time_base), backward=True, any_frame=False)
        for packet in container.demux(stream):
            ts = packet.dts if packet.dts is not None else packet.pts
            if ts is None or not packet.is_keyframe:
                continue
            return round(max(0.0, float(ts * stream.time_base) - zero), 6)
    return 0.0


class LiveStream:
    """The body of a live stream response: ffmpeg's output, relayed as it is written.

    ``close()`` (called by the WSGI server when the response ends or the client is gone) kills
    ffmpeg and releases the transcode slot.
    """

    def __init__(self, cmd: list[str], label: str, slot: Slot | None = None, session: str | None = None):
        self.label, self.slot = label, slot
        self.started = time.monotonic()
        self.sent = 0
        self.closed = False
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0)
        if slot is not None:
            slot.note(session, self.proc.pid)
        self._first = b""

    def wait_first_bytes(self, timeout: float) -> None:
        """Block until ffmpeg writes its first bytes; :class:`StreamError` if it fails or stalls."""
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        data = os.read(fd, READ_BYTES) if ready else b""
        if not data:
            reason = self.error_text() or (f"no output within {timeout:.0f} s" if not ready else "ffmpeg produced no output")
            self.close()
            raise StreamError(reason)
        self._first = data
        log.debug("%s: first bytes after %.3f s", self.label, time.monotonic() - self.started)

    def error_text(self) -> str:
        """ffmpeg's last error line (once it has exited)."""
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return ""
        self._stderr.seek(0)
        lines = [line.strip() for line in self._stderr.read().decode(errors="replace").splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""

    def __iter__(self) -> Iterator[bytes]:
        fd = self.proc.stdout.fileno()
        data = self._first
        self._first = b""
        while data:
            self.sent += len(data)
            yield data
            data = os.read(fd, READ_BYTES)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        finished = self.proc.poll() is not None
        if not finished:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait on anything
            log.error("%s: ffmpeg %s did not exit after SIGKILL", self.label, self.proc.pid)
        self.proc.stdout.close()
        if finished and (self.proc.returncode or 0) > 0:
            log.warning("%s: ffmpeg failed (exit %s): %s", self.label, self.proc.returncode, self.error_text() or "no message")
        self._stderr.close()
        if self.slot is not None:
            self.slot.release()
        log.info(
            "%s: %s after %.1f s, %.1f MB sent",
            self.label, "finished" if finished else "stopped (client gone or seeked away)", time.monotonic() - self.started, self.sent / 1e6,
        )
