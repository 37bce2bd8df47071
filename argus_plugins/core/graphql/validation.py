"""Document limits enforced before anything executes: depth, aliases, operations and page sizes."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from graphene.validation import depth_limit_validator
from graphql import GraphQLError, ValidationRule, specified_rules
from graphql.language import ArgumentNode, DocumentNode, FieldNode, IntValueNode, OperationDefinitionNode


def _limit_error(message: str, node: Any = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": "QUERY_TOO_COMPLEX"})


class AliasLimitRule(ValidationRule):
    """Aliases multiply work (``a1: expensive … a1000: expensive``); cap them per document."""

    def enter_document(self, node: DocumentNode, *_args: Any) -> None:
        self.alias_count = 0

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        if node.alias is not None:
            self.alias_count += 1
            if self.alias_count == settings.GRAPHQL_MAX_ALIASES + 1:
                self.report_error(
                    _limit_error(
                        f"Too many aliases: at most {settings.GRAPHQL_MAX_ALIASES} per request.", node
                    )
                )


class OperationLimitRule(ValidationRule):
    def enter_document(self, node: DocumentNode, *_args: Any) -> None:
        operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) > settings.GRAPHQL_MAX_OPERATIONS:
            self.report_error(
                _limit_error(f"Too many operations: at most {settings.GRAPHQL_MAX_OPERATIONS} per request.")
            )


class PageSizeLimitRule(ValidationRule):
    """Refuse a literal ``first``/``last`` above the cap up front (variables are checked by resolvers)."""

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        is_page_size = node.name.value in ("first", "last") and isinstance(node.value, IntValueNode)
        if is_page_size and int(node.value.value) > settings.GRAPHQL_MAX_PAGE_SIZE:
            message = f"'{node.name.value}' must be at most {settings.GRAPHQL_MAX_PAGE_SIZE}."
            self.report_error(_limit_error(message, node))


def validation_rules() -> list[type[ValidationRule]]:
    # graphene-django runs only the rules it is given, so the specification's own rules come first.
    return list(_rules_for_depth(settings.GRAPHQL_MAX_DEPTH))


@cache
def _rules_for_depth(max_depth: int) -> tuple[type[ValidationRule], ...]:
    # The view is instantiated per request: building the depth rule once per limit (not per request) also
    # keeps the rule classes stable, so the view's document cache can key on them.
    return (
        *specified_rules,
        depth_limit_validator(max_depth=max_depth),
        AliasLimitRule,
        OperationLimitRule,
        PageSizeLimitRule,
    )
