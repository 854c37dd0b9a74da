"""Logging set-up, done once per process by its entry point (web, worker, watcher, CLI)."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

_HANDLER_TAG = "_vidlib_handler"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process name, message and extras."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "process": getattr(record, "vidlib_process", ""),
            "message": record.getMessage(),
        }
        for key in ("job_id", "folder"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class _ProcessNameFilter(logging.Filter):
    def __init__(self, name: str):
        super().__init__()
        self.process_name = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.vidlib_process = self.process_name
        return True


_folder: ContextVar[str] = ContextVar("vidlib_log_folder", default="-")


@contextmanager
def log_folder(path: str) -> Iterator[None]:
    """Stamp ``path`` on the watcher's log lines written inside the block (any thread)."""
    token = _folder.set(path)
    try:
        yield
    finally:
        _folder.reset(token)


class FolderFilter(logging.Filter):
    """Stamp the library folder being handled (or "-") on every record, for watcher log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.folder = _folder.get()
        return True


class JobIdFilter(logging.Filter):
    """Stamp the current RQ job id (or "-") on every record, for worker log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        from rq import get_current_job

        job = get_current_job()
        record.job_id = job.id if job is not None else "-"
        return True


def configure_logging(config: dict[str, Any], process: str) -> None:
    """Log to the console and to ``DATA_DIR/logs/<process>.log`` (rotating).

    Calling it again replaces vidlib's handlers rather than adding more.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
            handler.close()
    level = getattr(logging, str(config["LOG_LEVEL"]).upper(), logging.INFO)
    if config["LOG_FORMAT"] == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        stamp = {"worker": " [job %(job_id)s]", "watcher": " [folder %(folder)s]"}.get(process, "")
        formatter = logging.Formatter(f"%(asctime)s %(levelname)s [{process}]{stamp} %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    log_dir = os.path.join(config["DATA_DIR"], "logs")
    try:
        os.makedirs(log_dir, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                os.path.join(log_dir, f"{process}.log"),
                maxBytes=config["LOG_FILE_MAX_BYTES"],
                backupCount=config["LOG_FILE_BACKUPS"],
                encoding="utf-8",
            )
        )
    except OSError as exc:  # a read-only data dir must not stop the process
        logging.getLogger(__name__).warning("cannot write log files in %s: %s", log_dir, exc)
    for handler in handlers:
        setattr(handler, _HANDLER_TAG, True)
        handler.setFormatter(formatter)
        handler.addFilter(_ProcessNameFilter(process))
        if process == "worker":
            handler.addFilter(JobIdFilter())
        elif process == "watcher":
            handler.addFilter(FolderFilter())
        root.addHandler(handler)
    root.setLevel(level)
    # Libraries that are chatty at INFO.
    for noisy in ("werkzeug", "urllib3", "PIL"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
