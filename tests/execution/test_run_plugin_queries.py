"""Statement budgets of the two hottest requests, runPlugin and polling execution(id), and the answers
of the one-statement role checks they rely on."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.tenancy.models import Membership, Role
from execution import services as execution_services
from execution.models import Execution
from installations import services as installation_services

RUN = """mutation($i: ID!) { runPlugin(installationId: $i, input: "{\\"n\\": 1}") {
  execution { id } errors { code field message } } }"""
POLL = "query($id: ID!) { execution(id: $id) { status terminal ledgerEntry { sequence } } }"
FULL = """query($id: ID!) { execution(id: $id) { id status tenant { name } triggeredBy
  pluginVersion { version plugin { slug } } installation { id plugin { slug } }
  evidence { id uploadedBy } artifacts { name } ledgerEntry { sequence } } }"""


def _statements(context: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in context.captured_queries]


def test_run_plugin_statement_budget(world, gql_for, installation):
    client = gql_for(world.analyst_a)
    client.execute(RUN, {"i": str(installation.pk)})  # the first use of the token stamps last_used_at
    with CaptureQueriesContext(connection) as context:
        payload = client.execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")
    assert payload["errors"] == []
    statements = _statements(context)
    reads = [sql for sql in statements if sql.startswith("SELECT")]
    writes = [sql for sql in statements if sql.startswith(("INSERT", "UPDATE"))]
    # Token; installation with the caller's role; resolved version; marketplace plans; tenant policy (for
    # both the limits and the queue cap); the tenant's queued runs, counted against that cap.
    assert len(reads) == 9, "\n".join(reads)
    assert reads[5].startswith('SELECT COUNT(*) AS "__count" FROM "execution_execution"')
    assert "tenancy_membership" in reads[1]  # the role came with the installation, not on its own
    # Then the dispatcher, in the same transaction (it had a transaction of its own after the commit): the
    # held runs (this one alone: the short path), the runs in flight (all and the tenant's), its policy.
    assert all("execution_execution" in sql or "tenancy_tenantpolicy" in sql for sql in reads[6:])
    # The execution, its release, and its audit event.
    assert len(writes) == 3, "\n".join(writes)
    # Plus the savepoints of the request, the mutation, start_execution and the dispatcher (opened and
    # released).
    assert len(statements) == 20, "\n".join(statements)
    assert Execution.objects.filter(pk=payload["execution"]["id"]).exists()


def test_polling_an_execution_takes_two_statements(world, gql_for, installation):
    client = gql_for(world.analyst_a)
    execution_id = client.execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")["execution"]["id"]
    with CaptureQueriesContext(connection) as context:
        data = client.execute(POLL, {"id": execution_id}).data
    assert data == {"execution": {"status": "QUEUED", "terminal": False, "ledgerEntry": None}}
    statements = _statements(context)
    assert len(statements) == 2, "\n".join(statements)  # the token, then the execution with the role


def test_polling_every_relation_still_resolves_each_once(world, gql_for, installation):
    client = gql_for(world.analyst_a)
    execution_id = client.execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")["execution"]["id"]
    with CaptureQueriesContext(connection) as context:
        data = client.execute(FULL, {"id": execution_id}).data["execution"]
    assert data["tenant"] == {"name": "Agency A"} and data["triggeredBy"] == "andy-analyst"
    assert data["pluginVersion"] == {"version": "1.0.0", "plugin": {"slug": "echo"}}
    assert data["installation"] == {"id": str(installation.pk), "plugin": {"slug": "echo"}}
    assert (data["evidence"], data["artifacts"], data["ledgerEntry"]) == ([], [], None)
    # Token, execution with its relations and the role, evidence and artifacts prefetches.
    assert len(context.captured_queries) == 4, "\n".join(_statements(context))


def test_poll_through_a_fragment_loads_what_the_fragment_selects(world, gql_for, installation):
    client = gql_for(world.analyst_a)
    execution_id = client.execute(RUN, {"i": str(installation.pk)}).payload("runPlugin")["execution"]["id"]
    query = """query($id: ID!) { execution(id: $id) { ...Run } }
      fragment Run on Execution { status ... on Execution { pluginVersion { version } } }"""
    with CaptureQueriesContext(connection) as context:
        data = client.execute(query, {"id": execution_id}).data
    assert data == {"execution": {"status": "QUEUED", "pluginVersion": {"version": "1.0.0"}}}
    assert len(context.captured_queries) == 2


@pytest.mark.parametrize(
    ("who", "role", "outcome"),
    [
        ("admin_a", Role.ADMIN, None),
        ("analyst_a", Role.ANALYST, None),
        ("viewer_a", Role.VIEWER, None),
        ("viewer_a", Role.ANALYST, (CommonErrorCode.PERMISSION_DENIED, None)),
        ("analyst_a", Role.ADMIN, (CommonErrorCode.PERMISSION_DENIED, None)),
        ("admin_b", Role.VIEWER, (CommonErrorCode.NOT_FOUND, "installationId")),
        ("staff", Role.VIEWER, (CommonErrorCode.NOT_FOUND, "installationId")),
    ],
)
def test_get_installation_role_answers(world, installation, who, role, outcome):
    user = getattr(world, who)
    if outcome is None:
        loaded = installation_services.get_installation(user, installation.pk, role, field="installationId")
        assert loaded.pk == installation.pk and loaded.tenant == world.tenant_a
        return
    with pytest.raises(DomainError) as raised:
        installation_services.get_installation(user, installation.pk, role, field="installationId")
    assert (raised.value.code, raised.value.field) == outcome
    if outcome[0] == CommonErrorCode.PERMISSION_DENIED:
        assert raised.value.message == f"This requires the {role.label} role in tenant 'agency-a'."
    else:
        assert raised.value.message == "Installation not found."


def test_get_execution_role_answers(world, installation):
    execution = execution_services.run_plugin(actor=world.analyst_a, installation_id=installation.pk)
    assert execution_services.get_execution(world.viewer_a, execution.pk).pk == execution.pk
    with pytest.raises(DomainError) as weak:
        execution_services.get_execution(world.viewer_a, execution.pk, Role.ANALYST)
    assert (weak.value.code, weak.value.field) == (CommonErrorCode.PERMISSION_DENIED, None)
    assert "Analyst role in tenant 'agency-a'" in weak.value.message
    with pytest.raises(DomainError) as foreign:
        execution_services.get_execution(world.admin_b, execution.pk)
    assert (foreign.value.code, foreign.value.message) == (CommonErrorCode.NOT_FOUND, "Execution not found.")
    # A membership ended since: the role is read afresh with each load.
    Membership.objects.filter(user=world.viewer_a, tenant=world.tenant_a).delete()
    with pytest.raises(DomainError) as gone:
        execution_services.get_execution(world.viewer_a, execution.pk)
    assert gone.value.code == CommonErrorCode.NOT_FOUND


def test_anonymous_callers_are_told_to_authenticate(world, installation):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(DomainError) as raised:
        installation_services.get_installation(AnonymousUser(), installation.pk)
    assert raised.value.code == CommonErrorCode.UNAUTHENTICATED
    with pytest.raises(DomainError) as missing:
        installation_services.get_installation(AnonymousUser(), "00000000-0000-4000-8000-000000000000")
    assert missing.value.code == CommonErrorCode.NOT_FOUND  # as before: a missing object is not found first
