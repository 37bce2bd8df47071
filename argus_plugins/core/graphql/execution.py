"""graphql-core's execution, minus two per-field costs that have nothing to do in this project.

A list page resolves tens of fields per node, most of them a scalar read off the parent object:

- :class:`ArgumentsMiddlewareManager` wraps the project's graphene middleware around the fields that take
  arguments only. The one middleware (``input_cleaning``) checks arguments and hands every other field
  straight on, so wrapping those only added two calls per field.
- :class:`ArgusExecutionContext` answers graphql-core's "is this awaitable?" (asked two or three times per
  field) at once for the plain values resolvers return; anything else gets graphql-core's own check.
- It reads a *plain leaf field* — a scalar or enum field without arguments resolved by graphene's default
  resolver (an attribute or a dict key of the parent) — and serializes it directly, without the resolve
  info, argument values and completion dispatch graphql-core builds for every field (about half of a list
  page's fields are such reads), and serializes a list of scalars or enums in one loop. Anything unusual
  (a null in a non-null field, a value the scalar refuses, an exception) goes through graphql-core's own
  path again, so answers and errors are its own.
- :func:`on_fresh_data_stack` runs the execution at the start of a fresh, roomy chunk of CPython's frame
  stack. CPython before 3.13 keeps Python frames in 16 KiB chunks and frees a chunk (``munmap``) as soon as
  its first frame returns (CPython issue gh-142183, fixed in 3.13 by keeping one spare chunk): a list page's
  recursion — a few frames per field, repeated for every field of every node — that happens to straddle a
  chunk boundary maps, faults in and unmaps a chunk for every call that crosses it. Measured on a page of
  100 listings: ``price`` of every plan took ≈ 75 µs of CPU instead of ≈ 8 µs, most of the page's cost per
  listing, and where the boundary falls moves with every change to the call depth.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import functools
import sys
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from graphene.types.resolver import dict_or_attr_resolver
from graphql import (
    ExecutionContext,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    MiddlewareManager,
    Undefined,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from graphql.language import FieldNode
from graphql.pyutils import Path
from graphql.pyutils import is_awaitable as graphql_is_awaitable

#: Types a synchronous resolver returns that are never awaitable: checked by exact type, before
#: graphql-core's general check (two type tests and an attribute lookup per value).
_PLAIN_TYPES = frozenset(
    {str, int, float, bool, type(None), list, tuple, dict, uuid.UUID, decimal.Decimal}
    | {datetime.datetime, datetime.date}
)


def is_awaitable(value: Any) -> bool:
    return type(value) not in _PLAIN_TYPES and graphql_is_awaitable(value)


#: Stack slots reserved by :func:`on_fresh_data_stack`'s frame: more than a default 16 KiB chunk holds, so
#: CPython gives the frame a chunk of its own, 64 KiB, about half of it free for the frames it calls (a
#: GraphQL execution at the maximum query depth needs fewer than 3 000 slots).
FRESH_STACK_SLOTS = 4096


def on_fresh_data_stack(function: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, its frames at the start of a fresh chunk of the frame stack."""
    return function(*args, **kwargs)


if sys.version_info < (3, 13):  # later versions keep a spare chunk (gh-142183)
    on_fresh_data_stack.__code__ = on_fresh_data_stack.__code__.replace(co_stacksize=FRESH_STACK_SLOTS)


class PlainLeaf(NamedTuple):
    """How to read a plain leaf field: graphene's default resolver's key and default, the leaf type."""

    key: str
    default: Any
    leaf_type: GraphQLLeafType
    non_null: bool


def plain_leaf_of(field: GraphQLField) -> PlainLeaf | None:
    """The field's :class:`PlainLeaf`, or None when graphql-core's full path is needed for it."""
    resolve = field.resolve
    if field.args or not isinstance(resolve, functools.partial) or resolve.func is not dict_or_attr_resolver:
        return None
    if len(resolve.args) != 2 or resolve.keywords:
        return None
    non_null = is_non_null_type(field.type)
    leaf_type = field.type.of_type if non_null else field.type  # type: ignore[union-attr]
    if not is_leaf_type(leaf_type):
        return None
    return PlainLeaf(resolve.args[0], resolve.args[1], leaf_type, non_null)


class FieldPlan(NamedTuple):
    response_name: str
    field_nodes: list[FieldNode]
    leaf: PlainLeaf | None


_plain_leaves: weakref.WeakKeyDictionary[GraphQLObjectType, dict[str, PlainLeaf | None]] = (
    weakref.WeakKeyDictionary()
)


def plain_leaves(parent_type: GraphQLObjectType) -> dict[str, PlainLeaf | None]:
    """The plain leaf fields of an object type by field name (worked out once per type)."""
    return _once(
        _plain_leaves,
        parent_type,
        lambda: {name: plain_leaf_of(field) for name, field in parent_type.fields.items()},
    )


#: What :func:`read_plain_leaf` returns when graphql-core's own path must answer.
_FULL_PATH = object()


def read_plain_leaf(source: Any, leaf: PlainLeaf) -> Any:
    """The plain leaf field's serialized value, or ``_FULL_PATH`` (anything unusual: graphql-core's own path
    then reads it again and answers, errors included)."""
    try:
        if isinstance(source, dict):
            value = source.get(leaf.key, leaf.default)
        else:
            value = getattr(source, leaf.key, leaf.default)
        if value is None:
            return _FULL_PATH if leaf.non_null else None
        if is_awaitable(value):
            return _FULL_PATH
        serialized = leaf.leaf_type.serialize(value)
    except Exception:  # noqa: BLE001 - graphql-core's own path reports it where it belongs
        return _FULL_PATH
    if serialized is None or serialized is Undefined:
        return _FULL_PATH
    return serialized


class ArgusExecutionContext(ExecutionContext):
    """graphql-core's execution context with the quicker awaitable check and plain leaf reads."""

    is_awaitable = staticmethod(is_awaitable)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_reads = self.middleware_manager is None or isinstance(
            self.middleware_manager, ArgumentsMiddlewareManager
        )
        #: Per selection set (the fields dict graphql-core collected, kept for the whole execution in its
        #: subfields cache): each field's response name, nodes and PlainLeaf (None: the full path).
        self._field_plans: dict[tuple[GraphQLObjectType, int], tuple[Any, tuple[FieldPlan, ...]]] = {}

    def field_plans(
        self, parent_type: GraphQLObjectType, fields: dict[str, list[FieldNode]]
    ) -> tuple[FieldPlan, ...]:
        key = (parent_type, id(fields))
        found = self._field_plans.get(key)
        if found is not None and found[0] is fields:
            return found[1]
        leaves = plain_leaves(parent_type) if self._plain_reads else {}
        plans = tuple(
            FieldPlan(response_name, field_nodes, leaves.get(field_nodes[0].name.value))
            for response_name, field_nodes in fields.items()
        )
        self._field_plans[key] = (fields, plans)
        return plans

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        fields: dict[str, list[FieldNode]],
    ) -> Any:
        """graphql-core's ``execute_fields``, with the plain leaf fields read directly (no path, resolve info
        or completion for them) and the rest executed by graphql-core's ``execute_field``."""
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        execute_field = super().execute_field
        for response_name, field_nodes, leaf in self.field_plans(parent_type, fields):
            if leaf is not None:
                value = read_plain_leaf(source_value, leaf)
                if value is not _FULL_PATH:
                    results[response_name] = value
                    continue
            result = execute_field(
                parent_type, source_value, field_nodes, Path(path, response_name, parent_type.name)
            )
            if result is not Undefined:
                results[response_name] = result
                if is_awaitable(result):
                    awaitable_fields.append(response_name)
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:  # as graphql-core's execute_fields
            results.update(
                zip(
                    awaitable_fields,
                    await asyncio.gather(*(results[field] for field in awaitable_fields)),
                    strict=True,
                )
            )
            return results

        return get_results()

    def execute_field(
        self, parent_type: GraphQLObjectType, source: Any, field_nodes: list[FieldNode], path: Path
    ) -> Any:
        """A mutation's root fields come here (``execute_fields_serially``); every other field is read in
        :meth:`execute_fields`."""
        if self._plain_reads:
            leaf = plain_leaves(parent_type).get(field_nodes[0].name.value)
            if leaf is not None:
                value = read_plain_leaf(source, leaf)
                if value is not _FULL_PATH:
                    return value
        return super().execute_field(parent_type, source, field_nodes, path)

    def complete_list_value(
        self, return_type: GraphQLList, field_nodes: list[FieldNode], info: Any, path: Path, result: Any
    ) -> Any:
        """A list or tuple of scalars or enums is serialized in one loop (no path or completion per item);
        anything unusual in it goes through graphql-core's own path."""
        item_type = return_type.of_type
        non_null = is_non_null_type(item_type)
        leaf_type = item_type.of_type if non_null else item_type
        if is_leaf_type(leaf_type) and type(result) in (list, tuple):
            serialize = leaf_type.serialize
            completed: list[Any] = []
            try:
                for item in result:
                    if item is None:
                        if non_null:
                            break
                        completed.append(None)
                        continue
                    if is_awaitable(item):
                        break
                    serialized = serialize(item)
                    if serialized is None or serialized is Undefined:
                        break
                    completed.append(serialized)
                else:
                    return completed
            except Exception:  # noqa: BLE001, S110 - graphql-core's own path below reports it where it belongs
                pass
        return super().complete_list_value(return_type, field_nodes, info, path, result)


_argument_resolvers: weakref.WeakKeyDictionary[GraphQLSchema, frozenset[Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def argument_resolvers(schema: GraphQLSchema) -> frozenset[Any]:
    """The resolvers of the schema's fields that take arguments (worked out once per schema)."""
    return _once(
        _argument_resolvers,
        schema,
        lambda: frozenset(
            field.resolve
            for named_type in schema.type_map.values()
            if is_object_type(named_type)
            for field in named_type.fields.values()  # type: ignore[union-attr]
            if field.args and field.resolve is not None
        ),
    )


def _once(cache: weakref.WeakKeyDictionary, key: Any, compute: Callable[[], Any]) -> Any:
    """``cache[key]``, computed by ``compute`` the first time (once, whichever thread asks first)."""
    found = cache.get(key)
    if found is None:
        with _lock:
            found = cache.get(key)
            if found is None:
                found = cache[key] = compute()
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
