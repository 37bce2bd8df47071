"""Recording audit events. Called inside the transaction of the change, so both commit or neither."""

from __future__ import annotations

from typing import Any

from django.db import models

from argus_plugins.core.request_context import client_address, current_request_id

from .models import AuditEvent


def tenant_of(instance: Any) -> Any:
    if instance is not None and instance._meta.label == "tenancy.Tenant":
        return instance.pk
    for path in ("tenant_id", "installation.tenant_id", "execution.tenant_id"):
        target = instance
        for part in path.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        if target is not None:
            return target
    return None



def record(
    action: str,
    *,
    actor: Any,
    request: Any = None,
    target: models.Model | None = None,
    tenant_id: Any = None,
    changes: dict[str, Any] | None = None,
    target_type: str = "",
    target_id: str = "",
) -> AuditEvent:
    actor = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=actor,
        actor_username=actor.username if actor else "",
        tenant_id=tenant_id if tenant_id is not None else tenant_of(target),
        action=action[:120],
        target_type=target_type or (target._meta.label if target is not None else ""),
        target_id=target_id or (str(target.pk) if target is not None else ""),
        request_id=getattr(request, "request_id", "") or current_request_id.get().strip("-"),
        client_address=client_address(request),
        changes=changes or {},
    )


def record_mutation(
    *, name: str, actor: Any, request: Any, target: models.Model | None, input_tenant_id: Any, changes: dict
) -> AuditEvent:
    """The ``core.mutation_succeeded`` hook: one event per successful mutation, attributed to the target's
    tenant, or else to the tenant the mutation named."""
    tenant_id = tenant_of(target) if target is not None else None
    return record(
        f"graphql.{name}",
        actor=actor,
        request=request,
        target=target,
        tenant_id=tenant_id if tenant_id is not None else input_tenant_id,
        changes=changes,
    )


def record_admin_change(*, action: str, request: Any, target: models.Model, changes: dict) -> AuditEvent:
    """The ``core.admin_changed`` hook: one event per admin addition, change, deletion or action."""
    return record(action, actor=request.user, request=request, target=target, changes=changes)

