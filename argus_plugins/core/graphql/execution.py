"""graphql-core's execution, minus two per-field costs that have nothing to do in this project.

A list page resolves tens of fields per node, most of them a scalar read off the parent object:

- :class:`ArgumentsMiddlewareManager` wraps the project's graphene middleware around the fields that take
  arguments only. The one middleware (``input_cleaning``) checks arguments and hands every other field
  straight on, so wrapping those only added two calls per field.
- :class:`ArgusExecutionContext` answers graphql-core's "is this awaitable?" (asked two or three times per
  field) at once for the plain values resolvers return; anything else gets graphql-core's own check.
"""

from __future__ import annotations

import datetime
import decimal
import threading
import uuid
import weakref
from typing import Any

from graphql import ExecutionContext, GraphQLSchema, MiddlewareManager, is_object_type
from graphql.pyutils import is_awaitable as graphql_is_awaitable

#: Types a synchronous resolver returns that are never awaitable: checked by exact type, before
#: graphql-core's general check (two type tests and an attribute lookup per value).
_PLAIN_TYPES = frozenset(
    {str, int, float, bool, type(None), list, tuple, dict, uuid.UUID, decimal.Decimal}
    | {datetime.datetime, datetime.date}
)


def is_awaitable(value: Any) -> bool:
    return type(value) not in _PLAIN_TYPES and graphql_is_awaitable(value)


class ArgusExecutionContext(ExecutionContext):
    """graphql-core's execution context with the quicker awaitable check."""

    is_awaitable = staticmethod(is_awaitable)


_argument_resolvers: weakref.WeakKeyDictionary[GraphQLSchema, frozenset[Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def argument_resolvers(schema: GraphQLSchema) -> frozenset[Any]:
    """The resolvers of the schema's fields that take arguments (worked out once per schema)."""
    found = _argument_resolvers.get(schema)
    if found is None:
        with _lock:
            found = _argument_resolvers.get(schema)
            if found is None:
                found = _argument_resolvers[schema] = frozenset(
                    field.resolve
                    for named_type in schema.type_map.values()
                    if is_object_type(named_type)
                    for field in named_type.fields.values()  # type: ignore[union-attr]
                    if field.args and field.resolve is not None
                )
    return found


class ArgumentsMiddlewareManager(MiddlewareManager):
    """graphql-core's middleware manager, wrapping only the resolvers of fields that take arguments (a
    resolver shared with an argument-less field is wrapped there too, where the middleware passes)."""

    def __init__(self, schema: GraphQLSchema, *middlewares: Any) -> None:
        super().__init__(*middlewares)
        self._argument_resolvers = argument_resolvers(schema)

    def get_field_resolver(self, field_resolver: Any) -> Any:
        if field_resolver not in self._argument_resolvers:
            return field_resolver
        return super().get_field_resolver(field_resolver)
