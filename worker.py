"""RQ worker entry point: ``python worker.py [--burst]``.

Configures logging, builds the process state, imports the heavy libraries once (before RQ
forks a work horse per job), optionally queues a scan of every folder, then works the
queues in priority order: scan, media, index.
"""

from __future__ import annotations

import argparse
import logging
import time

log = logging.getLogger("vidlib.worker")


def wait_for_redis(st, deadline_s: float) -> None:
    """Wait until Redis answers (the embedded one may still be starting)."""
    deadline = time.monotonic() + deadline_s
    while not st.redis_available():
        if time.monotonic() > deadline:
            raise SystemExit(f"Redis at {st.redis_url} did not answer within {deadline_s:.0f} s")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="vidlib background worker (RQ)")
    parser.add_argument("--burst", action="store_true", help="work off everything queued, then exit")
    parser.add_argument("--no-initial-scan", action="store_true", help="do not queue a rescan of every folder at start")
    args = parser.parse_args(argv)

    from config import load_config
    from vidlib import jobs, state
    from vidlib.logs import configure_logging

    config = load_config()
    configure_logging(config, "worker")  # lines carry the RQ job id
    st = state.init_process_state(config)
    # Heavy imports before the fork loop, so each work horse starts warm.
    import av  # noqa: F401
    from rq import Worker

    import vidlib.library.scanner  # noqa: F401

    wait_for_redis(st, 30)
    if config["SCAN_ON_START"] and not args.no_initial_scan:
        for (folder_id,) in st.db.execute("SELECT id FROM folders ORDER BY id").fetchall():
            job, created = jobs.enqueue_scan(folder_id)
            log.info("initial scan of folder %s %s (%s)", folder_id, "queued" if created else "already queued", job.id)
    st.close_db()  # never share a SQLite connection with forked children
    worker = Worker([st.queue(name) for name in state.QUEUE_NAMES], connection=st.redis)
    worker.work(burst=args.burst, logging_level=config["LOG_LEVEL"], with_scheduler=True)


if __name__ == "__main__":
    main()
