"""Producing preview media for one video: poster, preview stills, seek sprite + WebVTT, teasers.

Stills (poster, preview thumbnails, seek sprite) are decoded in-process with PyAV, keyframes
only (``skip_frame = NONKEY``): a keyframe decodes on its own, so a still costs one frame's
decode instead of decoding a whole GOP up to an exact time. Each tile of the seek sprite is
labelled with the *real* timestamp of the keyframe it shows, so the WebVTT cues are right even
when keyframes are sparse (the sprite then has fewer, never repeated, tiles).

Teasers are cut and encoded with moviepy (the design card): one reader per video, ffmpeg
input-seeks to each segment (moved to start just after a keyframe, so little is decoded in vain)
and scales while decoding (``target_resolution``), and libx264 encodes with a fast preset; the
output is H.264 yuv420p with even dimensions and faststart.

Every output is written to a temp name in the video's media dir and renamed into place only
after it has been checked (non-empty, decodable).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

log = logging.getLogger(__name__)

Progress = Callable[[float], None]


class MediaError(Exception):
    """Generation failed for a reason that retrying will not fix (the message says why)."""


@dataclass
class Still:
    time: float  # seconds, the frame's own timestamp
    image: Any  # PIL.Image, display-oriented


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def scaled_size(width: int, height: int, rotation: int, target_width: int) -> tuple[int, int]:
    """Display size scaled to ``target_width`` (never upscaled), both sides even."""
    if rotation in (90, 270):
        width, height = height, width
    if width <= target_width:
        return _even(width), _even(height)
    return _even(target_width), _even(height * target_width / width)


def _open(path: str):
    import av

    try:
        return av.open(path, metadata_errors="ignore")
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot open video: {getattr(exc, 'strerror', None) or exc}") from None


def _to_still(frame, width: int, fallback_time: float, start_offset: float) -> Still:
    when = float(frame.time) if frame.time is not None else fallback_time
    when = max(0.0, when - start_offset)
    rotation = int(getattr(frame, "rotation", 0) or 0) % 360
    # Scale the *displayed* width to ``width``: for a quarter-turn that is the coded height.
    coded_target = width if rotation not in (90, 270) else _even(width * frame.width / max(frame.height, 1))
    w, h = scaled_size(frame.width, frame.height, 0, coded_target)
    image = frame.reformat(width=w, height=h, format="rgb24").to_image()
    if rotation:
        image = image.rotate(rotation, expand=True)
    return Still(round(when, 3), image)


def keyframe_stills(path: str, times: list[float], width: int, progress: Progress | None = None, exact_budget: int = 0) -> list[Still]:
    """Frames for ``times`` (deduplicated, in time order), scaled to ``width``.

    First pass: the keyframe at or before each time (cheap: one frame decoded per still). When
    keyframes are sparse, a target left without a still within half the spacing gets an exact
    frame (decode forward from its keyframe), while at most ``exact_budget`` frames are decoded
    in all, so long-GOP files stay cheap.
    """
    import av

    stills: dict[float, Still] = {}
    spacing = (times[1] - times[0]) if len(times) > 1 else float("inf")
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base
        offset = float(stream.start_time * base) if stream.start_time and base else 0.0

        def seek(t: float) -> None:
            target = int((max(t, 0) + offset) / base) if base else 0
            container.seek(target, stream=stream, backward=True, any_frame=False)

        stream.codec_context.skip_frame = "NONKEY"
        keyframe_of: dict[int, float] = {}  # target index -> time of the keyframe its seek landed on
        for i, t in enumerate(times):
            frame = None
            try:
                seek(t)
                frame = next(container.decode(stream), None)
            except (av.FFmpegError, StopIteration):
                frame = None
            if frame is not None and frame.time is not None:
                keyframe_of[i] = float(frame.time) - offset
            if frame is None and not stills:
                try:  # unseekable: the first keyframe from the start
                    container.seek(0)
                    frame = next(container.decode(stream), None)
                except av.FFmpegError:
                    frame = None
            if frame is not None:
                still = _to_still(frame, width, t, offset)
                stills.setdefault(still.time, still)
            if progress is not None:
                progress(0.5 * (i + 1) / len(times))
        if not stills:
            raise MediaError("no decodable keyframe in the video")
        budget = exact_budget
        stream.codec_context.skip_frame = "DEFAULT"
        frames = None  # the decoder left running after the last exact frame ...
        last = None  # ... and that frame's time
        for i, t in enumerate(times):
            if budget <= 0 or spacing == float("inf"):
                break
            if min(abs(k - t) for k in stills) <= spacing / 2:
                continue
            try:
                key = keyframe_of.get(i)
                if frames is not None and last is not None and key is not None and key <= last + 0.001 and last < t - 0.02:
                    # ``t`` lies ahead in the GOP being decoded (no keyframe in between): decoding
                    # on costs less than seeking back to the keyframe and decoding it all again.
                    frame, first, budget = _decode_to(frames, t, offset, budget)
                else:
                    seek(t)
                    frames = container.decode(stream)
                    frame, first, budget = _decode_to(frames, t, offset, budget)
                    if (first is None or first > t + spacing / 2) and budget > 0:
                        # The demuxer landed past ``t`` or on no keyframe at all (MPEG-TS and other
                        # formats without an index seek to the *next* keyframe): decode from the start.
                        container.seek(0)
                        frames = container.decode(stream)
                        frame, _, budget = _decode_to(frames, t, offset, budget)
            except av.FFmpegError:
                break
            last = float(frame.time) - offset if frame is not None and frame.time is not None else None
            if frame is not None:
                still = _to_still(frame, width, t, offset)
                stills.setdefault(still.time, still)
            if progress is not None:
                progress(0.5 + 0.5 * (i + 1) / len(times))
    # One still per target at most: the nearest one.
    chosen = {min(stills, key=lambda k: abs(k - t)) for t in times}
    return [stills[k] for k in sorted(chosen)]


def _decode_to(frames, t: float, offset: float, budget: int):
    """Take decoded ``frames`` up to the first one at or after ``t`` (within ``budget`` frames).

    Returns ``(frame, first, budget)``: the frame (the last one decoded when the stream or the
    budget ends first, as the nearest to ``t``), the time of the first frame decoded (None when
    none was) and the budget left.
    """
    first = frame = None
    for frame in frames:
        budget -= 1
        when = float(frame.time) - offset if frame.time is not None else t
        if first is None:
            first = when
        if when >= t - 0.02 or budget <= 0:
            break
    return frame, first, budget


def _luma(image) -> np.ndarray:
    small = image.convert("L")
    small.thumbnail((256, 256))
    return np.asarray(small, dtype=np.float32)


def is_blank(image) -> bool:
    """True for a black, white or flat frame (fades, title cards with nothing on them)."""
    luma = _luma(image)
    return bool(luma.mean() < 18 or luma.mean() > 245 or luma.std() < 10)


def sharpness(image) -> float:
    """Variance of a Laplacian of the luma: higher is sharper."""
    luma = _luma(image)
    if luma.shape[0] < 3 or luma.shape[1] < 3:
        return 0.0
    lap = -4 * luma[1:-1, 1:-1] + luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:]
    return float(lap.var())


def _save_image(image, path: str, quality: int) -> None:
    tmp = _tmp_name(path)
    try:
        image.convert("RGB").save(tmp, format="JPEG" if path.endswith(".jpg") else "WEBP", quality=quality)
        _check_image(tmp)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _check_image(path: str) -> None:
    from PIL import Image

    if os.path.getsize(path) == 0:
        raise MediaError("encoder wrote an empty image")
    with Image.open(path) as img:
        img.verify()


def _tmp_name(path: str) -> str:
    directory, name = os.path.split(path)
    return os.path.join(directory, f".tmp-{os.getpid()}-{name}")


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


# -- kinds -------------------------------------------------------------------------------


def make_poster(path: str, duration: float, out_path: str, config: dict[str, Any], progress: Progress | None = None) -> dict:
    """A sharp, non-blank keyframe around 20% of the duration."""
    fractions = (0.20, 0.23, 0.17, 0.27, 0.13, 0.32, 0.40, 0.50, 0.08)
    stills = keyframe_stills(path, [duration * f for f in fractions], config["POSTER_WIDTH"], progress)
    usable = [s for s in stills if not is_blank(s.image)]
    if not usable and duration > 0:
        # Only blank keyframes (a long black intro, or keyframes too sparse to reach past it):
        # look at exact frames, later in the video too.
        later = sorted(duration * f for f in fractions + (0.6, 0.7, 0.8, 0.9))
        stills += keyframe_stills(path, later, config["POSTER_WIDTH"], exact_budget=config["STILLS_EXACT_DECODE_BUDGET"])
        usable = [s for s in stills if not is_blank(s.image)]
    if usable:
        near = [s for s in usable if 0.12 * duration <= s.time <= 0.30 * duration] or usable
        best = max(near, key=lambda s: sharpness(s.image))
    else:
        best = max(stills, key=lambda s: _luma(s.image).std())  # every candidate is blank: least flat
    _save_image(best.image, out_path, config["JPEG_QUALITY"])
    return {"time": best.time, "width": best.image.width, "height": best.image.height}


def make_preview_thumbnails(path: str, duration: float, out_dir: str, config: dict[str, Any], progress: Progress | None = None) -> dict:
    """N stills evenly spread over the video, as ``00.jpg``, ``01.jpg``, ... in ``out_dir``."""
    count = max(1, config["PREVIEW_COUNT"])
    times = [duration * (i + 0.5) / count for i in range(count)]
    stills = keyframe_stills(path, times, config["PREVIEW_WIDTH"], progress, exact_budget=config["STILLS_EXACT_DECODE_BUDGET"])
    tmp_dir = _tmp_name(out_dir.rstrip(os.sep))
    shutil.rmtree(tmp_dir, ignore_errors=True)
    os.makedirs(tmp_dir)
    try:
        for i, still in enumerate(stills):
            file = os.path.join(tmp_dir, f"{i:02d}.jpg")
            still.image.convert("RGB").save(file, format="JPEG", quality=config["JPEG_QUALITY"])
            _check_image(file)
        _replace_dir(tmp_dir, out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return {"count": len(stills), "times": [s.time for s in stills]}


def _replace_dir(tmp_dir: str, out_dir: str) -> None:
    """Move a finished directory into place; an older one is swapped out, then removed."""
    old = None
    if os.path.exists(out_dir):
        old = _tmp_name(out_dir.rstrip(os.sep)) + ".old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
    os.replace(tmp_dir, out_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def seek_times(duration: float, config: dict[str, Any]) -> list[float]:
    """Wanted tile times: every duration/N seconds (N = SEEK_THUMBS_MAX), never closer than the minimum interval."""
    if duration <= 0:
        return [0.0]
    interval = max(duration / config["SEEK_THUMBS_MAX"], config["SEEK_THUMBS_MIN_INTERVAL"])
    count = max(1, min(config["SEEK_THUMBS_MAX"], int(math.ceil(duration / interval))))
    return [duration * i / count for i in range(count)]


def format_vtt_time(seconds: float) -> str:
    millis = int(round(max(seconds, 0) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def make_seek_thumbnails(path: str, duration: float, sprite_path: str, vtt_path: str, config: dict[str, Any], progress: Progress | None = None) -> dict:
    """A sprite sheet of keyframes plus a WebVTT index (``sprite.jpg#xywh=x,y,w,h`` per cue)."""
    from PIL import Image

    stills = keyframe_stills(path, seek_times(duration, config), config["SEEK_THUMB_WIDTH"], progress, exact_budget=config["STILLS_EXACT_DECODE_BUDGET"])
    tile_w = max(s.image.width for s in stills)
    tile_h = max(s.image.height for s in stills)
    columns = min(config["SEEK_SPRITE_COLUMNS"], len(stills))
    rows = int(math.ceil(len(stills) / columns))
    sheet = Image.new("RGB", (tile_w * columns, tile_h * rows))
    end = max(duration, stills[-1].time + 0.001)
    lines = ["WEBVTT", ""]
    # The cue URLs carry a version so a regenerated sprite is never served from a stale cache.
    sprite_name = f"{os.path.basename(sprite_path)}?v={int(time.time())}"
    for i, still in enumerate(stills):
        x, y = (i % columns) * tile_w, (i // columns) * tile_h
        sheet.paste(still.image, (x, y))
        start = 0.0 if i == 0 else still.time
        stop = stills[i + 1].time if i + 1 < len(stills) else end
        lines += [f"{format_vtt_time(start)} --> {format_vtt_time(stop)}", f"{sprite_name}#xywh={x},{y},{still.image.width},{still.image.height}", ""]
    _save_image(sheet, sprite_path, config["JPEG_QUALITY"])
    tmp = _tmp_name(vtt_path)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
        os.replace(tmp, vtt_path)
    finally:
        _remove(tmp)
    return {"tiles": len(stills), "columns": columns, "rows": rows, "tile_width": tile_w, "tile_height": tile_h}


def teaser_segments(duration: float, count: int, length: float, skip_edges: float) -> list[tuple[float, float]]:
    """``count`` segments of ``length`` seconds spread evenly, skipping the first and last ``skip_edges`` share."""
    if duration <= 0:
        return []
    if duration <= count * length * 1.25:
        return [(0.0, duration)]  # short video: the whole of it
    start_zone = duration * skip_edges
    usable = duration * (1 - 2 * skip_edges)
    if usable < count * length:
        start_zone, usable = 0.0, duration
    step = usable / count
    return [(start_zone + i * step + (step - length) / 2, start_zone + i * step + (step + length) / 2) for i in range(count)]


def snap_to_keyframes(path: str, spans: list[tuple[float, float]], end: float, fps: float) -> list[tuple[float, float]]:
    """Shift each segment, within half the gap to its neighbours, to start just after a keyframe.

    moviepy's reader runs ``ffmpeg -ss <start - 1> -i ...`` for a segment, so ffmpeg decodes from
    the keyframe at or before ``start - 1``: on average half a GOP (seconds of full-size frames on
    long-GOP files) is decoded and thrown away per segment. With a keyframe just before
    ``start - 1`` that waste is a few frames. Segments stay in their share of the video (the skipped
    edges too); anything unexpected (no index, odd timestamps) leaves them where they were.
    """
    import av

    if len(spans) < 2:
        return spans
    slack = min(following[0] - current[1] for current, following in zip(spans, spans[1:])) / 2  # half the smallest gap
    if slack <= 0:
        return spans
    # ffmpeg's input -ss lands up to ~0.13 s early for streams with B-frames, and moviepy rounds the
    # start down to a frame: keep that much room after the keyframe.
    margin = 0.2 + 1 / max(fps, 1.0)
    try:
        with _open(path) as container:
            stream = container.streams.video[0]
            base = stream.time_base
            zero = container.start_time / av.time_base if container.start_time is not None else 0.0  # ffmpeg's -ss counts from here

            def keyframe_near(t: float, before: bool) -> float | None:
                """The keyframe at or before ``t`` (or, where the demuxer can, at or after it)."""
                try:
                    container.seek(max(0, int((t + zero) / base)), stream=stream, backward=before, any_frame=False)
                    for packet in container.demux(stream):
                        if packet.pts is not None:
                            return float(packet.pts * base) - zero if packet.is_keyframe else None
                except av.FFmpegError:  # e.g. no keyframe after t
                    pass
                return None

            snapped = []
            for a, b in spans:
                want = a - 1 - margin  # where the reader's seek should find a keyframe
                found = [k for k in (keyframe_near(want, True), keyframe_near(want, False)) if k is not None and abs(k - want) <= slack]
                shift = min((k - want for k in found), key=abs, default=0.0)
                snapped.append((a + shift, b + shift) if a + shift >= 0 and b + shift <= end else (a, b))
            return snapped
    except (av.FFmpegError, MediaError, IndexError, OverflowError, ValueError, TypeError):
        return spans


def _moviepy():
    # moviepy reads FFMPEG_BINARY when first imported: use the system ffmpeg.
    os.environ.setdefault("FFMPEG_BINARY", shutil.which("ffmpeg") or "ffmpeg")
    import moviepy

    return moviepy


def make_teaser(path: str, info: dict[str, Any], out_path: str, config: dict[str, Any], large: bool, progress: Progress | None = None) -> dict:
    """A teaser MP4 of short segments cut with moviepy (silent when small, with audio when large)."""
    moviepy = _moviepy()
    prefix = "TEASER_LARGE_" if large else "TEASER_SMALL_"
    width, height = scaled_size(info["width"], info["height"], info.get("rotation") or 0, config[prefix + "WIDTH"])
    duration = float(info["duration"] or 0)
    segments = teaser_segments(duration, config[prefix + "SEGMENTS"], config[prefix + "SEGMENT_SECONDS"], config["TEASER_SKIP_EDGES"])
    if not segments:
        raise MediaError("video has no duration")
    with_audio = large and bool(info.get("audio_codec"))
    tmp = _tmp_name(out_path)
    clip = None
    try:
        try:
            # "area" (a box filter) is a sharp downscaler at about half the cost of the default
            # bicubic, which is most of the reader's CPU after decoding.
            clip = moviepy.VideoFileClip(path, audio=with_audio, target_resolution=(width, height), resize_algorithm="area")
        except (OSError, IOError, KeyError, ValueError) as exc:
            raise MediaError(f"cannot read video for the teaser: {str(exc).splitlines()[0][:300]}") from None
        end_limit = clip.duration or duration
        spans = [(max(0.0, a), min(b, end_limit)) for a, b in segments if min(b, end_limit) - max(0.0, a) > 0.05] or [(0.0, end_limit)]
        spans = snap_to_keyframes(path, spans, end_limit, float(clip.fps or 25))
        teaser = _joined(moviepy, clip, spans)
        fps = min(float(clip.fps or 25), float(config["TEASER_MAX_FPS"]))
        total_frames = max(1, int(teaser.duration * fps))
        logger = _progress_logger(total_frames, progress) if progress else None
        teaser.write_videofile(
            tmp,
            fps=fps,
            codec="libx264",
            preset=config["TEASER_PRESET"],
            audio=with_audio,
            audio_codec="aac" if with_audio else None,
            threads=config["TEASER_THREADS"],
            ffmpeg_params=["-crf", str(config[prefix + "CRF"]), "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
            # moviepy encodes the audio to a temp file first, by default in the working directory.
            temp_audiofile_path=os.path.dirname(tmp),
            logger=logger,
        )
        result = _check_video(tmp)
        os.replace(tmp, out_path)
        return {"segments": len(spans), "duration": result["duration"], "width": width, "height": height, "audio": with_audio}
    except MediaError:
        raise
    except (OSError, IOError) as exc:
        raise MediaError(f"teaser encoding failed: {str(exc).splitlines()[0][:300]}") from None
    finally:
        if clip is not None:
            clip.close()
        _remove(tmp)


def _joined(moviepy, clip, spans: list[tuple[float, float]]):
    """``spans`` of ``clip`` played back to back: ``concatenate_videoclips`` of subclips, minus its cost.

    ``clip.subclipped()`` reads the first frame of every segment up front (to learn its size), and
    ``concatenate_videoclips`` reads the first one again; with the single ffmpeg reader of a
    ``VideoFileClip`` each of those reads restarts ffmpeg and decodes from the keyframe before the
    segment, so they cost as much as the segments themselves on long-GOP files. This clip maps
    teaser time to source time instead, so the reader seeks once per segment.
    """
    import bisect
    from itertools import accumulate

    starts = list(accumulate((b - a for a, b in spans), initial=0.0))

    def frame_at(t: float):
        i = min(max(bisect.bisect_right(starts, t) - 1, 0), len(spans) - 1)
        a, b = spans[i]
        return clip.get_frame(min(a + t - starts[i], b))

    video = moviepy.VideoClip(frame_function=frame_at, duration=starts[-1])
    if clip.audio is not None:  # audio subclips read nothing up front
        parts = [clip.audio.subclipped(a, b) for a, b in spans]
        video = video.with_audio(moviepy.concatenate_audioclips(parts) if len(parts) > 1 else parts[0])
    return video


def _check_video(path: str) -> dict:
    from vidlib.library.probe import ProbeError, probe

    if not os.path.exists(path) or os.path.getsize(path) == 0:
        raise MediaError("encoder wrote an empty file")
    try:
        info = probe(path)
    except ProbeError as exc:
        raise MediaError(f"encoded teaser is not decodable: {exc}") from None
    return {"duration": info.duration}


def _progress_logger(total: int, progress: Progress):
    """A proglog logger that turns moviepy's frame counter into a 0..1 progress callback."""
    from proglog import ProgressBarLogger

    class FrameProgress(ProgressBarLogger):
        def bars_callback(self, bar, attr, value, old_value=None):
            if bar == "frame_index" and attr == "index":
                progress(min(1.0, value / total))

    return FrameProgress()
