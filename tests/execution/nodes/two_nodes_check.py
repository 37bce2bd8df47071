"""Run by test_two_nodes.py in a pytest of its own on PostgreSQL (not collected by the suite itself).

Beat and two Celery worker nodes as real processes, each with its own ARGUS_DATA_DIR and sandbox work
directory (no shared disk), a Redis of the test's own, and a bucket of its own on the S3 server: a batch of
runs with evidence spreads over both nodes and every run reads its evidence streamed from the store; then
one node is killed (SIGKILL) mid-run: its run ends terminal through the sweeper, and new runs go to the other;
when the killed node starts again, the run directory it left behind is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from execution import services as execution_services
from execution.models import Execution, ExecutionStatus
from execution.sandbox import connect
from execution.sandbox.container import LABEL_MANAGED, remove_container
from ledger.verification import verify_chain
from tests.execution.integration import conftest as integration
from tests.support.celery_worker import WorkerProcess, publishing_to, running_beat, running_worker
from tests.support.object_store import S3Bucket, s3_bucket
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.sandbox_runs import Deployer, wait_for, wait_terminal

# Every app is "available": the flush between tests then truncates with CASCADE, as PostgreSQL requires here.
pytestmark = [
    pytest.mark.django_db(transaction=True, available_apps=[app.name for app in apps.get_app_configs()])
]

runtime_image = integration.runtime_image

READER = """
import hashlib, json, os
(name,) = os.listdir("/argus/evidence")
data = open(os.path.join("/argus/evidence", name), "rb").read()
with open("/argus/output/output.json", "w") as out:
    json.dump({"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}, out)
"""
SLOW = "import time\ntime.sleep(40)\n"
BATCH = 8


@dataclass
class Cluster:
    directory: Path
    redis: PrivateRedis
    bucket: S3Bucket
    queue: str
    env: dict[str, str]

    def data_dir(self, node: str) -> Path:
        return self.directory / node / "data"

    def node(self, node: str, *, restart: bool = False) -> contextlib.AbstractContextManager[WorkerProcess]:
        """The worker node ``node``; with ``restart``, again on the data directory it had before."""
        data_dir = self.data_dir(node)
        data_dir.mkdir(parents=True, exist_ok=restart)
        env = {
            **self.env,
            "ARGUS_DATA_DIR": str(data_dir),
            "ARGUS_SANDBOX_WORK_DIR": str(data_dir / "work"),
            "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "metrics"),
        }
        name = f"{node}-restarted" if restart else node
        return running_worker(self.directory, queue=self.queue, concurrency=2, extra_env=env, node=name)

    def beat(self) -> Any:
        data_dir = self.directory / "beat"
        env = {**self.env, "ARGUS_DATA_DIR": str(data_dir), "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "m")}
        return running_beat(self.directory, extra_env=env)


@pytest.fixture
def cluster(tmp_path: Path, runtime_image: None, settings: Any) -> Iterator[Cluster]:
    database = urlunsplit(
        urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}")
    )
    queue = f"nodes-{uuid.uuid4().hex[:10]}"
    with s3_bucket() as bucket, private_redis(tmp_path) as redis_server:
        settings.STORAGES = bucket.storages()  # the test publishes bundles and uploads evidence there too
        env = {
            "DATABASE_URL": database,
            "ARGUS_STORAGE_URL": bucket.url,
            "ARGUS_MEDIA_ROOT": str(tmp_path / "no-media"),  # must stay unused
            "CELERY_BROKER_URL": redis_server.url,
            "CELERY_RESULT_BACKEND": redis_server.url,
            "REDIS_URL": redis_server.url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "ARGUS_QUEUED_STALE_SECONDS": "8",
            "ARGUS_SWEEP_INTERVAL_SECONDS": "2",
        }
        with publishing_to(redis_server.url, queue):
            yield Cluster(tmp_path, redis_server, bucket, queue, env)


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def _node_of(run: Execution, nodes: dict[str, WorkerProcess]) -> str:
    """Which node's pool process claimed the run (``host:pid``; both nodes are on this host)."""
    parent = _parent_pid(int(run.worker_hostname.rpartition(":")[2]))
    (name,) = [name for name, node in nodes.items() if node.process.pid == parent]
    return name


def _stored_files(data_dir: Path) -> list[str]:
    """Files a node wrote under its data directory, other than its bookkeeping (generated secret key,
    metrics) and its sandbox work directory (the run slots, which come and go meanwhile)."""
    kept = []
    for directory, subdirectories, files in os.walk(data_dir):
        if Path(directory) == data_dir:
            subdirectories[:] = [name for name in subdirectories if name not in {"work", "metrics"}]
            files = [name for name in files if name != "secret_key"]
        kept.extend(str(Path(directory, name).relative_to(data_dir)) for name in files)
    return kept


def _remove_containers_under(work_dir: Path) -> None:
    """The killed node's warm-pool containers (nobody is left to remove them)."""
    client = connect()
    try:
        for info in client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"}):
            if any(str(m.get("Source", "")).startswith(str(work_dir)) for m in info.get("Mounts") or []):
                remove_container(client, info["Id"])
    finally:
        client.close()


def test_two_nodes_share_only_the_services_and_survive_losing_one(cluster, world, publisher_kit):
    deploy = Deployer(world, publisher_kit)
    reader = deploy(READER, capabilities=["evidence:read"])
    slow = deploy(SLOW, resources={"timeout_seconds": 60})
    contents = [os.urandom(1000 + 7919 * index) for index in range(BATCH + 3)]
    evidence = [
        execution_services.upload_evidence(
            actor=world.analyst_a, tenant_id=world.tenant_a.pk, upload=SimpleUploadedFile(f"e{i}", data)
        )
        for i, data in enumerate(contents)
    ]
    expected = {
        str(e.pk): {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for e, d in zip(evidence, contents, strict=True)
    }

    def run_reading(item: Any) -> Execution:
        return deploy.run(reader, evidence_ids=[item.pk])

    with cluster.beat(), cluster.node("node-a") as node_a, cluster.node("node-b") as node_b:
        nodes = {"node-a": node_a, "node-b": node_b}
        batch = [wait_terminal(run, timeout=180) for run in [run_reading(item) for item in evidence[:BATCH]]]
        assert [(run.status, run.error_reason) for run in batch] == [(ExecutionStatus.SUCCEEDED, "")] * BATCH
        for run, item in zip(batch, evidence[:BATCH], strict=True):
            assert run.output == expected[str(item.pk)]
        ran_on = {run.pk: _node_of(run, nodes) for run in batch}
        assert set(ran_on.values()) == {"node-a", "node-b"}, ran_on
        for node in nodes:
            assert _stored_files(cluster.data_dir(node)) == [], node
            # The evidence copies go once the task is over, just after the run's record commits (and its
            # after-commit work runs): a run seen terminal a moment ago may still be finishing.
            work = cluster.data_dir(node) / "work"
            wait_for(lambda w=work: not list(w.glob("run-*")), timeout=30, what=f"{node}'s evidence copies to go")

        victim = deploy.run(slow)
        wait_for(
            lambda: Execution.objects.filter(pk=victim.pk, status=ExecutionStatus.RUNNING).exists(),
            timeout=60,
            what="the slow run to be running",
        )
        victim.refresh_from_db()
        doomed = _node_of(victim, nodes)
        (survivor,) = set(nodes) - {doomed}
        doomed_work = cluster.data_dir(doomed) / "work"
        (left_behind,) = doomed_work.glob(f"run-{victim.pk}@*")  # the run's directory, of a live worker
        nodes[doomed].kill()  # SIGKILL, main process and pool children, mid-run
        victim = wait_terminal(victim, timeout=60)
        assert victim.status == ExecutionStatus.FAILED
        assert victim.error_reason == "The worker running this execution stopped responding."

        after = [wait_terminal(run, timeout=120) for run in [run_reading(item) for item in evidence[BATCH:]]]
        assert [run.status for run in after] == [ExecutionStatus.SUCCEEDED] * len(after)
        assert {_node_of(run, {survivor: nodes[survivor]}) for run in after} == {survivor}
        assert [run.output for run in after] == [expected[str(item.pk)] for item in evidence[BATCH:]]

        # Nobody was left to remove the killed run's directory; the node does when it starts again.
        assert left_behind.is_dir()
        with cluster.node(doomed, restart=True):
            assert not left_behind.exists()
    _remove_containers_under(cluster.data_dir(doomed) / "work")

    stored = cluster.bucket.keys()
    assert {e.content.name for e in evidence} <= stored
    assert all(key.startswith(("bundles/", "evidence/")) for key in stored), stored
    assert verify_chain().ok
