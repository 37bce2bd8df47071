"""The lifecycle state machines of plugin versions and plugins: one table each, one function applying it.

Transitions are conditional updates (``UPDATE … WHERE status = <from>``), so two concurrent reviewers
cannot both move the same version; the loser gets INVALID_TRANSITION naming the current state.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from argus_plugins.core import clock
from argus_plugins.core.errors import DomainError
from argus_plugins.core.hooks import run_hooks

from .error_codes import RegistryErrorCode
from .hooks import PLUGINS_CHANGED
from .models import LifecycleEvent, Plugin, PluginStatus, PluginVersion, VersionStatus

V = VersionStatus
VERSION_TRANSITIONS: dict[str, frozenset[str]] = {
    V.DRAFT: frozenset({V.IN_REVIEW}),
    V.IN_REVIEW: frozenset({V.PUBLISHED, V.REJECTED}),
    V.PUBLISHED: frozenset({V.DEPRECATED}),
    V.DEPRECATED: frozenset({V.ARCHIVED}),
    V.REJECTED: frozenset(),  # a rejected version stays; the publisher uploads a new version
    V.ARCHIVED: frozenset(),
}

P = PluginStatus
PLUGIN_TRANSITIONS: dict[str, frozenset[str]] = {
    P.ACTIVE: frozenset({P.DEPRECATED}),
    P.DEPRECATED: frozenset({P.ARCHIVED}),
    P.ARCHIVED: frozenset(),
}


def _refuse(kind: str, current: str, requested: str) -> DomainError:
    return DomainError(
        RegistryErrorCode.INVALID_TRANSITION,
        f"Cannot move this {kind} from {current} to {requested}.",
        "id",
    )


@transaction.atomic
def transition_version(
    version: PluginVersion, to_status: VersionStatus, *, actor: Any, note: str = "", **fields: Any
) -> PluginVersion:
    """Move ``version`` to ``to_status`` if the table allows it, recording who, when and why.

    ``fields`` are the columns that change together with the status (reviewer, timestamps...).
    """
    current = PluginVersion.objects.filter(pk=version.pk).values_list("status", flat=True).first()
    if current is None or to_status not in VERSION_TRANSITIONS[current]:
        raise _refuse("version", current or "?", to_status)
    updated = PluginVersion.objects.filter(pk=version.pk, status=current).update(status=to_status, **fields)
    if updated != 1:
        raise _refuse("version", current, to_status)
    LifecycleEvent.objects.create(
        plugin_id=version.plugin_id,
        version=version,
        from_status=current,
        to_status=to_status,
        actor=actor,
        note=note,
        at=clock.now(),
    )
    run_hooks(PLUGINS_CHANGED, [version.plugin_id])  # e.g. the marketplace's figures, in this commit
    version.refresh_from_db()
    return version


@transaction.atomic
def transition_plugin(plugin: Plugin, to_status: PluginStatus, *, actor: Any, note: str = "") -> Plugin:
    current = Plugin.objects.filter(pk=plugin.pk).values_list("status", flat=True).first()
    if current is None or to_status not in PLUGIN_TRANSITIONS[current]:
        raise _refuse("plugin", current or "?", to_status)
    if Plugin.objects.filter(pk=plugin.pk, status=current).update(status=to_status) != 1:
        raise _refuse("plugin", current, to_status)
    LifecycleEvent.objects.create(
        plugin=plugin, from_status=current, to_status=to_status, actor=actor, note=note, at=clock.now()
    )
    run_hooks(PLUGINS_CHANGED, [plugin.pk])
    plugin.refresh_from_db()
    return plugin
