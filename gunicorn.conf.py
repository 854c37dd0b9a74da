"""gunicorn settings, read from vidlib's config (VIDLIB_* variables, .env, defaults).

gunicorn loads this file from the working directory by itself; the Procfile names it anyway.
Command-line flags still win (``gunicorn --bind 127.0.0.1:9000 wsgi:app``).
"""

import ipaddress
import logging

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


def when_ready(server):
    """Say loudly when vidlib is reachable from other machines without an admin token."""
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
