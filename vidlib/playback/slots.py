"""A cross-process cap on concurrent live transcodes: N lock files, each held with ``flock``.

Every web worker (gunicorn runs several processes) takes a slot by locking one of
``DATA_DIR/transcode-slots/slot-<i>.lock`` without blocking; the kernel releases the lock when
the holder closes it or dies, so a crashed worker never leaks a slot. The holder writes its
player session and ffmpeg pid into the file, so a new stream of the same session (a seek) can
stop the stream it replaces at once instead of waiting for the server to notice the closed
connection.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import time

log = logging.getLogger(__name__)


class Slot:
    """One held slot; :meth:`release` (or process exit) frees it."""

    def __init__(self, fd: int, path: str):
        self.fd, self.path = fd, path

    def note(self, session: str | None, pid: int) -> None:
        """Record who streams in this slot (read by :func:`stop_session`)."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{session or '-'} {pid}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            try:
                os.ftruncate(self.fd, 0)
            finally:
                os.close(self.fd)  # closing drops the flock
                self.fd = -1


def _paths(directory: str, count: int) -> list[str]:
    return [os.path.join(directory, f"slot-{i}.lock") for i in range(count)]


def try_acquire(directory: str, count: int) -> Slot | None:
    """A free slot, or None when all ``count`` are held."""
    os.makedirs(directory, exist_ok=True)
    for path in _paths(directory, count):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue
            raise
        return Slot(fd, path)
    return None


def held_by(directory: str, count: int) -> list[tuple[str, int]]:
    """``(session, pid)`` of every slot in use."""
    holders = []
    for path in _paths(directory, count):
        try:
            with open(path, "rb") as fh:
                fields = fh.read(200).split()
        except FileNotFoundError:
            continue
        if len(fields) == 2 and fields[1].isdigit():
            holders.append((fields[0].decode(errors="replace"), int(fields[1])))
    return holders


def stop_session(directory: str, count: int, session: str) -> int:
    """Kill the ffmpeg of every slot held by ``session`` (the stream a seek replaces); returns how many."""
    stopped = 0
    for holder, pid in held_by(directory, count):
        if holder == session:
            try:
                os.kill(pid, signal.SIGKILL)
                stopped += 1
                log.info("stopped ffmpeg %s of session %s: the player moved to a new stream", pid, session)
            except ProcessLookupError:
                pass
    return stopped


def acquire(directory: str, count: int, wait_s: float, session: str | None = None) -> Slot | None:
    """A slot, waiting up to ``wait_s`` for one to free up (a replaced stream is still stopping)."""
    if count <= 0:
        return None
    if session:
        stop_session(directory, count, session)
    deadline = time.monotonic() + wait_s
    while True:
        slot = try_acquire(directory, count)
        if slot is not None or time.monotonic() >= deadline:
            return slot
        time.sleep(0.05)
