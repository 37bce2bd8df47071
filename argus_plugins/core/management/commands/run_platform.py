"""Run web (gunicorn), a Celery worker and Celery beat in the foreground, then show the platform working."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from argus_plugins.core.demo import prepare_demo_admin, run_demo


class Command(BaseCommand):
    help = "Start the platform (web, worker, beat) in the foreground and run the demo plugin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes.")
        parser.add_argument("--no-demo", action="store_true", help="Do not run the demo plugin.")
        parser.add_argument(
            "--exit-after-demo", action="store_true", help="Stop everything once the demo has run (for CI)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        base_url = f"http://{options['host']}:{options['port']}"
        children: list[subprocess.Popen] = []
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        python = sys.executable
        commands = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "argus_plugins.wsgi:application",
                "--bind",
                f"{options['host']}:{options['port']}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
                # gunicorn's control socket defaults to one path per user: a second instance on the host
                # would take it over, and delete it when it exits. Nothing here uses it.
                "--no-control-socket",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "argus_plugins",
                "worker",
                "-l",
                "INFO",
                "-c",
                str(options["workers"]),
                "-n",
                "worker@%h",
                # The runs' queue and the housekeeping queues beside it (settings.CELERY_TASK_QUEUES).
                "-Q",
                ",".join(settings.CELERY_TASK_QUEUES),
            ],
            "beat": [python, "-m", "celery", "-A", "argus_plugins", "beat", "-l", "INFO"],
        }
        stop = False

        def request_stop(signum: int, frame: Any) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, request_stop)
        try:
            for name, command in commands.items():
                self.stdout.write(f"Starting {name}: {' '.join(command[2:5])} …")
                children.append(
                    subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, start_new_session=True)
                )
            health = self._wait_healthy(base_url, children)
            username, token = prepare_demo_admin()
            self._banner(base_url, username, token, health)
            if not options["no_demo"]:
                run_demo(base_url=base_url, token=token, write=self.stdout.write)
            if options["exit_after_demo"]:
                return
            self.stdout.write(self.style.SUCCESS("The platform is running. Press Ctrl-C to stop."))
            while not stop:
                for child in children:
                    if child.poll() is not None:
                        raise CommandError(
                            f"A platform process exited (code {child.returncode}): {child.args}"
                        )
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(children)

    def _wait_healthy(self, base_url: str, children: list[subprocess.Popen]) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        last_error = ""
        while time.monotonic() < deadline:
            for child in children:
                if child.poll() is not None:
                    raise CommandError(f"A platform process exited during start-up: {child.args}")
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:  # noqa: S310
                    return json.loads(response.read())
            except Exception as error:  # noqa: BLE001 - keep polling until the deadline
                last_error = str(error)
                time.sleep(0.5)
        raise CommandError(f"The platform did not become healthy: {last_error}")

    def _banner(self, base_url: str, username: str, token: str, health: dict[str, Any]) -> None:
        checks = ", ".join(
            f"{name} {'ok' if check['ok'] else 'DOWN'}" for name, check in health["checks"].items()
        )
        lines = [
            "",
            f"Argus Plugins {health['version']} is up ({checks}).",
            f"  GraphiQL:  {base_url}/graphql/",
            f"  Admin:     {base_url}/admin/   (staff user '{username}'; set a password with"
            f" `python manage.py changepassword {username}`)",
            f"  Health:    {base_url}/healthz",
            f"  API token for '{username}' (send as 'Authorization: Bearer <token>'):",
            f"    {token}",
            "",
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))

    def _stop(self, children: list[subprocess.Popen]) -> None:
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
