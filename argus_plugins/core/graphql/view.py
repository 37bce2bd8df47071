"""The single GraphQL endpoint: bearer-token or session auth, request limits, and error masking."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from graphene_django.views import HttpError
from graphene_file_upload.django import FileUploadGraphQLView
from graphql import ExecutionResult, GraphQLError

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
            return super().dispatch(request, *args, **kwargs)
        except RequestDataTooBig:
            return _error_response(413, "REQUEST_TOO_LARGE", "The request body is too large.")

    def execute_graphql_request(
        self, request: HttpRequest, data: Any, query: str | None, *args: Any, **kwargs: Any
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
        return super().execute_graphql_request(request, data, query, *args, **kwargs)

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
