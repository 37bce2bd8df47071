"""The project's execution context and middleware manager (argus_plugins.core.graphql.execution): the
same answers as graphql-core's own execution, errors included, with the middleware around argument
fields only."""

from __future__ import annotations

import enum
import sys
from types import SimpleNamespace
from typing import Any, NamedTuple

import graphene
import pytest
from graphene_django import DjangoObjectType
from graphql import ExecutionContext, GraphQLError, Undefined, execute, parse

from argus_plugins.core.graphql.execution import (
    FRESH_STACK_SLOTS,
    ArgumentsMiddlewareManager,
    ArgusExecutionContext,
    is_awaitable,
    on_fresh_data_stack,
    serializer_of,
    source_only,
)
from registry.models import Plugin, Publisher


class Colour(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


ColourEnum = graphene.Enum.from_enum(Colour)


class Refused(Exception):
    """An exception returned as a field's value: graphql-core raises it as the field's error. (Its String
    serializer would write it as text, being of this module: it refuses builtin types only.)"""


class Broken:
    @property
    def name(self) -> str:
        raise RuntimeError("no name today")


class Item(graphene.ObjectType):
    name = graphene.String(required=True)
    maybe = graphene.String()
    count = graphene.Int(required=True)
    colour = graphene.Field(ColourEnum)
    tags = graphene.List(graphene.NonNull(graphene.String), required=True)
    loose = graphene.List(graphene.String)
    shout = graphene.String(required=True, loud=graphene.Boolean())

    @staticmethod
    def resolve_shout(item: Any, info: graphene.ResolveInfo, loud: bool = False) -> str:
        name = item["name"] if isinstance(item, dict) else item.name
        return name.upper() if loud else name


class Query(graphene.ObjectType):
    items = graphene.List(Item, required=True, names=graphene.List(graphene.String))
    broken = graphene.Field(Item)
    required_items = graphene.List(graphene.NonNull(Item), required=True)

    @staticmethod
    def resolve_items(root: Any, info: graphene.ResolveInfo, names: list[str] | None = None) -> list[Any]:
        return info.context["items"]

    @staticmethod
    def resolve_required_items(root: Any, info: graphene.ResolveInfo) -> list[Any]:
        return info.context["items"]

    @staticmethod
    def resolve_broken(root: Any, info: graphene.ResolveInfo) -> Any:
        return Broken()


schema = graphene.Schema(query=Query).graphql_schema

EVERYTHING = "{ items(names: []) { name maybe count colour tags loose shout(loud: true) } }"

GOOD = {"name": "a", "maybe": None, "count": 1, "colour": "RED", "tags": ["x", "y"], "loose": ["p", None]}

CASES = {
    "plain values": [GOOD, {**GOOD, "name": "b", "colour": Colour.BLUE, "tags": ()}],
    "null in a non-null field": [{**GOOD, "count": None}],
    "a value the scalar refuses": [{**GOOD, "count": "many"}],
    "null item in a non-null list": [{**GOOD, "tags": ["x", None]}],
    "not a list": [{**GOOD, "tags": "xy"}],
    "an unknown enum value": [{**GOOD, "colour": "GREEN"}],
    "an exception as a value": [{**GOOD, "name": Refused("no name")}],
    # graphql-core's Undefined is a ValueError: a field that returns it fails with it, as any exception.
    "undefined values": [{**GOOD, "maybe": Undefined, "loose": ["p", Undefined], "tags": ["x", Undefined]}],
    "an undefined non-null value": [{**GOOD, "count": Undefined}],
    "an exception in a list": [{**GOOD, "tags": ["x", Refused("no tag")]}],
    "attributes of objects": [SimpleNamespace(**GOOD), SimpleNamespace(**{**GOOD, "count": None})],
    "missing attributes": [SimpleNamespace(name="a", tags=[])],
}


def run(query: str, items: list[Any], context_class: type[ExecutionContext], middleware: Any = None) -> Any:
    result = execute(
        schema,
        parse(query),
        context_value={"items": items},
        execution_context_class=context_class,
        middleware=middleware,
    )
    return result.data, [(error.message, error.path) for error in result.errors or []]


@pytest.mark.parametrize("case", CASES)
def test_answers_and_errors_are_graphql_cores_own(case):
    items = CASES[case]
    ours = run(EVERYTHING, items, ArgusExecutionContext)
    assert ours == run(EVERYTHING, items, ExecutionContext)
    if case != "plain values":
        assert ours[1], "each of these cases is an error in graphql-core"


OBJECT_LISTS = {
    **CASES,
    "a null item": [GOOD, None],
    "an exception as an item": [GOOD, RuntimeError("no item")],
    "an object whose field raises": [Broken()],
}


@pytest.mark.parametrize("case", OBJECT_LISTS)
def test_lists_of_objects_complete_as_graphql_cores(case):
    """A list of objects, nullable and non-null items: each item straight to its object's completion
    when nothing in the list needs graphql-core's checks, its answers and errors otherwise."""
    for query in (EVERYTHING, "{ requiredItems { name count tags colour } }"):
        ours = run(query, OBJECT_LISTS[case], ArgusExecutionContext)
        assert ours == run(query, OBJECT_LISTS[case], ExecutionContext)


def test_an_exception_in_a_plain_field_is_located_as_before():
    query = "{ broken { name } }"
    ours = run(query, [], ArgusExecutionContext)
    assert ours == run(query, [], ExecutionContext)
    assert ours == ({"broken": None}, [("no name today", ["broken", "name"])])


def test_awaitable_check_answers_as_graphql_cores():
    async def coroutine() -> None:
        return None

    pending = coroutine()
    try:
        assert is_awaitable(pending)
    finally:
        pending.close()
    assert not any(is_awaitable(value) for value in ("x", 1, None, [], {}, (), Colour.RED, Broken()))


def test_middleware_wraps_the_fields_with_arguments_only():
    seen = []

    class Recording:
        def resolve(self, next_: Any, root: Any, info: Any, **arguments: Any) -> Any:
            seen.append(info.field_name)
            return next_(root, info, **arguments)

    manager = ArgumentsMiddlewareManager(schema, Recording())
    data, errors = run(EVERYTHING, [GOOD], ArgusExecutionContext, manager)
    assert not errors and data["items"][0]["shout"] == "A"
    assert seen == ["items", "shout"]


def test_plain_leaf_fields_are_read_without_graphql_cores_resolver_path(monkeypatch):
    """Plain reads skip the resolve info; fields with their own resolver or arguments still get it."""
    built = _record_resolve_infos(monkeypatch)
    data, errors = run(EVERYTHING, [GOOD], ArgusExecutionContext)
    assert not errors and data["items"][0]["count"] == 1
    assert built == ["items", "shout"]  # lists of scalars are plain reads too


def test_on_fresh_data_stack_calls_through():
    """The trampoline (a frame with a large reserved stack on CPython < 3.13) passes arguments, results
    and exceptions as a plain call does."""

    def target(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("fail"):
            raise ValueError("refused")
        return args, kwargs

    assert on_fresh_data_stack(target, 1, 2, key="value") == ((1, 2), {"key": "value"})
    with pytest.raises(ValueError, match="refused"):
        on_fresh_data_stack(target, fail=True)
    if sys.version_info < (3, 13):
        assert on_fresh_data_stack.__code__.co_stacksize >= FRESH_STACK_SLOTS


# ----------------------------------------------------------------- objects read by the default resolver


class PublisherNode(DjangoObjectType):
    class Meta:
        model = Publisher
        fields = ("id", "name", "slug")
        skip_registry = True


class Child(graphene.ObjectType):
    name = graphene.String(required=True)
    tags = graphene.List(graphene.NonNull(graphene.String))


class Parent(graphene.ObjectType):
    child = graphene.Field(Child)
    required_child = graphene.Field(Child, required=True)
    children = graphene.List(graphene.NonNull(Child))
    loose_children = graphene.List(Child)
    publisher = graphene.Field(PublisherNode)
    publishers = graphene.List(graphene.NonNull(PublisherNode), required=True)


def context_items_schema(field_name: str, item_type: type) -> Any:
    """A schema whose one query field lists the execution's context items as ``item_type``."""

    def resolve_items(root: Any, info: graphene.ResolveInfo) -> list[Any]:
        return info.context["items"]

    field = graphene.List(item_type, required=True, resolver=resolve_items)
    query = type(f"{item_type.__name__}Query", (graphene.ObjectType,), {field_name: field})
    return graphene.Schema(query=query).graphql_schema


object_schema = context_items_schema("parents", Parent)

OBJECTS_QUERY = """{ parents {
  child { name tags } requiredChild { name } children { name } looseChildren { name tags }
  publisher { name slug } publishers { slug }
} }"""

CHILD = {"name": "c", "tags": ["t"]}
PUBLISHER = Publisher(name="Acme", slug="acme")
PARENT = {
    "child": CHILD,
    "required_child": SimpleNamespace(**CHILD),
    "children": [CHILD, CHILD],
    "loose_children": (CHILD,),
    "publisher": PUBLISHER,
    "publishers": [PUBLISHER],
}

OBJECT_CASES = {
    "plain values": [PARENT, {**PARENT, "child": None, "loose_children": None, "publisher": None}],
    "a missing required object": [{**PARENT, "required_child": None}],
    "a child's non-null field null": [{**PARENT, "child": {"name": None}}],
    "a required child's non-null field null": [{**PARENT, "required_child": {"name": None}}],
    "a null item among non-null items": [{**PARENT, "children": [CHILD, None]}],
    "a null item among nullable items": [{**PARENT, "loose_children": [CHILD, None]}],
    "an exception as the object": [{**PARENT, "child": RuntimeError("no child")}],
    "an exception as an item": [{**PARENT, "children": [CHILD, RuntimeError("no item")]}],
    "an object whose field raises": [{**PARENT, "child": Broken()}],
    "not a list": [{**PARENT, "children": CHILD}],
    "a generator": lambda: [{**PARENT, "children": (item for item in [CHILD])}],  # one per run
    "a model of another type": [{**PARENT, "publisher": Plugin(name="x")}],
    "not a model": [{**PARENT, "publisher": CHILD}],
    "a wrong item among models": [{**PARENT, "publishers": [PUBLISHER, CHILD]}],
    "a list where an object belongs": [{**PARENT, "child": [CHILD]}],
}


@pytest.mark.parametrize("case", OBJECT_CASES)
def test_objects_read_by_the_default_resolver_complete_as_graphql_cores(case):
    """Object fields (and lists of objects) without arguments resolved by graphene's default resolver go
    straight to their objects' fields when nothing needs graphql-core's checks; the answers and errors are
    graphql-core's own either way (graphene-django's is_type_of included)."""

    def run_objects(context_class: type[ExecutionContext]) -> Any:
        items = OBJECT_CASES[case]
        result = execute(
            object_schema,
            parse(OBJECTS_QUERY),
            context_value={"items": items() if callable(items) else items},
            execution_context_class=context_class,
        )
        return result.data, [(error.message, error.path) for error in result.errors or []]

    ours = run_objects(ArgusExecutionContext)
    assert ours == run_objects(ExecutionContext)
    assert bool(ours[1]) == (case not in {"plain values", "a null item among nullable items", "a generator"})


def test_objects_read_by_the_default_resolver_need_no_resolve_info(monkeypatch):
    built = _record_resolve_infos(monkeypatch)
    result = execute(
        object_schema,
        parse(OBJECTS_QUERY),
        context_value={"items": [PARENT]},
        execution_context_class=ArgusExecutionContext,
    )
    assert not result.errors and result.data["parents"][0]["publishers"] == [{"slug": "acme"}]
    assert built == ["parents"]


def test_enum_serializer_remembers_answers_only():
    colour_type = schema.get_type("Colour")
    serialize = serializer_of(colour_type)
    assert serializer_of(colour_type) is serialize  # one per type
    assert serialize("RED") == serialize(Colour.RED) == colour_type.serialize("RED") == "RED"
    for _ in range(2):
        with pytest.raises(GraphQLError):
            serialize("GREEN")
    assert serializer_of(schema.get_type("String")) == schema.get_type("String").serialize


def _record_resolve_infos(monkeypatch) -> list[str]:
    """The fields graphql-core builds a resolve info for, in order."""
    built: list[str] = []
    original = ExecutionContext.build_resolve_info

    def recording(self, field_def, field_nodes, parent_type, path):
        built.append(field_nodes[0].name.value)
        return original(self, field_def, field_nodes, parent_type, path)

    monkeypatch.setattr(ExecutionContext, "build_resolve_info", recording)
    return built


# ------------------------------------------------ compiled selections and source-only resolvers


class Card(graphene.ObjectType):
    """Every field a plain read: graphene's default resolver or a source-only resolver."""

    title = graphene.String(required=True)
    shouted = graphene.String(required=True)
    maybe_count = graphene.Int()
    score = graphene.Float()
    labels = graphene.List(graphene.NonNull(graphene.String), required=True)
    colour = graphene.Field(ColourEnum)
    child = graphene.Field(Child)
    first_child = graphene.Field(Child, required=True)
    kids = graphene.List(graphene.NonNull(Child), required=True)
    publisher = graphene.Field(PublisherNode)

    @staticmethod
    @source_only
    def resolve_shouted(card: Any, info: Any) -> Any:
        return card["title"].upper() if card.get("title") is not None else card.get("shout")

    @staticmethod
    @source_only
    def resolve_labels(card: Any, info: Any) -> Any:
        return card.get("labels", ["x"])

    @staticmethod
    @source_only
    def resolve_first_child(card: Any, info: Any) -> Any:
        kids = card.get("kids") or [None]
        if isinstance(kids, Exception):
            raise kids
        return kids[0]


card_schema = context_items_schema("cards", Card)

CARDS_QUERY = """{ cards {
  __typename title shouted maybeCount score labels colour
  child { name tags __typename } firstChild { name } kids { name } publisher { id name }
} }"""

CARD = {
    "title": "t",
    "maybe_count": 3,
    "score": 0.5,
    "colour": Colour.RED,
    "child": CHILD,
    "kids": [CHILD, SimpleNamespace(**CHILD)],
    "publisher": PUBLISHER,
}

CARD_CASES = {
    "plain values": [CARD, {**CARD, "maybe_count": None, "child": None, "publisher": None}],
    "a null title": [CARD, {**CARD, "title": None}],
    "a source-only resolver raises": [CARD, {**CARD, "title": 7}],  # 7.upper()
    "a source-only resolver returns null for a non-null field": [{**CARD, "title": None, "shout": None}],
    "a source-only resolver's list holds a null": [{**CARD, "labels": ["a", None]}],
    "a source-only resolver's object raises": [{**CARD, "kids": RuntimeError("no kids")}],
    "a source-only resolver returns no object": [{**CARD, "kids": []}],
    "a value the scalar refuses": [CARD, {**CARD, "maybe_count": "many"}],
    "an unknown enum value": [{**CARD, "colour": "GREEN"}],
    "a nested non-null field null": [CARD, {**CARD, "child": {"name": None}}],
    "a null among non-null objects": [{**CARD, "kids": [CHILD, None]}],
    "a model of another type": [{**CARD, "publisher": Plugin(name="x")}],
    "an exception as an object": [{**CARD, "child": RuntimeError("no child")}],
    "not a list": [{**CARD, "kids": CHILD}],
    "values the scalars convert": [{**CARD, "maybe_count": True, "score": 3, "labels": ("a", 1)}],
    "an int beyond 32 bits": [{**CARD, "maybe_count": 2**40}],
    "an exception as a value": [CARD, {**CARD, "maybe_count": Refused("no count")}],
    "an exception in a list": [{**CARD, "labels": ["a", Refused("no label")]}],
    "undefined values": [{**CARD, "maybe_count": Undefined, "child": Undefined}],  # errors, see CASES
    "an undefined non-null value": [CARD, {**CARD, "title": Undefined}],
    "an undefined item": [{**CARD, "kids": [CHILD, Undefined]}],
    "an infinite float": [{**CARD, "score": float("inf")}],
    "not a number": [{**CARD, "score": float("nan")}],
}
#: Cases whose values graphql-core converts without an error.
CARD_CASES_WITHOUT_ERRORS = {"plain values", "values the scalars convert"}


def run_cards(items: list[Any], context_class: type[ExecutionContext], query: str = CARDS_QUERY) -> Any:
    result = execute(
        card_schema, parse(query), context_value={"items": items}, execution_context_class=context_class
    )
    return result.data, [(error.message, error.path) for error in result.errors or []]


@pytest.mark.parametrize("case", CARD_CASES)
def test_compiled_selections_answer_as_graphql_cores(case):
    """A selection of plain reads (default resolver, source-only resolvers, Django ``id``, ``__typename``)
    completed by its compiled function, or through the general path for an object with anything unusual:
    the answers and errors are graphql-core's own either way."""
    ours = run_cards(CARD_CASES[case], ArgusExecutionContext)
    assert ours == run_cards(CARD_CASES[case], ExecutionContext)
    assert bool(ours[1]) == (case not in CARD_CASES_WITHOUT_ERRORS)


def test_a_compiled_selection_needs_no_resolve_info_and_no_general_path(monkeypatch):
    """Only the root field gets a resolve info; no field of a plain card goes through the general path
    (read_plain_leaf is its plain-leaf read), and a source-only resolver is called with no info."""
    from argus_plugins.core.graphql import execution

    built = _record_resolve_infos(monkeypatch)
    general_reads: list[str] = []
    original_read = execution.read_plain_leaf

    def recording_read(source: Any, leaf: Any) -> Any:
        general_reads.append(leaf.key)
        return original_read(source, leaf)

    monkeypatch.setattr(execution, "read_plain_leaf", recording_read)
    data, errors = run_cards([CARD, CARD], ArgusExecutionContext)
    assert not errors and data["cards"][1]["shouted"] == "T" and data["cards"][0]["__typename"] == "Card"
    assert data["cards"][0]["publisher"] == {"id": str(PUBLISHER.pk), "name": "Acme"}
    assert built == ["cards"]
    assert general_reads == []

    # One unusual card: that card (and only it) is completed again by the general path.
    data, errors = run_cards([CARD, {**CARD, "maybe_count": "many"}], ArgusExecutionContext)
    assert errors == [("Int cannot represent non-integer value: 'many'", ["cards", 1, "maybeCount"])]
    assert data["cards"][0]["maybeCount"] == 3 and data["cards"][1]["maybeCount"] is None
    assert general_reads and built.count("cards") == 2


def test_a_selection_with_another_resolver_is_not_compiled(monkeypatch):
    """A field whose resolver needs its info (or takes arguments) keeps the whole selection on the
    general path."""
    built = _record_resolve_infos(monkeypatch)
    data, errors = run(EVERYTHING, [GOOD, GOOD], ArgusExecutionContext)
    assert not errors and [item["shout"] for item in data["items"]] == ["A", "A"]
    assert built == ["items", "shout", "shout"]


def test_source_only_marks_the_resolver():
    def resolver(source: Any, info: Any) -> Any:
        return source

    assert source_only(resolver) is resolver and resolver.reads_source_only is True


def test_known_objects_are_those_graphql_core_completes_as_objects(monkeypatch):
    """known_object remembers its answer per class, yet answers for each value as graphql-core's checks do:
    an instance's own ``__await__``, a class that answers attributes itself, a generator-based coroutine."""
    import types

    from graphql import Undefined as UndefinedValue
    from graphql.pyutils import is_awaitable as graphql_is_awaitable

    from argus_plugins.core.graphql import execution

    class Answering:
        def __getattr__(self, name: str) -> Any:
            if name == "__await__":
                return lambda: iter(())
            raise AttributeError(name)

    @types.coroutine
    def old_style() -> Any:
        yield

    def generator() -> Any:
        yield

    plain, awaiting = SimpleNamespace(name="c"), SimpleNamespace(name="c")
    awaiting.__await__ = lambda: iter(())
    values = [plain, awaiting, plain, CHILD, StarLike(1), Answering(), None, RuntimeError("x"), UndefinedValue]
    values += [old_style(), generator(), Publisher(name="p")]
    child_type = card_schema.get_type("Child")
    for ordered in (values, list(reversed(values))):
        monkeypatch.setattr(execution, "_CLASS_VERDICTS", {})  # each order from nothing remembered
        for value in ordered:
            expected = (
                value is not None
                and value is not UndefinedValue
                and not isinstance(value, Exception)
                and not graphql_is_awaitable(value)
            )
            assert execution.known_object(child_type, value) is expected, value


class StarLike(NamedTuple):
    name: int


def test_lazy_objects_are_type_checked_each_time():
    """graphene-django's is_type_of answers for a lazy object's wrapped object: never remembered by class."""
    from django.utils.functional import SimpleLazyObject

    from argus_plugins.core.graphql.execution import type_checked

    publisher_type = object_schema.get_type("PublisherNode")
    for _ in range(2):
        assert type_checked(publisher_type, SimpleLazyObject(lambda: Publisher(name="p")))
        assert not type_checked(publisher_type, SimpleLazyObject(lambda: Plugin(name="x")))


def test_compiled_selections_are_shared_by_executions(monkeypatch):
    """A selection is generated once for every execution that selects the same fields; a directive that
    changes what is selected inside an object gives another function."""
    import collections

    from argus_plugins.core.graphql import compiled, execution

    monkeypatch.setattr(execution, "_COMPILED_SELECTIONS", collections.OrderedDict())
    generated: list[int] = []
    original = compiled.compile_selection

    def counting(*args: Any, **kwargs: Any) -> Any:
        generated.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(compiled, "compile_selection", counting)
    document = parse("query($x: Boolean!) { cards { title child { name tags @include(if: $x) } } }")

    def cards(include: bool) -> Any:
        result = execute(
            card_schema,
            document,
            variable_values={"x": include},
            context_value={"items": [CARD]},
            execution_context_class=ArgusExecutionContext,
        )
        assert not result.errors
        return result.data["cards"][0]["child"]

    assert cards(True) == {"name": "c", "tags": ["t"]}
    first = len(generated)
    assert first == 2  # the card's selection and the child's
    assert cards(True) == {"name": "c", "tags": ["t"]}
    assert len(generated) == first
    assert cards(False) == {"name": "c"}
    assert len(generated) == first + 2


def test_an_unusual_object_raises_a_new_exception_each_time():
    """A compiled selection's "take the general path" exception is new each time: an exception instance
    raised again would keep every earlier raise's frames (and their objects) in its traceback."""
    import traceback

    from argus_plugins.core.graphql import compiled, execution

    run_cards([CARD], ArgusExecutionContext, "{ cards { title maybeCount } }")
    (complete,) = [
        function
        for (object_type, fields), function in execution._COMPILED_SELECTIONS.items()
        if object_type.name == "Card" and [field[0] for field in fields] == ["title", "maybeCount"]
    ]
    raised = []
    for _ in range(3):
        with pytest.raises(compiled.Unusual) as caught:
            complete({**CARD, "title": None})
        raised.append(caught.value)
    assert len({id(error) for error in raised}) == 3
    assert len({len(traceback.extract_tb(error.__traceback__)) for error in raised}) == 1
