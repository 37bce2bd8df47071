"""A model instance's field values as plain JSON-safe data, and the difference between two of them: what
the change-recording hooks (the audit trail) receive. Secrets never leave here."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.db import models

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
