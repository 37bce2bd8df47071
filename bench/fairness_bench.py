"""Fair scheduling benchmark: how much a flood of runs from tenant B delays tenant A's next run.

    .venv/bin/python bench/fairness_bench.py [--flood 200] [--runs 5] [--concurrency 1] [--tiny]

Self-contained, real services: a throwaway SQLite database, media and sandbox directories under a
temporary directory; gunicorn serving the API; ONE Celery worker (prefork, ``--concurrency`` pool
processes, default 1) on a queue of its own on the real Redis; real Docker sandboxes. Every process gets
``ARGUS_DISPATCH_SLOTS`` = the worker's concurrency, as an operator configures it. Two tenants, A and B,
have the same trivial plugin installed (reads stdin, writes a tiny output.json).

1. A alone: ``--runs`` runs of tenant A, one after the other, each measured end to end: ``runPlugin``
   over HTTP, until its terminal status and ledger entry are committed (polled in the database every
   20 ms, so the figure does not depend on the API's polling limits).
2. A during B's flood: tenant B submits ``--flood`` runs as fast as it can (through ``run_plugin``, the
   function behind the ``runPlugin`` mutation, in this process: no HTTP in the way of the flood), then A
   submits its next runs, measured the same way while B's runs drain.

It prints A's median latency alone and during the flood, the difference (the bound to meet is 2 s with
one worker), and how many of B's runs started before each of A's (a FIFO queue would start all of them
first). ``--tiny`` (a flood of 10, one run each) checks that the whole path works in a few seconds of
measuring. Everything it started is stopped and removed at the end (also on Ctrl-C or an error).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.bench_processes import Proc, interrupt_on_sigterm  # noqa: E402  (needs the path above)
from tests.support.private_redis import free_port  # noqa: E402

PYTHON = sys.executable
IMAGE_RUNTIME = "python3.11"
LIMITS = {"memory_mb": 256, "cpus": 1.0, "timeout_seconds": 60, "pids": 64}
BOUND_SECONDS = 2.0
PLUGIN_MAIN = """\
import json, sys
data = json.load(sys.stdin)
with open("/argus/output/output.json", "w") as out:
    json.dump({"echo": data}, out)
"""
RUN_MUTATION = """
mutation($i: ID!) { runPlugin(installationId: $i, input: "{}") { execution { id } errors { code message } } }
"""


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.token = uuid.uuid4().hex[:10]
        self.tmp = Path(tempfile.mkdtemp(prefix="argus-fairness-bench-"))
        self.queue = f"bench-fair-{self.token}"
        self.procs: list[Proc] = []
        self.worker: Proc | None = None
        self.env: dict[str, str] = {}
        self.database = self.tmp / "bench.sqlite3"

    # -- services ----------------------------------------------------------------------------------------

    def configure(self) -> None:
        sandbox = self.tmp / "sandbox"
        sandbox.mkdir(mode=0o700)
        for name in ("media", "data", "logs"):
            (self.tmp / name).mkdir()
        os.environ.update(
            {
                "DATABASE_URL": f"sqlite:///{self.database}",
                "ARGUS_MEDIA_ROOT": str(self.tmp / "media"),
                "ARGUS_DATA_DIR": str(self.tmp / "data"),
                "ARGUS_SANDBOX_WORK_DIR": str(sandbox),
                "CELERY_TASK_DEFAULT_QUEUE": self.queue,
                "ARGUS_DISPATCH_SLOTS": str(self.args.concurrency),
                "SECRET_KEY": secrets.token_urlsafe(48),
                "DJANGO_SETTINGS_MODULE": "argus_plugins.settings",
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "WARNING",
            }
        )
        self.env = dict(os.environ)
        result = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr}")
        import django

        django.setup()
        from django.conf import settings

        from execution.sandbox import connect
        from execution.sandbox.images import DEFAULT_CACHE_DIR, ensure_runtime_images

        self.client = connect(settings.DOCKER_BASE_URL, timeout=120)
        cache = Path(os.environ.get("ARGUS_RUNTIME_CACHE_DIR", DEFAULT_CACHE_DIR))
        ensure_runtime_images(self.client, settings.ARGUS_RUNTIME_IMAGES, cache_dir=cache, log=log)

    def create_objects(self) -> None:
        from argus_plugins.staff.roles import StaffRole, grant_role
        from argus_plugins.tenancy import services as tenancy_services
        from argus_plugins.tenancy.models import User
        from installations import services as installation_services
        from registry import services as registry_services
        from tests.support.publishing import make_publisher_kit, manifest_for

        def user(name: str, staff: bool = False) -> Any:
            return User.objects.create(username=f"{name}-{self.token}", is_staff=staff)

        operator, self.user_a, self.user_b = user("operator", staff=True), user("alice"), user("bob")
        grant_role(operator, StaffRole.REVIEWER)  # it approves the bench's plugin
        tenant_a = tenancy_services.create_tenant(actor=self.user_a, name="Agency A")
        tenant_b = tenancy_services.create_tenant(actor=self.user_b, name="Agency B")
        _, self.token_a = tenancy_services.create_api_token(actor=self.user_a, name="fairness bench")
        # The test suite's publishing helper: a publisher, an RSA-4096 key, a signed upload, review, approval.
        kit = make_publisher_kit(operator, slug="bench-pub")
        plugin = registry_services.create_plugin(
            actor=operator, publisher_id=kit.publisher.pk, slug="bench-echo", name="bench-echo"
        )
        manifest = manifest_for("bench-echo", "1.0.0", runtime=IMAGE_RUNTIME, resources=LIMITS)
        kit.publish(plugin, "1.0.0", reviewer=operator, manifest=manifest, files={"main.py": PLUGIN_MAIN})
        self.installation_a = installation_services.install_plugin(
            actor=self.user_a, tenant_id=tenant_a.pk, plugin_id=plugin.pk
        )
        self.installation_b = installation_services.install_plugin(
            actor=self.user_b, tenant_id=tenant_b.pk, plugin_id=plugin.pk
        )

    def start(self) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        web = Proc(
            "gunicorn",
            [PYTHON, "-m", "gunicorn", "argus_plugins.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "2"],
            self.env, self.tmp / "logs" / "gunicorn.log",
        )  # fmt: skip
        self.procs.append(web)
        self.worker = Proc(
            "worker",
            [PYTHON, "-m", "celery", "-A", "argus_plugins", "worker", "-P", "prefork", "-Q", self.queue,
             "-c", str(self.args.concurrency), "-n", f"{self.queue}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-l", "INFO"],
            self.env, self.tmp / "logs" / "worker.log",
        )  # fmt: skip
        self.procs.append(self.worker)
        deadline = time.monotonic() + 90
        while " ready." not in self.worker.log_text():
            if not self.worker.alive():
                raise RuntimeError(f"Celery worker exited:\n{self.worker.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker not ready:\n{self.worker.log_text()}")
            time.sleep(0.1)
        while True:
            if not web.alive():
                raise RuntimeError(f"gunicorn exited:\n{web.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=5) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn not healthy:\n{web.log_text()}")
            time.sleep(0.2)

    # -- runs --------------------------------------------------------------------------------------------

    def submit_a(self) -> str:
        body = {"query": RUN_MUTATION, "variables": {"i": str(self.installation_a.pk)}}
        request = urllib.request.Request(  # noqa: S310 - the bench's own local server
            f"{self.base_url}/graphql/",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token_a}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer = json.loads(response.read())
        payload = (answer.get("data") or {}).get("runPlugin") or {}
        if answer.get("errors") or payload.get("errors") or not payload.get("execution"):
            raise RuntimeError(f"runPlugin refused: {answer}")
        return payload["execution"]["id"]

    def wait_done(self, execution_id: str, timeout: float = 600.0) -> Any:
        from execution.models import Execution

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = Execution.objects.filter(pk=execution_id).first()
            if row is not None and row.is_terminal and row.ledger_entry_id is not None:
                if row.status != "SUCCEEDED":
                    raise RuntimeError(f"execution {execution_id} ended {row.status}: {row.error_reason}")
                return row
            time.sleep(0.02)
        raise RuntimeError(f"execution {execution_id} not finished after {timeout:.0f} s")

    def run_a(self) -> tuple[float, Any]:
        started = time.perf_counter()
        execution = self.wait_done(self.submit_a())
        return time.perf_counter() - started, execution

    def flood_b(self, count: int) -> list[str]:
        from execution.services import run_plugin

        return [
            str(run_plugin(actor=self.user_b, installation_id=self.installation_b.pk, input={}).pk)
            for _ in range(count)
        ]

    def b_started_before(self, execution: Any) -> int:
        from execution.models import Execution

        return Execution.objects.filter(
            installation=self.installation_b, started_at__lt=execution.started_at
        ).count()

    def b_started(self) -> int:
        from execution.models import Execution

        return Execution.objects.filter(installation=self.installation_b, started_at__isnull=False).count()

    def cleanup(self) -> None:
        worker_pids: set[int] = set()
        if self.worker is not None:
            self.worker.remember_children()
            worker_pids = set(self.worker.known_pids)
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()
        with contextlib.suppress(Exception):
            from execution.sandbox.container import LABEL_MANAGED, LABEL_OWNER, remove_container

            # Sandbox containers are labelled with their worker process ("host:pid:start"): remove what
            # our worker's processes left behind, nobody else's.
            owners = tuple(f"{socket.gethostname()}:{pid}:" for pid in worker_pids)
            for info in self.client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"}):
                if owners and (info.get("Labels") or {}).get(LABEL_OWNER, "").startswith(owners):
                    remove_container(self.client, info["Id"])
            self.client.close()
        with contextlib.suppress(Exception):
            import redis

            connection = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
            connection.delete(self.queue, f"_kombu.binding.{self.queue}")
            connection.close()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        shutil.rmtree(self.tmp, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, default=200, help="runs tenant B submits at once (200)")
    parser.add_argument("--runs", type=int, default=5, help="runs of tenant A measured per side (5)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured runs of A first (2)")
    parser.add_argument("--concurrency", type=int, default=1, help="the worker's pool processes (1)")
    parser.add_argument("--tiny", action="store_true", help="a flood of 10 and one run per side (CI)")
    args = parser.parse_args()
    if args.tiny:
        args.flood, args.runs, args.warmup = 10, 1, 1
    if min(args.flood, args.runs, args.concurrency) < 1 or args.warmup < 0:
        parser.error("--flood, --runs and --concurrency must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    bench = Bench(args)
    with interrupt_on_sigterm():
        try:
            log(f"setup in {bench.tmp} (queue {bench.queue}) ...")
            bench.configure()
            log("creating tenants, a publisher and the plugin ...")
            bench.create_objects()
            log("starting gunicorn and the worker ...")
            bench.start()
            for _ in range(args.warmup):
                bench.run_a()
            log(f"tenant A alone: {args.runs} runs ...")
            alone = [bench.run_a()[0] for _ in range(args.runs)]
            log(f"tenant B floods {args.flood} runs, then tenant A runs {args.runs} ...")
            flood_started = time.perf_counter()
            bench.flood_b(args.flood)
            submitted_in = time.perf_counter() - flood_started
            flooded, ahead = [], []
            for _ in range(args.runs):
                latency, execution = bench.run_a()
                flooded.append(latency)
                ahead.append(bench.b_started_before(execution))
            b_done = bench.b_started()
        except KeyboardInterrupt:
            log("interrupted: cleaning up")
            return 130
        finally:
            bench.cleanup()
    base, loaded = statistics.median(alone), statistics.median(flooded)
    added = loaded - base
    print(f"fairness bench: one worker with {args.concurrency} pool process(es), ARGUS_DISPATCH_SLOTS="
          f"{args.concurrency}")  # fmt: skip
    print(f"  tenant B submitted {args.flood} runs in {submitted_in:.2f} s")
    print(f"  tenant A latency alone:          median {base:6.3f} s  (runs: {_seconds(alone)})")
    print(f"  tenant A latency during flood:   median {loaded:6.3f} s  (runs: {_seconds(flooded)})")
    print(f"  added by B's flood:              {added:+6.3f} s  (bound {BOUND_SECONDS:.1f} s: "
          f"{'within' if added <= BOUND_SECONDS else 'EXCEEDED'})")  # fmt: skip
    print(f"  B runs started before each A run: {ahead} (a FIFO queue: {args.flood} before the first); "
          f"B runs started by the end: {b_done}/{args.flood}")  # fmt: skip
    return 0


def _seconds(values: list[float]) -> str:
    return " ".join(f"{value:.3f}" for value in values)


if __name__ == "__main__":
    sys.exit(main())
