"""Per-request context (the request id) reachable from logging without passing the request around."""

from __future__ import annotations

import contextvars

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("current_request_id", default="-")
