"""RQ worker entry point: ``python worker.py [--burst]``.

Configures logging, builds the process state, imports the heavy libraries once (before RQ
forks a work horse per job), optionally queues a scan of every folder, then works the
queues in priority order: scan, media, index.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("vidlib.worker")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="vidlib background worker (RQ)")
    parser.add_argument("--burst", action="store_true", help="work off everything queued, then exit")
    parser.add_argument("--no-initial-scan", action="store_true", help="do not queue a rescan of every folder at start")
    parser.add_argument("--workers", type=int, default=0, help="number of worker processes (default: VIDLIB_WORKERS)")
    args = parser.parse_args(argv)

    from config import load_config
    from vidlib import jobs, state
    from vidlib.logs import configure_logging

    config = load_config()
    configure_logging(config, "worker")  # lines carry the RQ job id
    st = state.init_process_state(config)
    # Heavy imports before the fork loop, so each work horse starts warm.
    import av  # noqa: F401

    import PIL.Image  # noqa: F401

    import vidlib.library.scanner  # noqa: F401
    from vidlib.media.generate import _moviepy

    _moviepy()  # imports moviepy with the system ffmpeg

    if not st.wait_for_redis(30):
        raise SystemExit(f"Redis at {st.redis_url} did not answer within 30 s")
    if config["SCAN_ON_START"] and not args.no_initial_scan:
        for (folder_id,) in st.db.execute("SELECT id FROM folders ORDER BY id").fetchall():
            job, created = jobs.enqueue_scan(folder_id)
            log.info("initial scan of folder %s %s (%s)", folder_id, "queued" if created else "already queued", job.id)
    from vidlib.media.jobs import reconcile
    from vidlib.rqworker import VidlibWorker

    log.info("media status reconciled with the queue: %s", reconcile())
    st.close_db()  # never share a SQLite connection with forked children
    queues = [st.queue(name) for name in state.QUEUE_NAMES]
    workers = args.workers or config["WORKERS"]
    if workers > 1 and not args.burst:
        from rq.worker_pool import WorkerPool

        WorkerPool(queues, connection=st.redis, num_workers=workers, worker_class=VidlibWorker).start(logging_level=config["LOG_LEVEL"])
        return
    work_until_stopped(st, queues, burst=args.burst, logging_level=config["LOG_LEVEL"])


def work_until_stopped(st, queues, burst: bool, logging_level: str) -> None:  # noqa: ANN001
    """Run the worker; when it ends on an error (Redis went away under it), start it again.

    RQ retries a lost connection while it waits for a job, but not everywhere else (a job that
    ends while Redis is down makes ``work()`` quit). Under honcho one process that exits stops
    the whole stack, so the worker waits for Redis instead, clears its stale registration,
    reconciles the status rows with whatever queue Redis came back with, and works on.
    """
    import redis

    from vidlib.media.jobs import reconcile
    from vidlib.rqworker import VidlibWorker

    while True:
        worker = VidlibWorker(queues, connection=st.redis)
        try:
            worker.work(burst=burst, logging_level=logging_level, with_scheduler=True)
        except redis.ConnectionError as exc:  # its teardown could not reach Redis either
            log.warning("worker %s lost Redis on its way out: %s", worker.name, exc)
        if burst or worker._shutdown_requested_date is not None:  # asked to stop (RQ keeps no public flag)
            return
        log.warning("worker %s stopped on an error (above); starting again once Redis answers", worker.name)
        while not st.wait_for_redis(60):
            log.warning("still waiting for Redis at %s", st.redis_url)
        try:
            worker.register_death()
            log.info("media status reconciled with the queue: %s", reconcile())
        except redis.RedisError as exc:
            log.warning("cannot reconcile with Redis yet: %s", exc)
        finally:
            st.close_db()


if __name__ == "__main__":
    main()
