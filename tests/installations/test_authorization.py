"""The one authorisation function, with a controllable clock (to the microsecond)."""

import datetime as dt

import pytest

from argus_plugins.core import clock
from installations import services
from installations.authorization import authorize
from registry import services as registry_services
from registry.models import PluginVersion
from tests.support.publishing import manifest_for

US = dt.timedelta(microseconds=1)
T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _codes(decision):
    return [(r.code.value, r.capability) for r in decision.refusals]


def test_missing_capability_is_refused(installation):
    decision = authorize(installation)
    assert not decision.allowed
    assert _codes(decision) == [("CAPABILITY_MISSING", "evidence:read")]


def test_grant_active_until_its_expiry_instant(installation, world):
    expires = T0 + dt.timedelta(days=1)
    with clock.frozen(T0):
        grant = services.grant_capability(
            actor=world.admin_a,
            installation_id=installation.pk,
            capability="evidence:read",
            expires_at=expires,
        )
    with clock.frozen(expires - US):
        decision = authorize(installation)
        assert decision.allowed and decision.capabilities == ["evidence:read"]
        assert decision.grants == (grant,)
    for instant in (expires, expires + US):
        with clock.frozen(instant):
            assert _codes(authorize(installation)) == [("CAPABILITY_EXPIRED", "evidence:read")]


def test_revoked_grant_then_regrant_keeps_history(installation, world):
    first = services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    assert authorize(installation).allowed
    services.revoke_capability_grant(actor=world.admin_a, grant_id=first.pk, reason="case closed")
    decision = authorize(installation)
    assert _codes(decision) == [("CAPABILITY_REVOKED", "evidence:read")]
    assert "case closed" in decision.summary()
    second = services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    assert second.pk != first.pk
    assert authorize(installation).grants == (second,)
    assert installation.grants.count() == 2


def test_run_specific_needs_must_be_requested(installation, world):
    services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    decision = authorize(installation, needs={"artifacts:write"})
    assert _codes(decision) == [("CAPABILITY_NOT_REQUESTED", "artifacts:write")]


def test_upgrade_requiring_a_new_capability_is_not_inherited(
    installation, world, publisher_kit, reader_plugin
):
    services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    manifest = manifest_for("reader", "2.0.0", capabilities=["evidence:read", "artifacts:write"])
    publisher_kit.publish(reader_plugin, "2.0.0", reviewer=world.staff, manifest=manifest)
    installation.refresh_from_db()
    # Following "latest", the installation now resolves to 2.0.0, which needs a grant it does not have.
    decision = authorize(installation)
    assert decision.version.version == "2.0.0"
    assert _codes(decision) == [("CAPABILITY_MISSING", "artifacts:write")]
    services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="artifacts:write"
    )
    assert authorize(installation).capabilities == ["artifacts:write", "evidence:read"]


def test_uninstalled_installation_is_refused(installation, world):
    services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    services.uninstall_plugin(actor=world.admin_a, installation_id=installation.pk)
    installation.refresh_from_db()
    assert _codes(authorize(installation)) == [("INSTALLATION_UNINSTALLED", None)]


def test_deprecated_pinned_version_runs_with_warning_archived_does_not(
    installation, world, reader_v1, publisher_kit
):
    services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    services.update_installation(actor=world.admin_a, installation_id=installation.pk, version="1.0.0")
    registry_services.deprecate_version(actor=publisher_kit.owner, version_id=reader_v1.pk, reason="use 2.x")
    installation.refresh_from_db()
    decision = authorize(installation)
    assert decision.allowed
    assert decision.warnings == ("Version 1.0.0 is deprecated: use 2.x.",)
    registry_services.archive_version(actor=publisher_kit.owner, version_id=reader_v1.pk)
    installation.refresh_from_db()
    assert _codes(authorize(installation)) == [("VERSION_ARCHIVED", None)]


def test_revoked_signing_key_refuses_to_run(installation, world, publisher_kit):
    services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    registry_services.revoke_signing_key(
        actor=publisher_kit.owner, key_id=publisher_kit.key.pk, reason="leaked"
    )
    installation.refresh_from_db()
    assert _codes(authorize(installation)) == [("VERSION_UNTRUSTED", None)]


def test_no_published_version_left(installation, world, reader_v1, publisher_kit):
    registry_services.deprecate_version(actor=publisher_kit.owner, version_id=reader_v1.pk, reason="x")
    installation.refresh_from_db()
    assert _codes(authorize(installation)) == [("NO_PUBLISHED_VERSION", None)]


def test_platform_range_is_enforced_at_run_time(installation, world, settings):
    services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    settings.PLATFORM_VERSION = "2.0.0"
    decision = authorize(installation)
    assert _codes(decision) == [("PLATFORM_INCOMPATIBLE", None)]
    assert "2.0.0" in decision.summary() and "1.99.0" in decision.summary()


def test_only_this_module_implements_the_rules():
    """The execution engine, schedules and triggers must call authorize(), not re-check grants."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("execution", "marketplace", "ledger", "triggers")
        if (root / app).exists()
        for path in (root / app).rglob("*.py")
        if "active_at(" in path.read_text() or "is_active_at(" in path.read_text()
    ]
    assert offenders == []


def test_versions_of_other_plugins_are_rejected_loudly(installation, publisher_kit, world):
    other = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="other", name="Other"
    )
    version = publisher_kit.publish(other, "1.0.0", reviewer=world.staff)
    with pytest.raises(ValueError):
        authorize(installation, PluginVersion.objects.get(pk=version.pk))
