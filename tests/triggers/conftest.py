"""Fixtures for triggers: plugins published and installed in tenant A (or B), and helpers that finish
executions in-process and run the after-commit event hooks without any worker."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from argus_plugins.core import clock
from execution.lifecycle import transition
from execution.models import Execution, ExecutionStatus
from execution.recording import finish
from installations import services as installation_services
from registry import services as registry_services
from tests.support.publishing import manifest_for
from tests.triggers.receiver import running_receiver
from triggers import events as trigger_events
from triggers.models import Event


class PluginFactory:
    """Publish a plugin with the given manifest extras, install it in a tenant, grant what it requests."""

    def __init__(self, world: Any, kit: Any) -> None:
        self.world, self.kit, self.count = world, kit, 0

    def __call__(
        self,
        *,
        capabilities: list[str] | None = None,
        grant: bool = True,
        tenant: str = "a",
        plugin: Any = None,
        **manifest: Any,
    ):
        if plugin is None:
            self.count += 1
            slug = f"t{self.count}"
            plugin = registry_services.create_plugin(
                actor=self.kit.owner, publisher_id=self.kit.publisher.pk, slug=slug, name=slug
            )
            full = manifest_for(slug, "1.0.0", capabilities=capabilities or [], **manifest)
            self.kit.publish(plugin, "1.0.0", reviewer=self.world.staff, manifest=full)
        admin = self.world.admin_a if tenant == "a" else self.world.admin_b
        tenant_obj = self.world.tenant_a if tenant == "a" else self.world.tenant_b
        installation = installation_services.install_plugin(
            actor=admin, tenant_id=tenant_obj.pk, plugin_id=plugin.pk
        )
        if grant:
            for capability in capabilities or []:
                installation_services.grant_capability(
                    actor=admin, installation_id=installation.pk, capability=capability
                )
        return installation


@pytest.fixture
def plugin_factory(world: Any, publisher_kit: Any) -> PluginFactory:
    return PluginFactory(world, publisher_kit)


def complete(execution: Execution, output: Any = None, status: ExecutionStatus = ExecutionStatus.SUCCEEDED):
    """Finish a QUEUED run as a worker would (RUNNING, then ``status``). Returns the events ``finish``
    stored with it, in the order they were stored."""
    transition(execution, ExecutionStatus.RUNNING, expected=ExecutionStatus.QUEUED, started_at=clock.now())
    fields = {"output": output} if status == ExecutionStatus.SUCCEEDED else {"error_reason": "boom"}
    finish(execution, status, expected=ExecutionStatus.RUNNING, **fields)
    return list(Event.objects.filter(source_execution=execution).order_by("created_at", "id"))


def run_trigger_hooks(pending: list[Any]) -> list[Any]:
    """Run the triggers hooks among captured on-commit callbacks (never the Celery publishing ones)."""
    results = []
    for entry in pending:
        callback = entry[1] if isinstance(entry, tuple) else entry
        if isinstance(callback, functools.partial) and callback.func is trigger_events._safely:
            emitter, object_id = callback.args
            outcome = emitter(object_id)
            results.extend(outcome if isinstance(outcome, list) else [outcome] if outcome else [])
    return results


@pytest.fixture
def completer() -> Callable[..., list[Any]]:
    return complete


@pytest.fixture
def receiver(settings):
    """A local webhook receiver, on a host the webhook URL policy allows."""
    settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with running_receiver() as server:
        yield server
