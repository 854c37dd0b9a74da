"""The RQ worker class vidlib runs: a stop request puts the running job back in its queue.

RQ's own Worker waits for the running job on the first SIGTERM/SIGINT (warm shutdown) and
kills it on the second. A teaser of a long film can take minutes, longer than a process
manager waits (honcho sends SIGKILL five seconds after SIGTERM), and a killed job would only
come back through the crash path (a retry after its backoff, or the next start's reconcile).
So here the first stop request ends the work horse at once (its ffmpeg children with it: RQ
starts each horse in its own process group) and the job goes back to the *front* of the
queue it came from, its status row to ``queued``; the worker then exits as RQ would. Output
is written to temp files and renamed into place, so a stopped job leaves nothing half-written
under a real name.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import Worker

log = logging.getLogger(__name__)


class VidlibWorker(Worker):
    _requeue_on_stop: str | None = None

    def request_stop(self, signum: int, frame: Any) -> None:
        job = self.get_current_job() if self.horse_pid else None
        super().request_stop(signum, frame)  # raises StopRequested when idle
        if job is not None and self._requeue_on_stop is None:
            self._requeue_on_stop = job.id
            log.warning("stop requested: ending job %s now, it goes back to the front of %r", job.id, job.origin)
            self.kill_horse()

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):  # noqa: ANN001
        if job.id != self._requeue_on_stop:
            return super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string, execution=execution)
        self._requeue_on_stop = None
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            pipeline.execute()
        queue.enqueue_job(job, at_front=True)
        _requeued(job)
        log.info("job %s requeued at the front of %r", job.id, queue.name)


def _requeued(job) -> None:  # noqa: ANN001
    """Tell the status rows a stopped job waits again (preview media jobs have one)."""
    from vidlib.media import jobs as media_jobs

    if job.func_name != f"{media_jobs.__name__}.{media_jobs.generate.__name__}":
        return
    from vidlib import state
    from vidlib.media import store

    video_hash, kind = job.args[:2]
    st = state.current()
    try:
        store.set_status(st.db, video_hash, kind, "queued", job_id=job.id)
    finally:
        st.close_db()  # the worker forks no more horses now, but never keep a connection across forks
