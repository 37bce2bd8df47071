"""Selection sets completed by one function per object type, when every field in them is a plain read.

A list page's nodes are trees of objects whose fields are read off the object (graphene's default resolver,
or a :func:`~argus_plugins.core.graphql.execution.source_only` resolver) and serialized. graphql-core
executes every one of them through the same general steps — a path, a resolve info, the completion
dispatch, the awaitable checks, the result dict — which cost more than the reads themselves (a page of 100
marketplace listings completes about 4 500 fields).

:class:`~argus_plugins.core.graphql.execution.ArgusExecutionContext` compiles a selection set on an object
type whose every field is such a read (a leaf, a list of leaves, an object or a list of objects whose own
selection compiles, or ``__typename``) into one function: for each field, a *reader* closure made for
exactly that field (where to read it, which scalar it is, whether it may be null). The function returns
the object's completed fields, in the selection's order, or raises :data:`UNUSUAL` as soon as anything
needs graphql-core's own checks: a null in a non-null field, a value the type refuses, an exception, an
awaitable, an object of another type. The execution context then completes that object through its
general path, which reads it again and answers, errors included (the reads have no side effect, so
reading twice changes nothing but time). What the compiled function returns is therefore exactly what the
general path returns for the same object; tests/core/test_graphql_execution.py compares the two on every
unusual case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphql import GraphQLBoolean, GraphQLID, GraphQLObjectType, GraphQLString, Undefined
from graphql.pyutils import is_awaitable as graphql_is_awaitable

#: A field's reader: its completed value on the source, or raises UNUSUAL.
Reader = Callable[[Any], Any]


class Unusual(Exception):
    """Raised by a compiled selection when an object needs graphql-core's own completion."""


#: One instance, raised without a traceback being built for each object.
UNUSUAL = Unusual()

#: Scalars whose serializer returns a value of exactly this type unchanged (graphql-core's serialize_string,
#: serialize_id and serialize_boolean): the reader skips the call for it.
_UNCHANGED: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


def leaf_reader(
    key: str | None,
    default: Any,
    resolver: Callable[[Any, Any], Any] | None,
    leaf_type: Any,
    serialize: Callable[[Any], Any],
    non_null: bool,
    plain_types: frozenset[type],
) -> Reader:
    """The reader of a scalar or enum field: graphene's default resolver's read (``key``, ``default``) or
    the field's source-only ``resolver``, serialized by ``serialize`` (``leaf_type``'s)."""
    unchanged = _UNCHANGED.get(leaf_type)

    def read(source: Any) -> Any:
        if resolver is not None:
            value = resolver(source, None)
        elif isinstance(source, dict):
            value = source.get(key, default)
        else:
            value = getattr(source, key, default)
        if value is None:
            if non_null:
                raise UNUSUAL
            return None
        if type(value) is unchanged:
            return value
        if type(value) not in plain_types and graphql_is_awaitable(value):
            raise UNUSUAL
        serialized = serialize(value)
        if serialized is None or serialized is Undefined:
            raise UNUSUAL
        return serialized

    return read


def leaf_list_reader(
    key: str | None,
    default: Any,
    resolver: Callable[[Any, Any], Any] | None,
    serialize_list: Callable[[Any], Any],
    non_null: bool,
    full_path: Any,
) -> Reader:
    """The reader of a list of scalars or enums: ``serialize_list`` returns the serialized list, or
    ``full_path`` for anything unusual in it."""

    def read(source: Any) -> Any:
        if resolver is not None:
            value = resolver(source, None)
        elif isinstance(source, dict):
            value = source.get(key, default)
        else:
            value = getattr(source, key, default)
        if value is None:
            if non_null:
                raise UNUSUAL
            return None
        serialized = serialize_list(value)
        if serialized is full_path:
            raise UNUSUAL
        return serialized

    return read


def object_reader(
    key: str | None,
    default: Any,
    resolver: Callable[[Any, Any], Any] | None,
    object_type: GraphQLObjectType,
    non_null: bool,
    item_non_null: bool | None,
    complete: Callable[[Any], dict[str, Any]],
    is_known_object: Callable[[GraphQLObjectType, Any], bool],
) -> Reader:
    """The reader of an object field (``item_non_null`` None) or a list of objects: each object (not null,
    not an exception, not awaitable, known to be of ``object_type``) completed by its compiled selection
    ``complete``."""

    def read(source: Any) -> Any:
        if resolver is not None:
            value = resolver(source, None)
        elif isinstance(source, dict):
            value = source.get(key, default)
        else:
            value = getattr(source, key, default)
        if value is None:
            if non_null:
                raise UNUSUAL
            return None
        if item_non_null is None:
            if not is_known_object(object_type, value):
                raise UNUSUAL
            return complete(value)
        if type(value) not in (list, tuple):
            raise UNUSUAL
        completed = []
        for item in value:
            if item is None:
                if item_non_null:
                    raise UNUSUAL
                completed.append(None)
            elif is_known_object(object_type, item):
                completed.append(complete(item))
            else:
                raise UNUSUAL
        return completed

    return read


def constant_reader(value: Any) -> Reader:
    """The reader of ``__typename`` on an object type: its name."""

    def read(source: Any) -> Any:
        return value

    return read


def fields_completer(names: Sequence[str], readers: Sequence[Reader]) -> Callable[[Any], dict[str, Any]]:
    """The compiled selection: each response name with its reader's value, in the selection's order."""
    pairs = tuple(zip(names, readers, strict=True))

    def complete(source: Any) -> dict[str, Any]:
        return {name: read(source) for name, read in pairs}

    return complete
