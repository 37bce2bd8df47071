"""Selection sets completed by one generated function per object type, when every field in them is a plain
read.

A list page's nodes are trees of objects whose fields are read off the object (graphene's default resolver,
or a :func:`~argus_plugins.core.graphql.execution.source_only` resolver) and serialized. graphql-core
executes every one of them through the same general steps — a path, a resolve info, the completion
dispatch, the awaitable checks, the result dict — which cost more than the reads themselves (a page of 100
marketplace listings completes about 4 500 fields).

:class:`~argus_plugins.core.graphql.execution.ArgusExecutionContext` compiles a selection set on an object
type whose every field is such a read (a leaf, a list of leaves, an object or a list of objects whose own
selection compiles, or ``__typename``) into one Python function, generated for exactly those fields: where
each is read, which scalar it is, whether it may be null, and the response names in the selection's order.
The function returns the object's completed fields, or raises :class:`Unusual` as soon as anything needs
graphql-core's own checks: a null in a non-null field, a value the type refuses, an exception, an
awaitable, an object of another type. The execution context then completes that object through its
general path, which reads it again and answers, errors included (the reads have no side effect, so
reading twice changes nothing but time). What the function returns is therefore exactly what the general
path returns for the same object; tests/core/test_graphql_execution.py compares the two on every unusual
case.

The generated source holds no name from the schema or the query: every key, response name, resolver,
serializer and nested function is a constant of the function's namespace, referred to by its position
(``K3``, ``N3``, ``S3``...). A listing of the catalogue page, its rows loaded, completes in about 16 µs of
CPU this way, 28 µs with a closure per field, 70 µs through graphql-core's general path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from graphql import (
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLString,
    Undefined,
)


class Unusual(Exception):  # not an error: "take the general path"
    """Raised by a compiled selection when an object needs graphql-core's own completion. A new instance
    each time (it is rare): an instance raised again keeps every earlier raise's frames in its traceback."""


#: Scalars whose serializer returns a value of exactly this type unchanged (graphql-core's serialize_string,
#: serialize_id and serialize_boolean): the function skips the call for it.
_UNCHANGED: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


#: What graphql-core's serialize_int and serialize_float return unchanged, as a test of the value ``v``:
#: a 32-bit int (not a bool), a finite float (``v - v`` is NaN for infinities and NaN).
_UNCHANGED_NUMBERS: dict[Any, str] = {
    GraphQLInt: "type(v) is int and -2147483648 <= v <= 2147483647",
    GraphQLFloat: "type(v) is float and v - v == 0.0",
}


class _NeverAValue:
    """The type no value has: a leaf whose serializer changes every value compares with it."""


class FieldRead(NamedTuple):
    """One field of a compiled selection.

    ``kind``:

    - ``"typename"``: ``value`` is the object type's name;
    - ``"leaf"``: ``serialize`` is the scalar's or enum's serializer, ``leaf_type`` its type;
    - ``"leaves"``: ``serialize`` serializes the whole list or returns ``full_path``, ``leaf_type`` is the
      items' type;
    - ``"object"``: ``complete`` is the object's compiled selection, ``object_type`` its type;
    - ``"objects"``: a list of them, ``item_non_null`` whether its items are non-null.

    Anything but ``"typename"`` is read with ``resolver(source, None)`` when there is one, else as
    graphene's default resolver reads ``key`` (``default`` when missing)."""

    kind: str
    response_name: str
    key: str | None = None
    default: Any = None
    resolver: Callable[[Any, Any], Any] | None = None
    non_null: bool = False
    leaf_type: Any = None
    serialize: Callable[[Any], Any] | None = None
    object_type: GraphQLObjectType | None = None
    complete: Callable[[Any], dict[str, Any]] | None = None
    item_non_null: bool = False
    value: Any = None


def compile_selection(
    fields: Sequence[FieldRead],
    *,
    is_known_object: Callable[[GraphQLObjectType, Any], bool],
    is_unusual: Callable[[Any], bool],
    full_path: Any,
) -> Callable[[Any], dict[str, Any]]:
    """The selection's completion function (see the module's docstring). ``is_known_object(type, value)``
    says whether ``value`` goes straight to ``type``'s fields; ``is_unusual(value)`` whether a leaf's value is
    one graphql-core does not serialize as it is (an exception, an awaitable); a ``"leaves"`` serializer
    returns ``full_path`` for anything unusual."""
    namespace: dict[str, Any] = {
        "Unusual": Unusual,
        "UNDEFINED": Undefined,
        "FULL_PATH": full_path,
        "is_unusual": is_unusual,
        "is_known": is_known_object,
        "is_dict": isinstance,
        "dict_type": dict,
    }
    lines = ["def complete(source):"]
    if any(field.kind != "typename" and field.resolver is None for field in fields):
        lines.append("    source_is_dict = is_dict(source, dict_type)")
    for index, field in enumerate(fields):
        namespace[f"N{index}"] = field.response_name
        lines.extend(_field_lines(index, field, namespace))
    pairs = ", ".join(f"N{index}: r{index}" for index in range(len(fields)))
    lines.append(f"    return {{{pairs}}}")
    exec(compile("\n".join(lines), "<compiled selection>", "exec"), namespace)  # noqa: S102 - see docstring
    return namespace["complete"]


def _field_lines(index: int, field: FieldRead, namespace: dict[str, Any]) -> list[str]:
    result = f"r{index}"
    if field.kind == "typename":
        namespace[f"V{index}"] = field.value
        return [f"    {result} = V{index}"]
    if field.resolver is not None:
        namespace[f"R{index}"] = field.resolver
        lines = [f"    v = R{index}(source, None)"]
    else:
        namespace[f"K{index}"], namespace[f"D{index}"] = field.key, field.default
        read = f"source.get(K{index}, D{index}) if source_is_dict else getattr(source, K{index}, D{index})"
        lines = [f"    v = {read}"]
    lines += [
        "    if v is None:",
        "        raise Unusual" if field.non_null else f"        {result} = None",
    ]
    if field.kind == "leaf":
        namespace[f"T{index}"] = _UNCHANGED.get(field.leaf_type, _NeverAValue)
        namespace[f"S{index}"] = field.serialize
        unchanged = _UNCHANGED_NUMBERS.get(field.leaf_type, f"type(v) is T{index}")
        lines += [
            f"    elif {unchanged}:",
            f"        {result} = v",
            "    else:",
            "        if is_unusual(v):",
            "            raise Unusual",
            f"        {result} = S{index}(v)",
            f"        if {result} is None or {result} is UNDEFINED:",
            "            raise Unusual",
        ]
    elif field.kind == "leaves":
        namespace[f"S{index}"] = field.serialize
        if field.leaf_type in _UNCHANGED and _UNCHANGED[field.leaf_type] is str:
            namespace["strings_unchanged"] = _strings_unchanged
            lines += ["    elif strings_unchanged(v):", f"        {result} = list(v)"]
        lines += [
            "    else:",
            f"        {result} = S{index}(v)",
            f"        if {result} is FULL_PATH:",
            "            raise Unusual",
        ]
    elif field.kind == "object":
        namespace[f"O{index}"], namespace[f"C{index}"] = field.object_type, field.complete
        lines += [
            f"    elif is_known(O{index}, v):",
            f"        {result} = C{index}(v)",
            "    else:",
            "        raise Unusual",
        ]
    elif field.kind == "objects":
        namespace[f"L{index}"] = _object_list_completer(field, is_known_object=namespace["is_known"])
        lines += ["    else:", f"        {result} = L{index}(v)"]
    else:
        raise ValueError(f"unknown field kind {field.kind!r}")
    return lines


def _strings_unchanged(value: Any) -> bool:
    """A list or tuple of strings only: what graphql-core serializes (String, ID) to an equal list."""
    if type(value) not in (list, tuple):
        return False
    for item in value:  # noqa: SIM110 - a plain loop: all() over a generator costs twice as much
        if type(item) is not str:
            return False
    return True


def _object_list_completer(
    field: FieldRead, *, is_known_object: Callable[[GraphQLObjectType, Any], bool]
) -> Callable[[Any], list[Any]]:
    """A list of objects, each completed by the items' compiled selection (a null item only where items
    may be null), or raises Unusual."""
    object_type, complete, item_non_null = field.object_type, field.complete, field.item_non_null

    def complete_list(value: Any) -> list[Any]:
        if type(value) not in (list, tuple):
            raise Unusual
        completed = []
        for item in value:
            if item is None:
                if item_non_null:
                    raise Unusual
                completed.append(None)
            elif is_known_object(object_type, item):
                completed.append(complete(item))
            else:
                raise Unusual
        return completed

    return complete_list
