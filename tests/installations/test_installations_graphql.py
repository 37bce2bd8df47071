"""Installations and grants through GraphQL: roles, tenant isolation, typed errors."""

import datetime as dt

import pytest

from argus_plugins.core import clock
from argus_plugins.tenancy.models import TenantPolicy
from installations import services
from installations.models import CapabilityGrant, Installation, InstallationEvent
from tests.support.publishing import manifest_for

INSTALL = """mutation($t: ID!, $p: ID!, $v: String, $c: JSONString) {
  installPlugin(tenantId: $t, pluginId: $p, version: $v, config: $c) {
    installation { id active version { version } pinnedVersion { version } missingCapabilities }
    errors { code field message } } }"""
GRANT = """mutation($i: ID!, $c: String!, $e: DateTime) {
  grantCapability(installationId: $i, capability: $c, expiresAt: $e) {
    grant { id capability active expiresAt grantedBy } errors { code field message } } }"""
REVOKE = """mutation($id: ID!) { revokeCapabilityGrant(id: $id, reason: "done") {
  grant { active revokedAt revokeReason } errors { code field } } }"""
INSTALLATION = """query($id: ID!) { installation(id: $id) {
  id grants { capability active expiresAt revokedAt } missingCapabilities
  authorization { allowed capabilities refusals { code capability message } } } }"""


def test_admin_installs_grants_and_sees_state(world, gql_for, reader_v1):
    admin = gql_for(world.admin_a)
    payload = admin.execute(INSTALL, {"t": str(world.tenant_a.pk), "p": str(reader_v1.plugin_id)}).payload(
        "installPlugin"
    )
    assert payload["errors"] == []
    installation = payload["installation"]
    assert installation["version"] == {"version": "1.0.0"} and installation["pinnedVersion"] is None
    assert installation["missingCapabilities"] == ["evidence:read"]
    assert InstallationEvent.objects.filter(kind="INSTALLED", tenant=world.tenant_a).count() == 1

    granted = admin.execute(GRANT, {"i": installation["id"], "c": "evidence:read"}).payload("grantCapability")
    assert granted["errors"] == [] and granted["grant"]["active"] is True
    assert granted["grant"]["grantedBy"] == "alice-admin"
    state = gql_for(world.viewer_a).execute(INSTALLATION, {"id": installation["id"]}).data["installation"]
    assert state["missingCapabilities"] == []
    assert state["authorization"] == {"allowed": True, "capabilities": ["evidence:read"], "refusals": []}

    revoked = admin.execute(REVOKE, {"id": granted["grant"]["id"]}).payload("revokeCapabilityGrant")
    assert revoked["grant"]["active"] is False and revoked["grant"]["revokeReason"] == "done"
    state = admin.execute(INSTALLATION, {"id": installation["id"]}).data["installation"]
    assert state["authorization"]["refusals"][0]["code"] == "CAPABILITY_REVOKED"


@pytest.mark.parametrize("who", ["analyst_a", "viewer_a"])
def test_analysts_and_viewers_cannot_grant_or_revoke(world, gql_for, installation, who):
    client = gql_for(getattr(world, who))
    denied = client.execute(GRANT, {"i": str(installation.pk), "c": "evidence:read"}).payload(
        "grantCapability"
    )
    assert denied == {
        "grant": None,
        "errors": [{"code": "PERMISSION_DENIED", "field": None, "message": denied["errors"][0]["message"]}],
    }
    assert CapabilityGrant.objects.count() == 0
    grant = services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    assert [
        e["code"]
        for e in client.execute(REVOKE, {"id": str(grant.pk)}).payload("revokeCapabilityGrant")["errors"]
    ] == ["PERMISSION_DENIED"]
    grant.refresh_from_db()
    assert grant.revoked_at is None


@pytest.mark.parametrize("who", ["admin_b", "outsider", "staff"])
def test_other_tenants_cannot_see_or_touch_anything(world, gql_for, installation, who):
    grant = services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    client = gql_for(getattr(world, who))
    seen = client.execute(INSTALLATION, {"id": str(installation.pk)})
    assert seen.body["data"] == {"installation": None}
    assert seen.errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert [
        e["code"]
        for e in client.execute(GRANT, {"i": str(installation.pk), "c": "evidence:read"}).payload(
            "grantCapability"
        )["errors"]
    ] == ["NOT_FOUND"]
    assert [
        e["code"]
        for e in client.execute(REVOKE, {"id": str(grant.pk)}).payload("revokeCapabilityGrant")["errors"]
    ] == ["NOT_FOUND"]
    uninstall = client.execute(
        "mutation($id: ID!) { uninstallPlugin(id: $id) { errors { code } } }", {"id": str(installation.pk)}
    )
    assert uninstall.payload("uninstallPlugin")["errors"] == [{"code": "NOT_FOUND"}]
    listing = client.execute(
        "query($t: ID!) { installations(tenantId: $t) { totalCount } }", {"t": str(world.tenant_a.pk)}
    )
    assert listing.body["data"] is None and listing.errors[0]["extensions"]["code"] == "NOT_FOUND"
    installation.refresh_from_db()
    grant.refresh_from_db()
    assert installation.is_active and grant.revoked_at is None


def test_only_requested_and_known_capabilities_can_be_granted(world, gql_for, installation):
    admin = gql_for(world.admin_a)
    not_requested = admin.execute(GRANT, {"i": str(installation.pk), "c": "artifacts:write"}).payload(
        "grantCapability"
    )
    assert [(e["code"], e["field"]) for e in not_requested["errors"]] == [
        ("CAPABILITY_NOT_REQUESTED", "capability")
    ]
    unknown = admin.execute(GRANT, {"i": str(installation.pk), "c": "network:open"}).payload(
        "grantCapability"
    )
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [("INVALID", "capability")]
    services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    twice = admin.execute(GRANT, {"i": str(installation.pk), "c": "evidence:read"}).payload("grantCapability")
    assert [e["code"] for e in twice["errors"]] == ["GRANT_EXISTS"]
    assert CapabilityGrant.objects.count() == 1


def test_tenant_maximum_grant_lifetime(world, gql_for, installation):
    TenantPolicy.objects.create(tenant=world.tenant_a, max_grant_lifetime=dt.timedelta(days=7))
    admin = gql_for(world.admin_a)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with clock.frozen(now):
        too_long = admin.execute(
            GRANT,
            {"i": str(installation.pk), "c": "evidence:read", "e": (now + dt.timedelta(days=8)).isoformat()},
        ).payload("grantCapability")
        assert [(e["code"], e["field"]) for e in too_long["errors"]] == [
            ("GRANT_LIFETIME_EXCEEDED", "expiresAt")
        ]
        forced = admin.execute(GRANT, {"i": str(installation.pk), "c": "evidence:read"}).payload(
            "grantCapability"
        )
    assert forced["errors"] == []
    assert dt.datetime.fromisoformat(forced["grant"]["expiresAt"]) == now + dt.timedelta(days=7)


def test_install_refuses_unpublished_versions_and_duplicates(
    world, gql_for, publisher_kit, reader_plugin, reader_v1
):
    publisher_kit.upload(reader_plugin, "1.1.0")  # a draft
    admin = gql_for(world.admin_a)
    draft = admin.execute(INSTALL, {"t": str(world.tenant_a.pk), "p": str(reader_plugin.pk), "v": "1.1.0"})
    assert [(e["code"], e["field"]) for e in draft.payload("installPlugin")["errors"]] == [
        ("NOT_INSTALLABLE", "version")
    ]
    ok = admin.execute(INSTALL, {"t": str(world.tenant_a.pk), "p": str(reader_plugin.pk), "v": "1.0.0"})
    assert ok.payload("installPlugin")["installation"]["pinnedVersion"] == {"version": "1.0.0"}
    again = admin.execute(INSTALL, {"t": str(world.tenant_a.pk), "p": str(reader_plugin.pk)})
    assert [e["code"] for e in again.payload("installPlugin")["errors"]] == ["ALREADY_INSTALLED"]
    assert Installation.objects.count() == 1


def test_config_is_validated_against_the_manifest_schema(world, gql_for, publisher_kit, world_staff=None):
    from registry import services as registry_services

    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="cfg", name="Cfg"
    )
    manifest = manifest_for(
        "cfg",
        "1.0.0",
        config_schema={
            "type": "object",
            "properties": {"depth": {"type": "integer", "maximum": 5}},
            "additionalProperties": False,
        },
    )
    publisher_kit.publish(plugin, "1.0.0", reviewer=world.staff, manifest=manifest)
    admin = gql_for(world.admin_a)
    bad = admin.execute(INSTALL, {"t": str(world.tenant_a.pk), "p": str(plugin.pk), "c": '{"depth": 9}'})
    assert [(e["code"], e["field"]) for e in bad.payload("installPlugin")["errors"]] == [
        ("CONFIG_INVALID", "config.depth")
    ]
    good = admin.execute(INSTALL, {"t": str(world.tenant_a.pk), "p": str(plugin.pk), "c": '{"depth": 3}'})
    assert good.payload("installPlugin")["errors"] == []
    assert Installation.objects.get().config == {"depth": 3}


@pytest.mark.parametrize(
    ("query", "variables", "field", "code", "error_field"),
    [
        (INSTALL, {"t": "bad", "p": "bad"}, "installPlugin", "INVALID", "tenantId"),
        (INSTALL, {"p": "bad"}, "installPlugin", "INVALID", "pluginId"),
        (INSTALL, {"p": "00000000-0000-4000-8000-000000000000"}, "installPlugin", "NOT_FOUND", "pluginId"),
        (INSTALL, {"v": "not-semver"}, "installPlugin", "INVALID", "version"),
        (INSTALL, {"c": "[1, 2]"}, "installPlugin", "CONFIG_INVALID", "config"),
        (GRANT, {"i": "nope", "c": "evidence:read"}, "grantCapability", "INVALID", "installationId"),
        (GRANT, {"c": "x" * 5000}, "grantCapability", "TOO_LONG", "capability"),
        (
            GRANT,
            {"c": "evidence:read", "e": "2000-01-01T00:00:00+00:00"},
            "grantCapability",
            "INVALID",
            "expiresAt",
        ),
        (REVOKE, {"id": "00000000-0000-4000-8000-000000000000"}, "revokeCapabilityGrant", "NOT_FOUND", "id"),
    ],
)
def test_bad_input_is_typed_and_writes_nothing(
    world, gql_for, reader_v1, installation, query, variables, field, code, error_field
):
    client = gql_for(world.admin_a)
    defaults = {"t": str(world.tenant_a.pk), "p": str(reader_v1.plugin_id), "i": str(installation.pk)}
    counts = (
        Installation.objects.count(),
        CapabilityGrant.objects.count(),
        InstallationEvent.objects.count(),
    )
    payload = client.execute(query, {**defaults, **variables}).payload(field)
    assert (payload["errors"][0]["code"], payload["errors"][0]["field"]) == (code, error_field)
    assert counts == (
        Installation.objects.count(),
        CapabilityGrant.objects.count(),
        InstallationEvent.objects.count(),
    )
