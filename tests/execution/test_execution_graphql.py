"""runPlugin, uploadEvidence, cancelExecution and the execution queries: roles, isolation, bad input.

No worker here: on_commit callbacks never run inside these test transactions, so runs stay QUEUED.
"""

from __future__ import annotations

import pytest
from django.db import reset_queries

from execution.models import Evidence, Execution, ExecutionStatus
from installations import services as installation_services
from tests.support.publishing import manifest_for

RUN = """mutation($i: ID!, $input: JSONString, $e: [ID!]) {
  runPlugin(installationId: $i, input: $input, evidenceIds: $e) {
    execution { id status trigger triggeredBy capabilities appliedLimits input }
    errors { code field message } } }"""
UPLOAD = """mutation($t: ID!, $file: Upload!, $name: String) {
  uploadEvidence(tenantId: $t, file: $file, name: $name) { evidence { id name size sha256 } errors { code field } } }"""
CANCEL = "mutation($id: ID!) { cancelExecution(id: $id) { execution { status errorReason } errors { code } } }"
EXECUTIONS = """query($t: ID!, $s: ExecutionStatus) { executions(tenantId: $t, status: $s, first: 50) {
  totalCount edges { node { id status pluginVersion { version plugin { slug } } installation { id }
  evidence { id } artifacts { name } ledgerEntry { sequence } triggeredBy } } } }"""


@pytest.fixture
def installed_version(world, publisher_kit, reader_plugin):
    """The reader plugin, with resource limits and an input schema."""
    manifest = manifest_for(
        "reader", "1.0.0", capabilities=["evidence:read"],
        resources={"memory_mb": 1024, "cpus": 2, "timeout_seconds": 600, "pids": 32},
        input_schema={"type": "object", "properties": {"depth": {"type": "integer", "maximum": 3}},
                      "additionalProperties": False},
    )
    return publisher_kit.publish(reader_plugin, "1.0.0", reviewer=world.staff, manifest=manifest)


@pytest.fixture
def installation(world, installation):
    """The shared installation, granted evidence:read."""
    installation_services.grant_capability(actor=world.admin_a, installation_id=installation.pk, capability="evidence:read")
    return installation


def _upload(client, tenant, data=b"evidence bytes", name="e.txt"):
    return client.execute_multipart(UPLOAD, {"t": str(tenant.pk), "name": name}, {"file": data}).payload("uploadEvidence")


def test_analyst_uploads_evidence_and_runs(world, gql_for, installation):
    analyst = gql_for(world.analyst_a)
    evidence = _upload(analyst, world.tenant_a)
    assert evidence["errors"] == [] and evidence["evidence"]["size"] == 14
    assert evidence["evidence"]["sha256"] == Evidence.objects.get().sha256
    payload = analyst.execute(RUN, {"i": str(installation.pk), "input": '{"depth": 2}',
                                    "e": [evidence["evidence"]["id"]]}).payload("runPlugin")
    assert payload["errors"] == []
    run = payload["execution"]
    assert (run["status"], run["trigger"], run["triggeredBy"]) == ("QUEUED", "MANUAL", "andy-analyst")
    assert run["capabilities"] == ["evidence:read"]
    # Limits: the manifest asks for more than the tenant default; without compute:extended it is bounded.
    assert run["appliedLimits"] == '{"memory_mb": 256, "cpus": 1.0, "timeout_seconds": 60, "pids": 32}'


def test_viewer_cannot_run_or_upload(world, gql_for, installation):
    viewer = gql_for(world.viewer_a)
    assert [e["code"] for e in viewer.execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")["errors"]] == [
        "PERMISSION_DENIED"]
    assert [e["code"] for e in _upload(viewer, world.tenant_a)["errors"]] == ["PERMISSION_DENIED"]
    assert Execution.objects.count() == 0 and Evidence.objects.count() == 0


@pytest.mark.parametrize("who", ["admin_b", "outsider", "staff"])
def test_other_tenants_see_and_touch_nothing(world, gql_for, installation, who):
    analyst = gql_for(world.analyst_a)
    evidence_id = _upload(analyst, world.tenant_a)["evidence"]["id"]
    run_id = analyst.execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")["execution"]["id"]
    client = gql_for(getattr(world, who))
    assert [e["code"] for e in client.execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")["errors"]] == [
        "NOT_FOUND"]
    seen = client.execute("query($id: ID!) { execution(id: $id) { id stdout } }", {"id": run_id})
    assert seen.body["data"] == {"execution": None} and seen.errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert client.execute("query($id: ID!) { evidence(id: $id) { id } }", {"id": evidence_id}).body["data"] == {
        "evidence": None}
    assert client.execute(CANCEL, {"id": run_id}).payload("cancelExecution")["errors"] == [{"code": "NOT_FOUND"}]
    listing = client.execute(EXECUTIONS, {"t": str(world.tenant_a.pk)})
    assert listing.body["data"] is None
    assert Execution.objects.get(pk=run_id).status == ExecutionStatus.QUEUED


def test_tenant_b_cannot_use_tenant_a_evidence(world, gql_for, installation, publisher_kit):
    evidence_id = _upload(gql_for(world.analyst_a), world.tenant_a)["evidence"]["id"]
    installation_b = installation_services.install_plugin(
        actor=world.admin_b, tenant_id=world.tenant_b.pk, plugin_id=installation.plugin_id
    )
    installation_services.grant_capability(actor=world.admin_b, installation_id=installation_b.pk, capability="evidence:read")
    payload = gql_for(world.admin_b).execute(RUN, {"i": str(installation_b.pk), "e": [evidence_id]}).payload("runPlugin")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", "evidenceIds")]
    assert Execution.objects.count() == 0


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"input": "[1,2]"}, "INPUT_INVALID", "input"),
        ({"input": '{"depth": 9}'}, "INPUT_INVALID", "input.depth"),
        ({"input": '{"other": 1}'}, "INPUT_INVALID", "input"),
        ({"input": '{"big": ' + str(2**60) + "}"}, "INPUT_INVALID", "input"),
        ({"e": ["not-a-uuid"]}, "INVALID", "evidenceIds"),
        ({"e": ["00000000-0000-4000-8000-000000000000"]}, "NOT_FOUND", "evidenceIds"),
        ({"i": "nope"}, "INVALID", "installationId"),
        ({"i": "00000000-0000-4000-8000-000000000000"}, "NOT_FOUND", "installationId"),
    ],
)
def test_bad_run_input_is_typed_and_writes_nothing(world, gql_for, installation, variables, code, field):
    payload = gql_for(world.analyst_a).execute(RUN, {"i": str(installation.pk), **variables}).payload("runPlugin")
    assert (payload["errors"][0]["code"], payload["errors"][0]["field"]) == (code, field)
    assert Execution.objects.count() == 0


def test_refusal_lists_every_reason(world, gql_for, installation):
    grant = installation.grants.get()
    installation_services.revoke_capability_grant(actor=world.admin_a, grant_id=grant.pk, reason="paused")
    payload = gql_for(world.analyst_a).execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")
    assert [e["code"] for e in payload["errors"]] == ["NOT_AUTHORIZED"]
    assert "revoked" in payload["errors"][0]["message"] and "paused" in payload["errors"][0]["message"]


def test_cancel_a_queued_run(world, gql_for, installation):
    analyst = gql_for(world.analyst_a)
    run_id = analyst.execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")["execution"]["id"]
    cancelled = analyst.execute(CANCEL, {"id": run_id}).payload("cancelExecution")
    assert cancelled["execution"]["status"] == "CANCELLED" and "andy-analyst" in cancelled["execution"]["errorReason"]
    again = analyst.execute(CANCEL, {"id": run_id}).payload("cancelExecution")
    assert again["errors"] == [{"code": "NOT_CANCELLABLE"}]
    assert gql_for(world.viewer_a).execute(CANCEL, {"id": run_id}).payload("cancelExecution")["errors"] == [
        {"code": "PERMISSION_DENIED"}]


def test_executions_list_filters_and_does_not_grow_queries(world, gql_for, installation, django_assert_max_num_queries):
    analyst = gql_for(world.analyst_a)
    evidence_id = _upload(analyst, world.tenant_a)["evidence"]["id"]
    for _ in range(3):
        analyst.execute(RUN, {"i": str(installation.pk), "e": [evidence_id]})
    # The test client's request_started signal clears the query log: start each count from empty.
    reset_queries()
    with django_assert_max_num_queries(30) as small:
        analyst.execute(EXECUTIONS, {"t": str(world.tenant_a.pk)})
    page_of_3 = len(small.captured_queries)
    assert page_of_3 >= 5  # token, membership, count, page, prefetches: the count is real
    for _ in range(12):
        analyst.execute(RUN, {"i": str(installation.pk), "e": [evidence_id]})
    reset_queries()
    with django_assert_max_num_queries(page_of_3):
        data = analyst.execute(EXECUTIONS, {"t": str(world.tenant_a.pk)}).data
    assert data["executions"]["totalCount"] == 15
    assert analyst.execute(EXECUTIONS, {"t": str(world.tenant_a.pk), "s": "SUCCEEDED"}).data["executions"][
        "totalCount"] == 0


PROGRESS = "query($id: ID!) { execution(id: $id) { status stdout progress { fraction message updatedAt } } }"


def test_progress_is_null_until_reported_then_shown_with_the_live_stdout(world, gql_for, installation):
    from argus_plugins.core import clock

    analyst = gql_for(world.analyst_a)
    run = analyst.execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")["execution"]
    fresh = analyst.execute(PROGRESS, {"id": run["id"]}).data["execution"]
    assert (fresh["stdout"], fresh["progress"]) == ("", None)
    # What the worker's live publisher writes while the run is RUNNING.
    Execution.objects.filter(pk=run["id"]).update(
        status=ExecutionStatus.RUNNING, stdout="line 1\n", progress_fraction=0.42,
        progress_message="scanning chat-export.txt", progress_updated_at=clock.now(),
    )  # fmt: skip
    live = analyst.execute(PROGRESS, {"id": run["id"]}).data["execution"]
    assert (live["status"], live["stdout"]) == ("RUNNING", "line 1\n")
    assert live["progress"]["fraction"] == 0.42 and live["progress"]["message"] == "scanning chat-export.txt"
    assert live["progress"]["updatedAt"]
    other = gql_for(world.admin_b).execute(PROGRESS, {"id": run["id"]})
    assert other.body["data"] == {"execution": None} and other.errors[0]["extensions"]["code"] == "NOT_FOUND"


def test_input_may_be_sent_as_a_json_object_variable(world, gql_for, installation):
    """``input: JSONString`` accepts the JSON object itself as the variable's value, not only its text."""
    payload = gql_for(world.analyst_a).execute(RUN, {"i": str(installation.pk), "input": {"depth": 2}}).payload(
        "runPlugin"
    )
    assert payload["errors"] == []
    assert Execution.objects.get(pk=payload["execution"]["id"]).input == {"depth": 2}
    refused = gql_for(world.analyst_a).execute(RUN, {"i": str(installation.pk), "input": {"depth": 9}})
    assert refused.payload("runPlugin")["errors"][0]["field"] == "input.depth"
