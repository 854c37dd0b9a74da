"""Background jobs and the one helper that enqueues them.

Jobs are module-level functions taking ids and plain values; each has a deterministic job id
so queuing the same work twice is a no-op, and each can run twice without harm.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from vidlib import state

log = logging.getLogger(__name__)


class QueueUnavailable(Exception):
    """Redis cannot be reached, so the work cannot be queued."""


def enqueue(queue_name: str, func: Callable[..., Any], *args: Any, job_id: str, **options: Any):
    """Queue ``func(*args)`` once under ``job_id``; returns ``(job, created)``.

    If a job with that id is queued or running, it is returned and nothing new is queued. A
    finished, failed or cancelled job with that id is replaced, so the work can be asked for
    again later.
    """
    from redis.exceptions import RedisError
    from rq.exceptions import DuplicateJobError, NoSuchJobError
    from rq.job import Job, JobStatus

    st = state.current()
    try:
        queue = st.queue(queue_name)
        for _ in range(3):
            try:
                return queue.enqueue(func, *args, job_id=job_id, unique=True, **options), True
            except DuplicateJobError:
                try:
                    job = Job.fetch(job_id, connection=st.redis)
                except NoSuchJobError:
                    continue
                if job.get_status(refresh=True) in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED):
                    job.delete()
                    continue
                return job, False
        raise RuntimeError(f"could not enqueue {job_id}")
    except RedisError as exc:
        raise QueueUnavailable(f"job queue (Redis) unavailable: {exc}") from exc


def scan_folder(folder_id: int) -> dict[str, Any]:
    """Job: scan one library folder."""
    from vidlib.library.scanner import Scanner

    st = state.current()
    stats = Scanner(st.db, st.config).scan_folder(folder_id)
    return stats.as_dict()


def enqueue_scan(folder_id: int):
    """Queue a scan of one folder (job id ``scan-folder-<id>``)."""
    st = state.current()
    return enqueue("scan", scan_folder, folder_id, job_id=f"scan-folder-{folder_id}", job_timeout=st.config["JOB_TIMEOUT_SCAN"], result_ttl=3600)
