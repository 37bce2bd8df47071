"""Run web (nginx in front of gunicorn), a Celery worker and Celery beat in the foreground, then the demo."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from argus_plugins.core.web_tier import WebTier, WebTierError, stop_processes, wait_healthy
from argus_plugins.platform.demo import prepare_demo_admin, run_demo


class Command(BaseCommand):
    help = "Start the platform (web, worker, beat) in the foreground and run the demo plugin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes.")
        parser.add_argument(
            "--web-workers",
            type=int,
            default=2,
            help="gunicorn worker processes behind nginx (ARGUS_WEB_THREADS threads each).",
        )
        parser.add_argument("--no-demo", action="store_true", help="Do not run the demo plugin.")
        parser.add_argument(
            "--exit-after-demo", action="store_true", help="Stop everything once the demo has run (for CI)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        web_tier = WebTier(options["host"], options["port"], gunicorn_workers=options["web_workers"])
        base_url = web_tier.base_url
        children: list[subprocess.Popen] = []
        # This start's processes keep their Prometheus metrics in a directory of their own (pids of earlier
        # starts are gone; their files would add stale counts), removed when the platform stops.
        metrics_dir = tempfile.mkdtemp(prefix="platform-", dir=settings.ARGUS_METRICS_DIR)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "ARGUS_METRICS_DIR": metrics_dir,
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        }
        python = sys.executable
        commands = {
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
            self.stdout.write(f"Starting web: gunicorn, then nginx in front of it on {base_url} …")
            try:
                children.extend(web_tier.start(env=env))
                health = wait_healthy(base_url, children)
            except WebTierError as error:
                raise CommandError(str(error)) from error
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
            stop_processes(children)
            web_tier.stop()
            shutil.rmtree(metrics_dir, ignore_errors=True)

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
