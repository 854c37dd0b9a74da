"""Browser compatibility of a video, decided from its probe at scan time.

Three modes, cheapest first:

- **direct**: the file plays as it is in every mainstream browser (Chromium, Firefox, Safari):
  MP4/MOV/M4V with H.264 (8-bit 4:2:0), VP9 or AV1 and AAC, MP3 or Opus (or no audio), or WebM
  with VP8, VP9 or AV1 and Opus or Vorbis (or no audio).
- **remux**: the video stream plays but the container does not (MKV, TS, AVI, FLV, ... with
  H.264 / VP9 / AV1): the video is copied into fragmented MP4, no re-encode. An audio track the
  MP4 cannot carry for browsers (AC-3, DTS, FLAC, PCM, Vorbis, ...) is re-encoded to AAC on the
  way, which costs little next to video.
- **transcode**: anything else (HEVC, MPEG-2, MPEG-4 Part 2, WMV, VC-1, 10-bit or 4:2:2 H.264,
  ...): H.264 + AAC.
"""

from __future__ import annotations

import functools

MODES = ("direct", "remux", "transcode")

MP4_CONTAINERS = frozenset({"mp4", "mov", "m4v"})
WEBM_CONTAINERS = frozenset({"webm"})
MP4_VIDEO = frozenset({"h264", "vp9", "av1"})
WEBM_VIDEO = frozenset({"vp8", "vp9", "av1"})
MP4_AUDIO = frozenset({"aac", "mp3", "opus"})
WEBM_AUDIO = frozenset({"opus", "vorbis"})
# Browsers decode H.264 only as 8-bit 4:2:0 (High 10 / 4:2:2 / 4:4:4 show no picture).
H264_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})
# The probe stores the name of the decoder libav picked, which is not always the codec's name.
DECODER_ALIASES = {
    "mp3float": "mp3", "mp2float": "mp2", "libdav1d": "av1", "libaom-av1": "av1", "av1_cuvid": "av1",
    "libopus": "opus", "libvorbis": "vorbis", "libvpx": "vp8", "libvpx-vp9": "vp9",
}


def codec_name(name: str | None) -> str | None:
    """The codec a stored decoder name stands for (``mp3float`` -> ``mp3``)."""
    return DECODER_ALIASES.get(name, name) if name else None


def video_plays(video_codec: str | None, pix_fmt: str | None) -> bool:
    """True when browsers decode this video stream (in a container they read)."""
    if video_codec == "h264":
        return pix_fmt is None or pix_fmt in H264_PIX_FMTS  # rows probed before pix_fmt was stored
    return video_codec in MP4_VIDEO or video_codec in WEBM_VIDEO


def audio_copies_to_mp4(audio_codec: str | None) -> bool:
    """True when the audio track can be copied into the remuxed MP4 as it is (or there is none)."""
    return audio_codec is None or codec_name(audio_codec) in MP4_AUDIO


@functools.lru_cache(maxsize=1024)
def decide(container: str | None, video_codec: str | None, audio_codec: str | None, pix_fmt: str | None = None) -> tuple[str, str]:
    """``(mode, reason)`` for a probed file; the reason is shown to users."""
    video_codec, audio_codec = codec_name(video_codec), codec_name(audio_codec)
    what = f"{video_codec or 'unknown video'}{f' + {audio_codec}' if audio_codec else ''} in {container or 'an unknown container'}"
    if not video_plays(video_codec, pix_fmt):
        detail = f" ({pix_fmt})" if video_codec == "h264" and pix_fmt else ""
        return "transcode", f"browsers cannot decode {video_codec or 'this video'}{detail}: {what} is transcoded to H.264 + AAC"
    if container in MP4_CONTAINERS and video_codec in MP4_VIDEO and audio_copies_to_mp4(audio_codec):
        return "direct", f"{what} plays in every browser as it is"
    if container in WEBM_CONTAINERS and video_codec in WEBM_VIDEO and (audio_codec is None or audio_codec in WEBM_AUDIO):
        return "direct", f"{what} plays in every browser as it is"
    if video_codec in MP4_VIDEO:
        audio = "" if audio_copies_to_mp4(audio_codec) else f"; {audio_codec} audio is re-encoded to AAC"
        return "remux", f"{what}: the streams are copied into MP4 without re-encoding the video{audio}"
    return "transcode", f"{video_codec} cannot be copied into MP4: {what} is transcoded to H.264 + AAC"

