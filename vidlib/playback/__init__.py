"""Playback in every browser: which files play as they are, and live remux / transcode for the rest.

``compat`` decides a video's playback mode from its probe (direct, remux, transcode);
``sources`` turns that into the list of URLs the player tries in order; ``live`` runs ffmpeg
for a stream that starts at a requested time; ``slots`` caps concurrent live transcodes across
processes; ``pretranscode`` writes a compatible MP4 ahead of time (a media job). The design and
its measurements are in docs/playback.md.
"""
