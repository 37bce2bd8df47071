"""End to end through the real worker: GraphQL/services → Celery over Redis → Docker sandbox → record + ledger."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from execution import services
from execution.models import Execution, ExecutionStatus
from installations import services as installation_services
from ledger.verification import verify_chain
from tests.support.publishing import make_bundle, manifest_for
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS, wait_for, wait_terminal

pytestmark = SANDBOX_RUN_MARKS

ECHO = """
import json, os, sys
data = json.load(sys.stdin)
print("to stdout")
print("to stderr", file=sys.stderr)
with open("/argus/input.json") as f:
    same = json.load(f) == data
env = {k: os.environ[k] for k in ("ARGUS_EXECUTION_ID", "ARGUS_PLUGIN", "ARGUS_PLUGIN_VERSION")}
json.dump({"echo": data, "same_input_file": same, "env": env}, open("/argus/output/output.json", "w"))
"""


def test_success_records_everything_and_its_ledger_entry(deploy, world, gql_for):
    installation = deploy(ECHO)
    execution = wait_terminal(deploy.run(installation, {"q": "hello", "n": 3}))
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error_reason
    assert execution.stdout == "to stdout\n" and execution.stderr == "to stderr\n"
    assert execution.output == {
        "echo": {"q": "hello", "n": 3},
        "same_input_file": True,
        "env": {
            "ARGUS_EXECUTION_ID": str(execution.pk),
            "ARGUS_PLUGIN": "p1",
            "ARGUS_PLUGIN_VERSION": "1.0.0",
        },
    }
    assert execution.exit_code == 0 and execution.container_id and execution.worker_hostname
    assert execution.started_at and execution.finished_at and execution.duration_ms is not None
    assert execution.applied_limits == {"memory_mb": 128, "cpus": 1, "timeout_seconds": 20, "pids": 32}
    entry = execution.ledger_entry
    assert entry is not None and entry.entry_type == "execution.completed"
    assert entry.record["execution_id"] == str(execution.pk) and entry.record["status"] == "SUCCEEDED"
    assert entry.record["code_sha256"] == execution.plugin_version.code_sha256
    assert entry.record["stdout_sha256"] == execution.stdout_sha256
    assert verify_chain().ok
    data = (
        gql_for(world.viewer_a)
        .execute(
            "query($id: ID!) { execution(id: $id) { status stdout output ledgerEntry { sequence entryHash } } }",
            {"id": str(execution.pk)},
        )
        .data["execution"]
    )
    assert data["status"] == "SUCCEEDED" and json.loads(data["output"])["echo"] == {"q": "hello", "n": 3}
    assert data["ledgerEntry"] == {"sequence": entry.sequence, "entryHash": entry.entry_hash}


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("open('/argus/output/output.json','w').write('{not json')", "FAILED", "output.json is not acceptable JSON"),
        ("import sys; sys.exit(3)", "FAILED", "exited with code 3"),
        ("import os; os.symlink('/etc/passwd', '/argus/output/output.json')", "FAILED", "symlink"),
        ("while True: pass", "TIMED_OUT", "Timed out after 2"),
        ("x = bytearray(400 * 1024 * 1024)", "MEMORY_EXCEEDED", "memory limit of 64 MiB"),
    ],
)
def test_failures_reach_the_right_terminal_state(deploy, code, status, reason):
    installation = deploy(code, resources={"timeout_seconds": 2, "memory_mb": 64})
    execution = wait_terminal(deploy.run(installation))
    assert execution.status == status
    assert reason in execution.error_reason
    assert execution.ledger_entry is not None and execution.ledger_entry.record["status"] == status


def test_network_is_off_whatever_the_input_says(deploy):
    code = """
import json, socket, sys
results = {}
for host, port in [("1.1.1.1", 53), ("169.254.169.254", 80), ("172.17.0.1", 6379), ("127.0.0.1", 6379)]:
    try:
        socket.create_connection((host, port), timeout=2); results[host] = "connected"
    except OSError as error:
        results[host] = type(error).__name__
json.dump(results, open("/argus/output/output.json", "w"))
"""
    installation = deploy(code)
    execution = wait_terminal(deploy.run(installation, {"network": True, "network_mode": "host"}))
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error_reason
    assert "connected" not in execution.output.values()


def test_stdout_flood_is_capped_and_marked(deploy):
    installation = deploy("import sys\nchunk = 'x' * 65536\nfor _ in range(800): sys.stdout.write(chunk)\n")
    execution = wait_terminal(deploy.run(installation))
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert execution.stdout_truncated is True and len(execution.stdout) == 1024 * 1024


def test_evidence_is_mounted_read_only_and_hash_checked(deploy, world):
    code = """
import json, os
eid = os.listdir("/argus/evidence")[0]
data = open(f"/argus/evidence/{eid}").read()
try:
    open(f"/argus/evidence/{eid}", "a").write("tamper"); writable = True
except OSError:
    writable = False
json.dump({"id": eid, "data": data, "writable": writable}, open("/argus/output/output.json", "w"))
"""
    installation = deploy(code, capabilities=["evidence:read"])
    upload = SimpleUploadedFile("notes.txt", b"suspect: alice@example.org")
    evidence = services.upload_evidence(actor=world.analyst_a, tenant_id=world.tenant_a.pk, upload=upload)
    execution = wait_terminal(deploy.run(installation, evidence_ids=[evidence.pk]))
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error_reason
    assert execution.output == {
        "id": str(evidence.pk),
        "data": "suspect: alice@example.org",
        "writable": False,
    }
    assert execution.ledger_entry.record["evidence"] == [{"id": str(evidence.pk), "sha256": evidence.sha256}]
    # Evidence altered in storage after upload: the next run is refused before any container exists.
    with default_storage.open(evidence.content.name, "wb") as handle:
        handle.write(b"suspect: nobody")
    refused = wait_terminal(deploy.run(installation, evidence_ids=[evidence.pk]))
    assert refused.status == ExecutionStatus.REJECTED and "SHA-256" in refused.error_reason
    assert refused.container_id == ""


def test_evidence_without_evidence_read_is_refused_before_any_container(deploy, world):
    from argus_plugins.core.errors import DomainErrors

    installation = deploy(ECHO)
    upload = SimpleUploadedFile("a.txt", b"x")
    evidence = services.upload_evidence(actor=world.analyst_a, tenant_id=world.tenant_a.pk, upload=upload)
    with pytest.raises(DomainErrors) as caught:
        deploy.run(installation, evidence_ids=[evidence.pk])
    assert "evidence:read" in str(caught.value)
    assert Execution.objects.count() == 0


def test_grant_revoked_while_queued_is_rejected_by_the_worker(deploy, world, platform_worker):
    installation = deploy(ECHO, capabilities=["artifacts:write"])
    # Saturate the tenant so the run stays QUEUED, then revoke while it waits.
    from argus_plugins.tenancy.models import TenantPolicy

    TenantPolicy.objects.update_or_create(tenant=world.tenant_a, defaults={"max_concurrent_executions": 1})
    blocker_installation = deploy("import time; time.sleep(30)")
    blocker = deploy.run(blocker_installation)
    wait_for(lambda: Execution.objects.get(pk=blocker.pk).status == "RUNNING", what="blocker running")
    queued = deploy.run(installation)
    grant = installation.grants.get()
    installation_services.revoke_capability_grant(
        actor=world.admin_a, grant_id=grant.pk, reason="case closed"
    )
    services.cancel_execution(actor=world.admin_a, execution_id=blocker.pk)
    queued = wait_terminal(queued)
    assert queued.status == ExecutionStatus.REJECTED
    assert "revoked" in queued.error_reason and "case closed" in queued.error_reason
    assert queued.started_at is None and queued.container_id == ""


def test_bundle_altered_after_approval_is_rejected(deploy):
    installation = deploy(ECHO)
    version = installation.plugin.versions.get()
    with default_storage.open(version.bundle.name, "wb") as handle:
        handle.write(make_bundle(manifest_for(version.plugin.slug, "1.0.0"), {"main.py": "print('evil')"}))
    execution = wait_terminal(deploy.run(installation))
    assert execution.status == ExecutionStatus.REJECTED
    assert "integrity" in execution.error_reason.lower()


def test_cancel_while_running_kills_the_container(deploy, world):
    import docker

    installation = deploy("import time\nprint('started', flush=True)\ntime.sleep(60)")
    execution = deploy.run(installation)
    wait_for(lambda: Execution.objects.get(pk=execution.pk).container_id != "", what="container started")
    container_id = Execution.objects.get(pk=execution.pk).container_id
    services.cancel_execution(actor=world.analyst_a, execution_id=execution.pk)
    execution = wait_terminal(execution, timeout=30)
    assert execution.status == ExecutionStatus.CANCELLED
    assert "andy-analyst" in execution.error_reason
    client = docker.from_env()
    wait_for(
        lambda: not client.api.containers(all=True, filters={"id": container_id}),
        timeout=20,
        what="container removed",
    )


def test_revoking_a_grant_cancels_running_runs_that_hold_it(deploy, world):
    installation = deploy("import time; time.sleep(60)", capabilities=["artifacts:write"])
    execution = deploy.run(installation)
    wait_for(lambda: Execution.objects.get(pk=execution.pk).status == "RUNNING", what="running")
    grant = installation.grants.get()
    installation_services.revoke_capability_grant(
        actor=world.admin_a, grant_id=grant.pk, reason="warrant expired"
    )
    execution = wait_terminal(execution, timeout=30)
    assert execution.status == ExecutionStatus.CANCELLED
    assert "revoked" in execution.error_reason and "warrant expired" in execution.error_reason


def test_artifacts_are_kept_only_with_artifacts_write(deploy):
    code = "open('/argus/artifacts/report.txt', 'w').write('findings')\n"
    with_grant = wait_terminal(deploy.run(deploy(code, capabilities=["artifacts:write"])))
    assert with_grant.status == ExecutionStatus.SUCCEEDED, with_grant.error_reason
    assert [(a.name, a.size) for a in with_grant.artifacts.all()] == [("report.txt", 8)]
    without = wait_terminal(deploy.run(deploy(code)))
    assert without.artifacts.count() == 0
