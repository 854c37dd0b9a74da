"""Technical metadata of a video file, read in-process with PyAV (libav* under ffmpeg).

PyAV was chosen over an ffprobe subprocess and moviepy by measurement (bench/probe.py,
docs/benchmarks.md): it avoids a process start per file. One frame is decoded so that a file
whose header parses but whose video cannot be decoded is caught at scan time, and because the
display rotation is only exposed on decoded frames.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from fractions import Fraction

log = logging.getLogger(__name__)


class ProbeError(Exception):
    """The file is not a playable video; the message is the reason shown to users."""


@dataclass
class ProbeResult:
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    bitrate: int | None
    container: str | None
    rotation: int
    pix_fmt: str | None = None

    def as_dict(self) -> dict:
        """The ``videos`` columns this probe fills, with the playback mode it implies."""
        from vidlib.playback.compat import decide

        return {**asdict(self), "playback": decide(self.container, self.video_codec, self.audio_codec, self.pix_fmt)[0]}


def _fraction_to_float(value: Fraction | None) -> float | None:
    if not value:
        return None
    return round(float(value), 3)


def _container_name(format_names: str, path: str) -> str | None:
    """libav names demuxers by family ("mov,mp4,m4a,..."): prefer the member matching the extension."""
    names = [n for n in format_names.split(",") if n]
    if not names:
        return None
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    aliases = {"mkv": "matroska", "m4v": "mp4", "ts": "mpegts", "m2ts": "mpegts", "mts": "mpegts", "wmv": "asf", "mpg": "mpeg", "ogv": "ogg"}
    wanted = aliases.get(ext, ext)
    if wanted in names:
        return wanted
    return names[0]


def probe(path: str) -> ProbeResult:
    """Probe ``path``; raise :class:`ProbeError` with a human-readable reason on failure."""
    import av  # heavy import kept out of module import time

    try:
        container = av.open(path, metadata_errors="ignore")
    except av.error.InvalidDataError:
        raise ProbeError("not a video file, or the file is corrupt (no readable container)") from None
    except av.FFmpegError as exc:
        raise ProbeError(f"cannot open as video: {exc.strerror or exc}") from None
    except OSError as exc:
        raise ProbeError(f"cannot read file: {exc.strerror or exc}") from None
    with container:
        if not container.streams.video:
            raise ProbeError("no video stream in file")
        vstream = container.streams.video[0]
        astream = container.streams.audio[0] if container.streams.audio else None
        duration = None
        if container.duration is not None and container.duration > 0:
            duration = container.duration / av.time_base
        elif vstream.duration and vstream.time_base:
            duration = float(vstream.duration * vstream.time_base)
        rotation = 0
        try:
            vstream.thread_type = "AUTO"
            frame = next(container.decode(vstream))
            rotation = int(getattr(frame, "rotation", 0) or 0) % 360
            width, height = frame.width, frame.height
        except StopIteration:
            raise ProbeError("video stream has no decodable frames") from None
        except av.FFmpegError as exc:
            raise ProbeError(f"video stream cannot be decoded: {exc.strerror or exc}") from None
        width = vstream.codec_context.width or width
        height = vstream.codec_context.height or height
        if not width or not height:
            raise ProbeError("video stream has no picture size")
        fps = _fraction_to_float(vstream.average_rate or vstream.guessed_rate)
        bitrate = container.bit_rate or None
        fmt = _container_name(container.format.name if container.format else "", path)
        return ProbeResult(
            duration=round(duration, 3) if duration is not None else None,
            width=int(width),
            height=int(height),
            fps=fps,
            video_codec=vstream.codec_context.name,
            audio_codec=astream.codec_context.name if astream is not None else None,
            bitrate=int(bitrate) if bitrate else None,
            container=fmt,
            rotation=rotation,
            pix_fmt=vstream.codec_context.pix_fmt or None,
        )
