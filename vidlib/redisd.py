"""The embedded Redis: ``python -m vidlib.redisd`` (the ``redis`` entry of the Procfile).

Runs a private ``redis-server`` on a unix socket in the data dir (``redis.sock``, mode 700,
no TCP port), persisting to an append-only file (fsync every second, in ``appendonlydir/``)
and a ``redis.rdb`` snapshot there, so queued jobs survive a restart and even a SIGKILL.

It stops *last*. When the process manager stops the stack (honcho sends SIGTERM to every
process at once and SIGKILL five seconds later), the workers still need Redis to put their
running job back in the queue. So on SIGTERM/SIGINT this waits until no RQ worker is
registered any more (or ``grace`` seconds pass), then asks Redis to save and shut down. The
server runs in its own session, so a Ctrl-C in the terminal reaches it only through here.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("vidlib.redisd")


def server_args(data_dir: Path) -> list[str]:
    return [
        shutil.which("redis-server") or "redis-server",
        "--port", "0",
        "--unixsocket", str(data_dir / "redis.sock"),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--dbfilename", "redis.rdb",
        "--save", "60 1",
        "--appendonly", "yes",  # a killed Redis loses at most the last second of queued work
        "--appendfsync", "everysec",
    ]  # fmt: skip


def _workers_registered(client) -> int:  # noqa: ANN001
    from rq import Worker

    return len(Worker.all_keys(connection=client))


def stop(server: subprocess.Popen, socket_path: Path, grace: float) -> int:
    """Wait (up to ``grace`` s) for the RQ workers to leave, then save and shut the server down."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries: SHUTDOWN closes the connection and removes the socket, which is success here.
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=2, retry=Retry(NoBackoff(), 0))
    deadline = time.monotonic() + grace
    try:
        while (n := _workers_registered(client)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if n:
            log.warning("%d RQ worker(s) still registered after %.1f s; stopping Redis anyway", n, grace)
        client.shutdown(save=True)
    except redis.ConnectionError:
        pass  # already gone (or the shutdown closed the connection, as it does)
    except redis.RedisError as exc:
        log.warning("Redis refused a clean shutdown (%s); terminating it", exc)
        server.terminate()
    try:
        return server.wait(timeout=max(1.0, deadline - time.monotonic() + 1))
    except subprocess.TimeoutExpired:
        server.kill()
        return server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="private Redis for vidlib, stopped after the workers")
    parser.add_argument("--grace", type=float, default=4.0, help="seconds to wait for workers on stop (default 4)")
    args = parser.parse_args(argv)

    from config import load_config
    from vidlib.logs import configure_logging

    config = load_config()
    configure_logging(config, "redis")
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = data_dir / "redis.sock"

    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.append(signum))
    server = subprocess.Popen(server_args(data_dir), start_new_session=True)
    log.info("redis-server %s on %s", server.pid, socket_path)
    while not stopping:
        try:
            code = server.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        log.error("redis-server exited on its own (code %s)", code)
        return code or 1
    log.info("stop requested; waiting for the workers to leave before Redis stops")
    code = stop(server, socket_path, args.grace)
    log.info("redis-server stopped (code %s)", code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
