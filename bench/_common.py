"""Helpers shared by the bench/ scripts (run as `python bench/<name>.py`; this folder is on sys.path)."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shutil
import tempfile
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
