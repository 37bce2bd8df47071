"""The audit log: one event per successful mutation and admin action, in the same transaction."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client

from argus_plugins.audit.models import AuditEvent, AuditImmutableError
from argus_plugins.core.admin_mixins import AuditedAdminMixin
from argus_plugins.core.graphql.mutations import BaseMutation
from argus_plugins.schema import schema
from argus_plugins.tenancy import services as tenancy_services
from argus_plugins.tenancy.models import ApiToken


def _events(action=None):
    events = AuditEvent.objects.all()
    return list(events.filter(action=action) if action else events)


def test_every_mutation_in_the_schema_goes_through_the_audited_base():
    mutation_type = schema.graphql_schema.mutation_type
    names = sorted(mutation_type.fields)
    assert len(names) >= 20
    for name in names:
        resolver = mutation_type.fields[name].resolve
        owner = getattr(resolver, "__self__", None)
        assert isinstance(owner, type) and issubclass(owner, BaseMutation), name


def test_every_admin_is_audited():
    unaudited = [model._meta.label for model, model_admin in admin.site._registry.items()
                 if not isinstance(model_admin, AuditedAdminMixin)]
    assert unaudited == []


def test_successful_mutations_leave_exactly_one_event_each(world, gql_for, publisher_kit, published_version):
    admin_client = gql_for(world.admin_a)
    before = AuditEvent.objects.count()
    created = admin_client.execute('mutation { createTenant(name: "Cyber Unit") { tenant { id } errors { code } } }')
    tenant_id = created.payload("createTenant")["tenant"]["id"]
    install = admin_client.execute(
        "mutation($t: ID!, $p: ID!) { installPlugin(tenantId: $t, pluginId: $p) { installation { id } errors { code } } }",
        {"t": str(world.tenant_a.pk), "p": str(published_version.plugin_id)},
    ).payload("installPlugin")
    token = admin_client.execute('mutation { createApiToken(name: "ci") { apiToken { id } errors { code } } }')
    token_id = token.payload("createApiToken")["apiToken"]["id"]
    admin_client.execute("mutation($id: ID!) { revokeApiToken(id: $id) { errors { code } } }", {"id": token_id})
    assert AuditEvent.objects.count() == before + 4
    create_event, = _events("graphql.createTenant")
    assert (create_event.actor, str(create_event.tenant_id), create_event.target_type) == (
        world.admin_a, tenant_id, "tenancy.Tenant")
    assert create_event.changes["name"] == [None, "Cyber Unit"]
    install_event, = _events("graphql.installPlugin")
    assert (install_event.tenant_id, install_event.target_id) == (world.tenant_a.pk, install["installation"]["id"])
    revoke_event, = _events("graphql.revokeApiToken")
    assert list(revoke_event.changes) == ["revoked_at"] and revoke_event.changes["revoked_at"][0] is None
    token_event, = _events("graphql.createApiToken")
    stored_hash = ApiToken.objects.get(pk=token_id).token_hash
    assert stored_hash not in json.dumps(token_event.changes)
    assert create_event.request_id and create_event.client_address == "127.0.0.1"


def test_failed_mutations_leave_no_event(world, gql_for):
    before = AuditEvent.objects.count()
    gql_for(world.viewer_a).execute(
        'mutation($t: ID!) { inviteTenantMember(tenantId: $t, username: "x", role: ADMIN) { errors { code } } }',
        {"t": str(world.tenant_a.pk)},
    )
    gql_for(world.admin_a).execute('mutation { createTenant(name: "") { errors { code } } }')
    assert AuditEvent.objects.count() == before


def test_admin_changes_and_actions_are_recorded(world):
    world.staff.is_superuser = True
    world.staff.save()
    _, _raw = tenancy_services.create_api_token(actor=world.admin_a, name="laptop")
    token = ApiToken.objects.get(name="laptop")
    client = Client()
    client.force_login(world.staff)
    client.post(f"/admin/tenancy/tenant/{world.tenant_a.pk}/change/", {
        "name": "Agency A renamed", "slug": "agency-a",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })
    change, = _events("admin.tenancy.tenant.change")
    assert change.changes["name"] == ["Agency A", "Agency A renamed"] and change.actor == world.staff
    client.post("/admin/tenancy/apitoken/", {"action": "revoke_selected", "_selected_action": [str(token.pk)]})
    revoke, = _events("admin.tenancy.apitoken.revoke_selected")
    assert revoke.target_id == str(token.pk)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_who_reads_the_audit_log(world, gql_for):
    tenancy_services.create_tenant(actor=world.admin_b, name="B2")
    gql_for(world.admin_a).execute('mutation { createTenant(name: "A2") { errors { code } } }')
    query = "query($t: ID) { auditEvents(tenantId: $t) { totalCount edges { node { action actorUsername tenantId } } } }"
    own = gql_for(world.admin_a).execute(query, {"t": str(world.tenant_a.pk)})
    assert all(edge["node"]["tenantId"] == str(world.tenant_a.pk) for edge in own.data["auditEvents"]["edges"])
    analyst = gql_for(world.analyst_a).execute(query, {"t": str(world.tenant_a.pk)})
    assert analyst.errors[0]["extensions"]["code"] == "PERMISSION_DENIED"
    foreign = gql_for(world.admin_b).execute(query, {"t": str(world.tenant_a.pk)})
    assert foreign.errors[0]["extensions"]["code"] == "NOT_FOUND"
    staff = gql_for(world.staff).execute(query, {})
    assert staff.data["auditEvents"]["totalCount"] == AuditEvent.objects.count()


def test_audit_events_are_append_only(world, gql_for):
    gql_for(world.admin_a).execute('mutation { createTenant(name: "X") { errors { code } } }')
    event = AuditEvent.objects.first()
    event.action = "tampered"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.all().update(action="x")
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.all().delete()


def test_export_audit_log_writes_json_lines(world, gql_for):
    gql_for(world.admin_a).execute('mutation { createTenant(name: "Exported") { errors { code } } }')
    out = io.StringIO()
    call_command("export_audit_log", stdout=out, stderr=io.StringIO())
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert any(row["action"] == "graphql.createTenant" and row["actor"] == "alice-admin" for row in rows)
    assert len(rows) == AuditEvent.objects.count()
