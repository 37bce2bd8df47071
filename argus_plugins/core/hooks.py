"""Upward reactions without upward imports.

A lower layer names an extension point (a constant in its own ``hooks.py``) and calls :func:`run_hooks`;
the composition root lists in ``settings.ARGUS_HOOKS`` the callables of higher apps that answer it, loaded
once with ``import_string`` — the way Saleor's plugin manager and NetBox's ``EVENTS_PIPELINE`` work. The
lower layer therefore never imports, or names, the app that reacts. Hooks run synchronously, in the
caller's transaction: a run's events commit with its terminal status, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

#: After a GraphQL mutation succeeded, inside its transaction. Keyword arguments: ``name`` (the mutation's
#: field name), ``actor``, ``request``, ``target`` (the payload's model instance or None),
#: ``input_tenant_id`` (the ``tenantId`` argument, if any), ``changes`` (core.snapshots.diff).
MUTATION_SUCCEEDED = "core.mutation_succeeded"
#: After a Django admin addition, change, deletion or action, inside its transaction. Keyword arguments:
#: ``action`` ("admin.<app>.<model>.<verb>"), ``request``, ``target``, ``changes``.
ADMIN_CHANGED = "core.admin_changed"


@cache
def hooks(point: str) -> tuple[Callable[..., Any], ...]:
    """The callables registered for ``point``, in their settings order (none: an empty tuple)."""
    return tuple(import_string(path) for path in settings.ARGUS_HOOKS.get(point, ()))


def run_hooks(point: str, *args: Any, **kwargs: Any) -> list[Any]:
    """Call every hook of ``point`` with the same arguments; their results, in order."""
    return [hook(*args, **kwargs) for hook in hooks(point)]


def _forget_hooks(*, setting: str, **kwargs: Any) -> None:
    if setting == "ARGUS_HOOKS":  # tests that override the hooks see their own list
        hooks.cache_clear()


setting_changed.connect(_forget_hooks)
