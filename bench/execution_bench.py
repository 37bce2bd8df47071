"""End-to-end execution benchmark: the whole platform versus a bare docker-SDK run of the same work.

    .venv/bin/python bench/execution_bench.py [--runs N] [--workers 1,2,4] [--batch B] [--quick | --tiny]

Self-contained: it makes a throwaway SQLite database, media, data and sandbox work directory under a
temporary directory, migrates it, starts gunicorn (2 gthread workers, as ``run_platform`` does behind its
nginx, which this bench leaves out: one client, no slow bodies) and Celery workers (ONE ``celery worker``
process per measurement with prefork concurrency N, i.e. N pool child processes sharing the host's warm
pool, each claiming its next container ahead) on a queue of its own, creates a staff user and API token,
a publisher with an RSA-4096 key, a trivial plugin (reads stdin, writes a tiny output.json) published,
approved and installed in a tenant (no capabilities), then measures in one run:

1. Latency: ``runPlugin`` over HTTP GraphQL, then polling ``execution(id) { status terminal ledgerEntry
   { sequence } }`` until terminal with its ledger entry committed, as a client sees it; divided by the
   median of a bare ``client.containers.run(detach=True)`` + wait + logs + remove of the same image with
   the same limits and an equivalent ``python3 -c`` (read stdin, write output.json). Interleaved, and
   every measurement starts with the engine quiet (no removal or pool refill in flight).
2. Throughput: a batch of executions submitted over the API to a worker with concurrency N, per minute,
   divided by the same number of bare runs per minute from a pool of N threads, for each N (batches
   alternate platform/bare). Rated over the steady middle of each batch (``steady_window``); the
   whole-batch ratio, which flatters the platform (warm pools at the start, refills after the end), is
   printed beside it. Also where the CPU goes per run (from /proc and the docker cgroup; the platform's
   includes refilling its pools after the batch): once the CPUs are saturated, the throughput ratio is
   roughly the ratio of CPU per run.
3. Where the platform's latency goes: the execution rows' timestamps, the sandbox's per-phase timings
   (Execution.timings), the Celery worker log (when the task was received, how long its body ran),
   plus a few offline probes (poll round trip, pre-claim checks, ledger append); and, for the back-to-back
   runs and the event chain, the median run (or step) split at queued_at, started_at and finished_at.

Options: --poll-interval (client, default 20 ms), --pool-size (ARGUS_SANDBOX_POOL_SIZE for the workers),
--batch/--rounds (throughput), --warmup, --settle, --web-workers. The tenant's concurrency cap is raised
(TenantPolicy.max_concurrent_executions = 64 and ARGUS_TENANT_MAX_CONCURRENCY = 64).
Everything it started is stopped and removed at the end (also on Ctrl-C or an error).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.bench_processes import Proc, interrupt_on_sigterm  # noqa: E402  (needs the path above)
from tests.support.private_redis import free_port  # noqa: E402

PYTHON = sys.executable
IMAGE_RUNTIME = "python3.11"
BENCH_LABEL = "org.argus.bench"
LIMITS = {"memory_mb": 256, "cpus": 1.0, "timeout_seconds": 60, "pids": 64}
TMP_MB = 64  # SandboxLimits.tmp_mb: the sandbox's /tmp tmpfs

PLUGIN_MAIN = """\
import json, sys
data = json.load(sys.stdin)
print("hello from the plugin")
with open("/argus/output/output.json", "w") as out:
    json.dump({"echo": data}, out)
"""
# The same work for the bare run: no stdin is attached by containers.run(detach=True), so it reads an
# empty stdin and falls back to the same input; the output goes to the container's /tmp tmpfs and is
# printed, so reading the logs collects it.
BARE_CODE = (
    "import json, sys\n"
    "data = json.loads(sys.stdin.read() or '{\"n\": 1}')\n"
    "print('hello from the plugin')\n"
    "with open('/tmp/output.json', 'w') as out:\n"
    "    json.dump({'echo': data}, out)\n"
    "print(open('/tmp/output.json').read())\n"
)
BARE_EXPECTED = b'{"echo": {"n": 1}}'

RUN_MUTATION = """
mutation($i: ID!, $input: JSONString) {
  runPlugin(installationId: $i, input: $input) { execution { id } errors { code message } }
}"""
#: The event chain's plugin: each run's output ``{"step": k + 1}`` is the next run's input (a subscription to
#: its own ``execution.succeeded``, until ``step`` reaches the chain's length).
CHAIN_MAIN = """\
import json, sys
data = json.load(sys.stdin)
with open("/argus/output/output.json", "w") as out:
    json.dump({"step": data.get("step", 0) + 1}, out)
"""
POLL_QUERY = "query($id: ID!) { execution(id: $id) { status terminal ledgerEntry { sequence } } }"
#: How the bench's client learns a run's end: held by the server until the run is terminal (section 5
#: compares it with polling POLL_QUERY every --poll-interval).
WAIT_QUERY = """query($id: ID!) {
  waitForExecution(id: $id, timeoutSeconds: 10) { status terminal ledgerEntry { sequence } } }"""

SANDBOX_PHASES = (
    "worker_load",
    "worker_checks",
    "acquire",
    "worker_claim",
    "create",
    "attach",
    "start",
    "prepare",
    "send",
    "ack",
    "wait",
    "launcher_plugin_run",
    "launcher_kill",
    "launcher_collect",
    "remove",
    "total",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- statistics


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def ms(value: float) -> str:
    return f"{value * 1000:8.1f}"


# ------------------------------------------------------------------------------------------ processes


CELERY_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): INFO/[^\]]+\] Task execution\.run\[([^\]]+)\] "
    r"(received|succeeded in ([0-9.e-]+)s)"
)


def celery_events(log_text: str) -> tuple[list[tuple[float, str]], dict[str, tuple[float, float]]]:
    """From a worker log (-l INFO): (epoch second the main process received each task, task id), in
    order, and per task id (epoch second its pool child logged success, task body duration)."""
    received: list[tuple[float, str]] = []
    succeeded: dict[str, tuple[float, float]] = {}
    for line in log_text.splitlines():
        match = CELERY_LINE.match(line)
        if match is None:
            continue
        stamp = time.mktime(time.strptime(match[1], "%Y-%m-%d %H:%M:%S")) + int(match[2]) / 1000
        if match[4] == "received":
            received.append((stamp, match[3]))
        else:
            succeeded[match[3]] = (stamp, float(match[5]))
    return received, succeeded


# ----------------------------------------------------------------------------------------- CPU meter

HZ = os.sysconf("SC_CLK_TCK")
CPU_PARTS = (
    "containers (docker cgroup)",
    "dockerd + containerd",
    "Celery worker (all processes)",
    "gunicorn",
    "bench client",
    "rest (shims, runc, kernel, other load)",
    "total busy",
)


def _pid_cpu(pid: int) -> float:
    """utime + stime of one live process, in seconds (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def _pids_named(*names: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
    return found


def _docker_cgroup_cpu() -> float | None:
    """CPU seconds used by all containers so far (cgroupfs driver, cgroup v1 or v2), if readable."""
    with contextlib.suppress(OSError, ValueError):
        return int(Path("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage").read_text()) / 1e9
    with contextlib.suppress(OSError, ValueError, StopIteration):
        stat = Path("/sys/fs/cgroup/docker/cpu.stat").read_text().split("\n")
        return int(next(line for line in stat if line.startswith("usage_usec")).split()[1]) / 1e6
    return None


class CpuMeter:
    """Where the machine's CPU goes during a batch, from /proc (an explanation, not a precise account)."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.engine_pids = _pids_named("dockerd", "containerd")

    def snapshot(self) -> dict[str, float]:
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        web = [p for p in self.bench.procs if p.name == "gunicorn" and p.alive()]
        for proc in web:
            proc.remember_children()
        worker = self.bench.worker
        if worker is not None:
            worker.remember_children()
        own = os.times()
        return {
            "total busy": (sum(values) - values[3] - values[4]) / HZ,
            "containers (docker cgroup)": _docker_cgroup_cpu() or 0.0,
            "dockerd + containerd": sum(_pid_cpu(pid) for pid in self.engine_pids),
            "Celery worker (all processes)": sum(
                _pid_cpu(pid) for pid in (worker.known_pids if worker else ())
            ),
            "gunicorn": sum(_pid_cpu(pid) for proc in web for pid in proc.known_pids),
            "bench client": own.user + own.system,
        }

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        spent = {key: after[key] - before[key] for key in before}
        known = sum(value for key, value in spent.items() if key != "total busy")
        spent["rest (shims, runc, kernel, other load)"] = spent["total busy"] - known
        return spent


# ------------------------------------------------------------------------------------------------ api


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.url = f"{base_url}/graphql/"
        self.token = token

    def query(self, query: str, **variables: Any) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the bench's own local server
            self.url,
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL error: {answer['errors']}")
        return answer["data"]

    def run_plugin(self, installation_id: str, run_input: str = '{"n": 1}') -> str:
        payload = self.query(RUN_MUTATION, i=installation_id, input=run_input)["runPlugin"]
        if payload["errors"]:
            raise RuntimeError(f"runPlugin refused: {payload['errors']}")
        return payload["execution"]["id"]


# --------------------------------------------------------------------------------------------- bench


@dataclass
class ClientRun:
    execution_id: str
    t0_wall: float
    total: float
    enqueue: float
    polls: int
    seen_wall: float


@dataclass
class Throughput:
    platform_seconds: list[float] = field(default_factory=list)
    bare_seconds: list[float] = field(default_factory=list)
    platform_runs: int = 0
    bare_runs: int = 0
    paths: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    platform_cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    bare_cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    # The steady middle of each batch: completions and seconds between the first and last trimmed ones.
    platform_steady: list[tuple[int, float]] = field(default_factory=list)
    bare_steady: list[tuple[int, float]] = field(default_factory=list)
    # The host pool once the worker is quiet after a batch: most warm containers seen, and their memory.
    idle_containers: int = 0
    idle_bytes: int = 0
    # The keeper's misses by reason during the platform batches (execution/sandbox/keeper.py: MissReason).
    misses: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def hit_rate(self) -> float:
        return self.paths.get("pool", 0) / max(1, sum(self.paths.values()))

    def platform_rate(self) -> float:
        return self.platform_runs / sum(self.platform_seconds) * 60

    def bare_rate(self) -> float:
        return self.bare_runs / sum(self.bare_seconds) * 60

    @staticmethod
    def _steady_rate(windows: list[tuple[int, float]]) -> float:
        return sum(n for n, _ in windows) / sum(s for _, s in windows) * 60

    def platform_steady_rate(self) -> float:
        return self._steady_rate(self.platform_steady)

    def bare_steady_rate(self) -> float:
        return self._steady_rate(self.bare_steady)


@dataclass
class EndSide:
    """Section 5, one way of learning a run's end (polling or waiting)."""

    runs: list[ClientRun] = field(default_factory=list)
    after_finish: list[float] = field(default_factory=list)  # client saw it - finished_at (s)
    after_announce: list[float] = field(default_factory=list)  # client saw it - commit announced (s)
    commit_delay: list[float] = field(default_factory=list)  # commit announced - finished_at (s)
    gunicorn_cpu: float = 0.0
    client_cpu: float = 0.0

    def requests_per_run(self) -> float:
        return mean([1.0 + run.polls for run in self.runs])  # runPlugin + polls or waits


def report_end_detection(bench: Bench, sides: dict[str, EndSide]) -> None:
    poll, wait = sides["poll"], sides["wait"]
    interval = bench.args.poll_interval * 1000
    print(
        f"\n5. Learning a run's end: polling execution(id) every {interval:.0f} ms vs waitForExecution"
        f"\n   ({len(wait.runs)} runs per side, back to back from one client, blocks of {bench.args.end_runs}"
        " alternating; worker concurrency 1)"
    )
    print(f"   {'':<66} {'poll':>8} {'wait':>8} {'wait/poll':>9}")
    rows = [
        ("client sees the end after finished_at, median (ms)", median(poll.after_finish) * 1000,
         median(wait.after_finish) * 1000),
        ("client sees the end after finished_at, p90 (ms)", p90(poll.after_finish) * 1000,
         p90(wait.after_finish) * 1000),
        ("  of which finished_at -> commit announced, median (ms)", median(poll.commit_delay) * 1000,
         median(wait.commit_delay) * 1000),
        ("client sees the end after the commit's announcement, median (ms)",
         median(poll.after_announce) * 1000, median(wait.after_announce) * 1000),
        ("HTTP requests per run (runPlugin + polls / waits)", poll.requests_per_run(),
         wait.requests_per_run()),
        ("gunicorn CPU per run (ms)", poll.gunicorn_cpu / len(poll.runs) * 1000,
         wait.gunicorn_cpu / len(wait.runs) * 1000),
        ("bench client CPU per run (ms)", poll.client_cpu / len(poll.runs) * 1000,
         wait.client_cpu / len(wait.runs) * 1000),
        ("client total, runPlugin -> end seen, median (ms)", median([r.total for r in poll.runs]) * 1000,
         median([r.total for r in wait.runs]) * 1000),
    ]  # fmt: skip
    for name, on_poll, on_wait in rows:
        ratio = on_wait / on_poll if on_poll else float("nan")  # (CPU is counted in clock ticks)
        print(f"   {name:<66} {on_poll:8.1f} {on_wait:8.1f} {ratio:9.3f}")
    print(
        "   finished_at is stamped in the transaction that records the run (ledger append, event hooks,"
        "\n   commit), so both sides include it; 'announced': when the bench's own subscriber received the"
        "\n   message the worker publishes after that commit (on both sides; it wakes a waiting request)."
        "\n   gunicorn CPU includes the runPlugin requests (the same on both sides) and, waiting, its"
        "\n   listener thread."
    )


def steady_window(ends: list[float], batch: int) -> tuple[int, float]:
    """Completions per second in the middle of a batch, as (completions, seconds).

    A batch's edges are not steady state, and not alike on both sides: the platform starts with its pools
    already warm and ends before it has refilled them or removed its last containers (work done off the
    clock), while the bare threads start together and run to the last removal. Between the completion
    of the first and of the last fifth of the batch both sides run as they would under a continuous load.
    """
    ends = sorted(ends)
    trim = batch // 5
    low, high = trim, len(ends) - 1 - trim
    if high <= low:
        return len(ends), (ends[-1] - ends[0]) if len(ends) > 1 else float("nan")
    return high - low, ends[high] - ends[low]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.token = uuid.uuid4().hex[:10]
        self.tmp = Path(tempfile.mkdtemp(prefix="argus-exec-bench-"))
        self.queue = f"bench-{self.token}"
        self.procs: list[Proc] = []
        self.worker: Proc | None = None
        self.worker_concurrency = 0
        self.client: Any = None
        self.local = threading.local()
        self.env: dict[str, str] = {}
        self.load_at_start = os.getloadavg()[0]

    # -- environment and services ------------------------------------------------------------------------

    def configure(self) -> None:
        sandbox = self.tmp / "sandbox"
        sandbox.mkdir(mode=0o700)
        (self.tmp / "media").mkdir()
        (self.tmp / "data").mkdir()
        (self.tmp / "logs").mkdir()
        self.env = {
            "DATABASE_URL": f"sqlite:///{self.tmp / 'bench.sqlite3'}",
            "ARGUS_MEDIA_ROOT": str(self.tmp / "media"),
            "ARGUS_DATA_DIR": str(self.tmp / "data"),
            "ARGUS_SANDBOX_WORK_DIR": str(sandbox),
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "ARGUS_TENANT_MAX_CONCURRENCY": "64",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DJANGO_SETTINGS_MODULE": "argus_plugins.settings",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            # The bench floods runPlugin on purpose: the per-caller rate limits would measure themselves.
            "RATELIMIT_ENABLE": "false",
            # The event chain is longer than the default depth limit.
            "ARGUS_EVENT_MAX_CHAIN_DEPTH": str(self.args.chain + 5),
        }
        if self.args.pool_size is not None:
            self.env["ARGUS_SANDBOX_POOL_SIZE"] = str(self.args.pool_size)
        if self.args.pool_memory_mb is not None:
            self.env["ARGUS_SANDBOX_POOL_MEMORY_MB"] = str(self.args.pool_memory_mb)
        if self.args.no_preclaim:
            self.env["ARGUS_SANDBOX_POOL_PRECLAIM"] = "0"
        os.environ.update(self.env)
        self.env = dict(os.environ)

        self.run_checked([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], "migrate")
        import django

        django.setup()
        from django.conf import settings

        from execution.sandbox import connect

        self.settings = settings
        self.image = settings.ARGUS_RUNTIME_IMAGES[IMAGE_RUNTIME]["image"]
        self.pool_size = settings.ARGUS_SANDBOX_POOL_SIZE
        self.pool_budget_mb = settings.ARGUS_SANDBOX_POOL_MEMORY_MB
        self.sandbox_dir = sandbox
        self.client = connect(settings.DOCKER_BASE_URL, timeout=120)
        try:
            self.client.images.get(self.image)
        except Exception:  # noqa: BLE001 - any lookup failure: (re)build it
            log(f"runtime image {self.image} missing: building it (manage.py build_runtime_images)")
            self.run_checked([PYTHON, "manage.py", "build_runtime_images"], "build_runtime_images")

    def run_checked(self, command: list[str], name: str) -> None:
        result = subprocess.run(
            command, cwd=ROOT, env={**os.environ, **self.env}, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def create_objects(self) -> None:
        from argus_plugins.staff.roles import StaffRole, grant_role
        from argus_plugins.tenancy import services as tenancy_services
        from argus_plugins.tenancy.models import TenantPolicy, User
        from installations import services as installation_services
        from registry import services as registry_services
        from tests.support.publishing import make_publisher_kit, manifest_for

        user = User.objects.create(username=f"bench-{self.token}", is_staff=True)
        user.set_unusable_password()
        user.save()
        grant_role(user, StaffRole.REVIEWER)  # it approves the bench's plugin
        _, self.api_token = tenancy_services.create_api_token(actor=user, name="execution bench")
        tenant = tenancy_services.create_tenant(actor=user, name="Bench Agency")
        TenantPolicy.objects.update_or_create(tenant=tenant, defaults={"max_concurrent_executions": 64})
        # The test suite's publishing helper: a publisher, an RSA-4096 key, a signed upload, review, approval.
        kit = make_publisher_kit(user, slug="bench-pub")
        plugin = registry_services.create_plugin(
            actor=user, publisher_id=kit.publisher.pk, slug="bench-echo", name="Bench echo"
        )
        manifest = manifest_for("bench-echo", "1.0.0", runtime=IMAGE_RUNTIME, resources=LIMITS)
        self.version = kit.publish(
            plugin, "1.0.0", reviewer=user, manifest=manifest, files={"main.py": PLUGIN_MAIN}
        )
        self.installation = installation_services.install_plugin(
            actor=user, tenant_id=tenant.pk, plugin_id=plugin.pk
        )
        self.installation_id = str(self.installation.pk)
        # The event chain: a plugin that subscribes to its own success, same image and limits.
        from triggers import subscriptions

        chain_plugin = registry_services.create_plugin(
            actor=user, publisher_id=kit.publisher.pk, slug="bench-chain", name="Bench chain"
        )
        chain_manifest = manifest_for(
            "bench-chain", "1.0.0", runtime=IMAGE_RUNTIME, resources=LIMITS, events=["execution.succeeded"]
        )
        kit.publish(
            chain_plugin, "1.0.0", reviewer=user, manifest=chain_manifest, files={"main.py": CHAIN_MAIN}
        )
        chain = installation_services.install_plugin(
            actor=user, tenant_id=tenant.pk, plugin_id=chain_plugin.pk
        )
        self.chain_installation_id = str(chain.pk)
        subscriptions.create_subscription(
            actor=user,
            installation_id=chain.pk,
            event_type="execution.succeeded",
            filter=f"installation_id == '{chain.pk}' && output.step < `{self.args.chain}`",
            input_template={"step": "$.output.step"},
        )

    # -- subprocesses ------------------------------------------------------------------------------------

    def start_web(self) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        from argus_plugins.core.web_tier import GUNICORN_CONFIG_OPTIONS

        command = [
            PYTHON, "-m", "gunicorn", "argus_plugins.wsgi:application", *GUNICORN_CONFIG_OPTIONS,
            "--bind", f"127.0.0.1:{port}", "--workers", str(self.args.web_workers),
        ]  # fmt: skip
        web = Proc("gunicorn", command, self.env, self.tmp / "logs" / "gunicorn.log")
        self.procs.append(web)
        deadline = time.monotonic() + 60
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
                raise RuntimeError(f"gunicorn not healthy after 60 s:\n{web.log_text()}")
            time.sleep(0.2)
        self.api = Api(self.base_url, self.api_token)

    def start_worker(self, concurrency: int) -> None:
        if self.worker is not None and self.worker_concurrency == concurrency:
            return
        self.stop_worker()
        name = f"{self.queue}-c{concurrency}"
        command = [
            PYTHON, "-m", "celery", "-A", "argus_plugins", "worker", "-P", "prefork",
            "-Q", f"{self.queue},{self.queue}.housekeeping", "-c", str(concurrency), "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
        ]  # fmt: skip
        worker = Proc(f"worker c={concurrency}", command, self.env, self.tmp / "logs" / f"{name}.log")
        self.procs.append(worker)
        deadline = time.monotonic() + 60
        while " ready." not in worker.log_text():
            if not worker.alive():
                raise RuntimeError(f"Celery worker exited:\n{worker.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker not ready after 60 s:\n{worker.log_text()}")
            time.sleep(0.1)
        worker.remember_children()
        self.worker, self.worker_concurrency = worker, concurrency

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.remove_worker_containers(self.worker)
            self.worker = None

    def owners(self, proc: Proc) -> tuple[str, ...]:
        host = socket.gethostname()
        return tuple(f"{host}:{pid}:" for pid in proc.known_pids)

    def worker_containers(self) -> list[dict[str, Any]]:
        from execution.sandbox.container import LABEL_MANAGED, LABEL_OWNER

        if self.worker is None:
            return []
        self.worker.remember_children()
        owners = self.owners(self.worker)
        infos = self.client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"})
        return [i for i in infos if (i.get("Labels") or {}).get(LABEL_OWNER, "").startswith(owners)]

    def remove_worker_containers(self, proc: Proc) -> None:
        from execution.sandbox.container import LABEL_MANAGED, LABEL_OWNER, remove_container

        owners = self.owners(proc)
        with contextlib.suppress(Exception):
            for info in self.client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"}):
                if (info.get("Labels") or {}).get(LABEL_OWNER, "").startswith(owners):
                    remove_container(self.client, info["Id"])

    def side_by_side(
        self, platform_step: Callable[[], None], bare_step: Callable[[], None], *, bare_first: bool
    ) -> None:
        """Both sides of one measurement, each from a quiet engine; callers alternate which goes first."""
        for step in (bare_step, platform_step) if bare_first else (platform_step, bare_step):
            self.quiet()
            step()

    def quiet(self, timeout: float = 30.0) -> None:
        """Wait until the host pool holds at least one warm container and, for a moment, nothing else of ours
        (no used container waiting for removal, none being created or removed), then let the launchers finish
        booting. Measurements of single runs start from this state. (The keeper may still change the pool's
        depth meanwhile: that is the platform at work.)"""
        from execution.models import Execution

        used = set(
            Execution.objects.filter(tenant__name="Bench Agency")
            .exclude(container_id="")
            .values_list("container_id", flat=True)
        )
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            infos = self.worker_containers()
            busy = not infos or any(i["Id"] in used or i.get("State") != "running" for i in infos)
            now = time.monotonic()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= 0.3:
                break
            time.sleep(0.02)
        else:
            log(f"  (warning: worker not quiet after {timeout:.0f} s; measuring anyway)")
        time.sleep(self.args.settle)

    def idle_pool(self) -> tuple[int, int]:
        """Warm containers of the host pool and the memory their cgroups hold now (bytes)."""
        from execution.sandbox.container import container_memory_bytes

        infos = [i for i in self.worker_containers() if i.get("State") == "running"]
        return len(infos), sum(container_memory_bytes(i["Id"]) or 0 for i in infos)

    def keeper_status(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            return json.loads((self.sandbox_dir / "pool" / "status.json").read_text())
        return {}

    def keeper_counts(self, timeout: float = 5.0) -> dict[str, int]:
        """The keeper's take counts (hits, misses by reason) as of now: waits for a status written after
        this call (the keeper writes it every couple of seconds). Empty when there is no keeper."""
        asked = time.time()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.keeper_status()
            if status.get("written_at", 0) > asked:
                return dict(status.get("counts", {}))
            time.sleep(0.1)
        return dict(self.keeper_status().get("counts", {}))

    def misses_since(self, before: dict[str, int]) -> dict[str, int]:
        """The keeper's misses by reason (MissReason) since it counted ``before``."""
        after = self.keeper_counts()
        return {
            key.removeprefix("miss_"): after[key] - before.get(key, 0)
            for key in after
            if key.startswith("miss_") and after[key] > before.get(key, 0)
        }

    def misses_during(self, measure: Callable[[], Any]) -> tuple[Any, dict[str, int]]:
        """What ``measure`` returns, and the keeper's misses by reason meanwhile."""
        before = self.keeper_counts()
        return measure(), self.misses_since(before)

    # -- one run of each kind ------------------------------------------------------------------------------

    def thread_client(self) -> Any:
        client = getattr(self.local, "client", None)
        if client is None:
            from execution.sandbox import connect

            client = self.local.client = connect(self.settings.DOCKER_BASE_URL, timeout=120)
        return client

    def bare_run(self, client: Any = None) -> float:
        client = client or self.client
        mib = 1 << 20
        started = time.perf_counter()
        container = client.containers.run(
            self.image,
            ["python3", "-c", BARE_CODE],
            detach=True,
            network_mode="none",
            mem_limit=LIMITS["memory_mb"] * mib,
            memswap_limit=LIMITS["memory_mb"] * mib,
            nano_cpus=int(LIMITS["cpus"] * 1e9),
            pids_limit=LIMITS["pids"],
            read_only=True,
            tmpfs={"/tmp": f"rw,noexec,nosuid,nodev,size={TMP_MB}m"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            user="10001:10001",
            labels={BENCH_LABEL: self.token},
        )
        status = container.wait()
        logs = container.logs(stdout=True, stderr=True)
        container.remove(force=True)
        elapsed = time.perf_counter() - started
        if status.get("StatusCode") != 0 or BARE_EXPECTED not in logs:
            raise RuntimeError(f"bare run failed: {status} {logs[-500:]!r}")
        return elapsed

    def platform_run(self, end: str = "wait") -> ClientRun:
        """runPlugin, then learn the run's end as a client: ``wait`` (waitForExecution, asked again when
        it times out) or ``poll`` (execution(id) every --poll-interval). ``polls``: requests after
        runPlugin."""
        t0_wall = time.time()
        t0 = time.perf_counter()
        execution_id = self.api.run_plugin(self.installation_id)
        t1 = time.perf_counter()
        polls = 0
        while True:
            if end == "wait":
                answer = self.api.query(WAIT_QUERY, id=execution_id)["waitForExecution"]
            else:
                answer = self.api.query(POLL_QUERY, id=execution_id)["execution"]
            polls += 1
            if answer["terminal"] and answer["ledgerEntry"] is not None:
                break
            if time.perf_counter() - t0 > 120:
                raise RuntimeError(f"execution {execution_id} still {answer['status']} after 120 s")
            if end == "poll":
                time.sleep(self.args.poll_interval)
        t2 = time.perf_counter()
        if answer["status"] != "SUCCEEDED":
            raise RuntimeError(
                f"execution {execution_id} ended {answer['status']}: {self.reason(execution_id)}"
            )
        return ClientRun(execution_id, t0_wall, t2 - t0, t1 - t0, polls, t0_wall + (t2 - t0))

    def reason(self, execution_id: str) -> str:
        from execution.models import Execution

        row = Execution.objects.filter(pk=execution_id).values("error_reason", "stderr").first()
        return json.dumps(row, default=str)[:1000]

    def wait_all(self, ids: list[str], timeout: float = 600.0) -> None:
        from execution.models import TERMINAL_STATUSES, Execution

        deadline = time.monotonic() + timeout
        while True:
            done = Execution.objects.filter(
                pk__in=ids, status__in=TERMINAL_STATUSES, ledger_entry__isnull=False
            ).count()
            if done == len(ids):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done}/{len(ids)} executions finished after {timeout:.0f} s")
            # Light polling: the bench shares the CPUs with what it measures (<= 50 ms of error per batch).
            time.sleep(0.05)
        failed = Execution.objects.filter(pk__in=ids).exclude(status="SUCCEEDED")
        first = failed.values("id", "status", "error_reason").first()
        if first is not None:
            # A failing platform is not a fast one: never report a throughput made of failures.
            raise RuntimeError(
                f"{failed.count()}/{len(ids)} executions did not succeed, e.g. {first['id']} "
                f"{first['status']}: {first['error_reason'][:800]}\n(worker log:) {self.worker_log_tail()}"
            )

    def worker_log_tail(self) -> str:
        if self.worker is None:
            return ""
        return "\n" + "\n".join(self.worker.log_text().splitlines()[-15:])

    # -- measurements ----------------------------------------------------------------------------------------

    def warm_up(self, concurrency: int) -> None:
        """Let every pool child import, connect, create its pool and pay a cold run; fill the pools."""
        for _ in range(2):
            ids = [self.api.run_plugin(self.installation_id) for _ in range(max(2, concurrency))]
            self.wait_all(ids)
        self.quiet()

    def latency(self) -> tuple[list[ClientRun], list[float]]:
        self.start_worker(1)
        assert self.worker is not None
        self.latency_log = self.worker.log_path
        self.warm_up(1)
        self.bare_run()
        self.bare_run()
        for _ in range(self.args.warmup):
            self.quiet()
            self.platform_run()
        platform: list[ClientRun] = []
        bare: list[float] = []
        for index in range(self.args.runs):
            self.side_by_side(
                lambda: platform.append(self.platform_run()),
                lambda: bare.append(self.bare_run()),
                bare_first=bool(index % 2),
            )
            log(
                f"  latency {index + 1}/{self.args.runs}: platform {platform[-1].total * 1000:.0f} ms, "
                f"bare {bare[-1] * 1000:.0f} ms"
            )
        return platform, bare

    def back_to_back(self) -> tuple[list[ClientRun], list[float]]:
        """One client, one run after the other with no pause (one worker process), against the same number
        of bare runs in a row; blocks alternate which side goes first."""
        self.start_worker(1)
        platform: list[ClientRun] = []
        bare: list[float] = []
        for block in range(self.args.b2b_rounds):
            self.side_by_side(
                lambda: platform.extend(self.platform_run() for _ in range(self.args.b2b)),
                lambda: bare.extend(self.bare_run() for _ in range(self.args.b2b)),
                bare_first=bool(block % 2),
            )
            log(
                f"  back-to-back block {block + 1}/{self.args.b2b_rounds}: median platform "
                f"{median([r.total for r in platform]) * 1000:.0f} ms, bare {median(bare) * 1000:.0f} ms"
            )
        return platform, bare

    def chain(self) -> tuple[list[float], list[float], list[str]]:
        """A chain of ``--chain`` runs, each started by the previous one's execution.succeeded through the
        platform's event subscription: from the first runPlugin until the client sees the last run terminal
        with its ledger entry; against as many bare runs in sequence. Returns (platform totals, bare totals,
        execution ids of the chains' runs)."""
        from execution.models import Execution

        self.start_worker(1)
        platform: list[float] = []
        bare: list[float] = []
        ids: list[str] = []
        steps = self.args.chain
        for round_index in range(self.args.chain_rounds):
            order = ["platform", "bare"] if round_index % 2 == 0 else ["bare", "platform"]
            for side in order:
                self.quiet()
                if side == "bare":
                    started = time.perf_counter()
                    for _ in range(steps):
                        self.bare_run()
                    bare.append(time.perf_counter() - started)
                    continue
                started = time.perf_counter()
                first = self.api.run_plugin(self.chain_installation_id, json.dumps({"step": 0}))
                since = Execution.objects.get(pk=first).queued_at
                while True:
                    last = (
                        Execution.objects.filter(
                            installation_id=self.chain_installation_id,
                            queued_at__gte=since,
                            output__step=steps,
                            ledger_entry__isnull=False,
                        )
                        .values_list("id", flat=True)
                        .first()
                    )
                    if last is not None:
                        break
                    if time.perf_counter() - started > 300:
                        raise RuntimeError(f"the event chain did not reach step {steps} in 300 s")
                    time.sleep(self.args.poll_interval)
                platform.append(time.perf_counter() - started)
                chain_runs = Execution.objects.filter(
                    installation_id=self.chain_installation_id, queued_at__gte=since
                ).values_list("id", "status")
                failed = [(str(i), st) for i, st in chain_runs if st != "SUCCEEDED"]
                if failed or len(chain_runs) != steps:
                    raise RuntimeError(f"event chain: {len(chain_runs)} runs, not succeeded: {failed}")
                ids += [str(i) for i, _ in chain_runs]
            log(
                f"  event chain {round_index + 1}/{self.args.chain_rounds}: platform {platform[-1]:.2f} s, "
                f"{steps} bare runs {bare[-1]:.2f} s"
            )
        return platform, bare, ids

    def end_detection(self) -> dict[str, EndSide]:
        """Section 5: the same runs, back to back from one client, learning each run's end by polling
        or by waiting; blocks of --end-runs alternate which goes first. Per side: when the client saw the
        end after the run's finished_at, the requests it sent, the CPU gunicorn spent."""
        import redis

        from execution.models import Execution
        from execution.wakeups import CHANNEL

        self.start_worker(1)
        meter = CpuMeter(self)
        sides = {"poll": EndSide(), "wait": EndSide()}
        # When each run's commit was announced (the worker publishes either way): the moment a client
        # could know at the earliest, whichever way it asks.
        announced: dict[str, float] = {}
        pubsub = redis.Redis.from_url(self.settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(
            **{CHANNEL: lambda message: announced.setdefault(message["data"].decode(), time.time())}
        )
        listening = pubsub.run_in_thread(sleep_time=0.5, daemon=True)
        try:
            self.end_blocks(sides, meter)
        finally:
            listening.stop()
            listening.join(timeout=5)  # closing the connection under its last read raised in that thread
            pubsub.close()
        for side in sides.values():
            finished = dict(
                Execution.objects.filter(pk__in=[r.execution_id for r in side.runs]).values_list(
                    "id", "finished_at"
                )
            )
            side.after_finish = [
                run.seen_wall - finished[uuid.UUID(run.execution_id)].timestamp() for run in side.runs
            ]
            side.after_announce = [
                run.seen_wall - announced[run.execution_id]
                for run in side.runs
                if run.execution_id in announced
            ]
            side.commit_delay = [
                announced[run.execution_id] - finished[uuid.UUID(run.execution_id)].timestamp()
                for run in side.runs
                if run.execution_id in announced
            ]
        return sides

    def end_blocks(self, sides: dict[str, EndSide], meter: CpuMeter) -> None:
        for round_index in range(self.args.end_rounds):
            for end in ("poll", "wait") if round_index % 2 == 0 else ("wait", "poll"):
                self.quiet()
                before = meter.snapshot()
                runs = [self.platform_run(end) for _ in range(self.args.end_runs)]
                after = meter.snapshot()
                side = sides[end]
                side.runs += runs
                side.gunicorn_cpu += after["gunicorn"] - before["gunicorn"]
                side.client_cpu += after["bench client"] - before["bench client"]
            log(f"  end detection {round_index + 1}/{self.args.end_rounds}")

    def hit_rate(self, ids: list[str]) -> tuple[float, int]:
        from execution.models import Execution

        timings = list(Execution.objects.filter(pk__in=ids).values_list("timings", flat=True))
        warm = sum(1 for t in timings if "create" not in (t or {}))
        return warm / max(1, len(timings)), len(timings)

    def platform_batch(self, batch: int) -> tuple[float, list[str]]:
        started = time.perf_counter()
        ids = [self.api.run_plugin(self.installation_id) for _ in range(batch)]
        self.wait_all(ids)
        return time.perf_counter() - started, ids

    def bare_batch(self, batch: int, threads: int) -> tuple[float, list[float]]:
        """Seconds for the batch, and when each run ended (wall clock)."""

        def one(_: int) -> float:
            self.bare_run(self.thread_client())
            return time.time()

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda _: self.thread_client(), range(threads * 4)))  # connect outside the clock
            started = time.perf_counter()
            ends = list(pool.map(one, range(batch)))
            return time.perf_counter() - started, ends

    def throughput(self, concurrency: int) -> Throughput:
        from execution.models import Execution

        self.start_worker(concurrency)
        self.warm_up(concurrency)
        self.bare_batch(concurrency, concurrency)
        result = Throughput()
        meter = CpuMeter(self)
        for round_index in range(self.args.rounds):
            steps = ["platform", "bare"] if round_index % 2 == 0 else ["bare", "platform"]
            for step in steps:
                self.quiet()
                counts_before = self.keeper_counts() if step == "platform" else {}
                before = meter.snapshot()
                if step == "platform":
                    seconds, ids = self.platform_batch(self.args.batch)
                    # The CPU the batch caused includes refilling the pools and removing its last
                    # containers: measured once the worker is back in the state the batch started from.
                    self.quiet()
                    spent = meter.delta(before, meter.snapshot())
                    for reason, missed in self.misses_since(counts_before).items():
                        result.misses[reason] += missed
                    count, held = self.idle_pool()
                    result.idle_containers = max(result.idle_containers, count)
                    result.idle_bytes = max(result.idle_bytes, held)
                    result.platform_seconds.append(seconds)
                    result.platform_runs += len(ids)
                    ends = []
                    for status, timings, finished_at in Execution.objects.filter(pk__in=ids).values_list(
                        "status", "timings", "finished_at"
                    ):
                        result.statuses[status] += 1
                        result.paths["cold" if "create" in (timings or {}) else "pool"] += 1
                        ends.append(finished_at.timestamp())
                    result.platform_steady.append(steady_window(ends, self.args.batch))
                    for key, value in spent.items():
                        result.platform_cpu[key] += value
                else:
                    seconds, ends = self.bare_batch(self.args.batch, concurrency)
                    result.bare_seconds.append(seconds)
                    result.bare_steady.append(steady_window(ends, self.args.batch))
                    spent = meter.delta(before, meter.snapshot())
                    result.bare_runs += self.args.batch
                    for key, value in spent.items():
                        result.bare_cpu[key] += value
            log(
                f"  throughput N={concurrency} round {round_index + 1}/{self.args.rounds}: "
                f"platform {result.platform_seconds[-1]:.2f} s, bare {result.bare_seconds[-1]:.2f} s "
                f"for {self.args.batch} runs"
            )
        return result

    # -- offline probes (help to read the breakdown) ---------------------------------------------------

    def probes(self, execution_id: str) -> dict[str, float]:
        from django.db import transaction

        from execution.models import Execution
        from execution.recording import LEDGER_ENTRY_TYPE, ledger_record
        from installations.authorization import authorize
        from ledger.services import append_entry
        from registry.bundles import extract_bundle
        from registry.services import verify_stored_version

        class Rollback(Exception):
            pass

        results: dict[str, list[float]] = defaultdict(list)
        for _ in range(15):
            t = time.perf_counter()
            self.api.query(POLL_QUERY, id=execution_id)
            results["GraphQL poll round trip (HTTP)"].append(time.perf_counter() - t)
        execution = Execution.objects.select_related(
            "installation__tenant", "plugin_version__plugin", "plugin_version__signing_key", "triggered_by"
        ).get(pk=execution_id)
        for _ in range(10):
            t = time.perf_counter()
            authorize(execution.installation, execution.plugin_version, needs=())
            t1 = time.perf_counter()
            bundle = verify_stored_version(execution.plugin_version)
            t2 = time.perf_counter()
            with tempfile.TemporaryDirectory(dir=self.tmp) as scratch:
                extract_bundle(bundle, Path(scratch))
            t3 = time.perf_counter()
            results["pre-claim: authorize()"].append(t1 - t)
            results["pre-claim: verify_stored_version()"].append(t2 - t1)
            results["pre-claim: extract_bundle()"].append(t3 - t2)
            t = time.perf_counter()
            with contextlib.suppress(Rollback), transaction.atomic():
                append_entry(LEDGER_ENTRY_TYPE, ledger_record(execution), tenant_id=execution.tenant_id)
                results["record: ledger append (rolled back)"].append(time.perf_counter() - t)
                raise Rollback
        for _ in range(10):
            t = time.perf_counter()
            self.client.ping()
            results["docker ping"].append(time.perf_counter() - t)
        return {name: median(values) for name, values in results.items()}

    # -- cleanup -----------------------------------------------------------------------------------------

    def cleanup(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()
        if self.client is not None:
            for proc in self.procs:
                self.remove_worker_containers(proc)
            with contextlib.suppress(Exception):
                for info in self.client.api.containers(
                    all=True, filters={"label": f"{BENCH_LABEL}={self.token}"}
                ):
                    self.client.api.remove_container(info["Id"], force=True)
            with contextlib.suppress(Exception):
                self.client.close()
        with contextlib.suppress(Exception):
            import redis

            connection = redis.Redis.from_url(
                self.env.get("CELERY_BROKER_URL") or self.env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
            )
            connection.delete(
                self.queue, f"_kombu.binding.{self.queue}", f"_kombu.binding_permanent.{self.queue}"
            )
            for priority in ("\x06\x163", "\x06\x166", "\x06\x169"):  # kombu's priority sub-queues
                connection.delete(f"{self.queue}{priority}")
            connection.close()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------- report


def breakdown(bench: Bench, runs: list[ClientRun]) -> None:
    from execution.models import Execution

    rows = {
        str(row["id"]): row
        for row in Execution.objects.filter(pk__in=[r.execution_id for r in runs]).values(
            "id", "queued_at", "released_at", "started_at", "finished_at", "timings"
        )
    }
    timeline: dict[str, list[float]] = defaultdict(list)
    sandbox: dict[str, list[float]] = defaultdict(list)
    paths: dict[str, int] = defaultdict(int)
    received, succeeded = celery_events(bench.latency_log.read_text(errors="replace"))
    for run in runs:
        row = rows[run.execution_id]
        queued, started, finished = (row[k].timestamp() for k in ("queued_at", "started_at", "finished_at"))
        timings = row["timings"] or {}
        paths["cold" if "create" in timings else "pool"] += 1
        timeline["request -> queued_at (HTTP, auth, authorise, INSERT)"].append(queued - run.t0_wall)
        timeline["queued_at -> started_at (publish, Celery, pre-claim checks, claim)"].append(
            started - queued
        )
        # The Celery log has millisecond timestamps; runs are sequential, so the task received between
        # queued_at and started_at (give or take the log's rounding) is this run's.
        task = next(((at, tid) for at, tid in received if queued - 0.002 <= at <= started + 0.002), None)
        done = succeeded.get(task[1]) if task is not None else None
        released = row["released_at"].timestamp() if row["released_at"] else queued
        timeline["  of which commit, dispatcher releases it (released_at)"].append(released - queued)
        if task is not None and done is not None:
            body_start = done[0] - done[1]
            timeline["  of which publish, Redis -> Celery main process"].append(task[0] - released)
            timeline["  of which main process -> task starts in the pool child"].append(body_start - task[0])
            timeline["  of which task start -> started_at (load, checks, container, claim)"].append(
                started - body_start
            )
        for phase, label in (
            ("worker_load", "load the run with its context (one query)"),
            ("worker_checks", "authorise, verify bundle signature+hash, fetch+hash evidence"),
            ("acquire", "take a warm container + attach (or start one cold)"),
            ("worker_claim", "authorise again, claim (UPDATE ... RUNNING)"),
        ):
            if phase in timings:
                timeline[f"    {phase}: {label}"].append(timings[phase])
        timeline["started_at -> finished_at (sandbox + worker bookkeeping)"].append(finished - started)
        # The sandbox's total includes getting the container, which comes before started_at (the claim).
        in_sandbox = timings.get("total", 0.0) - timings.get("acquire", 0.0)
        timeline["  of which sandbox run_job after the claim (total - acquire)"].append(in_sandbox)
        timeline["  of which worker bookkeeping (claim commit, cancel checks, outcome)"].append(
            finished - started - in_sandbox
        )
        timeline["finished_at -> client saw it (ledger append, commit, polling)"].append(
            run.seen_wall - finished
        )
        if done is not None:
            timeline["  (task still running after finished_at: ledger, commit, cleanup, result)"].append(
                done[0] - finished
            )
        timeline["client total"].append(run.total)
        timeline["(overlapping) runPlugin HTTP round trip"].append(run.enqueue)
        for key in SANDBOX_PHASES:
            if key in timings:
                sandbox[key].append(timings[key])
    print("\n4. Where the platform's latency goes (isolated runs; ms)")
    print(f"   {'phase':<70} {'median':>8} {'mean':>8}")
    for name, values in timeline.items():
        print(f"   {name:<70} {ms(median(values))} {ms(mean(values))}")
    polls = [float(run.polls) for run in runs]
    print(f"   {'(count) polls per run':<70} {median(polls):8.1f} {mean(polls):8.1f}")
    print("   (the means of the four top-level phases add up to the mean client total)")
    print(f"\n   sandbox phases (Execution.timings; {dict(paths)} path):")
    for key, values in sandbox.items():
        print(f"   {'  ' + key:<70} {ms(median(values))} {ms(mean(values))}")
    print("\n   the client learns each run's end with waitForExecution (section 5 compares it with polling)")


def run_phases(label: str, ids: list[str], *, gaps: bool) -> None:
    """Where a run of (b) or a step of (c) goes (medians over the runs, ms); ``gaps``: from the previous
    run's finished_at to this one's queued_at too (the event chain's hand-over)."""
    from execution.models import Execution

    rows = list(
        Execution.objects.filter(pk__in=ids)
        .order_by("queued_at")
        .values("queued_at", "started_at", "finished_at", "timings")
    )
    if len(rows) < 2:
        return
    hand_overs = []
    for previous, run in itertools.pairwise(rows):
        gap = (run["queued_at"] - previous["finished_at"]).total_seconds()
        if 0 <= gap <= 5:  # not the first run of the next chain (it follows a pause and the bare side)
            hand_overs.append(gap)
    waits = [(run["started_at"] - run["queued_at"]).total_seconds() for run in rows]
    runs = [(run["finished_at"] - run["started_at"]).total_seconds() for run in rows]
    acquires = [(run["timings"] or {}).get("acquire", 0.0) for run in rows]
    wait, run, acquire = (ms(median(values)).strip() for values in (waits, runs, acquires))
    print(f"   {label}, medians (ms):", end="")
    if gaps and hand_overs:
        print(
            f" previous run's finished_at -> queued_at (its commit, the event, its dispatch,"
            f"\n   start_execution) {ms(median(hand_overs)).strip()};",
            end="",
        )
    print(
        f" queued_at -> started_at (publish, Celery, checks, take, claim) {wait},"
        f"\n   of which take + attach {acquire}; started_at -> finished_at {run}"
    )


def describe_misses(misses: dict[str, int]) -> str:
    return "misses: " + (", ".join(f"{reason} {count}" for reason, count in sorted(misses.items())) or "none")


def report(
    bench: Bench,
    platform: list[ClientRun],
    bare: list[float],
    b2b: tuple[list[ClientRun], list[float]],
    chain: tuple[list[float], list[float], list[str]],
    tput: dict[int, Throughput],
    misses: dict[str, dict[str, int]],
    probes: dict[str, float],
    elapsed: float,
) -> None:
    args = bench.args
    totals = [r.total for r in platform]
    ratio = median(totals) / median(bare)
    print("\n" + "=" * 100)
    print(
        f"Argus execution benchmark: trivial plugin, limits {LIMITS['memory_mb']} MiB / {LIMITS['cpus']} CPU"
        f" / {LIMITS['pids']} pids, image {bench.image}, {os.cpu_count()} CPUs, "
        f"host pool: minimum {bench.pool_size} per shape, budget {bench.pool_budget_mb} MiB"
    )
    print("=" * 100)
    print(
        f"\n1. Isolated latency ({args.runs} interleaved pairs, each from a quiet engine;"
        " worker concurrency 1)"
    )
    print(f"   {'':<44} {'median':>8} {'p90':>8} {'min':>8}   (ms)")
    print(
        f"   {'platform (runPlugin -> terminal + ledger)':<44} {ms(median(totals))} {ms(p90(totals))}"
        f" {ms(min(totals))}"
    )
    print(
        f"   {'bare SDK run + wait + logs + remove':<44} {ms(median(bare))} {ms(p90(bare))} {ms(min(bare))}"
    )
    print(f"   ratio platform / bare (medians): {ratio:.3f}")

    b2b_platform, b2b_bare = b2b
    b2b_totals = [r.total for r in b2b_platform]
    b2b_ratio = median(b2b_totals) / median(b2b_bare)
    b2b_hits, b2b_count = bench.hit_rate([r.execution_id for r in b2b_platform])
    chain_platform, chain_bare, chain_ids = chain
    chain_ratio = median(chain_platform) / median(chain_bare)
    chain_hits, chain_count = bench.hit_rate(chain_ids)
    latency_hits, latency_count = bench.hit_rate([r.execution_id for r in platform])
    print(
        f"\n2. Side by side with bare SDK runs (same image and limits), worker concurrency 1 (ms):"
        f"\n   {'':<52} {'platform':>9} {'bare':>9} {'ratio':>7} {'target':>8}  {'verdict':<8} pool hits"
    )
    rows = [
        ("(a) isolated runs, median", median(totals), median(bare), ratio, 0.15, latency_hits, latency_count),
        (
            f"(b) back-to-back, {args.b2b} in a row x {args.b2b_rounds}, median",
            median(b2b_totals),
            median(b2b_bare),
            b2b_ratio,
            0.35,
            b2b_hits,
            b2b_count,
        ),
        (
            f"(c) event chain of {args.chain} runs, total (median of {args.chain_rounds})",
            median(chain_platform),
            median(chain_bare),
            chain_ratio,
            0.5,
            chain_hits,
            chain_count,
        ),
    ]
    for name, on_platform, on_bare, r, target, hits, count in rows:
        ok = r <= target and (hits >= 0.9 or not name.startswith("(b)"))
        why = describe_misses(misses[name[:3]]) if name[:3] in misses else ""
        print(
            f"   {name:<52} {ms(on_platform)} {ms(on_bare)} {r:7.3f} {'<= ' + str(target):>8}  "
            f"{'OK' if ok else 'MISSED':<8} {hits:6.0%} of {count}  {why}"
        )
    print(
        "   (b) target also: pool hits >= 90 %. Misses by the keeper's reason: new_shape (never seen),"
        "\n   refilling (a refill was starting: too shallow for the burst), shallow (nothing starting: the"
        "\n   target was too low, or the cap/budget), raced (others claimed them first, or they had exited)."
        "\n   (c): from the first runPlugin until the client sees the"
        "\n   last run terminal with its ledger entry; every later run is started by the previous one's"
        "\n   execution.succeeded through an event subscription (dispatched by the worker process that"
        "\n   recorded it), against as many bare runs in sequence."
    )
    run_phases("(b) one run", [r.execution_id for r in b2b_platform], gaps=False)
    run_phases("(c) one step", chain_ids, gaps=True)

    print(
        "\n3. Throughput (executions per minute; platform: one `celery worker -P prefork -c N`,"
        " i.e. N pool processes\n   sharing the host pool; bare: N threads; batch submitted over the API)"
    )
    print(
        f"   {'N':>3} {'platform/min':>13} {'bare/min':>10} {'ratio':>7}  {'verdict':<8} "
        f"{'batch ratio':>11} {'runs':>5} {'hits':>5}  {'idle warm (MiB)':>15}  statuses"
    )
    for n, result in tput.items():
        r = result.platform_steady_rate() / result.bare_steady_rate()
        whole = result.platform_rate() / result.bare_rate()
        hit_target = 0.8 if n >= 4 else 0.0
        ok = r >= 0.95 and result.hit_rate() >= hit_target
        idle = f"{result.idle_containers} / {result.idle_bytes / (1 << 20):.0f}"
        print(
            f"   {n:>3} {result.platform_steady_rate():13.1f} {result.bare_steady_rate():10.1f} {r:7.3f}  "
            f"{'OK' if ok else 'MISSED':<8} {whole:11.3f} {result.platform_runs:>5} "
            f"{result.hit_rate():5.0%}  "
            f"{idle:>15}  {dict(result.statuses)}  {describe_misses(result.misses)}"
        )
    print(
        "   target ratio >= 0.95 (pool hits >= 80 % at N = 4). Rates and ratio: the steady middle of each"
        " batch"
        "\n   (between the completions of its first and last fifth; see steady_window). 'batch ratio': whole"
        "\n   batches, first submission to last completion. 'idle warm': the most warm containers the host"
        " pool"
        "\n   held once quiet after a batch, and the memory their cgroups held then (MiB)."
    )
    status = bench.keeper_status()
    idle_max = max((result.idle_bytes for result in tput.values()), default=0)
    budget = bench.pool_budget_mb << 20
    print(
        f"   idle warm containers' memory: at most {idle_max / (1 << 20):.0f} MiB, budget"
        f" ARGUS_SANDBOX_POOL_MEMORY_MB = {bench.pool_budget_mb} MiB:"
        f" {'within' if idle_max <= budget else 'OVER'}"
        f"; the keeper's last figures: {status.get('idle_memory_bytes', 0) / (1 << 20):.0f} MiB in"
        f" {sum(status.get('ready', {}).values())} containers, {status.get('counts', {})}"
    )
    platform_runs = sum(result.platform_runs for result in tput.values())
    bare_runs = sum(result.bare_runs for result in tput.values())
    print(
        "\n   CPU per run during the throughput batches, all N together (ms of CPU per execution / bare run;"
        "\n   the platform's includes refilling its pools and removing its last containers after a batch):"
    )
    print(f"     {'':<44} {'platform':>9} {'bare':>9} {'extra':>9}")
    for part in CPU_PARTS:
        on_platform = sum(result.platform_cpu[part] for result in tput.values()) / platform_runs
        on_bare = sum(result.bare_cpu[part] for result in tput.values()) / bare_runs
        print(f"     {part:<44} {ms(on_platform)} {ms(on_bare)} {ms(on_platform - on_bare)}")
    print(
        "     (once the CPUs are saturated, runs per minute ~ CPUs / CPU per run: extra CPU per execution"
        "\n      is what the throughput ratio pays for; containers = plugin [+ launcher] interpreters)"
    )

    breakdown(bench, platform)
    print("\n   offline probes in the bench process (median ms), to read the phases above:")
    for name, value in probes.items():
        print(f"     {name:<50} {ms(value)}")

    print(
        "\nCaveat: one machine, shared with whatever else runs on it (other builds, tests, containers);"
        "\ndockerd/containerd/runc, gunicorn, Celery and the bench client all compete for the same"
        f" {os.cpu_count()} CPUs."
        "\nRuns are interleaved so noise hits both sides, but expect several percent of run-to-run spread;"
        "\ncompare ratios from the same run, and re-run before drawing conclusions from small differences."
        f"\nLoad average (1 min) at start {bench.load_at_start:.1f}, at end {os.getloadavg()[0]:.1f}"
        f" ({os.cpu_count()} CPUs); total bench time {elapsed:.0f} s."
    )


# ---------------------------------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=None, help="latency pairs (default 20; --quick 6)")
    parser.add_argument("--workers", default="1,2,4", help="worker concurrencies N for throughput")
    parser.add_argument(
        "--batch", type=int, default=None, help="executions per throughput batch (40; quick 10)"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="throughput batches per side and N (3; quick 1)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="extra platform runs before latency")
    parser.add_argument("--poll-interval", type=float, default=0.02, help="client poll interval (s)")
    parser.add_argument("--settle", type=float, default=0.15, help="pause once the engine is quiet (s)")
    parser.add_argument("--pool-size", type=int, default=None, help="ARGUS_SANDBOX_POOL_SIZE for workers")
    parser.add_argument("--pool-memory-mb", type=int, default=None, help="ARGUS_SANDBOX_POOL_MEMORY_MB")
    parser.add_argument(
        "--no-preclaim", action="store_true", help="ARGUS_SANDBOX_POOL_PRECLAIM=0 for the workers (A/B)"
    )
    parser.add_argument("--b2b", type=int, default=None, help="back-to-back runs per block (20; quick 8)")
    parser.add_argument(
        "--b2b-rounds", type=int, default=None, help="back-to-back blocks per side (2; quick 1)"
    )
    parser.add_argument("--chain", type=int, default=None, help="runs in the event chain (10; tiny 3)")
    parser.add_argument("--chain-rounds", type=int, default=None, help="event chains per side (3; quick 1)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--end-runs", type=int, default=None, help="runs per end-detection block (8; tiny 2)")
    parser.add_argument(
        "--end-rounds", type=int, default=None, help="end-detection blocks per side (3; quick 2)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs (about a minute and a half)")
    parser.add_argument(
        "--tiny", action="store_true", help="2 latency pairs, a batch of 3 with N=1: real but short (CI)"
    )
    args = parser.parse_args()
    if args.tiny:
        args.quick = True
        args.runs = args.runs or 2
        args.batch = args.batch or 3
        args.workers = "1"
        args.b2b = args.b2b or 3
        args.chain = args.chain or 3
        args.end_runs = args.end_runs or 2
        args.end_rounds = args.end_rounds or 1
    args.workers = [int(n) for n in args.workers.split(",") if n.strip()]
    if args.runs is None:
        args.runs = 6 if args.quick else 20
    if args.batch is None:
        args.batch = 10 if args.quick else 40
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.b2b is None:
        args.b2b = 8 if args.quick else 20
    if args.b2b_rounds is None:
        args.b2b_rounds = 1 if args.quick else 2
    if args.chain is None:
        args.chain = 10
    if args.end_runs is None:
        args.end_runs = 4 if args.quick else 8
    if args.end_rounds is None:
        args.end_rounds = 2 if args.quick else 3
    if args.chain_rounds is None:
        args.chain_rounds = 1 if args.quick else 3
    if args.quick:
        args.warmup = min(args.warmup, 1)
    if args.runs < 1 or args.batch < 1 or args.rounds < 1 or not args.workers or min(args.workers) < 1:
        parser.error("--runs, --batch, --rounds and every --workers value must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    began = time.monotonic()
    bench = Bench(args)
    with interrupt_on_sigterm():
        try:
            log(f"setup in {bench.tmp} (queue {bench.queue}) ...")
            bench.configure()
            bench.create_objects()
            bench.start_web()
            log("latency ...")
            misses: dict[str, dict[str, int]] = {}
            platform, bare = bench.latency()
            probes = bench.probes(platform[-1].execution_id)
            log("back-to-back ...")
            b2b, misses["(b)"] = bench.misses_during(bench.back_to_back)
            log("event chain ...")
            chain, misses["(c)"] = bench.misses_during(bench.chain)
            log("end detection: polling vs waitForExecution ...")
            ends = bench.end_detection()
            tput: dict[int, Throughput] = {}
            for n in args.workers:
                log(f"throughput N={n} ...")
                tput[n] = bench.throughput(n)
            bench.stop_worker()
            report(bench, platform, bare, b2b, chain, tput, misses, probes, time.monotonic() - began)
            report_end_detection(bench, ends)
        except KeyboardInterrupt:
            log("interrupted: cleaning up")
            return 130
        finally:
            bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
