"""The single GraphQL endpoint: bearer-token or session auth, request limits, and error masking."""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection, transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from graphene_django.constants import MUTATION_ERRORS_FLAG
from graphene_django.settings import graphene_settings
from graphene_django.views import GraphQLView, HttpError
from graphene_file_upload.django import FileUploadGraphQLView
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
    validate_schema,
)

from argus_plugins.tenancy.tokens import authenticate_bearer

from ..errors import CommonErrorCode, DomainError
from ..request_context import current_request_id
from .validation import validation_rules

logger = logging.getLogger("argus_plugins.graphql")


def _error_response(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status=status)


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    # Session-authenticated POSTs (GraphiQL) keep Django's CSRF protection; bearer requests need none.
    check = CsrfViewMiddleware(lambda req: HttpResponse())
    check.process_request(request)
    return check.process_view(request, lambda req: None, (), {})


@dataclass(frozen=True)
class CheckedDocument:
    """A query text parsed and validated: the document, or the errors that stop it (syntax or rules)."""

    document: DocumentNode | None
    errors: tuple[Exception, ...]


class DocumentCache:
    """A small thread-safe LRU of checked documents, bounded in entries and in total query characters.

    Clients send the same few query texts over and over; parsing and validating them again on every
    request costs more CPU than many resolvers. Parsed ASTs weigh roughly 100 bytes per query character,
    hence the character budget as well as the entry count.
    """

    def __init__(self, max_entries: int, max_chars: int, max_query_chars: int) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.max_query_chars = max_query_chars
        self._entries: OrderedDict[Hashable, tuple[CheckedDocument, int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> CheckedDocument | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, checked: CheckedDocument, size: int) -> None:
        if size > self.max_query_chars:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._chars -= previous[1]
            self._entries[key] = (checked, size)
            self._chars += size
            while len(self._entries) > self.max_entries or self._chars > self.max_chars:
                _, (_, evicted_size) = self._entries.popitem(last=False)
                self._chars -= evicted_size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)


document_cache = DocumentCache(max_entries=256, max_chars=256 * 1024, max_query_chars=8 * 1024)


def check_document(schema: GraphQLSchema, query: str, rules: tuple[type[Any], ...] | None) -> CheckedDocument:
    """Parse and validate ``query``, remembering the outcome for identical query texts.

    Both steps depend only on the text, the schema, the rules and the limits the rules read from
    settings, so exactly those form the key; variables, operation name and the caller play no part.
    """
    key = (
        query,
        schema,
        rules,
        settings.GRAPHQL_MAX_ALIASES,
        settings.GRAPHQL_MAX_OPERATIONS,
        settings.GRAPHQL_MAX_PAGE_SIZE,
        graphene_settings.MAX_VALIDATION_ERRORS,
    )
    checked = document_cache.get(key)
    if checked is not None:
        return checked
    try:
        document = parse(query)
    except GraphQLError as error:  # a syntax error: as certain for this text next time
        checked = CheckedDocument(None, (error,))
    except Exception as error:  # noqa: BLE001 - reported like graphene-django does, but not remembered
        return CheckedDocument(None, (error,))
    else:
        errors = validate(schema, document, rules, graphene_settings.MAX_VALIDATION_ERRORS)
        checked = CheckedDocument(document, tuple(errors))
    document_cache.put(key, checked, len(query))
    return checked


_DISPATCH_WITHOUT_CSRF_COOKIE = GraphQLView.dispatch.__wrapped__  # under method_decorator(ensure_csrf_cookie)


@method_decorator(csrf_exempt, name="dispatch")
class ArgusGraphQLView(FileUploadGraphQLView):
    graphiql = True

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validation_rules", validation_rules())
        super().__init__(**kwargs)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            result = authenticate_bearer(authorization)
            if result.user is None:
                return _error_response(401, CommonErrorCode.UNAUTHENTICATED.value, result.error or "")
            request.user = result.user
            request._argus_token_auth = True
        elif request.method == "POST" and request.user.is_authenticated:
            failure = _csrf_failure(request)
            if failure is not None:
                return _error_response(403, CommonErrorCode.PERMISSION_DENIED.value, "CSRF check failed.")
        try:
            if getattr(request, "_argus_token_auth", False):
                # graphene-django wraps dispatch in ensure_csrf_cookie for GraphiQL in a browser session. A
                # token client sends no cookies and needs no CSRF cookie; minting one (a random secret,
                # masked) costs a fifth of a small request.
                return _DISPATCH_WITHOUT_CSRF_COOKIE(self, request, *args, **kwargs)
            return super().dispatch(request, *args, **kwargs)
        except RequestDataTooBig:
            return _error_response(413, "REQUEST_TOO_LARGE", "The request body is too large.")

    def execute_graphql_request(
        self,
        request: HttpRequest,
        data: Any,
        query: str | None,
        variables: Any,
        operation_name: str | None,
        show_graphiql: bool = False,
    ) -> ExecutionResult | None:
        if query and len(query) > settings.GRAPHQL_MAX_QUERY_BYTES:
            return ExecutionResult(
                errors=[
                    GraphQLError(
                        f"The query is too large: at most {settings.GRAPHQL_MAX_QUERY_BYTES} characters.",
                        extensions={"code": "QUERY_TOO_COMPLEX"},
                    )
                ]
            )
        if not isinstance(query, str):
            # Missing or non-text queries: graphene-django's own handling and error answers.
            return super().execute_graphql_request(
                request, data, query, variables, operation_name, show_graphiql
            )
        return self._execute_checked(request, query, variables, operation_name, show_graphiql)

    def _execute_checked(
        self,
        request: HttpRequest,
        query: str,
        variables: Any,
        operation_name: str | None,
        show_graphiql: bool,
    ) -> ExecutionResult | None:
        """graphene-django's ``execute_graphql_request`` step for step, with parse + validate cached."""
        if not query:
            if show_graphiql:
                return None
            raise HttpError(HttpResponseBadRequest("Must provide query string."))
        schema = self.schema.graphql_schema
        schema_validation_errors = validate_schema(schema)
        if schema_validation_errors:
            return ExecutionResult(data=None, errors=schema_validation_errors)

        rules = tuple(self.validation_rules) if self.validation_rules is not None else None
        checked = check_document(schema, query, rules)
        if checked.document is None:
            return ExecutionResult(errors=list(checked.errors))
        document = checked.document
        operation_ast = get_operation_ast(document, operation_name)
        if (
            request.method.lower() == "get"
            and operation_ast is not None
            and operation_ast.operation != OperationType.QUERY
        ):
            if show_graphiql:
                return None
            raise HttpError(
                HttpResponseNotAllowed(
                    ["POST"],
                    f"Can only perform a {operation_ast.operation.value} operation from a POST request.",
                )
            )
        if checked.errors:
            return ExecutionResult(data=None, errors=list(checked.errors))

        try:
            execute_options: dict[str, Any] = {
                "root_value": self.get_root_value(request),
                "context_value": self.get_context(request),
                "variable_values": variables,
                "operation_name": operation_name,
                "middleware": self.get_middleware(request),
            }
            if self.execution_context_class:
                execute_options["execution_context_class"] = self.execution_context_class
            if (
                operation_ast is not None
                and operation_ast.operation == OperationType.MUTATION
                and (
                    graphene_settings.ATOMIC_MUTATIONS is True
                    or connection.settings_dict.get("ATOMIC_MUTATIONS", False) is True
                )
            ):
                with transaction.atomic():
                    result = execute(schema, document, **execute_options)
                    if getattr(request, MUTATION_ERRORS_FLAG, False) is True:
                        transaction.set_rollback(True)
                return result
            return execute(schema, document, **execute_options)
        except Exception as error:  # noqa: BLE001 - graphene-django's contract: errors go into the result
            return ExecutionResult(errors=[error])

    def format_error(self, error: Exception) -> dict[str, Any]:
        if isinstance(error, HttpError):
            return {"message": error.message or str(error), "extensions": {"code": "BAD_REQUEST"}}
        if not isinstance(error, GraphQLError):
            return self._internal_error(error, {})
        original = error.original_error
        formatted = dict(error.formatted)
        if original is None:
            extensions = dict(formatted.get("extensions") or {})
            extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
            formatted["extensions"] = extensions
            return formatted
        if isinstance(original, DomainError):
            formatted["message"] = original.message
            formatted["extensions"] = {"code": original.code.value, "field": original.field}
            return formatted
        if isinstance(original, GraphQLError):
            return formatted
        return self._internal_error(original, formatted)

    def _internal_error(self, error: BaseException, formatted: dict[str, Any]) -> dict[str, Any]:
        request_id = current_request_id.get()
        logger.error("Unhandled error in GraphQL request %s", request_id, exc_info=error)
        result = {
            "message": f"Internal server error (request id {request_id}).",
            "extensions": {"code": CommonErrorCode.INTERNAL_ERROR.value, "requestId": request_id},
        }
        for key in ("locations", "path"):
            if formatted.get(key):
                result[key] = formatted[key]
        return result

    def json_encode(self, request: HttpRequest, d: Any, pretty: bool = False) -> str:
        return json.dumps(d, separators=(",", ":"), default=str)
