"""``<field>__any_of=values``: ``__in`` with the values as one array parameter on PostgreSQL.

Django renders ``__in`` as ``IN (%s, %s, …)``: one placeholder per value, each value run through the lookup's
per-value preparation and expression checks, and psycopg (client-side binding) splitting the query text at
every placeholder and quoting each value into it. A page of 100 listings does that for 100 ids in two
queries, a cost per listing (README, "Marketplace"). ``= ANY(%s)`` with one list parameter (psycopg adapts
it to an array of the values' type) has the same meaning — NULLs never match, duplicates do not matter —
and prepares each value once, in one loop. Other databases (SQLite) get ``__in``'s SQL.

Registered on every field (and, for relations, on ``ForeignObject`` as ``__in`` is) by ``CoreConfig.ready``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models.expressions import ColPairs
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In


class _ArrayParameter:
    """``__in``'s lookup, rendered on PostgreSQL as ``= ANY(%s)`` with one list parameter."""

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        # A subquery, expressions or a multi-column relation: __in's SQL.
        if not self.rhs_is_direct_value() or isinstance(self.lhs, ColPairs):
            return super().as_sql(compiler, connection)
        try:
            values = [value for value in dict.fromkeys(self.rhs) if value is not None]
        except TypeError:  # unhashable values: __in's SQL
            return super().as_sql(compiler, connection)
        if not values:
            raise EmptyResultSet
        field = self.lhs.output_field
        array = [field.get_db_prep_value(value, connection, prepared=True) for value in values]
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs_sql} = ANY(%s)", (*lhs_params, array)


class AnyOf(_ArrayParameter, In):
    lookup_name = "any_of"


class RelatedAnyOf(_ArrayParameter, RelatedIn):
    lookup_name = "any_of"
