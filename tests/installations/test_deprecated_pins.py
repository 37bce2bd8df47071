"""Pinning a DEPRECATED version is an explicit choice: refused by default, with the version to use instead."""

from installations.models import Installation
from registry import services as registry_services
from tests.support.publishing import manifest_for

INSTALL = """mutation($t: ID!, $p: ID!, $v: String, $allow: Boolean) {
  installPlugin(tenantId: $t, pluginId: $p, version: $v, allowDeprecated: $allow) {
    installation { id pinnedVersion { version status } } errors { code field message } } }"""
UPDATE = """mutation($id: ID!, $v: String, $allow: Boolean) {
  updateInstallation(id: $id, version: $v, allowDeprecated: $allow) {
    installation { pinnedVersion { version } } errors { code field message } } }"""


def _deprecated_v1_and_v2(world, publisher_kit, reader_plugin, reader_v1):
    manifest = manifest_for("reader", "2.0.0", capabilities=["evidence:read"])
    publisher_kit.publish(reader_plugin, "2.0.0", reviewer=world.staff, manifest=manifest)
    registry_services.deprecate_version(actor=publisher_kit.owner, version_id=reader_v1.pk, reason="slow parser")


def test_pinning_a_deprecated_version_is_refused_with_the_replacement(
    world, gql_for, publisher_kit, reader_plugin, reader_v1
):
    _deprecated_v1_and_v2(world, publisher_kit, reader_plugin, reader_v1)
    admin = gql_for(world.admin_a)
    variables = {"t": str(world.tenant_a.pk), "p": str(reader_plugin.pk), "v": "1.0.0"}
    refused = admin.execute(INSTALL, variables).payload("installPlugin")
    assert refused["installation"] is None
    (error,) = refused["errors"]
    assert (error["code"], error["field"]) == ("VERSION_DEPRECATED", "version")
    assert "slow parser" in error["message"] and "Use 2.0.0 instead" in error["message"]
    assert not Installation.objects.filter(tenant=world.tenant_a).exists()

    allowed = admin.execute(INSTALL, {**variables, "allow": True}).payload("installPlugin")
    assert allowed["errors"] == []
    assert allowed["installation"]["pinnedVersion"] == {"version": "1.0.0", "status": "DEPRECATED"}


def test_repinning_to_a_deprecated_version_needs_the_flag_too(
    world, gql_for, publisher_kit, reader_plugin, reader_v1
):
    _deprecated_v1_and_v2(world, publisher_kit, reader_plugin, reader_v1)
    admin = gql_for(world.admin_a)
    installed = admin.execute(
        INSTALL, {"t": str(world.tenant_a.pk), "p": str(reader_plugin.pk), "v": "2.0.0"}
    ).payload("installPlugin")
    installation_id = installed["installation"]["id"]
    refused = admin.execute(UPDATE, {"id": installation_id, "v": "1.0.0"}).payload("updateInstallation")
    assert [e["code"] for e in refused["errors"]] == ["VERSION_DEPRECATED"]
    assert Installation.objects.get(pk=installation_id).pinned_version.version == "2.0.0"
    allowed = admin.execute(UPDATE, {"id": installation_id, "v": "1.0.0", "allow": True}).payload(
        "updateInstallation"
    )
    assert allowed == {"installation": {"pinnedVersion": {"version": "1.0.0"}}, "errors": []}
