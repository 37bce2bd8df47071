"""``timestamptz`` columns loaded by psycopg's C loader on PostgreSQL connections in UTC.

Django (with psycopg 3) registers its own ``timestamptz`` loader on every connection: psycopg's *Python*
text loader (a regular expression, arithmetic and ``astimezone`` per value) followed by
``replace(tzinfo=connection.timezone)``. It exists for connections whose Python time zone differs from the
session's. Here ``USE_TZ`` is on and ``TIME_ZONE`` is UTC: Django sets the session's ``TimeZone`` to UTC
when it connects and wants ``datetime.timezone.utc`` on every value — exactly what psycopg's C loader
returns for a UTC session, about ten times cheaper (≈ 0.3 µs a value against ≈ 4 µs). A marketplace page
reads about ten timestamps per listing (README, "Marketplace").

:func:`use_c_timestamptz_loader` (connected to ``connection_created`` by ``CoreConfig.ready``) registers
:class:`UtcTimestamptzLoader` on a new connection when both sides are UTC and psycopg's C implementation
is installed; otherwise Django's own loader stays. A loader made for a session that is not in UTC (someone
ran ``SET TIME ZONE``) does what Django's does.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

try:
    import psycopg
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg.adapt import Loader
    from psycopg.postgres import types as postgres_types
    from psycopg.pq import Format
except ImportError:  # psycopg 2 or no PostgreSQL driver: nothing to do
    psycopg = None  # type: ignore[assignment]
    Loader = object  # type: ignore[assignment,misc]
    BaseTzLoader = object  # type: ignore[assignment,misc]


class _DjangoUtcLoader(BaseTzLoader):  # type: ignore[misc,valid-type]
    """Django's loader for a UTC connection (what ``register_tzloader(datetime.timezone.utc, …)`` makes)."""

    timezone = datetime.UTC


class UtcTimestamptzLoader(Loader):  # type: ignore[misc,valid-type]
    """psycopg's C ``timestamptz`` text loader for a UTC session; Django's loader for any other session.

    ``timezone`` is what Django's ``create_cursor`` compares with the connection's time zone before
    registering its own loader on each cursor (equal: it leaves this one in place).
    """

    timezone = datetime.UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        connection = getattr(context, "connection", None)
        if connection is not None and connection.info.timezone is datetime.UTC:
            # psycopg's row loading calls ``loader.load``: the C loader's method itself, no Python frame.
            self.load = _c_loader_class()(oid, context).load  # type: ignore[method-assign]
        else:
            self.load = _DjangoUtcLoader(oid, context).load  # type: ignore[method-assign]

    def load(self, data: Any) -> datetime.datetime:  # replaced per instance in __init__
        raise NotImplementedError


def _c_loader_class() -> Any:
    return psycopg.adapters.get_loader(postgres_types["timestamptz"].oid, Format.TEXT)


def c_loader_available() -> bool:
    """psycopg with its C implementation (psycopg-binary or psycopg-c), whose default loader is in C."""
    return psycopg is not None and psycopg.pq.__impl__ in ("c", "binary")


def use_c_timestamptz_loader(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: register :class:`UtcTimestamptzLoader` on a new PostgreSQL
    connection whose Python time zone is UTC."""
    if connection.vendor != "postgresql" or not c_loader_available():
        return
    if connection.timezone is not datetime.UTC or not hasattr(connection.connection, "adapters"):
        return
    connection.connection.adapters.register_loader("timestamptz", UtcTimestamptzLoader)
