from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from .request_context import current_request_id

# An incoming id is only trusted when it is short and plain, so it cannot inject into logs.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request an id, echoed in ``X-Request-ID`` and stamped on every log line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestBodyLimitMiddleware:
    """Refuses an oversized body from its ``Content-Length`` before anything reads it.

    nginx applies the same limits in front of gunicorn (argus_plugins/core/web_tier.py); this keeps them
    wherever Django faces clients itself. A request without credentials (no ``Authorization`` header, no
    session cookie) gets the small anonymous limit: a 600 MB anonymous multipart is answered at once rather
    than parsed to find out it is unauthenticated. Which credentials are valid is checked later, as usual.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django treats a malformed length as no body
        if length > settings.ARGUS_WEB_ANONYMOUS_MAX_BODY_BYTES:
            anonymous = (
                "HTTP_AUTHORIZATION" not in request.META
                and settings.SESSION_COOKIE_NAME not in request.COOKIES
            )
            limit = settings.ARGUS_WEB_MAX_BODY_BYTES
            if anonymous:
                limit = settings.ARGUS_WEB_ANONYMOUS_MAX_BODY_BYTES
            if length > limit:
                return request_too_large(limit, anonymous=anonymous)
        return self.get_response(request)


def request_too_large(limit: int, *, anonymous: bool) -> JsonResponse:
    # The same answer as nginx's (nginx.conf.template), so clients see one shape whichever refuses.
    if anonymous:
        message = (
            "The request body is too large for an unauthenticated request: "
            f"at most {limit} bytes without credentials."
        )
    else:
        message = f"The request body is too large: at most {limit} bytes."
    return JsonResponse(
        {"errors": [{"message": message, "extensions": {"code": "REQUEST_TOO_LARGE"}}]}, status=413
    )
