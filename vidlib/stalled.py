"""Clients that stop reading: a response waits at most ``VIDLIB_SEND_TIMEOUT`` seconds for them.

gunicorn sends a response on a blocking socket with no timeout, so a client that stops reading
(a hostile one, a paused player whose socket buffers filled, a phone that left the Wi-Fi
mid-video) holds a web thread until the connection dies: with 8 threads a worker, 8 of them
stop the worker. ``nginx`` closes such a connection after ``send_timeout`` (60 s); this does
the same with the kernel's ``TCP_USER_TIMEOUT``: when sent bytes stay unacknowledged, or the
client's window stays shut, for that long, the kernel aborts the connection and the blocked
send (``sendfile`` included) fails with ``ETIMEDOUT``. The socket stays blocking, so nothing
changes for clients that read. Browsers' media loaders ask again with a ``Range`` from where
they stopped; the web UI's player lets a paused live stream go on its own after 20 s.

The other direction, a client that sends its request headers slowly (a byte now and then, the
"slowloris" attack), holds a thread the same way: once a request's first bytes have come, gunicorn
reads the rest with no deadline. :func:`install_header_deadline` (gunicorn's
``post_worker_init`` hook calls it) notes when a thread starts on a request, :func:`headers_read`
(its ``pre_request`` hook, called once the headers are parsed) forgets it, and a watchdog thread
shuts down the socket of any request whose headers took longer than ``VIDLIB_HEADER_TIMEOUT``
(60 s, like nginx's ``client_header_timeout``), which ends gunicorn's read and frees the thread.

``SendTimeout`` sets the option on each request's socket (under gunicorn, which hands it over as
``environ["gunicorn.socket"]``). The aborted send mostly surfaces as ``EPIPE``, which gunicorn
logs at debug like any client gone mid-response; when it surfaces as ``ETIMEDOUT`` (a send that
had sent nothing yet), gunicorn logs a traceback at ERROR, which ``StalledClientLog`` turns into
one warning line.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

_TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)  # Linux

# handling thread -> (deadline, socket) of each request whose headers are not all read yet
# (set by install_header_deadline's wrapper, cleared by headers_read and when the request ends)
_READING_HEADERS: dict[int, tuple[float, socket.socket]] = {}


class SendTimeout:
    """WSGI middleware: each request's TCP socket gives up on a client that reads nothing for
    ``seconds`` (0: never)."""

    def __init__(self, wsgi_app: Callable, seconds: float):
        self.wsgi_app = wsgi_app
        self.milliseconds = int(seconds * 1000)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None and self.milliseconds > 0:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_USER_TIMEOUT, self.milliseconds)
            except OSError:  # not TCP (a unix socket behind a proxy): nothing to bound
                pass
        return self.wsgi_app(environ, start_response)


class StalledClientLog(logging.Filter):
    """On ``gunicorn.error``: "Socket error processing request." with an ``ETIMEDOUT`` becomes
    one warning line, without the traceback (it is no error in vidlib)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT:
            record.msg, record.args = "closed a connection whose client read nothing for %gs (VIDLIB_SEND_TIMEOUT): a stalled or vanished client", (self.seconds,)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def install_log_filter(seconds: float, logger: Any = None) -> None:
    """Add :class:`StalledClientLog` to gunicorn's error logger once (a gunicorn hook calls it)."""
    logger = logger or logging.getLogger("gunicorn.error")
    if not any(isinstance(f, StalledClientLog) for f in logger.filters):
        logger.addFilter(StalledClientLog(seconds))


def install_header_deadline(worker: Any, seconds: float) -> threading.Thread | None:
    """In a gunicorn gthread worker: give up requests whose headers take longer than ``seconds``
    from the moment a thread starts on them (0: never). Wraps the worker's ``handle(conn)`` and
    starts the watchdog thread; returns it."""
    if seconds <= 0:
        return None
    handle = worker.handle

    def timed_handle(conn: Any) -> Any:
        thread = threading.get_ident()
        _READING_HEADERS[thread] = (time.monotonic() + seconds, conn.sock)
        try:
            return handle(conn)
        finally:
            _READING_HEADERS.pop(thread, None)

    worker.handle = timed_handle  # gthread submits self.handle for each request it reads

    def watch() -> None:
        tick = threading.Event()
        while not tick.wait(min(1.0, seconds / 4)):
            now = time.monotonic()
            for thread, entry in list(_READING_HEADERS.items()):
                deadline, sock = entry
                if now < deadline or _READING_HEADERS.get(thread) is not entry:  # (that thread moved on)
                    continue
                _READING_HEADERS.pop(thread, None)
                try:
                    peer = sock.getpeername()
                    sock.shutdown(socket.SHUT_RDWR)  # gunicorn's blocked read ends; it closes the connection
                except OSError:
                    continue
                log.warning("gave up a request from %s whose headers took longer than %gs (VIDLIB_HEADER_TIMEOUT): a slow or hostile client", peer[0] if isinstance(peer, tuple) else peer, seconds)

    thread = threading.Thread(target=watch, name="vidlib-header-deadline", daemon=True)
    thread.start()
    return thread


def headers_read() -> None:
    """The request this thread handles has all its headers (gunicorn's ``pre_request`` hook):
    no deadline for the app's own work."""
    _READING_HEADERS.pop(threading.get_ident(), None)
