"""Content identity: oshash for every file, a full-content hash only to settle ties.

oshash (the OpenSubtitles scheme Stash also uses) = file size + the sums of the first and
the last 64 KiB read as little-endian uint64 words, modulo 2**64, printed as 16 hex digits.
Files smaller than 64 KiB use the whole file as both chunks (zero-padded to 8 bytes), so at
most 128 KiB are read whatever the size.
"""

from __future__ import annotations

import hashlib
import os
import struct

CHUNK = 64 * 1024
_MASK = 0xFFFFFFFFFFFFFFFF


def _sum_words(data: bytes) -> int:
    remainder = len(data) % 8
    if remainder:
        data += b"\0" * (8 - remainder)
    return sum(struct.unpack(f"<{len(data) // 8}Q", data))


def oshash(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Return ``(oshash, bytes_read)`` for the file at ``path``.

    Raises ``ValueError`` for an empty file (it has no identity) and ``OSError`` when the
    file cannot be read.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise ValueError("empty file (0 bytes)")
        chunk = min(CHUNK, size)
        head = fh.read(chunk)
        fh.seek(max(0, size - chunk))
        tail = fh.read(chunk)
    total = (size + _sum_words(head) + _sum_words(tail)) & _MASK
    return f"{total:016x}", len(head) + len(tail)


def full_hash(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """BLAKE2b-64 of the whole file (16 hex digits), used to tell duplicates from collisions."""
    digest = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def is_valid_hash(value: str) -> bool:
    """True for a 16-digit lowercase hex video id."""
    return len(value) == 16 and all(c in "0123456789abcdef" for c in value)
