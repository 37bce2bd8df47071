"""The single GraphQL endpoint: CSRF for sessions, request limits, GraphQL-over-HTTP, error masking."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db import connection, transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    JsonResponse,
    QueryDict,
)
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from graphene_django.constants import MUTATION_ERRORS_FLAG
from graphene_django.settings import graphene_settings
from graphene_django.views import GraphQLView, HttpError, set_rollback
from graphene_file_upload.django import FileUploadGraphQLView
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    MiddlewareManager,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
    validate_schema,
)

from ..errors import CommonErrorCode, DomainError
from ..request_auth import is_token_request, token_refusal
from ..request_context import current_request_id
from .execution import ArgumentsMiddlewareManager, ArgusExecutionContext, on_fresh_data_stack
from .rate_limits import RateLimited, check_mutation_rate, check_request_rate
from .validation import limit_error, mutation_count, operation_errors, structural_errors, validation_rules

logger = logging.getLogger("argus_plugins.graphql")

# GraphQL over HTTP: the specification's own media type, and the legacy one most clients still ask for.
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
_DID_YOU_MEAN = re.compile(r"\s*Did you mean .*\?\s*$", re.DOTALL)


def response_media_type(request: HttpRequest) -> str:
    """The media type of the answer: ``application/json`` unless the client prefers the newer one.

    A request without ``Accept`` is a legacy client (the spec says to assume ``application/json``), and
    ``*/*`` picks ``application/json`` too.
    """
    if not request.headers.get("Accept", "").strip():
        return APPLICATION_JSON
    return request.get_preferred_type([APPLICATION_JSON, GRAPHQL_RESPONSE_JSON]) or APPLICATION_JSON


def _error_response(status: int, code: str, message: str, media_type: str = APPLICATION_JSON) -> JsonResponse:
    return JsonResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status=status,
        content_type=f"{media_type}; charset=utf-8",
    )


def _rate_limited_response(limited: RateLimited, media_type: str) -> JsonResponse:
    response = _error_response(429, CommonErrorCode.RATE_LIMITED.value, limited.message, media_type)
    response["Retry-After"] = str(limited.retry_after)
    return response


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
        settings.GRAPHQL_MAX_TOKENS,
        settings.GRAPHQL_MAX_FIELDS,
        settings.GRAPHQL_MAX_DEPTH,
        settings.GRAPHQL_MAX_ALIASES,
        settings.GRAPHQL_MAX_OPERATIONS,
        settings.GRAPHQL_MAX_MUTATIONS,
        settings.GRAPHQL_MAX_PAGE_SIZE,
        graphene_settings.MAX_VALIDATION_ERRORS,
    )
    checked = document_cache.get(key)
    if checked is not None:
        return checked
    try:
        document = parse(query, max_tokens=settings.GRAPHQL_MAX_TOKENS)
    except GraphQLError as error:  # a syntax error: as certain for this text next time
        if error.message.endswith("Parsing aborted."):  # graphql-core's token and nesting limits
            error = limit_error(error.message.removeprefix("Syntax Error: "), error.nodes)
        checked = CheckedDocument(None, (error,))
    except RecursionError:
        checked = CheckedDocument(None, (limit_error("The query is nested too deeply."),))
    except Exception as error:  # noqa: BLE001 - reported like graphene-django does, but not remembered
        return CheckedDocument(None, (error,))
    else:
        # The cheap, cycle-safe limits first: graphql-core's rules are what they protect.
        errors = structural_errors(document) or validate(
            schema, document, rules, graphene_settings.MAX_VALIDATION_ERRORS
        )
        checked = CheckedDocument(document, tuple(errors))
    document_cache.put(key, checked, len(query))
    return checked


def _json_variables_as_text(operation: OperationDefinitionNode, variables: dict[str, Any]) -> dict[str, Any]:
    """Let a ``JSONString`` variable be sent as a JSON object (or list), not only as encoded text."""
    for definition in operation.variable_definitions or ():
        type_node = definition.type
        if isinstance(type_node, NonNullTypeNode):
            type_node = type_node.type
        name = definition.variable.name.value
        if (
            isinstance(type_node, NamedTypeNode)
            and type_node.name.value == "JSONString"
            and isinstance(variables.get(name), dict | list)
        ):
            variables = {**variables, name: json.dumps(variables[name])}
    return variables


#: json.dumps's behaviour where orjson's differs: keys that are not strings are written as strings, and
#: datetimes and dataclasses go to ``default`` (str) rather than orjson's own RFC 3339 and field maps.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


@method_decorator(csrf_exempt, name="dispatch")
class ArgusGraphQLView(FileUploadGraphQLView):
    """graphene-django's view, extended only through its public hooks: ``dispatch`` (ours entirely, built
    from ``parse_body``, ``can_display_graphiql``, ``render_graphiql`` and ``get_response``),
    ``parse_body``, ``get_graphql_params``, ``get_response``, ``execute_graphql_request`` (the project's
    own: cached parse and validation, document limits), ``format_error`` and ``json_encode``.

    Authentication is middleware's: Django's session, or an API token (``accepts_bearer_tokens``, see
    argus_plugins.tenancy.middleware). Session POSTs are CSRF-checked here (the view is csrf_exempt so
    that token clients, which send no cookies, are not).
    """

    graphiql = True
    accepts_bearer_tokens = True
    execution_context_class = ArgusExecutionContext

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        media_type = response_media_type(request)
        request._argus_media_type = media_type
        refusal = token_refusal(request)
        if refusal is not None:
            try:  # guessing tokens spends the anonymous budget of the caller's address
                check_request_rate(request)
            except RateLimited as limited:
                return _rate_limited_response(limited, media_type)
            return _error_response(401, CommonErrorCode.UNAUTHENTICATED.value, refusal, media_type)
        token_request = is_token_request(request)
        if not token_request and request.method == "POST" and request.user.is_authenticated:
            failure = _csrf_failure(request)
            if failure is not None:
                return _error_response(
                    403, CommonErrorCode.PERMISSION_DENIED.value, "CSRF check failed.", media_type
                )
        try:
            check_request_rate(request)
            if not token_request:
                # What graphene-django's ensure_csrf_cookie does, for browser sessions (GraphiQL) only: a
                # token client sends no cookies, and minting one (a random secret, masked) costs a fifth
                # of a small request. CsrfViewMiddleware sets the cookie on the response.
                get_token(request)
            response = self._respond(request)
        except RequestDataTooBig:
            return _error_response(413, "REQUEST_TOO_LARGE", "The request body is too large.", media_type)
        except RateLimited as limited:
            return _rate_limited_response(limited, media_type)
        if response.get("Content-Type", "").startswith(APPLICATION_JSON):
            response["Content-Type"] = f"{media_type}; charset=utf-8"
        return response

    def _respond(self, request: HttpRequest) -> HttpResponse:
        """GET or POST one operation (no batching), or GraphiQL for a browser asking for HTML."""
        try:
            if request.method not in ("GET", "POST"):
                raise HttpError(
                    HttpResponseNotAllowed(["GET", "POST"], "GraphQL only supports GET and POST requests.")
                )
            data = self.parse_body(request)
            if self.graphiql and self.can_display_graphiql(request, data):
                return self.render_graphiql(
                    request,
                    # The settings templates/graphene/graphiql.html reads (its assets are our static files).
                    graphiql_header_editor_enabled=graphene_settings.GRAPHIQL_HEADER_EDITOR_ENABLED,
                    graphiql_should_persist_headers=graphene_settings.GRAPHIQL_SHOULD_PERSIST_HEADERS,
                    graphiql_input_value_deprecation=graphene_settings.GRAPHIQL_INPUT_VALUE_DEPRECATION,
                )
            result, status_code = self.get_response(request, data)
            return HttpResponse(status=status_code, content=result, content_type=APPLICATION_JSON)
        except HttpError as error:
            response = error.response
            response["Content-Type"] = APPLICATION_JSON
            response.content = self.json_encode(request, {"errors": [self.format_error(error)]})
            return response

    # --- Request parameters ---------------------------------------------------------------------------

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            return super().parse_body(request)
        except RecursionError:  # json.loads on [[[[…]]]]: graphene-django catches only ValueError/TypeError
            raise HttpError(HttpResponseBadRequest("The request body is nested too deeply.")) from None
        except UnicodeDecodeError:  # an application/graphql body is decoded unchecked
            raise HttpError(HttpResponseBadRequest("The request body is not valid UTF-8.")) from None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            # graphene-file-upload reads 'operations' and 'map' without checking them; JSON bodies are
            # checked by graphene-django (HttpError), so only a malformed multipart request gets here.
            if self.get_content_type(request) != "multipart/form-data":
                raise
            raise HttpError(
                HttpResponseBadRequest(
                    "Malformed multipart request: 'operations' must be a JSON object and 'map' a JSON object "
                    "of file names to lists of paths into it (GraphQL multipart request specification)."
                )
            ) from None

    def get_graphql_params(self, request: HttpRequest, data: Any) -> tuple[Any, Any, Any, Any]:
        """graphene-django's parameters, each checked for its type: a malformed request is a typed 400."""
        if not isinstance(data, dict | QueryDict):
            raise HttpError(HttpResponseBadRequest("The request body must be a JSON object."))
        query, variables, operation_name, request_id = GraphQLView.get_graphql_params(request, data)
        if query is not None and not isinstance(query, str):
            raise HttpError(HttpResponseBadRequest("The 'query' parameter must be a string."))
        if variables is not None and not isinstance(variables, dict):
            raise HttpError(HttpResponseBadRequest("The 'variables' parameter must be a JSON object."))
        if operation_name is not None and not isinstance(operation_name, str):
            raise HttpError(HttpResponseBadRequest("The 'operationName' parameter must be a string."))
        extensions = data.get("extensions")
        if extensions is not None and not isinstance(extensions, dict):
            raise HttpError(HttpResponseBadRequest("The 'extensions' parameter must be a JSON object."))
        return query, variables, operation_name, request_id

    # --- Execution --------------------------------------------------------------------------------------

    def get_response(self, request: HttpRequest, data: Any, show_graphiql: bool = False) -> tuple[Any, int]:
        """One operation's JSON answer and its status code, by GraphQL over HTTP.

        A request error (the document does not parse or validate, a limit refuses it, the variables do
        not coerce: errors without a ``path``, and no ``data``) answers 400 in
        ``application/graphql-response+json`` and 200 in ``application/json``, as the specification says
        for each media type.
        """
        query, variables, operation_name, _id = self.get_graphql_params(request, data)
        execution_result = self.execute_graphql_request(
            request, data, query, variables, operation_name, show_graphiql
        )
        if getattr(request, MUTATION_ERRORS_FLAG, False) is True:
            set_rollback()
        if not execution_result:
            return None, 200
        response: dict[str, Any] = {}
        status_code = 200
        errors = execution_result.errors or []
        if errors:
            set_rollback()
            response["errors"] = [self.format_error(error) for error in errors]
        if any(not getattr(error, "path", None) for error in errors):
            if any(not isinstance(error, GraphQLError) for error in errors):
                status_code = 500
            elif getattr(request, "_argus_media_type", APPLICATION_JSON) == GRAPHQL_RESPONSE_JSON:
                status_code = 400
        else:
            response["data"] = execution_result.data
        return self.json_encode(request, response, pretty=show_graphiql), status_code

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
            maximum = settings.GRAPHQL_MAX_QUERY_BYTES
            return ExecutionResult(
                errors=[limit_error(f"The query is too large: at most {maximum} characters.")]
            )
        return self._execute_checked(request, query or "", variables or {}, operation_name, show_graphiql)

    def _execute_checked(
        self,
        request: HttpRequest,
        query: str,
        variables: dict[str, Any],
        operation_name: str | None,
        show_graphiql: bool,
    ) -> ExecutionResult | None:
        """The project's execution of one operation: parse + validate cached per query text, the
        per-request limits (cost, mutations, mutation rate) checked before anything executes, a mutation
        run in one transaction (ATOMIC_MUTATIONS) that rolls back when it reports errors. It keeps the
        contract of the hook it serves: None when GraphiQL has no query, HttpError for a request that is
        not GraphQL, every other failure in the result's errors."""
        if not query:
            if show_graphiql:
                return None
            raise HttpError(HttpResponseBadRequest("Must provide query string."))
        schema = self.schema.graphql_schema
        schema_validation_errors = validate_schema(schema)
        if schema_validation_errors:
            return ExecutionResult(data=None, errors=schema_validation_errors)

        introspection = self._is_trusted_caller(request, "GRAPHQL_INTROSPECTION_ANONYMOUS")
        rules = validation_rules(introspection=introspection)
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
        if operation_ast is not None:
            limit_errors = operation_errors(schema, document, operation_ast, variables)
            if limit_errors:
                return ExecutionResult(data=None, errors=limit_errors)
            check_mutation_rate(request, mutation_count(document, operation_ast))
            variables = _json_variables_as_text(operation_ast, variables)

        try:
            execute_options: dict[str, Any] = {
                "root_value": self.get_root_value(request),
                "context_value": self.get_context(request),
                "variable_values": variables,
                "operation_name": operation_name,
                "middleware": self._middleware_manager(schema, request),
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
                    result = on_fresh_data_stack(execute, schema, document, **execute_options)
                    if getattr(request, MUTATION_ERRORS_FLAG, False) is True:
                        transaction.set_rollback(True)
                return result
            return on_fresh_data_stack(execute, schema, document, **execute_options)
        except Exception as error:  # noqa: BLE001 - graphene-django's contract: errors go into the result
            return ExecutionResult(errors=[error])

    def _middleware_manager(self, schema: GraphQLSchema, request: HttpRequest) -> MiddlewareManager | None:
        """The graphene middleware around the fields that take arguments (see .execution)."""
        middleware = self.get_middleware(request)
        if isinstance(middleware, MiddlewareManager):
            middleware = middleware.middlewares
        if not middleware:
            return None
        return ArgumentsMiddlewareManager(schema, *middleware)

    @staticmethod
    def _is_trusted_caller(request: HttpRequest, anonymous_setting: str) -> bool:
        """Introspection and field suggestions: for authenticated callers, anonymous ones when allowed."""
        return request.user.is_authenticated or getattr(settings, anonymous_setting)

    # --- Errors -----------------------------------------------------------------------------------------

    def format_error(self, error: Exception) -> dict[str, Any]:
        formatted = self._format_error(error)
        request = getattr(self, "request", None)
        if request is not None and not self._is_trusted_caller(request, "GRAPHQL_SUGGESTIONS_ANONYMOUS"):
            # "Did you mean …?" would describe the schema to callers who may not introspect it.
            formatted["message"] = _DID_YOU_MEAN.sub("", formatted["message"])
        return formatted

    def _format_error(self, error: Exception) -> dict[str, Any]:
        if isinstance(error, HttpError):
            return {"message": error.message or str(error), "extensions": {"code": "BAD_REQUEST"}}
        if not isinstance(error, GraphQLError):
            return self._internal_error(error, {})
        original = error.original_error
        formatted = dict(error.formatted)
        if isinstance(original, DomainError):
            formatted["message"] = original.message
            formatted["extensions"] = {"code": original.code.value, "field": original.field}
            return formatted
        if isinstance(original, ValidationError):
            # Django refusing a value on its way to the database (e.g. a malformed UUID in a filter that a
            # resolver passed on unchecked): the client's input, not a server fault.
            formatted["message"] = "; ".join(original.messages)
            formatted["extensions"] = {"code": CommonErrorCode.INVALID.value, "field": None}
            return formatted
        if original is None or isinstance(original, GraphQLError) or not error.path:
            # No original error, or one raised before execution (a scalar refusing a literal or a variable,
            # e.g. malformed JSON for a JSONString): the client's mistake, never an internal error.
            extensions = dict(formatted.get("extensions") or {})
            extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
            formatted["extensions"] = extensions
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
        """The answer's JSON: what ``json.dumps(d, separators=(",", ":"), default=str)`` wrote, by orjson (the
        only difference: non-ASCII characters are written as UTF-8, not ``\\u`` escapes). A page of 100
        marketplace listings took 777 µs of CPU to encode, 115 µs now (README, "Marketplace")."""
        return orjson.dumps(d, default=str, option=_ORJSON_OPTIONS).decode()
