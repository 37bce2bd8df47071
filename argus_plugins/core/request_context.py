"""Per-request context (the request id) reachable from logging without passing the request around, and
the client's address as every layer (rate limits, the audit trail) reads it."""

from __future__ import annotations

import contextvars
from typing import Any

from django.conf import settings

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("current_request_id", default="-")


def client_address(request: Any) -> str | None:
    """The caller's IP: ``X-Forwarded-For``'s first hop only when the deployment trusts its proxy."""
    if request is None:
        return None
    if settings.ARGUS_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR") or None
