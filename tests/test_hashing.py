"""Content identity: oshash against an independent reference, bounded reads, full hashes.

Everything runs over real files: the ffmpeg-made samples and bytes written to temp files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from vidlib.library import hashing

KIB = 1024
CHUNK = 64 * KIB


def reference_oshash(data: bytes) -> str:
    """The OpenSubtitles hash, written independently of vidlib.

    size + sum of the little-endian uint64 words of the first 64 KiB and of the last 64 KiB
    (the whole file for both when it is smaller), modulo 2**64, as 16 hex digits. A chunk
    whose length is not a multiple of 8 is zero-padded.
    """
    size = len(data)
    head = data[:CHUNK]
    tail = data[max(0, size - CHUNK) :]

    def word_sum(chunk: bytes) -> int:
        chunk = chunk + bytes(-len(chunk) % 8)
        return sum(int.from_bytes(chunk[i : i + 8], "little") for i in range(0, len(chunk), 8))

    return format((size + word_sum(head) + word_sum(tail)) % 2**64, "016x")


def proc_read_chars() -> int | None:
    """Bytes this thread has read through read(2) so far (Linux ``/proc/thread-self/io``), or None.

    Per thread, so that other threads of the test process cannot disturb the count.
    """
    for name in ("/proc/thread-self/io", "/proc/self/io"):
        try:
            with open(name) as fh:
                for line in fh:
                    if line.startswith("rchar:"):
                        return int(line.split()[1])
        except OSError:
            continue
    return None


def flip_middle(src: Path, dest: Path, length: int = 4096) -> Path:
    """Copy ``src`` to ``dest`` with ``length`` bytes in the middle inverted (head and tail kept)."""
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    assert CHUNK < middle and middle + length < len(data) - CHUNK, "file too small to keep head and tail"
    for i in range(middle, middle + length):
        data[i] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


# -- oshash ------------------------------------------------------------------------------------


def test_oshash_of_large_video_matches_reference_and_reads_128_kib(sample_videos):
    path = sample_videos["large"]
    data = path.read_bytes()
    assert len(data) > 2 * CHUNK

    value, read = hashing.oshash(path)

    assert value == reference_oshash(data)
    assert len(value) == 16 and hashing.is_valid_hash(value)
    assert read == 2 * CHUNK


def test_oshash_of_video_smaller_than_64_kib_matches_reference(sample_videos):
    path = sample_videos["short"]
    data = path.read_bytes()
    assert len(data) < CHUNK

    value, read = hashing.oshash(path)

    assert value == reference_oshash(data)
    # The whole file serves as both chunks: never more than 128 KiB, here twice the size.
    assert read == 2 * len(data) <= 2 * CHUNK


@pytest.mark.parametrize(
    "size",
    [
        1,  # a single byte, padded to one word
        7,  # shorter than one word
        8,
        1001,  # not a multiple of 8
        CHUNK - 3,
        CHUNK,
        CHUNK + 5,  # head and tail overlap
        2 * CHUNK - 1,
        2 * CHUNK,
        2 * CHUNK + 9,  # a gap between head and tail, unaligned tail
        1_000_003,
    ],
)
def test_oshash_matches_reference_for_many_sizes(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)

    value, read = hashing.oshash(path)

    assert value == reference_oshash(data)
    assert read == 2 * min(size, CHUNK)
    assert read <= 2 * CHUNK


def test_oshash_sum_wraps_modulo_2_64(tmp_path):
    # All-0xFF words make the sum overflow many times over.
    data = b"\xff" * (3 * CHUNK)
    path = tmp_path / "ones.bin"
    path.write_bytes(data)

    value, _ = hashing.oshash(path)

    assert value == reference_oshash(data)
    expected = (len(data) + 2 * (CHUNK // 8) * (2**64 - 1)) % 2**64
    assert value == f"{expected:016x}"


def test_oshash_reads_at_most_128_kib_from_disk(sample_videos):
    """Measured with the kernel's per-process read counter, not with the return value."""
    path = sample_videos["large"]
    if proc_read_chars() is None:
        pytest.skip("/proc/thread-self/io is not available on this system")
    hashing.oshash(path)  # warm up: imports, lazy initialisation
    before = proc_read_chars()
    hashing.oshash(path)
    after = proc_read_chars()
    assert after - before <= 2 * CHUNK + 8 * KIB  # a little slack for unrelated reads
    assert path.stat().st_size > 10 * (after - before)


def test_oshash_accepts_str_and_pathlike(sample_videos):
    path = sample_videos["mp4"]
    assert hashing.oshash(str(path)) == hashing.oshash(path)


def test_oshash_ignores_the_middle_of_large_files(sample_videos, tmp_path):
    """The premise of a collision: only size, head and tail count."""
    original = sample_videos["large"]
    changed = flip_middle(original, tmp_path / "changed.mp4")
    assert changed.read_bytes() != original.read_bytes()
    assert hashing.oshash(changed)[0] == hashing.oshash(original)[0]


@pytest.mark.parametrize("where", ["first", "last"])
def test_oshash_changes_when_head_or_tail_changes(sample_videos, tmp_path, where):
    data = bytearray(sample_videos["large"].read_bytes())
    index = 100 if where == "first" else len(data) - 100
    data[index] ^= 0x01
    path = tmp_path / "edited.mp4"
    path.write_bytes(bytes(data))
    assert hashing.oshash(path)[0] != hashing.oshash(sample_videos["large"])[0]
    assert hashing.oshash(path)[0] == reference_oshash(bytes(data))


def test_oshash_changes_with_size(tmp_path):
    a = tmp_path / "a.bin"
    b = tmp_path / "b.bin"
    a.write_bytes(b"\0" * 4096)
    b.write_bytes(b"\0" * 4097)  # same word sums (all zero), different size
    assert hashing.oshash(a)[0] == f"{4096:016x}"
    assert hashing.oshash(b)[0] == f"{4097:016x}"


def test_oshash_of_empty_file_raises_value_error(sample_videos, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        hashing.oshash(sample_videos["empty"])
    other = tmp_path / "nothing.mp4"
    other.touch()
    with pytest.raises(ValueError):
        hashing.oshash(other)


def test_oshash_of_missing_file_raises_os_error(tmp_path):
    with pytest.raises(OSError):
        hashing.oshash(tmp_path / "does-not-exist.mp4")


def test_oshash_of_a_directory_raises_os_error(tmp_path):
    with pytest.raises(OSError):
        hashing.oshash(tmp_path)


def test_oshash_is_the_same_for_a_copy(sample_videos, tmp_path):
    copy = tmp_path / "copy.mp4"
    shutil.copyfile(sample_videos["mkv"], copy)
    assert hashing.oshash(copy) == hashing.oshash(sample_videos["mkv"])


def test_samples_have_distinct_oshashes(sample_videos):
    keys = [k for k in sample_videos if k != "empty"]
    values = {hashing.oshash(sample_videos[k])[0] for k in keys}
    assert len(values) == len(keys)


# -- full hash ---------------------------------------------------------------------------------


def test_full_hash_is_blake2b_64_of_the_whole_file(sample_videos):
    path = sample_videos["large"]
    expected = hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()
    assert hashing.full_hash(path) == expected
    assert hashing.is_valid_hash(expected)


@pytest.mark.parametrize("chunk_bytes", [1, 7, 4096, 1 << 20, 1 << 24])
def test_full_hash_does_not_depend_on_chunk_size(sample_videos, chunk_bytes):
    path = sample_videos["short"]  # small, so chunk_bytes=1 stays quick
    assert hashing.full_hash(path, chunk_bytes) == hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()


def test_full_hash_tells_apart_files_with_the_same_oshash(sample_videos, tmp_path):
    original = sample_videos["large"]
    changed = flip_middle(original, tmp_path / "changed.mp4")
    assert hashing.oshash(changed)[0] == hashing.oshash(original)[0]
    assert hashing.full_hash(changed) != hashing.full_hash(original)


def test_full_hash_of_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.touch()
    assert hashing.full_hash(path) == hashlib.blake2b(b"", digest_size=8).hexdigest()


# -- ids -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, valid",
    [
        ("0123456789abcdef", True),
        ("ffffffffffffffff", True),
        ("0123456789ABCDEF", False),  # ids are lowercase
        ("0123456789abcde", False),
        ("0123456789abcdef0", False),
        ("0123456789abcdeg", False),
        ("../../etc/passwd", False),
        ("", False),
        ("0123456789abcd\u0661f", False),  # a non-ASCII digit
    ],
)
def test_is_valid_hash(value, valid):
    assert hashing.is_valid_hash(value) is valid
