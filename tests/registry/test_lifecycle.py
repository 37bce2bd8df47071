"""One test per forbidden transition, for versions and plugins, plus the allowed paths."""

import itertools

import pytest

from argus_plugins.core.errors import DomainError
from registry.lifecycle import PLUGIN_TRANSITIONS, VERSION_TRANSITIONS, transition_plugin, transition_version
from registry.models import LifecycleEvent, PluginStatus, PluginVersion, VersionStatus

FORBIDDEN_VERSION = [
    (current, requested)
    for current, requested in itertools.product(VersionStatus.values, VersionStatus.values)
    if requested not in VERSION_TRANSITIONS[current]
]
FORBIDDEN_PLUGIN = [
    (current, requested)
    for current, requested in itertools.product(PluginStatus.values, PluginStatus.values)
    if requested not in PLUGIN_TRANSITIONS[current]
]


def test_the_tables_are_the_documented_lifecycle():
    assert {
        "DRAFT": {"IN_REVIEW"},
        "IN_REVIEW": {"PUBLISHED", "REJECTED"},
        "PUBLISHED": {"DEPRECATED"},
        "DEPRECATED": {"ARCHIVED"},
        "REJECTED": set(),
        "ARCHIVED": set(),
    } == VERSION_TRANSITIONS
    assert {"ACTIVE": {"DEPRECATED"}, "DEPRECATED": {"ARCHIVED"}, "ARCHIVED": set()} == PLUGIN_TRANSITIONS


@pytest.fixture
def draft(world, publisher_kit):
    from registry import services

    plugin = services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="lc", name="LC"
    )
    return publisher_kit.upload(plugin, "1.0.0")


@pytest.mark.parametrize(("current", "requested"), FORBIDDEN_VERSION)
def test_forbidden_version_transition(draft, world, current, requested):
    PluginVersion.objects.filter(pk=draft.pk).update(status=current)
    events_before = LifecycleEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        transition_version(draft, requested, actor=world.staff)
    assert caught.value.code.value == "INVALID_TRANSITION"
    assert current in caught.value.message and requested in caught.value.message
    assert PluginVersion.objects.get(pk=draft.pk).status == current
    assert LifecycleEvent.objects.count() == events_before


@pytest.mark.parametrize(("current", "requested"), FORBIDDEN_PLUGIN)
def test_forbidden_plugin_transition(draft, world, current, requested):
    plugin = draft.plugin
    type(plugin).objects.filter(pk=plugin.pk).update(status=current)
    with pytest.raises(DomainError) as caught:
        transition_plugin(plugin, requested, actor=world.staff)
    assert caught.value.code.value == "INVALID_TRANSITION"
    plugin.refresh_from_db()
    assert plugin.status == current


def test_full_version_lifecycle_is_recorded(draft, world, publisher_kit):
    from registry import services

    owner = publisher_kit.owner
    services.submit_for_review(actor=owner, version_id=draft.pk)
    services.approve_version(actor=world.staff, version_id=draft.pk, notes="looks fine")
    services.deprecate_version(actor=owner, version_id=draft.pk, reason="superseded")
    version = services.archive_version(actor=owner, version_id=draft.pk)
    assert version.status == VersionStatus.ARCHIVED
    history = [
        (e.from_status, e.to_status, e.actor.username, e.note) for e in version.history.order_by("at", "id")
    ]
    assert history == [
        ("DRAFT", "IN_REVIEW", "dana-developer", ""),
        ("IN_REVIEW", "PUBLISHED", "sam-staff", "looks fine"),
        ("PUBLISHED", "DEPRECATED", "dana-developer", "superseded"),
        ("DEPRECATED", "ARCHIVED", "dana-developer", ""),
    ]
    assert version.reviewer == world.staff and version.published_at is not None


def test_concurrent_second_approval_loses(draft, world, publisher_kit):
    from registry import services

    services.submit_for_review(actor=publisher_kit.owner, version_id=draft.pk)
    stale = PluginVersion.objects.get(pk=draft.pk)
    services.approve_version(actor=world.staff, version_id=draft.pk)
    with pytest.raises(DomainError) as caught:
        transition_version(stale, VersionStatus.REJECTED, actor=world.staff, note="late")
    assert "PUBLISHED" in caught.value.message
    assert PluginVersion.objects.get(pk=draft.pk).status == VersionStatus.PUBLISHED
