"""Sandbox life cycle against the real engine: pool vs cold path, isolation between runs, cancel,
deadlines, evidence and bundles, bad jobs, orphans, an unreachable engine, the runtime image."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import docker
import pytest

from execution.sandbox import (
    ContainerPool,
    DockerUnavailable,
    InvalidJob,
    Outcome,
    RuntimeImageMissing,
    SandboxLimits,
    connect,
    owner_id,
    release,
    run_job,
    sweep_orphans,
)
from execution.sandbox import runner as runner_module
from execution.sandbox.container import (
    LABEL_EXECUTION,
    LABEL_OWNER,
    UNREFERENCED_SLOT_AGE_SECONDS,
    discard,
    local_owner_is_alive,
    start_container,
    sweep_unreferenced_slots,
)
from execution.sandbox.images import (
    DEFAULT_RUNTIME_IMAGES,
    LABEL_REVISION,
    RuntimeRecipe,
    ensure_runtime_images,
)
from execution.sandbox.pool import Reaper, RemovalDeferral
from execution.sandbox.spec import ContainerSettings
from execution.sandbox.workspace import Slot
from tests.execution.sandbox.conftest import RUNTIME

pytestmark = pytest.mark.docker

HELLO = 'import json\nprint(json.dumps({"hello": "world"}))\n'


def test_pool_path_and_cold_path_give_the_same_result(
    make_job, docker_client: docker.DockerClient, sandbox_pool: ContainerPool, exists
) -> None:
    job = make_job(HELLO)
    assert sandbox_pool.wait_ready(job.container_settings(), count=1, timeout=60)
    warm = run_job(docker_client, job, pool=sandbox_pool)
    cold = run_job(docker_client, make_job(HELLO))
    assert (warm.path, cold.path) == ("pool", "cold")
    for result in (warm, cold):
        assert result.outcome == Outcome.COMPLETED and result.exit_code == 0, result
        assert json.loads(result.stdout) == {"hello": "world"}
    assert "start" not in warm.timings and "start" in cold.timings
    assert not exists(docker_client, cold.container_id)  # without a pool removal is synchronous
    assert sandbox_pool.reaper.flush(30)
    assert not exists(docker_client, warm.container_id)


PROCESS_REPORT = """
import json, os
with open("/proc/self/stat") as fh:
    started_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
with open("/proc/uptime") as fh:
    uptime = float(fh.read().split()[0])
descriptors = {}
for name in os.listdir("/proc/self/fd"):
    try:
        descriptors[name] = os.readlink(f"/proc/self/fd/{name}").split("[")[0]
    except FileNotFoundError:  # the listing's own, closed again
        pass
print(json.dumps({"age": uptime - started_ticks / os.sysconf("SC_CLK_TCK"), "ppid": os.getppid(),
                  "descriptors": descriptors, "uids": os.getresuid()}))
"""


def test_a_warm_containers_plugin_process_was_started_before_its_job_and_holds_only_its_own(
    make_job, docker_client: docker.DockerClient, sandbox_pool: ContainerPool
) -> None:
    job = make_job(PROCESS_REPORT)
    assert sandbox_pool.wait_ready(job.container_settings(), count=1, timeout=60)
    time.sleep(1.5)  # the container waits in the pool
    warm = run_job(docker_client, job, pool=sandbox_pool)
    assert warm.path == "pool" and warm.outcome == Outcome.COMPLETED, warm
    report = json.loads(warm.stdout)
    # Its process (fork, uid drop, interpreter start-up) was started while the container waited ...
    assert report["age"] >= 1.2, report
    assert report["ppid"] == 1 and report["uids"] == [10001, 10001, 10001]
    # ... and holds what a process started for the job would: the input on stdin, its three pipes.
    assert report["descriptors"] == {"0": "/argus/input.json", "1": "pipe:", "2": "pipe:", "3": "pipe:"}
    assert 0 <= warm.timings["launcher_plugin_start"] < warm.timings["launcher_plugin_run"]


def test_files_left_in_tmp_and_shm_are_not_seen_by_the_next_run_and_a_full_tmp_only_fails_its_run(
    make_job, docker_client: docker.DockerClient, sandbox_pool: ContainerPool
) -> None:
    dirty = make_job(
        "import os\n"
        "open('/dev/shm/marker', 'w').write('x')\n"
        "open('/tmp/marker', 'w').write('x')\n"
        "with open('/tmp/fill', 'wb') as fh:\n"
        "    while True:\n"
        "        fh.write(b'0' * (1 << 20))\n",
        limits=SandboxLimits(tmp_mb=8),
    )
    first = run_job(docker_client, dirty, pool=sandbox_pool)
    assert first.outcome == Outcome.COMPLETED
    assert first.exit_code == 1 and b"No space left on device" in first.stderr
    second = run_job(
        docker_client,
        make_job(
            "import os, json\n"
            "open('/tmp/again', 'w').write('ok')\n"
            "print(json.dumps({'tmp': sorted(os.listdir('/tmp')), 'shm': os.listdir('/dev/shm')}))\n",
            limits=SandboxLimits(tmp_mb=8),
        ),
        pool=sandbox_pool,
    )
    assert second.outcome == Outcome.COMPLETED and second.exit_code == 0, second.stderr
    assert json.loads(second.stdout) == {"tmp": ["again"], "shm": []}


def test_cancel_while_running_kills_the_container_promptly(
    make_job, docker_client: docker.DockerClient, sandbox_pool: ContainerPool, exists
) -> None:
    cancel = threading.Event()
    started = threading.Event()
    seen: list[str] = []

    def on_started(container_id: str) -> None:
        seen.append(container_id)
        started.set()

    box: dict = {}
    printed = threading.Event()
    code = (
        "import sys, time\nprint('partial', flush=True)\nsys.stderr.write('err')\nsys.stderr.flush()\n"
        "while True:\n    time.sleep(0.1)\n"
    )
    job = make_job(code, timeout=60, update_interval_seconds=0.2)
    thread = threading.Thread(
        target=lambda: box.update(
            result=run_job(
                docker_client,
                job,
                pool=sandbox_pool,
                cancel=cancel,
                on_started=on_started,
                on_live=lambda live: printed.set() if live.stdout and live.stderr else None,
            )
        )
    )
    thread.start()
    assert started.wait(30)
    assert printed.wait(30)
    cancelled_at = time.monotonic()
    cancel.set()
    thread.join(30)
    result = box["result"]
    assert result.outcome == Outcome.CANCELLED
    assert time.monotonic() - cancelled_at < 3
    assert (result.stdout, result.stderr) == (b"partial\n", b"err")  # what it printed before the cancel
    assert seen == [result.container_id]
    assert not exists(docker_client, result.container_id)  # killed synchronously


def test_a_container_taken_but_given_no_job_goes_back_to_its_pool(
    make_job, docker_client: docker.DockerClient, sandbox_work_dir: Path, exists
) -> None:
    settings = make_job(HELLO).container_settings()
    pool = ContainerPool(
        docker_client, work_dir=sandbox_work_dir / "put-back", size=1, refill_delay_seconds=60
    )
    cold = start_container(
        docker_client, settings, Slot.create(sandbox_work_dir / "put-back"), owner=pool.owner
    )
    try:
        assert pool.wait_ready(settings, timeout=60)
        taken = pool.take(settings)
        assert taken is not None and pool.ready_count(settings) == 0
        assert pool.put_back(taken) and pool.ready_count(settings) == 1
        assert pool.take(settings) is taken  # handed out again, still unused
        assert not pool.put_back(cold)  # started for one job, not by this pool
        release(docker_client, cold, pool=pool)  # so it is removed instead
        result = run_job(docker_client, make_job(HELLO), pool=pool, container=taken)
        assert result.outcome == Outcome.COMPLETED and result.path == "pool"
        assert result.container_id == taken.id
        assert pool.reaper.flush(30)
        assert not exists(docker_client, taken.id) and not exists(docker_client, cold.id)
    finally:
        pool.close()


def test_cancel_before_start_starts_nothing(make_job, docker_client: docker.DockerClient) -> None:
    cancel = threading.Event()
    cancel.set()
    result = run_job(docker_client, make_job(HELLO), cancel=cancel)
    assert result.outcome == Outcome.CANCELLED and result.container_id is None


def test_worker_deadline_kills_a_launcher_that_does_not_report(
    make_job, docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch, exists
) -> None:
    # Make the worker's backstop fire 1.5 s before the launcher's own timeout would.
    monkeypatch.setattr(runner_module, "DEADLINE_GRACE_SECONDS", -1.5)
    monkeypatch.setattr(runner_module, "TRANSFER_BYTES_PER_SECOND", 1 << 60)  # no transfer allowance
    code = "print('so far', flush=True)\nwhile True:\n    pass\n"
    result = run_job(docker_client, make_job(code, timeout=3, update_interval_seconds=0.2))
    assert result.outcome == Outcome.TIMED_OUT
    assert "worker deadline" in result.error
    assert result.stdout == b"so far\n"  # kept from the updates that came before the deadline
    # The deadline fired 1.5 s after the ack, before the launcher's 3 s (the engine's kill time aside).
    assert 1.5 <= result.timings["wait"] - result.timings["ack"] - result.timings["kill"] < 2.5
    assert not exists(docker_client, result.container_id)


def test_a_sandbox_error_mid_run_keeps_what_a_timeout_keeps(
    make_job, docker_client: docker.DockerClient, exists
) -> None:
    """The container dies under the launcher (here: killed from outside, as an engine or node fault would):
    the run is the platform's fault, and what the plugin printed and reported so far is kept, as on a
    cancel or the worker's deadline."""
    started: list[str] = []
    code = (
        "import os, sys, time\nprint('partial', flush=True)\nsys.stderr.write('err')\nsys.stderr.flush()\n"
        "os.write(int(os.environ['ARGUS_PROGRESS_FD']), b'{\"progress\": 0.5, \"message\": \"half\"}\\n')\n"
        "while True:\n    time.sleep(0.1)\n"
    )

    def on_live(live) -> None:
        if live.stdout and live.stderr and live.progress and started:
            docker_client.api.kill(started[0])

    job = make_job(code, timeout=60, update_interval_seconds=0.2)
    result = run_job(docker_client, job, on_started=started.append, on_live=on_live)
    assert result.outcome == Outcome.SANDBOX_ERROR, result
    assert "without sending a result" in result.error
    assert (result.stdout, result.stderr, result.progress) == (b"partial\n", b"err", (0.5, "half"))
    assert not exists(docker_client, result.container_id)


def test_launcher_that_cannot_start_the_plugin_is_a_sandbox_error(
    make_job, docker_client: docker.DockerClient
) -> None:
    result = run_job(docker_client, make_job(HELLO, interpreter=("/nonexistent/python",), launch="exec"))
    assert result.outcome == Outcome.SANDBOX_ERROR
    assert "could not start the plugin" in result.error and "/nonexistent/python" in result.error


def test_evidence_is_mounted_read_only_and_copied_when_not_world_readable(
    make_job, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    public = tmp_path / "public.bin"
    public.write_bytes(b"public evidence")
    public.chmod(0o644)
    private = tmp_path / "private.bin"
    private.write_bytes(b"private evidence")
    private.chmod(0o600)
    code = (
        "import json, os\n"
        "d = '/argus/evidence'\n"
        "print(json.dumps({n: open(os.path.join(d, n)).read() for n in sorted(os.listdir(d))}))\n"
    )
    result = run_job(docker_client, make_job(code, evidence={"ev-public": public, "ev-private": private}))
    assert result.outcome == Outcome.COMPLETED, result.stderr
    assert json.loads(result.stdout) == {"ev-private": "private evidence", "ev-public": "public evidence"}
    assert private.stat().st_mode & 0o777 == 0o600  # untouched: the sandbox got a copy
    empty = run_job(docker_client, make_job("import os\nprint(os.listdir('/argus/evidence'))"))
    assert empty.stdout == b"[]\n"


def test_bundle_directory_with_packages_and_a_nested_entrypoint(
    make_job, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "pkg").mkdir(parents=True)
    (bundle / "pkg" / "__init__.py").write_text("")
    (bundle / "pkg" / "helper.py").write_text("VALUE = 'from helper'\n")
    (bundle / "bin").mkdir()
    (bundle / "bin" / "run.py").write_text(
        "import os, sys\nsys.path.insert(0, '/argus/plugin')\nfrom pkg.helper import VALUE\n"
        "print(VALUE, os.getcwd())\n"
    )
    result = run_job(docker_client, make_job("", bundle=bundle, entrypoint="bin/run.py"))
    assert result.outcome == Outcome.COMPLETED, result.stderr
    assert result.stdout == b"from helper /argus/plugin\n"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"entrypoint": "../escape.py"}, "unsafe entrypoint"),
        ({"entrypoint": "/etc/passwd"}, "unsafe entrypoint"),
        ({"entrypoint": "missing.py"}, "not in the bundle"),
        ({"evidence": {"../x": "/etc/hostname"}}, "invalid evidence id"),
        ({"bundle": [("../evil.py", b"")]}, "unsafe bundle file"),
        ({"env": {"lower": "x"}}, "invalid environment variable"),
    ],
)
def test_invalid_jobs_are_rejected_and_leave_nothing_behind(
    make_job, docker_client: docker.DockerClient, fields: dict, message: str
) -> None:
    job = make_job(HELLO, **fields)
    with pytest.raises(InvalidJob, match=message):
        run_job(docker_client, job)
    labelled = {"label": f"{LABEL_EXECUTION}={job.execution_id}"}
    assert docker_client.api.containers(all=True, filters=labelled) == []


def test_bundle_with_a_symlink_is_rejected(
    make_job, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "main.py").write_text(HELLO)
    (bundle / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InvalidJob, match="symlink"):
        run_job(docker_client, make_job("", bundle=bundle))


def test_sweep_orphans_removes_containers_of_dead_owners_only(
    make_job, docker_client: docker.DockerClient, sandbox_work_dir: Path, exists
) -> None:
    settings = make_job(HELLO).container_settings()
    # An owner on "another host" is presumed alive by every other sweep running in parallel (other test
    # processes, workers), so only this test's sweep, told that this one owner is dead, may remove it.
    dead_owner = f"elsewhere-{uuid.uuid4().hex}:1:1"
    orphan = start_container(
        docker_client, settings, Slot.create(sandbox_work_dir / "orphans"), owner=dead_owner
    )
    alive = start_container(
        docker_client, settings, Slot.create(sandbox_work_dir / "orphans"), owner=owner_id()
    )
    try:
        # Only this test's own "dead" owner counts as dead: orphans of other processes on this shared
        # engine are not this test's to remove.
        removed = sweep_orphans(docker_client, lambda owner: owner != dead_owner)
        assert orphan.id in removed and alive.id not in removed
        assert not exists(docker_client, orphan.id) and exists(docker_client, alive.id)
        labels = docker_client.api.inspect_container(alive.id)["Config"]["Labels"]
        assert labels[LABEL_OWNER] == owner_id()
    finally:
        for container in (orphan, alive):
            discard(docker_client, container)


def test_slots_no_container_names_are_swept_once_old(
    make_job, docker_client: docker.DockerClient, sandbox_work_dir: Path
) -> None:
    """A slot whose container was never made (its maker killed in between) goes once old; the slot of a
    container that exists (even a stopped one) and a young slot stay."""
    work_dir = sandbox_work_dir / f"slots-{uuid.uuid4().hex}"
    settings = make_job(HELLO).container_settings()
    left_behind, young, in_use = (Slot.create(work_dir) for _ in range(3))
    container = start_container(docker_client, settings, in_use, owner=owner_id())
    try:
        long_ago = time.time() - UNREFERENCED_SLOT_AGE_SECONDS - 60
        for slot in (left_behind, in_use):
            os.utime(slot.root, (long_ago, long_ago))
        docker_client.api.stop(container.id, timeout=0)
        (work_dir / "pool").mkdir()  # not a slot

        assert sweep_unreferenced_slots(docker_client, work_dir) == [left_behind.root.name]
        assert not left_behind.root.exists()
        assert young.root.is_dir() and in_use.root.is_dir() and (work_dir / "pool").is_dir()
    finally:
        discard(docker_client, container)
        for slot in (young, in_use):
            slot.destroy()


def test_api_calls_about_different_containers_share_one_engine_connection(
    make_job, docker_client: docker.DockerClient, sandbox_work_dir: Path
) -> None:
    settings = make_job(HELLO).container_settings()
    started = [
        start_container(docker_client, settings, Slot.create(sandbox_work_dir / "conns"), owner=owner_id())
        for _ in range(3)
    ]
    client = connect(os.environ.get("DOCKER_HOST") or None)  # its own pools, used by this test alone
    adapter = client.api.get_adapter(client.api.base_url)
    try:
        for container in started:
            assert client.api.inspect_container(container.id)["State"]["Running"]
        # (urllib3's pool container can list its keys but not be iterated.)
        urls = adapter.pools.keys()
        plain = [url for url in urls if not urlsplit(url).path.endswith("/attach")]
        assert len(plain) == 1  # not one pool per container URL
        kept = [connection for connection in list(adapter.pools[plain[0]].pool.queue) if connection]
        assert len(kept) == 1  # one connection, reused by every call
    finally:
        client.close()
        for container in started:
            discard(docker_client, container)


def test_owner_liveness_is_pid_and_start_time_on_this_host() -> None:
    assert local_owner_is_alive(owner_id())
    assert not local_owner_is_alive(f"{socket.gethostname()}:999999999:1")  # no such process
    assert not local_owner_is_alive(f"{socket.gethostname()}:{os.getpid()}:1")  # pid reused since
    assert local_owner_is_alive("another-host:1:1")  # cannot tell: presumed alive


def test_unreachable_engine_raises_docker_unavailable(make_job, tmp_path: Path) -> None:
    with pytest.raises(DockerUnavailable):
        connect(f"unix://{tmp_path}/no-such-docker.sock", timeout=2)
    offline = docker.DockerClient(
        base_url=f"unix://{tmp_path}/no-such-docker.sock", version="1.41", timeout=2
    )
    with pytest.raises(DockerUnavailable):
        run_job(offline, make_job(HELLO))


def test_missing_image_raises_runtime_image_missing(make_job, docker_client: docker.DockerClient) -> None:
    job = make_job(HELLO)
    job.image = "argus-runtime-does-not-exist:0"
    with pytest.raises(RuntimeImageMissing, match="build_runtime_images"):
        run_job(docker_client, job)


def test_runtime_image_is_labelled_and_not_rebuilt_when_up_to_date(
    runtime_image: str, docker_client: docker.DockerClient
) -> None:
    config = DEFAULT_RUNTIME_IMAGES[RUNTIME]
    expected = RuntimeRecipe.from_config(RUNTIME, config).revision()
    reports = ensure_runtime_images(docker_client, {RUNTIME: config}, log=lambda _line: None)
    assert [r.built for r in reports] == [False]
    image = docker_client.api.inspect_image(runtime_image)
    assert image["Config"]["Labels"][LABEL_REVISION] == expected
    assert image["Config"]["User"] == "10001:10001"
    # Debian's Node.js and its libraries add about 100 MiB to the minimal rootfs.
    assert image["Size"] < {"python3.11": 200, "node18": 256}[RUNTIME] * (1 << 20)


def test_pool_replaces_dead_warm_containers_and_close_removes_the_rest(
    make_job, docker_client: docker.DockerClient, sandbox_work_dir: Path, exists
) -> None:
    settings = make_job(HELLO).container_settings()
    pool = ContainerPool(
        docker_client, work_dir=sandbox_work_dir / "small-pool", size=1, refill_delay_seconds=0
    )
    try:
        assert pool.wait_ready(settings, timeout=60)
        (dead,) = list(pool._ready[settings])
        assert dead.is_healthy()  # its launcher waits on a live attach connection
        docker_client.api.kill(dead.id)  # e.g. an engine restart killed it while it waited
        deadline = time.monotonic() + 10
        while dead.is_healthy() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not dead.is_healthy()  # its connection closed: take() must not hand it out
        result = run_job(docker_client, make_job(HELLO), pool=pool)
        assert result.outcome == Outcome.COMPLETED and result.path == "cold"
        assert pool.wait_ready(settings, timeout=60)
        (warm,) = list(pool._ready[settings])
        assert warm.id != dead.id and exists(docker_client, warm.id) and warm.is_healthy()
    finally:
        pool.close()
    assert not exists(docker_client, warm.id) and not exists(docker_client, dead.id)
    assert list((sandbox_work_dir / "small-pool").iterdir()) == []


def test_repeated_start_failures_are_logged_once_a_minute_not_each_second(caplog) -> None:
    from execution.sandbox.pool import RepeatedFailureLog

    log = RepeatedFailureLog(interval=60)
    with caplog.at_level("INFO", logger="execution.sandbox.pool"):
        for attempt in range(30):  # the filler retries every second while the engine is down
            log.failed("could not pre-start a container for %s: %s", "img", f"down {attempt}")
        log.succeeded("pre-starting containers for %s works again", "img")
        log.failed("could not pre-start a container for %s: %s", "img", "down again")
    assert [record.getMessage() for record in caplog.records] == [
        "could not pre-start a container for img: down 0",
        "pre-starting containers for img works again (after 30 failed attempts)",
        "could not pre-start a container for img: down again",
    ]


def _disposable_containers(docker_client, runtime_image, sandbox_work_dir, count):
    """``count`` attached sandbox containers, as a worker holds them when it disposes of them."""
    containers = []
    for _ in range(count):
        slot = Slot.create(sandbox_work_dir)
        settings = ContainerSettings(image=runtime_image)
        containers.append(start_container(docker_client, settings, slot, owner=owner_id()))
    return containers


def test_a_deferred_removal_waits_for_a_pause_in_the_runs(
    docker_client: docker.DockerClient, runtime_image: str, sandbox_work_dir: Path, exists
) -> None:
    reaper = Reaper(docker_client, deferral=RemovalDeferral(quiet_seconds=1.0, max_delay_seconds=60.0))
    used = _disposable_containers(docker_client, runtime_image, sandbox_work_dir, 2)
    try:
        for container in used:
            reaper.submit(container)
        assert reaper.waiting() == 2 and reaper.removed == 0
        assert all(exists(docker_client, container.id) for container in used)
        deadline = time.monotonic() + 30
        while reaper.removed < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reaper.removed == 2  # the pause came: both removed, with their slots
        assert not any(exists(docker_client, c.id) or c.slot.root.exists() for c in used)
    finally:
        reaper.close()


def test_a_used_container_waits_with_only_its_launcher_until_it_is_removed(
    make_job, docker_client: docker.DockerClient, sandbox_work_dir: Path, exists
) -> None:
    pool = ContainerPool(docker_client, work_dir=sandbox_work_dir, size=1)
    pool.reaper.close()
    pool.reaper = Reaper(docker_client, deferral=RemovalDeferral(quiet_seconds=600.0, max_delay_seconds=600.0))
    try:
        job = make_job("import os, time\nif os.fork() == 0:\n    time.sleep(600)\nprint('done')\n")
        assert pool.wait_ready(job.container_settings(), count=1, timeout=60)
        result = run_job(docker_client, job, pool=pool)
        assert result.outcome == Outcome.COMPLETED and result.stdout.strip() == b"done", result
        assert pool.reaper.waiting() == 1
        # The result is in; the container waits for its removal, running its launcher alone (the plugin's
        # forked child was killed with the rest before the result was sent).
        assert docker_client.api.inspect_container(result.container_id)["State"]["Running"]
        if not os.environ.get("ARGUS_SANDBOX_OCI_RUNTIME"):  # gVisor's processes are not the host's to list
            top = docker_client.api.top(result.container_id, ps_args="-eo pid,comm")
            assert [row[-1] for row in top["Processes"]] == ["python3"], top
        assert pool.reaper.flush(30)
        assert not exists(docker_client, result.container_id)
    finally:
        pool.close()


def test_a_used_container_holding_more_than_the_bound_is_removed_at_once(
    docker_client: docker.DockerClient, runtime_image: str, sandbox_work_dir: Path, exists
) -> None:
    bound = RemovalDeferral(quiet_seconds=600.0, max_waiting_bytes=1, max_delay_seconds=600.0)
    reaper = Reaper(docker_client, deferral=bound)
    (used,) = _disposable_containers(docker_client, runtime_image, sandbox_work_dir, 1)
    try:
        reaper.submit(used)
        deadline = time.monotonic() + 30
        while exists(docker_client, used.id) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not exists(docker_client, used.id) and reaper.waiting() == 0
    finally:
        reaper.close()


def test_deferred_removals_are_bounded_and_flush_removes_them_all_at_once(
    docker_client: docker.DockerClient, runtime_image: str, sandbox_work_dir: Path, exists
) -> None:
    reaper = Reaper(
        docker_client, deferral=RemovalDeferral(quiet_seconds=600.0, max_waiting=1, max_delay_seconds=600.0)
    )
    used = _disposable_containers(docker_client, runtime_image, sandbox_work_dir, 3)
    try:
        for container in used:
            reaper.submit(container)
        deadline = time.monotonic() + 30
        while reaper.waiting() > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        # No pause is coming, but only one may wait: the oldest went at once.
        assert reaper.waiting() == 1
        assert not exists(docker_client, used[0].id) and exists(docker_client, used[2].id)
        assert reaper.flush(30)
        assert not any(exists(docker_client, c.id) for c in used)
    finally:
        reaper.close()
