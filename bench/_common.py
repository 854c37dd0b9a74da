"""Helpers shared by the bench/ scripts (run as `python bench/<name>.py`; this folder is on sys.path)."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo, or "unknown CPU"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine(extra: str = "") -> str:
    """One line describing the machine a figure was measured on."""
    text = f"{cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"
    return f"{text}, {extra}" if extra else text


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) and of its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def table(rows: list[tuple], header: tuple) -> str:
    """A Markdown table of ``rows`` under ``header``, columns padded."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)])


def add_workdir_args(parser, what: str = "the library") -> None:
    """``--workdir``, ``--reuse`` and ``--keep``, as :func:`bench_workdir` and :func:`parse_workdir_args` read them."""
    parser.add_argument("--workdir", help=f"where {what} goes (default: a temp dir, deleted unless --keep)")
    parser.add_argument("--reuse", action="store_true", help=f"reuse {what} already in --workdir")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")


def parse_workdir_args(parser, argv: list[str] | None):
    """``parser.parse_args(argv)``, refusing ``--reuse`` without ``--workdir``."""
    args = parser.parse_args(argv)
    if args.reuse and not args.workdir:
        parser.error("--reuse needs --workdir")
    return args


@contextlib.contextmanager
def bench_workdir(workdir: str | None, keep: bool, prefix: str) -> Iterator[Path]:
    """The folder a benchmark works in: ``workdir`` (kept), or a temp dir removed unless ``keep``."""
    own_temp = workdir is None
    path = Path(tempfile.mkdtemp(prefix=prefix)) if own_temp else Path(workdir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        if own_temp and not keep:
            shutil.rmtree(path, ignore_errors=True)
        else:
            print(f"\nkept {path}")


def proc_status_kib(field: str, pid: int | str = "self") -> int:
    """A ``/proc/<pid>/status`` memory figure (``VmRSS``, ``VmHWM``) in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(proc: subprocess.Popen, port: int, log_path: Path, what: str, timeout: float = 60) -> None:
    """Wait until ``proc`` accepts connections on 127.0.0.1:``port``; exit with its log if it dies or never does."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited:\n" + log_path.read_text(errors="replace"))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start within {timeout:.0f} s")
            time.sleep(0.1)
