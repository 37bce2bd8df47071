"""The platform's single source of "now", so tests can move time precisely (to the microsecond).

Every rule that depends on time (grant expiry, entitlements, schedules) asks ``clock.now()``; tests use
``clock.frozen(instant)`` instead of patching ``django.utils.timezone``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from django.utils import timezone

_frozen_at: list[dt.datetime] = []


def now() -> dt.datetime:
    """The current instant, timezone-aware in UTC."""
    if _frozen_at:
        return _frozen_at[-1]
    return timezone.now()


@contextlib.contextmanager
def frozen(instant: dt.datetime) -> Iterator[None]:
    """Pin ``now()`` to ``instant`` (must be timezone-aware) for the duration of the block."""
    if timezone.is_naive(instant):
        raise ValueError("frozen() needs a timezone-aware datetime")
    _frozen_at.append(instant.astimezone(dt.UTC))
    try:
        yield
    finally:
        _frozen_at.pop()
