"""graphql-core's execution, minus the per-field costs that have nothing to do in this project.

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
- It reads an *object field* without arguments resolved by graphene's default resolver (``edge.node``, a
  list of tuples) and goes straight to its object's fields when nothing needs graphql-core's checks (not
  null, no exception, nothing awaitable, an object of a known type); graphene-django's ``is_type_of``, whose
  answer depends on the value's class alone, is asked once per class. Enum values are
  serialized once per value (:func:`serializer_of`).
- A resolver marked :func:`source_only` (it reads its source alone) and graphene-django's ``id`` resolver
  are read as plainly as graphene's default resolver.
- A selection set whose every field is such a read — a leaf, a list of leaves, an object or list of objects
  whose own selection is one, ``__typename`` — is completed by one generated function per object type
  (argus_plugins.core.graphql.compiled); an object with anything unusual in it is completed again by the
  general path. Whether a value goes straight to an object type's fields is worked out once per class
  where its class decides it (:func:`known_object`). The GraphQL completion of a
  marketplace listing (a page of 100, the bench's selection) went from about 70 to about 16 µs of CPU.
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
import collections
import datetime
import decimal
import functools
import sys
import threading
import types
import uuid
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from django.utils.functional import LazyObject
from graphene.types.resolver import dict_or_attr_resolver
from graphene_django import DjangoObjectType
from graphql import (
    ExecutionContext,
    GraphQLEnumType,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    MiddlewareManager,
    TypeNameMetaFieldDef,
    Undefined,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    located_error,
)
from graphql.execution.execute import get_field_def
from graphql.execution.values import get_argument_values
from graphql.language import FieldNode
from graphql.pyutils import Path
from graphql.pyutils import is_awaitable as graphql_is_awaitable

from . import compiled as compiled_selection

#: Types a synchronous resolver returns that are never awaitable: checked by exact type, before
#: graphql-core's general check (two type tests and an attribute lookup per value).
_PLAIN_TYPES = frozenset(
    {str, int, float, bool, type(None), list, tuple, dict, uuid.UUID, decimal.Decimal}
    | {datetime.datetime, datetime.date}
)


#: graphene-django's ``DjangoObjectType.is_type_of``: its answer depends on the value's class alone.
_DJANGO_IS_TYPE_OF = DjangoObjectType.is_type_of.__func__
#: graphene-django's resolver of a Django type's ``id`` (``return self.pk``): a plain read.
_DJANGO_RESOLVE_ID = DjangoObjectType.resolve_id


def is_awaitable(value: Any) -> bool:
    return type(value) not in _PLAIN_TYPES and graphql_is_awaitable(value)


def unusual_value(value: Any) -> bool:
    """A value graphql-core does not complete as it is: an exception (raised as the field's error; its
    ``Undefined`` is one) or an awaitable (awaited first)."""
    return type(value) not in _PLAIN_TYPES and (isinstance(value, Exception) or graphql_is_awaitable(value))


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
    """How to read a plain leaf field: graphene's default resolver's key and default (or the field's
    :func:`source_only` resolver), the leaf type, and for a list of leaves whether its items are non-null
    (None: not a list)."""

    key: str | None
    default: Any
    leaf_type: GraphQLLeafType
    non_null: bool
    item_non_null: bool | None = None
    resolver: Callable[[Any, Any], Any] | None = None


class ObjectRead(NamedTuple):
    """How to read an object field (or a list of objects) without arguments resolved by graphene's default
    resolver: the key and default, the object type, whether the field and (for a list) its items are
    non-null (None: not a list)."""

    key: str | None
    default: Any
    object_type: GraphQLObjectType
    non_null: bool
    item_non_null: bool | None
    return_type: Any
    item_type: Any
    resolver: Callable[[Any, Any], Any] | None = None


def source_only(resolver: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a resolver that reads its source object alone: neither its resolve info (it is called with
    ``None`` for it) nor arguments, nothing awaitable, and no side effect — calling it twice gives the same
    answer. Its field is then read as a plain one (:func:`plain_leaf_of`, :func:`object_read_of`): the
    resolver is called on the source, without the resolve info and completion graphql-core builds for every
    field; anything unusual (a null, an exception, a value the type refuses) goes through graphql-core's own
    path, which calls it again with its info and answers. Put it under ``@staticmethod``."""
    resolver.reads_source_only = True  # type: ignore[attr-defined]
    return resolver


def _plain_read(field: GraphQLField) -> tuple[str | None, Any, Callable[[Any, Any], Any] | None] | None:
    """How this field is read without its resolve info: the key and default graphene's default resolver
    reads, or its :func:`source_only` resolver (None: another resolver, or arguments)."""
    resolve = field.resolve
    if field.args:
        return None
    if resolve is _DJANGO_RESOLVE_ID or getattr(resolve, "reads_source_only", False):
        return None, None, resolve
    if not isinstance(resolve, functools.partial) or resolve.func is not dict_or_attr_resolver:
        return None
    if len(resolve.args) != 2 or resolve.keywords:
        return None
    return resolve.args[0], resolve.args[1], None


def _unwrapped(type_: Any) -> tuple[bool, Any]:
    non_null = is_non_null_type(type_)
    return non_null, (type_.of_type if non_null else type_)


class _PlainShape(NamedTuple):
    """A plain field's read (:func:`_plain_read`) and the shape of its type around the named type: whether
    it is non-null and, for a list, whether its items are (None: not a list) and the list's item type."""

    key: str | None
    default: Any
    resolver: Callable[[Any, Any], Any] | None
    named: Any
    non_null: bool
    item_non_null: bool | None
    item_type: Any


def _plain_shape(field: GraphQLField, is_kind: Callable[[Any], bool]) -> _PlainShape | None:
    """The field's :class:`_PlainShape` when it is read plainly and its type is of the kind ``is_kind``
    tells, or a list of that kind; else None."""
    read = _plain_read(field)
    if read is None:
        return None
    non_null, inner = _unwrapped(field.type)
    if is_kind(inner):
        return _PlainShape(*read, inner, non_null, None, None)
    if is_list_type(inner):
        item_non_null, item = _unwrapped(inner.of_type)
        if is_kind(item):
            return _PlainShape(*read, item, non_null, item_non_null, inner.of_type)
    return None


def plain_leaf_of(field: GraphQLField) -> PlainLeaf | None:
    """The field's :class:`PlainLeaf`, or None when graphql-core's full path is needed for it."""
    shape = _plain_shape(field, is_leaf_type)
    if shape is None:
        return None
    return PlainLeaf(
        shape.key, shape.default, shape.named, shape.non_null, shape.item_non_null, shape.resolver
    )


def object_read_of(field: GraphQLField) -> ObjectRead | None:
    """The field's :class:`ObjectRead`, or None when graphql-core's full path is needed for it."""
    shape = _plain_shape(field, is_object_type)
    if shape is None:
        return None
    return ObjectRead(
        shape.key,
        shape.default,
        shape.named,
        shape.non_null,
        shape.item_non_null,
        field.type,
        shape.item_type,
        shape.resolver,
    )


class Completion(NamedTuple):
    """How graphql-core's ``complete_value`` treats a return type, worked out once per type: whether it is
    non-null, the type inside, and which completion that type takes."""

    non_null: bool
    inner: Any
    complete: str | None  # the ExecutionContext method; None: graphql-core's complete_value decides


def completion_of(return_type: Any) -> Completion:
    non_null = is_non_null_type(return_type)
    inner = return_type.of_type if non_null else return_type
    if is_list_type(inner):
        method = "complete_list_value"
    elif is_leaf_type(inner):
        method = "complete_leaf_value"
    elif is_abstract_type(inner):
        method = "complete_abstract_value"
    elif is_object_type(inner):
        method = "complete_object_value"
    else:
        method = None
    return Completion(non_null, inner, method)


class FieldPlan(NamedTuple):
    """A field of a selection set as executed on one object type: what graphql-core's ``execute_field``
    looks up for every value (its definition, its resolver with the middleware applied), once."""

    response_name: str
    field_nodes: list[FieldNode]
    leaf: PlainLeaf | None
    field_def: GraphQLField | None
    resolve: Any
    object_read: ObjectRead | None = None


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


_enum_serializers: weakref.WeakKeyDictionary[GraphQLEnumType, Callable[[Any], Any]] = (
    weakref.WeakKeyDictionary()
)
#: Distinct values an enum type's memoized serializer remembers (valid ones only: a few per enum).
MAX_REMEMBERED_ENUM_VALUES = 256


def serializer_of(leaf_type: GraphQLLeafType) -> Callable[[Any], Any]:
    """The leaf type's ``serialize``; an enum type's memoized by value (graphene's enum serializer looks the
    value up as a Python enum member, then graphql-core looks that up: a few µs a value, and a page shows
    the same few values again and again). Only answers are remembered; a value the enum refuses is refused
    again by the type itself."""
    if type(leaf_type) is GraphQLScalarType or not isinstance(leaf_type, GraphQLEnumType):
        return leaf_type.serialize
    return _once(_enum_serializers, leaf_type, lambda: _memoized(leaf_type.serialize))


def _memoized(serialize: Callable[[Any], Any]) -> Callable[[Any], Any]:
    known: dict[tuple[type, Any], Any] = {}

    def memoized(value: Any) -> Any:
        try:
            key = (type(value), value)
            return known[key]
        except KeyError:
            serialized = serialize(value)
            if len(known) < MAX_REMEMBERED_ENUM_VALUES:
                known[key] = serialized
            return serialized
        except TypeError:  # unhashable
            return serialize(value)

    return memoized


def _plain_value(
    source: Any, key: str | None, default: Any, resolver: Callable[[Any, Any], Any] | None
) -> Any:
    """A plain field's value: its source-only resolver's, or what graphene's default resolver reads."""
    if resolver is not None:
        return resolver(source, None)
    if isinstance(source, dict):
        return source.get(key, default)
    return getattr(source, key, default)


#: What :func:`read_plain_leaf` returns when graphql-core's own path must answer.
_FULL_PATH = object()


def read_plain_leaf(source: Any, leaf: PlainLeaf) -> Any:
    """The plain leaf field's serialized value, or ``_FULL_PATH`` (anything unusual: graphql-core's own path
    then reads it again and answers, errors included)."""
    try:
        value = _plain_value(source, leaf.key, leaf.default, leaf.resolver)
        if value is None:
            return _FULL_PATH if leaf.non_null else None
        if leaf.item_non_null is not None:
            return _serialized_list(value, serializer_of(leaf.leaf_type), leaf.item_non_null)
        if unusual_value(value):
            return _FULL_PATH
        serialized = serializer_of(leaf.leaf_type)(value)
    except Exception:  # noqa: BLE001 - graphql-core's own path reports it where it belongs
        return _FULL_PATH
    if serialized is None or serialized is Undefined:
        return _FULL_PATH
    return serialized


def _serialized_list(value: Any, serialize: Callable[[Any], Any], item_non_null: bool) -> Any:
    """A list or tuple of scalars or enums serialized in one loop, or ``_FULL_PATH`` for anything else
    (another iterable, a null in non-null items, an exception or an awaitable as an item, a value the type
    refuses); exceptions raised are the caller's."""
    if type(value) not in (list, tuple):
        return _FULL_PATH
    completed: list[Any] = []
    for item in value:
        if item is None:
            if item_non_null:
                return _FULL_PATH
            completed.append(None)
            continue
        if unusual_value(item):
            return _FULL_PATH
        serialized = serialize(item)
        if serialized is None or serialized is Undefined:
            return _FULL_PATH
        completed.append(serialized)
    return completed


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
        self._completions: dict[Any, Completion] = {}
        #: Per selection set, as _field_plans: its compiled completion, or None (argus_plugins.core.graphql
        #: .compiled; the functions themselves are shared by every execution, see _shared_compiled_selection).
        self._compiled: dict[tuple[GraphQLObjectType, int], tuple[Any, Callable[[Any], Any] | None]] = {}

    def complete_value(
        self, return_type: Any, field_nodes: list[FieldNode], info: Any, path: Path, result: Any
    ) -> Any:
        """graphql-core's ``complete_value`` (same steps, same errors), dispatching on the return type's
        :class:`Completion` and checking a non-null type's result in the same call rather than in a
        second one for the type inside."""
        if isinstance(result, Exception):
            raise result
        completion = self._completions.get(return_type)
        if completion is None:
            completion = self._completions[return_type] = completion_of(return_type)
        if completion.complete is None:
            return super().complete_value(return_type, field_nodes, info, path, result)
        if result is None or result is Undefined:
            completed = None
        elif completion.complete == "complete_leaf_value":
            completed = self.complete_leaf_value(completion.inner, result)
        else:
            completed = getattr(self, completion.complete)(completion.inner, field_nodes, info, path, result)
        if completed is None and completion.non_null:
            raise TypeError(
                f"Cannot return null for non-nullable field {info.parent_type.name}.{info.field_name}."
            )
        return completed

    def field_plans(
        self, parent_type: GraphQLObjectType, fields: dict[str, list[FieldNode]]
    ) -> tuple[FieldPlan, ...]:
        key = (parent_type, id(fields))
        found = self._field_plans.get(key)
        if found is not None and found[0] is fields:
            return found[1]
        leaves = plain_leaves(parent_type) if self._plain_reads else {}
        plans = []
        for response_name, field_nodes in fields.items():
            field_def = get_field_def(self.schema, parent_type, field_nodes[0])
            resolve = None
            if field_def is not None:
                resolve = field_def.resolve or self.field_resolver
                if self.middleware_manager:
                    resolve = self.middleware_manager.get_field_resolver(resolve)
            leaf = leaves.get(field_nodes[0].name.value)
            object_read = (
                object_read_of(field_def)
                if self._plain_reads and field_def is not None and leaf is None
                else None
            )
            plans.append(FieldPlan(response_name, field_nodes, leaf, field_def, resolve, object_read))
        self._field_plans[key] = (fields, tuple(plans))
        return self._field_plans[key][1]

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        fields: dict[str, list[FieldNode]],
    ) -> Any:
        """graphql-core's ``execute_fields``, with the plain leaf fields read directly (no path, resolve info
        or completion for them) and the rest executed as graphql-core's ``execute_field`` does
        (:meth:`execute_planned_field`)."""
        if self._plain_reads:
            compiled = self.compiled_fields(parent_type, fields)
            if compiled is not None:
                try:
                    return compiled(source_value)
                except Exception:  # noqa: BLE001, S110 - Unusual or an error: the general path answers
                    pass
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        for plan in self.field_plans(parent_type, fields):
            response_name = plan.response_name
            if plan.leaf is not None:
                value = read_plain_leaf(source_value, plan.leaf)
                if value is not _FULL_PATH:
                    results[response_name] = value
                    continue
            elif plan.object_read is not None:
                value = self._read_object(source_value, plan.object_read)
                if value is not _FULL_PATH:
                    result = self._complete_read_object(
                        plan, value, Path(path, response_name, parent_type.name)
                    )
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
                    continue
            result = self.execute_planned_field(
                parent_type, source_value, plan, Path(path, response_name, parent_type.name)
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

    def compiled_fields(
        self, parent_type: GraphQLObjectType, fields: dict[str, list[FieldNode]]
    ) -> Callable[[Any], Any] | None:
        """The selection set's compiled completion (argus_plugins.core.graphql.compiled), or None when one of
        its fields (or of its objects' selections) is not a plain read."""
        key = (parent_type, id(fields))
        found = self._compiled.get(key)
        if found is not None and found[0] is fields:
            return found[1]
        plans = self.field_plans(parent_type, fields)
        reads = [self._field_read(parent_type, plan) for plan in plans]
        compiled = None
        if all(read is not None for read in reads):
            # What the function depends on: the type, and per field its response name, the field it reads
            # (no arguments: a plain read takes none) and its objects' own function (which stands for the
            # fields selected in them, directives applied).
            signature = (
                parent_type,
                tuple(
                    (read.response_name, plan.field_nodes[0].name.value, read.complete)
                    for read, plan in zip(reads, plans, strict=True)
                ),
            )
            compiled = _shared_compiled_selection(signature, reads)
        self._compiled[key] = (fields, compiled)
        return compiled

    def _field_read(self, parent_type: GraphQLObjectType, plan: FieldPlan) -> Any:
        """The field as a compiled selection reads it, or None (the field needs the general path)."""
        FieldRead = compiled_selection.FieldRead
        name = plan.response_name
        if plan.field_def is TypeNameMetaFieldDef:
            return FieldRead("typename", name, value=parent_type.name)
        leaf = plan.leaf
        if leaf is not None:
            serialize = serializer_of(leaf.leaf_type)
            read = {
                "key": leaf.key,
                "default": leaf.default,
                "resolver": leaf.resolver,
                "non_null": leaf.non_null,
            }
            if leaf.item_non_null is None:
                return FieldRead("leaf", name, leaf_type=leaf.leaf_type, serialize=serialize, **read)
            serialize_list = functools.partial(
                _serialized_list, serialize=serialize, item_non_null=leaf.item_non_null
            )
            return FieldRead("leaves", name, leaf_type=leaf.leaf_type, serialize=serialize_list, **read)
        object_read = plan.object_read
        if object_read is None:
            return None
        object_type = object_read.object_type
        complete = self.compiled_fields(object_type, self.collect_subfields(object_type, plan.field_nodes))
        if complete is None:
            return None
        return FieldRead(
            "object" if object_read.item_non_null is None else "objects",
            name,
            key=object_read.key,
            default=object_read.default,
            resolver=object_read.resolver,
            non_null=object_read.non_null,
            object_type=object_type,
            complete=complete,
            item_non_null=bool(object_read.item_non_null),
        )

    def complete_object_value(
        self, return_type: GraphQLObjectType, field_nodes: list[FieldNode], info: Any, path: Path, result: Any
    ) -> Any:
        """graphql-core's ``complete_object_value``; a value of a known type (:func:`type_checked`) goes
        straight to its fields."""
        if type_checked(return_type, result):
            return self.execute_fields(
                return_type, result, path, self.collect_subfields(return_type, field_nodes)
            )
        return super().complete_object_value(return_type, field_nodes, info, path, result)

    def _read_object(self, source: Any, read: ObjectRead) -> Any:
        """The value of an object field (or list of objects) read by graphene's default resolver, when
        nothing in it needs graphql-core's checks — not null, no exception, nothing awaitable, every object
        of a known type — or ``_FULL_PATH`` (graphql-core's own path then reads it again and answers)."""
        try:
            value = _plain_value(source, read.key, read.default, read.resolver)
        except Exception:  # noqa: BLE001 - graphql-core's own path reports it where it belongs
            return _FULL_PATH
        object_type = read.object_type
        if read.item_non_null is None:
            return value if known_object(object_type, value) else _FULL_PATH
        if type(value) not in (list, tuple):
            return _FULL_PATH
        for item in value:
            if not known_object(object_type, item):
                return _FULL_PATH
        return value

    def _complete_read_object(self, plan: FieldPlan, value: Any, path: Path) -> Any:
        """What graphql-core's ``execute_field`` completes a value from :meth:`_read_object` to: its
        object's fields (or each item's), an error located and handled as the field's."""
        read = plan.object_read
        field_nodes = plan.field_nodes
        try:
            if read.item_non_null is None:
                sub_fields = self.collect_subfields(read.object_type, field_nodes)
                completed = self.execute_fields(read.object_type, value, path, sub_fields)
            else:
                completed = self.complete_object_list(
                    read.object_type, read.item_type, field_nodes, None, path, value
                )
            if is_awaitable(completed):
                return self._awaited(completed, field_nodes, path, read.return_type)
            return completed
        except Exception as raw_error:  # noqa: BLE001 - a field error, as graphql-core handles it
            return self._field_error(raw_error, field_nodes, path, read.return_type)

    def execute_planned_field(
        self, parent_type: GraphQLObjectType, source: Any, plan: FieldPlan, path: Path
    ) -> Any:
        """graphql-core's ``execute_field`` (same steps, same errors) with the field's definition and
        resolver from its plan, and no argument parsing for a field that takes none."""
        field_def = plan.field_def
        if field_def is None:
            return Undefined
        field_nodes = plan.field_nodes
        return_type = field_def.type
        info = self.build_resolve_info(field_def, field_nodes, parent_type, path)
        try:
            args = (
                get_argument_values(field_def, field_nodes[0], self.variable_values) if field_def.args else {}
            )
            result = plan.resolve(source, info, **args)
            if self.is_awaitable(result):

                async def await_result() -> Any:
                    try:
                        completed = self.complete_value(return_type, field_nodes, info, path, await result)
                        if self.is_awaitable(completed):
                            return await completed
                        return completed
                    except Exception as raw_error:  # noqa: BLE001 - a field error, as graphql-core handles it
                        return self._field_error(raw_error, field_nodes, path, return_type)

                return await_result()
            completed = self.complete_value(return_type, field_nodes, info, path, result)
            if self.is_awaitable(completed):
                return self._awaited(completed, field_nodes, path, return_type)
            return completed
        except Exception as raw_error:  # noqa: BLE001 - a field error, as graphql-core handles it
            return self._field_error(raw_error, field_nodes, path, return_type)

    def _field_error(
        self, raw_error: Exception, field_nodes: list[FieldNode], path: Path, return_type: Any
    ) -> None:
        """A field's (or a list item's) error, located and handled as graphql-core does; its value: None."""
        error = located_error(raw_error, field_nodes, path.as_list())
        self.handle_field_error(error, return_type, path)

    async def _awaited(
        self, completed: Any, field_nodes: list[FieldNode], path: Path, return_type: Any
    ) -> Any:
        """``await completed``, an error handled as the field's (or the list item's) at ``path``."""
        try:
            return await completed
        except Exception as raw_error:  # noqa: BLE001 - a field error, as graphql-core handles it
            return self._field_error(raw_error, field_nodes, path, return_type)

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

    def complete_leaf_value(self, return_type: GraphQLLeafType, result: Any) -> Any:
        """graphql-core's ``complete_leaf_value`` (same error), enums serialized by :func:`serializer_of`."""
        serialized = serializer_of(return_type)(result)
        if serialized is Undefined or serialized is None:
            return super().complete_leaf_value(return_type, result)  # raises graphql-core's error
        return serialized

    def complete_list_value(
        self, return_type: GraphQLList, field_nodes: list[FieldNode], info: Any, path: Path, result: Any
    ) -> Any:
        """A list or tuple of scalars or enums is serialized in one loop (no path or completion per item);
        anything unusual in it goes through graphql-core's own path."""
        item_type = return_type.of_type
        non_null = is_non_null_type(item_type)
        leaf_type = item_type.of_type if non_null else item_type
        if is_leaf_type(leaf_type):
            try:
                completed = _serialized_list(result, serializer_of(leaf_type), non_null)
            except Exception:  # noqa: BLE001 - graphql-core's own path below reports it where it belongs
                completed = _FULL_PATH
            if completed is not _FULL_PATH:
                return completed
        elif is_object_type(leaf_type) and type(result) in (list, tuple) and all(map(_plain_object, result)):
            return self.complete_object_list(leaf_type, item_type, field_nodes, info, path, result)
        return super().complete_list_value(return_type, field_nodes, info, path, result)

    def complete_object_list(
        self,
        object_type: GraphQLObjectType,
        item_type: Any,
        field_nodes: list[FieldNode],
        info: Any,
        path: Path,
        result: list[Any] | tuple[Any, ...],
    ) -> Any:
        """graphql-core's ``complete_list_value`` for a list of objects none of which is null, an exception
        or awaitable: each item straight to ``complete_object_value`` (what ``complete_value`` comes to for
        such an item, errors located and handled per item alike)."""
        completed_results: list[Any] = []
        awaitable_indices: list[int] = []
        sub_fields = self.collect_subfields(object_type, field_nodes)
        for index, item in enumerate(result):
            item_path = path.add_key(index, None)
            try:
                if type_checked(object_type, item):
                    completed_item = self.execute_fields(object_type, item, item_path, sub_fields)
                else:
                    completed_item = self.complete_object_value(
                        object_type, field_nodes, info, item_path, item
                    )
                if is_awaitable(completed_item):
                    completed_item = self._awaited(completed_item, field_nodes, item_path, item_type)
                    awaitable_indices.append(index)
            except Exception as raw_error:  # noqa: BLE001 - a field error, as graphql-core handles it
                completed_item = self._field_error(raw_error, field_nodes, item_path, item_type)
            completed_results.append(completed_item)
        if not awaitable_indices:
            return completed_results

        async def get_completed_results() -> list[Any]:  # as graphql-core's complete_list_value
            awaited = await asyncio.gather(*(completed_results[index] for index in awaitable_indices))
            for index, value in zip(awaitable_indices, awaited, strict=True):
                completed_results[index] = value
            return completed_results

        return get_completed_results()


#: _class_verdict's answers: an object of the class is known (unless it has an ``__await__`` attribute of its
#: own, where it can have attributes of its own), or each value is asked in full.
_KNOWN = object()  # its instances have no attributes of their own (a named tuple)
_KNOWN_UNLESS_INSTANCE_AWAITS = object()
_ASK_EACH_VALUE = object()


def _class_verdict(cls: type) -> object:
    """Whether graphql-core's awaitable and exception checks give the same answer for every value of
    ``cls`` but for an instance's own ``__await__`` attribute: not a generator (a generator-based coroutine
    is told by its code flags), no ``__getattr__`` or Python ``__getattribute__`` (either could answer
    ``__await__`` per value) and no class attribute ``__await__``. The caller checks the first value in
    full: a class whose values are not plain objects, or not of the type, is asked each time."""
    if issubclass(cls, types.GeneratorType) or "__getattr__" in dir(cls) or hasattr(cls, "__await__"):
        return _ASK_EACH_VALUE
    if not isinstance(cls.__getattribute__, types.WrapperDescriptorType):  # a Python __getattribute__
        return _ASK_EACH_VALUE
    return _KNOWN_UNLESS_INSTANCE_AWAITS if cls.__dictoffset__ else _KNOWN


#: type_checked's and known_object's answers by (object type, class of the value), for every execution:
#: they depend on the class alone (a few entries per object type).
_TYPE_OF_ANSWERS: dict[tuple[GraphQLObjectType, type], bool] = {}
_CLASS_VERDICTS: dict[tuple[GraphQLObjectType, type], object] = {}


def type_checked(object_type: GraphQLObjectType, value: Any) -> bool:
    """Whether ``value`` is known to be of ``object_type`` without its resolve info: the type has no
    ``is_type_of``, or it is graphene-django's, whose answer depends on the value's class alone (and needs no
    info; a lazy object is asked each time, its answer is its wrapped object's), and it said yes for this
    class. False: graphql-core's own ``complete_object_value`` must check (and answer)."""
    is_type_of = object_type.is_type_of
    if is_type_of is None:
        return True
    if getattr(is_type_of, "__func__", None) is not _DJANGO_IS_TYPE_OF:
        return False
    key = (object_type, type(value))
    known = _TYPE_OF_ANSWERS.get(key)
    if known is None:
        try:
            known = is_type_of(value, None) is True
        except Exception:  # noqa: BLE001 - graphql-core's path raises it where it belongs
            known = False
        if isinstance(value, LazyObject):
            return known
        _TYPE_OF_ANSWERS[key] = known
    return known


def known_object(object_type: GraphQLObjectType, value: Any) -> bool:
    """What ``complete_value`` hands straight to ``complete_object_value`` for ``object_type``, without
    graphql-core's type check (:func:`type_checked`). Asked for every object of a compiled selection, so the
    answer is worked out once per class (:func:`_class_verdict`) where the class decides it."""
    key = (object_type, type(value))
    verdict = _CLASS_VERDICTS.get(key)
    if verdict is None:
        verdict = _class_verdict(type(value))
        if verdict is not _ASK_EACH_VALUE and not (_plain_object(value) and type_checked(object_type, value)):
            verdict = _ASK_EACH_VALUE
        _CLASS_VERDICTS[key] = verdict
    if verdict is _KNOWN:
        return True
    if verdict is _KNOWN_UNLESS_INSTANCE_AWAITS:
        # graphql-core's hasattr(value, "__await__") finds an instance attribute too.
        return "__await__" not in value.__dict__
    return _plain_object(value) and type_checked(object_type, value)


#: Compiled selections by signature (see ArgusExecutionContext.compiled_fields), shared by every execution:
#: generating one costs about 0.2 ms, a page's query has about ten. The least recently used go first.
MAX_COMPILED_SELECTIONS = 1024
_COMPILED_SELECTIONS: collections.OrderedDict[Any, Callable[[Any], Any]] = collections.OrderedDict()


def _shared_compiled_selection(signature: Any, reads: list[Any]) -> Callable[[Any], Any]:
    with _lock:
        found = _COMPILED_SELECTIONS.get(signature)
        if found is not None:
            _COMPILED_SELECTIONS.move_to_end(signature)
            return found
    compiled = compiled_selection.compile_selection(
        reads, is_known_object=known_object, is_unusual=unusual_value, full_path=_FULL_PATH
    )
    with _lock:
        compiled = _COMPILED_SELECTIONS.setdefault(signature, compiled)
        while len(_COMPILED_SELECTIONS) > MAX_COMPILED_SELECTIONS:
            _COMPILED_SELECTIONS.popitem(last=False)
    return compiled


def _plain_object(item: Any) -> bool:
    """An item ``complete_value`` would hand straight to ``complete_object_value``."""
    return item is not None and not unusual_value(item)


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
