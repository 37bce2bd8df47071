"""Failure triage: ``executions`` filtered by several statuses, a time range, plugin, trigger and text in
the error reason; bad filter values are typed errors; the tenant boundary holds."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from argus_plugins.core import clock
from execution.models import Execution, ExecutionStatus, Trigger
from installations import services as installation_services
from registry import services as registry_services

TRIAGE = """query($t: ID!, $statuses: [ExecutionStatus!], $status: ExecutionStatus, $since: DateTime,
  $until: DateTime, $plugin: ID, $trigger: ExecutionTrigger, $reason: String, $first: Int, $after: String) {
  executions(tenantId: $t, statuses: $statuses, status: $status, since: $since, until: $until,
             pluginId: $plugin, trigger: $trigger, errorReasonContains: $reason, first: $first, after: $after) {
    totalCount edges { cursor node { id status errorReason } } } }"""

NOW = clock.now().replace(microsecond=0)


def _install(world, publisher_kit, slug):
    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug=slug, name=slug.title()
    )
    version = publisher_kit.publish(plugin, "1.0.0", reviewer=world.staff)
    installation = installation_services.install_plugin(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=plugin.pk
    )
    return installation, version


@pytest.fixture
def runs(world, publisher_kit):
    reader, reader_v1 = _install(world, publisher_kit, "reader")
    carver, carver_v1 = _install(world, publisher_kit, "carver")

    def run(name, installation, version, status, *, hours_ago, trigger=Trigger.MANUAL, reason=""):
        at = NOW - dt.timedelta(hours=hours_ago)
        return name, Execution.objects.create(
            tenant=world.tenant_a, installation=installation, plugin_version=version, trigger=trigger,
            input_sha256=hashlib.sha256(b"{}").hexdigest(), status=status, error_reason=reason,
            queued_at=at, enqueued_at=at,
        )

    made = dict([
        run("ok", reader, reader_v1, ExecutionStatus.SUCCEEDED, hours_ago=1),
        run("oom", reader, reader_v1, ExecutionStatus.MEMORY_EXCEEDED, hours_ago=2,
            reason="Killed: memory limit of 256 MB"),
        run("timeout", carver, carver_v1, ExecutionStatus.TIMED_OUT, hours_ago=30, trigger=Trigger.SCHEDULED,
            reason="Timed out after 60 s"),
        run("failed", carver, carver_v1, ExecutionStatus.FAILED, hours_ago=50, reason="Exit status 3: MEMORY map"),
        run("rejected", carver, carver_v1, ExecutionStatus.REJECTED, hours_ago=3, trigger=Trigger.EVENT,
            reason="Capability evidence:read was revoked"),
    ])
    made["carver"] = carver.plugin_id
    return made


def _ids(client, world, **variables):
    body = client.execute(TRIAGE, {"t": str(world.tenant_a.pk), **variables})
    return [edge["node"]["id"] for edge in body.data["executions"]["edges"]]


def _names(runs, *names):
    return [str(runs[name].pk) for name in names]


def test_filters_combine(world, gql_for, runs):
    viewer = gql_for(world.viewer_a)
    failures = ["FAILED", "TIMED_OUT", "MEMORY_EXCEEDED"]
    assert _ids(viewer, world, statuses=failures) == _names(runs, "oom", "timeout", "failed")
    assert _ids(viewer, world, statuses=failures, since=(NOW - dt.timedelta(hours=40)).isoformat()) == _names(
        runs, "oom", "timeout"
    )
    assert _ids(viewer, world, until=(NOW - dt.timedelta(hours=2)).isoformat()) == _names(
        runs, "rejected", "timeout", "failed"
    )  # until is exclusive: "oom", queued exactly then, is out
    assert _ids(viewer, world, plugin=str(runs["carver"]), trigger="SCHEDULED") == _names(runs, "timeout")
    assert _ids(viewer, world, reason="memory") == _names(runs, "oom", "failed")  # case-insensitive
    assert _ids(viewer, world, reason="status_3") == []  # "_" is no LIKE wildcard here ("status 3" exists)
    assert _ids(viewer, world, statuses=[]) == _names(runs, "ok", "oom", "rejected", "timeout", "failed")


def test_status_still_works_and_pages(world, gql_for, runs):
    viewer = gql_for(world.viewer_a)
    assert _ids(viewer, world, status="REJECTED") == _names(runs, "rejected")
    body = viewer.execute(TRIAGE, {"t": str(world.tenant_a.pk), "first": 2}).data["executions"]
    assert body["totalCount"] == 5 and len(body["edges"]) == 2
    rest = _ids(viewer, world, first=2, after=body["edges"][-1]["cursor"])
    assert rest == _names(runs, "rejected", "timeout")


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"status": "FAILED", "statuses": ["FAILED"]}, "INVALID", "status"),
        ({"since": NOW.isoformat(), "until": (NOW - dt.timedelta(hours=1)).isoformat()}, "INVALID", "until"),
        ({"plugin": "not-a-uuid"}, "INVALID", "pluginId"),
        ({"reason": "x" * 201}, "TOO_LONG", "errorReasonContains"),
        ({"statuses": ["FAILED"] * 9}, "LIMIT_EXCEEDED", "statuses"),
        ({"first": 101}, "LIMIT_EXCEEDED", "first"),
    ],
)
def test_bad_filters_are_typed_errors(world, gql_for, runs, variables, code, field):
    body = gql_for(world.viewer_a).execute(TRIAGE, {"t": str(world.tenant_a.pk), **variables})
    assert body.status_code == 200
    [error] = body.errors
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (code, field)


@pytest.mark.parametrize("who", ["admin_b", "outsider", "staff"])
def test_other_tenants_cannot_triage(world, gql_for, runs, who):
    body = gql_for(getattr(world, who)).execute(TRIAGE, {"t": str(world.tenant_a.pk), "reason": "memory"})
    assert body.errors and body.errors[0]["extensions"]["code"] in ("NOT_FOUND", "PERMISSION_DENIED")
    assert body.body.get("data") is None or body.body["data"].get("executions") is None
