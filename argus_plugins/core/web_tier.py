"""The platform's web tier: nginx on the public address, gunicorn's threaded workers behind it.

gunicorn's workers handle each request on one thread from its first byte to its last: facing the network,
clients sending their bodies one byte at a time would occupy every thread. nginx buffers whole requests
(and responses) before gunicorn is involved, applies timeouts between reads, and refuses oversized bodies from
their ``Content-Length`` before reading them — with a small limit for anonymous requests.

``run_platform`` starts it (so does ``bench/web_tier_bench.py``); ``compose.yaml`` mounts the same template
rendered for containers (``python manage.py nginx_config --compose``).
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template import Context, Engine

TEMPLATE_PATH = Path(__file__).with_name("nginx.conf.template")
#: Where compose.yaml's nginx service finds its configuration (rendered by ``nginx_config --compose``).
COMPOSE_CONFIG_PATH = Path(settings.BASE_DIR) / "deploy" / "nginx" / "compose.conf"
# The client's address comes from nginx's X-Forwarded-For (gunicorn's own peer is nginx).
_ACCESS_LOG_OPTIONS = [
    "--access-logfile",
    "-",
    "--access-logformat",
    '%({x-forwarded-for}i)s - %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms',
]
#: gunicorn's settings module (gthread workers, threads per process): every start of the web tier uses it.
GUNICORN_CONFIG_OPTIONS = ("--config", "python:argus_plugins.core.gunicorn_conf")
# sun_path holds 108 bytes on Linux; a longer socket path falls back to a loopback port.
_MAX_UNIX_SOCKET_PATH = 100


class WebTierError(RuntimeError):
    """The web tier could not start or did not become healthy."""


@dataclass(frozen=True)
class NginxSettings:
    purpose: str
    listen: str
    upstream: str
    pid_path: str
    temp_dir: str
    access_log: str
    user: str | None
    worker_processes: str
    max_body_bytes: int
    anonymous_max_body_bytes: int
    client_timeout_seconds: int
    upstream_timeout_seconds: int
    session_cookie_name: str


def limits_from_settings() -> dict[str, Any]:
    return {
        "max_body_bytes": settings.ARGUS_WEB_MAX_BODY_BYTES,
        "anonymous_max_body_bytes": settings.ARGUS_WEB_ANONYMOUS_MAX_BODY_BYTES,
        "client_timeout_seconds": settings.ARGUS_WEB_CLIENT_TIMEOUT_SECONDS,
        "upstream_timeout_seconds": settings.ARGUS_WEB_UPSTREAM_TIMEOUT_SECONDS,
        "session_cookie_name": settings.SESSION_COOKIE_NAME,
    }


def render_nginx_config(nginx: NginxSettings) -> str:
    # Django's template language: its {{ }} never collides with nginx's $variables or { } blocks.
    template = Engine(autoescape=False).from_string(TEMPLATE_PATH.read_text())
    return template.render(Context(asdict(nginx), autoescape=False))


def compose_nginx_settings() -> NginxSettings:
    """compose.yaml's front: nginx listens on 8000 and forwards to the ``web`` service's gunicorn."""
    return NginxSettings(
        purpose="compose.yaml's front service",
        listen="8000",
        upstream="web:8000",
        pid_path="/tmp/nginx.pid",  # noqa: S108 - inside the nginx container only
        temp_dir="/tmp",  # noqa: S108 - inside the nginx container only
        access_log="/dev/stdout",
        user=None,
        worker_processes="auto",
        **limits_from_settings(),
    )


def nginx_binary() -> str:
    found = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        raise WebTierError("nginx is not installed (scripts/start.sh installs Debian's nginx package).")
    return found


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebTier:
    """nginx on ``host:port``, gunicorn on a unix socket behind it, both in a fresh runtime directory.

    The directory (config, pid, socket, nginx's temp files for buffered bodies) is new for every start,
    under the data directory, so two platforms on one host never share any of it. nginx runs as the
    current user; as root, its workers stay root too, because they must reach gunicorn's socket.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        gunicorn_workers: int = 2,
        access_log: bool = True,
        runtime_parent: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.gunicorn_workers = gunicorn_workers
        self.access_log = access_log
        self.runtime_parent = runtime_parent or Path(settings.DATA_DIR) / "run"
        self.runtime_dir: Path | None = None
        self.gunicorn_bind = ""
        self.processes: list[subprocess.Popen] = []

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def prepare(self) -> dict[str, list[str]]:
        """Write the nginx config into a new runtime directory; return the commands to start, by name."""
        nginx_path = nginx_binary()
        self.runtime_parent.mkdir(parents=True, exist_ok=True)
        self.runtime_dir = Path(tempfile.mkdtemp(prefix=f"web-{self.port}-", dir=self.runtime_parent))
        socket_path = self.runtime_dir / "gunicorn.sock"
        if len(str(socket_path)) <= _MAX_UNIX_SOCKET_PATH:
            gunicorn_bind, upstream = f"unix:{socket_path}", f"unix:{socket_path}"
        else:
            port = _free_loopback_port()
            gunicorn_bind = upstream = f"127.0.0.1:{port}"
        self.gunicorn_bind = gunicorn_bind
        user = None
        if os.geteuid() == 0:
            user = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"
        listen_host = f"[{self.host}]" if ":" in self.host else self.host
        nginx = NginxSettings(
            purpose="started by run_platform",
            listen=f"{listen_host}:{self.port}",
            upstream=upstream,
            pid_path=str(self.runtime_dir / "nginx.pid"),
            temp_dir=str(self.runtime_dir),
            # gunicorn writes the access log: nginx reopening /dev/stdout would get its own file offset
            # when stdout is a file, and the lines of the two would overwrite each other.
            access_log="off",
            user=user,
            worker_processes="1",
            **limits_from_settings(),
        )
        config_path = self.runtime_dir / "nginx.conf"
        config_path.write_text(render_nginx_config(nginx))
        return {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "argus_plugins.wsgi:application",
                *GUNICORN_CONFIG_OPTIONS,
                "--bind",
                gunicorn_bind,
                "--workers",
                str(self.gunicorn_workers),
                # Its control socket defaults to one path per user (~/.gunicorn): two platforms would clash.
                "--no-control-socket",
                *(_ACCESS_LOG_OPTIONS if self.access_log else []),
            ],
            "nginx": [nginx_path, "-p", str(self.runtime_dir), "-c", str(config_path), "-e", "stderr"],
        }

    @staticmethod
    def environment(env: dict[str, str]) -> dict[str, str]:
        # nginx overwrites X-Forwarded-For with the peer's address, so the audit log may trust it.
        return {**env, "ARGUS_TRUST_X_FORWARDED_FOR": "1"}

    def start(
        self, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
    ) -> list[subprocess.Popen]:
        """Start gunicorn, then nginx once gunicorn listens (each in its own session); return both.

        The caller stops them (``stop`` or ``stop_processes``) and waits for ``/healthz`` if it wants to.
        """
        commands = self.prepare()
        env = self.environment({**(env if env is not None else os.environ), "PYTHONUNBUFFERED": "1"})
        for name, command in commands.items():
            self.processes.append(
                subprocess.Popen(command, cwd=cwd or settings.BASE_DIR, env=env, start_new_session=True)
            )
            if name == "web":
                self._wait_listening(self.processes[-1], timeout)
        return list(self.processes)

    def _wait_listening(self, process: subprocess.Popen, timeout: float) -> None:
        # nginx started before gunicorn listens would log a failed upstream connection per early request.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise WebTierError(f"gunicorn exited during start-up (code {process.returncode})")
            if self._upstream_accepts():
                return
            time.sleep(0.1)
        raise WebTierError(f"gunicorn did not listen on {self.gunicorn_bind} within {timeout:.0f} s")

    def _upstream_accepts(self) -> bool:
        if self.gunicorn_bind.startswith("unix:"):
            family, address = socket.AF_UNIX, self.gunicorn_bind.removeprefix("unix:")
        else:
            host, port = self.gunicorn_bind.rsplit(":", 1)
            family, address = socket.AF_INET, (host, int(port))
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            try:
                probe.connect(address)
            except OSError:
                return False
        return True

    def stop(self) -> None:
        stop_processes(self.processes)
        self.processes = []
        self.cleanup()

    def cleanup(self) -> None:
        if self.runtime_dir is not None:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir = None

    def __enter__(self) -> WebTier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stop_processes(processes: list[subprocess.Popen], timeout: float = 20) -> None:
    """SIGTERM each process, then SIGKILL its whole process group once it has exited or ``timeout`` passed.

    Only the group's leader (gunicorn's master, Celery's main process, nginx's master) is sent SIGTERM: it
    stops its own children in order. Celery's warm shutdown lets a task finish and stops the pool keeper
    itself; pool processes sent SIGTERM directly would die mid-task and their tasks be reported lost. The
    SIGKILL afterwards reaches whatever a leader left behind (or a leader that did not stop in time).
    """
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_healthy(base_url: str, processes: list[subprocess.Popen], timeout: float = 60) -> dict[str, Any]:
    """Poll ``/healthz`` until it answers; fail as soon as one of ``processes`` has exited."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise WebTierError(
                    f"A platform process exited during start-up (code {process.returncode}): {process.args}"
                )
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:  # noqa: S310
                return json.loads(response.read())
        except Exception as error:  # noqa: BLE001 - keep polling until the deadline
            last_error = str(error)
            time.sleep(0.2)
    raise WebTierError(f"The platform did not become healthy: {last_error}")
