"""gunicorn settings, read from vidlib's config (VIDLIB_* variables, .env, defaults).

gunicorn loads this file from the working directory by itself; the Procfile names it anyway.
Command-line flags still win (``gunicorn --bind 127.0.0.1:9000 wsgi:app``).
"""

import ipaddress
import logging
import socket
import sys

from config import load_config

_config = load_config()

bind = [f"{_config['HOST']}:{_config['PORT']}"]
worker_class = "gthread"  # threads: a streaming response holds a thread, not a whole process
workers = _config["WEB_WORKERS"]
threads = _config["WEB_THREADS"]
timeout = _config["WEB_TIMEOUT"]
graceful_timeout = _config["WEB_GRACEFUL_TIMEOUT"]
keepalive = 5
# sendfile: /video/<hash> hands files to the kernel (wsgi.file_wrapper). gunicorn's ``sendfile``
# setting is the --no-sendfile switch: any value set here (even True) turns sendfile *off*, so
# it is left unset (tests/test_stack.py checks gunicorn reads this file with sendfile on).
accesslog = _config["ACCESS_LOG"] or None
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections evenly
# over the workers; with one shared socket, whichever worker woke first took more of them
# (65 against 37 of 100 in bench/load.py) and its visitors waited longer (p99 ~20 % higher).
# TCP only: on_starting turns it off for a unix socket.
reuse_port = True
control_socket_disable = True  # gunicorn >= 25 opens a control socket in the working dir otherwise
forwarded_allow_ips = "127.0.0.1,::1" if _config["TRUSTED_PROXIES"] else ""


def _is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]") if not address.startswith("unix:") else ""
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_to_listen(address: tuple) -> OSError | None:
    """None when nothing listens at ``address`` (host, port) yet; else why not. The probe sets
    no SO_REUSEPORT, so another vidlib's listening workers count as taken too."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: TIME_WAIT is no owner
            probe.bind(address[:2])
    except OSError as exc:
        return exc
    return None


def on_starting(server):
    addresses = server.cfg.address
    if any(not isinstance(a, tuple) or not a[1] for a in addresses):
        # workers cannot each bind the same socket file, nor agree on a port the kernel picks
        server.cfg.set("reuse_port", False)
        return
    # With reuse_port the workers bind, each with SO_REUSEPORT: a port already taken would make
    # each of them fail and be restarted forever, and a second vidlib on the same port would
    # silently share its visitors. Checked here, once, so both stop gunicorn with the reason.
    for address in addresses:
        problem = _free_to_listen(address)
        if problem is not None:
            server.log.error("cannot listen at %s:%s: %s (is another program, or vidlib, already running there? set VIDLIB_PORT)", address[0], address[1], problem.strerror or problem)
            sys.exit(1)


def post_worker_init(worker):
    """Each worker, its app loaded: long-lived objects out of the cyclic collector's walks
    (vidlib.state.freeze_long_lived: a full collection stalled every thread for ~60 ms), and
    one warning line instead of a traceback for a client reset after VIDLIB_SEND_TIMEOUT, and
    a deadline for each request's headers (VIDLIB_HEADER_TIMEOUT: slow clients hold no thread)."""
    from vidlib.stalled import install_header_deadline, install_log_filter
    from vidlib.state import freeze_long_lived

    freeze_long_lived(enable=True)
    install_log_filter(_config["SEND_TIMEOUT"])  # on gunicorn.error: a stalled client's closed connection: one line
    if worker is not None and hasattr(worker, "handle"):
        install_header_deadline(worker, _config["HEADER_TIMEOUT"])


def pre_request(worker, req):
    """The request's headers are parsed: its header deadline (VIDLIB_HEADER_TIMEOUT) is over."""
    from vidlib.stalled import headers_read  # (loaded with the app: a dict lookup)

    headers_read()
    worker.log.debug("%s %s", req.method, req.path)  # gunicorn's own pre_request


def when_ready(server):
    """Say where vidlib listens (with reuse_port the workers bind, so gunicorn's own line is
    empty), and loudly when that is reachable from other machines without an admin token."""
    server.log.info("vidlib listening at %s", ", ".join(f"http://{a}" if not a.startswith("unix:") else a for a in server.cfg.bind))
    exposed = [address for address in server.cfg.bind if not _is_loopback(address)]
    if exposed and not _config["ADMIN_TOKEN"]:
        log = logging.getLogger("vidlib.web")
        banner = "!" * 78
        server.log.warning(
            "\n%s\nvidlib listens on %s, reachable from other machines, and VIDLIB_ADMIN_TOKEN is not set.\n"
            "Browsing works from anywhere; the dashboard and every change stay loopback-only\n"
            "until you set VIDLIB_ADMIN_TOKEN (see docs/security.md).\n%s",
            banner, ", ".join(exposed), banner,
        )  # fmt: skip
        log.warning("bound to %s without an admin token: dashboard and changes are loopback-only", ", ".join(exposed))

