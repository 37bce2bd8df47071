"""Document limits enforced before anything executes: size, depth, aliases, operations, cost and mutations.

The order matters. graphql-core's own rules (``OverlappingFieldsCanBeMerged`` above all) cost time that
grows with the square of repeated fields, and a depth rule that follows fragment spreads recurses forever
on a fragment cycle. So the checks here come first and are cheap and cycle-safe by construction: each
fragment is measured once (memoised), a fragment being measured counts nothing when reached again (the
cycle itself is reported by ``NoFragmentCycles`` afterwards), and an unknown fragment counts nothing
(``KnownFragmentNames`` reports it). Only a document within these limits meets the specification's rules.

Cost follows Saleor's model (``saleor/graphql/core/validators/query_cost``): every selected field costs 1,
and what a field selects is multiplied by how many items it may return: the page size (``first`` or
``last``, literal or variable; the default page size when absent) for connections, a fixed factor for
other lists (``__schema { types { fields … } }`` included). It depends on variables, so it is computed per
request, after the cached checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from graphql import (
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    ValidationRule,
    get_named_type,
    is_list_type,
    is_non_null_type,
    specified_rules,
)
from graphql.language import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
PAGE_SIZE_ARGUMENTS = ("first", "last")


def limit_error(message: str, node: Any = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": QUERY_TOO_COMPLEX})


# --- Structural limits (depend on the text only: cached with the parsed document) ----------------------


@dataclass
class _FragmentShape:
    depth: int = 0
    fields: int = 0
    aliases: int = 0
    schema_fields: int = 0


@dataclass
class DocumentShape:
    """What the structural limits look at, measured in one pass that never follows a fragment twice."""

    depth: int = 0
    fields: int = 0
    aliases: int = 0
    schema_fields: int = 0
    operations: int = 0
    _fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict, repr=False)
    _measured: dict[str, _FragmentShape] = field(default_factory=dict, repr=False)
    _measuring: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def of(cls, document: DocumentNode) -> DocumentShape:
        shape = cls()
        shape._fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        # Fields and aliases are counted as written (each fragment once), depth as executed.
        for name in shape._fragments:
            fragment = shape._fragment(name)
            shape.fields += fragment.fields
            shape.aliases += fragment.aliases
            shape.schema_fields += fragment.schema_fields
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                shape.operations += 1
                measured = shape._selection_set(definition.selection_set)
                shape.depth = max(shape.depth, measured.depth)
                shape.fields += measured.fields
                shape.aliases += measured.aliases
                shape.schema_fields += measured.schema_fields
        return shape

    def _fragment(self, name: str) -> _FragmentShape:
        known = self._measured.get(name)
        if known is not None:
            return known
        definition = self._fragments.get(name)
        if definition is None or name in self._measuring:
            return _FragmentShape()  # unknown or cyclic: reported by graphql-core's rules
        self._measuring.add(name)
        measured = self._selection_set(definition.selection_set)
        self._measuring.discard(name)
        self._measured[name] = measured
        return measured

    def _selection_set(self, selection_set: SelectionSetNode | None) -> _FragmentShape:
        """Depth below this selection set (graphene's convention: a leaf adds 0), and its own fields and
        aliases (fragments spread here are counted where they are defined)."""
        result = _FragmentShape()
        if selection_set is None:
            return result
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                result.fields += 1
                result.aliases += selection.alias is not None
                result.schema_fields += selection.name.value == "__schema"
                below = self._selection_set(selection.selection_set)
                result.fields += below.fields
                result.aliases += below.aliases
                # Introspection fields do not count towards depth (graphene's rule did the same);
                # their cost is bounded by the cost limit.
                if selection.selection_set is not None and not selection.name.value.startswith("__"):
                    result.depth = max(result.depth, 1 + below.depth)
            elif isinstance(selection, InlineFragmentNode):
                inner = self._selection_set(selection.selection_set)
                result.depth = max(result.depth, inner.depth)
                result.fields += inner.fields
                result.aliases += inner.aliases
                result.schema_fields += inner.schema_fields
            elif isinstance(selection, FragmentSpreadNode):
                result.depth = max(result.depth, self._fragment(selection.name.value).depth)
        return result


def mutation_count(document: DocumentNode, operation: OperationDefinitionNode) -> int:
    """Root fields of a mutation operation, counting those reached through fragments (each spread once)."""
    if operation.operation != OperationType.MUTATION:
        return 0
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    seen: set[str] = set()

    def count(selection_set: SelectionSetNode) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += selection.name.value != "__typename"
            elif isinstance(selection, InlineFragmentNode):
                total += count(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    total += count(fragment.selection_set)
        return total

    return count(operation.selection_set)


def structural_errors(document: DocumentNode) -> list[GraphQLError]:
    shape = DocumentShape.of(document)
    mutations = max(
        (
            mutation_count(document, definition)
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        ),
        default=0,
    )
    checks = (
        (mutations, settings.GRAPHQL_MAX_MUTATIONS, "Too many mutations: at most {} per request."),
        (shape.operations, settings.GRAPHQL_MAX_OPERATIONS, "Too many operations: at most {} per request."),
        (shape.fields, settings.GRAPHQL_MAX_FIELDS, "Too many fields: at most {} per request."),
        (shape.aliases, settings.GRAPHQL_MAX_ALIASES, "Too many aliases: at most {} per request."),
        (shape.depth, settings.GRAPHQL_MAX_DEPTH, "The query exceeds the maximum depth of {}."),
        # One schema introspection answers everything a client needs; copies only multiply its size.
        (shape.schema_fields, 1, "Too many '__schema' selections: at most {} per request."),
    )
    return [limit_error(message.format(limit)) for value, limit, message in checks if value > limit]


class PageSizeLimitRule(ValidationRule):
    """Refuse a literal ``first``/``last`` above the cap up front (variables are checked by resolvers)."""

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        is_page_size = node.name.value in PAGE_SIZE_ARGUMENTS and isinstance(node.value, IntValueNode)
        if is_page_size and int(node.value.value) > settings.GRAPHQL_MAX_PAGE_SIZE:
            message = f"'{node.name.value}' must be at most {settings.GRAPHQL_MAX_PAGE_SIZE}."
            self.report_error(limit_error(message, node))


def validation_rules(*, introspection: bool) -> tuple[type[ValidationRule], ...]:
    """The specification's rules, the literal page-size cap, and (unless allowed) no introspection."""
    rules: tuple[type[ValidationRule], ...] = (*specified_rules, PageSizeLimitRule)
    if not introspection:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    return rules


# --- Per-request limits (depend on the operation and the variables) -----------------------------------


class QueryCost:
    """The cost of one operation: fields selected times the items their parents may return."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self._costs: dict[str, int] = {}
        self._computing: set[str] = set()

    def of_operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        return self._selection_set(operation.selection_set, root)

    def _selection_set(self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self._selection_set(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value)
        return total

    def _fragment(self, name: str) -> int:
        if name in self._costs:
            return self._costs[name]
        definition = self.fragments.get(name)
        if definition is None or name in self._computing:
            return 0
        self._computing.add(name)
        cost = self._selection_set(
            definition.selection_set, self.schema.get_type(definition.type_condition.name.value)
        )
        self._computing.discard(name)
        self._costs[name] = cost
        return cost

    def _field(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        if node.selection_set is None:
            return 1
        definition = _field_definition(parent, node.name.value)
        child = get_named_type(definition.type) if definition is not None else None
        return 1 + self._multiplier(node, definition) * self._selection_set(node.selection_set, child)

    def _multiplier(self, node: FieldNode, definition: Any) -> int:
        if definition is None:
            return 1
        if any(name in definition.args for name in PAGE_SIZE_ARGUMENTS):
            for argument in node.arguments or ():
                if argument.name.value in PAGE_SIZE_ARGUMENTS:
                    return self._page_size(argument)
            return settings.GRAPHQL_DEFAULT_PAGE_SIZE
        field_type = definition.type.of_type if is_non_null_type(definition.type) else definition.type
        # A connection's edges were multiplied by its page size already.
        if is_list_type(field_type) and node.name.value != "edges":
            return settings.GRAPHQL_COST_LIST_MULTIPLIER
        return 1

    def _page_size(self, argument: ArgumentNode) -> int:
        value: Any = None
        if isinstance(argument.value, IntValueNode):
            value = int(argument.value.value)
        elif isinstance(argument.value, VariableNode):
            value = self.variables.get(argument.value.name.value)
        if not isinstance(value, int) or isinstance(value, bool):
            return settings.GRAPHQL_DEFAULT_PAGE_SIZE
        return min(max(value, 0), settings.GRAPHQL_MAX_PAGE_SIZE)


def _field_definition(parent: GraphQLNamedType | None, name: str) -> Any:
    if name == "__typename":
        return TypeNameMetaFieldDef
    if name == "__schema":
        return SchemaMetaFieldDef
    if name == "__type":
        return TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType) or hasattr(parent, "fields"):
        return parent.fields.get(name)  # type: ignore[union-attr]
    return None


def operation_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
) -> list[GraphQLError]:
    """The limit that depends on which operation runs and with which variables: its cost."""
    cost = QueryCost(schema, document, variables).of_operation(operation)
    if cost > settings.GRAPHQL_MAX_COST:
        return [
            limit_error(
                f"The query costs {cost}, more than the maximum of {settings.GRAPHQL_MAX_COST}: "
                "select fewer fields or ask for smaller pages."
            )
        ]
    return []
