"""Recording audit events. Called inside the transaction of the change, so both commit or neither."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.conf import settings
from django.db import models

from argus_plugins.core.request_context import current_request_id

from .models import AuditEvent

#: Field names whose values never enter the audit log.
SECRET_FIELDS = {"password", "token_hash", "secret", "secret_hash", "signing_secret", "content"}
MAX_VALUE_CHARS = 500


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value if not isinstance(value, str) else value[:MAX_VALUE_CHARS]
    if isinstance(value, dt.datetime | dt.date | uuid.UUID | decimal.Decimal | float):
        return str(value) if not isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, dict | list):
        text = str(value)
        return value if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"
    return str(value)[:MAX_VALUE_CHARS]


def snapshot(instance: models.Model | None) -> dict[str, Any]:
    """The concrete field values of ``instance`` (foreign keys as ids), secrets left out."""
    if instance is None:
        return {}
    values = {}
    for field in instance._meta.concrete_fields:
        if field.name in SECRET_FIELDS or "secret" in field.name or field.name.endswith("_hash"):
            continue
        values[field.attname] = _plain(getattr(instance, field.attname))
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


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


def client_address(request: Any) -> str | None:
    if request is None:
        return None
    if settings.ARGUS_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR") or None


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
