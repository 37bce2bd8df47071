"""API-token authentication: ``Authorization: Bearer argus_…`` on the views that accept it.

Runs after Django's AuthenticationMiddleware (settings.MIDDLEWARE) and only for a view whose class sets
``accepts_bearer_tokens = True`` (the GraphQL endpoint; never the admin, which stays cookie-only). A valid
token replaces ``request.user``; a refused one is only noted (argus_plugins.core.request_auth): the view
answers it in its own format (401 for GraphQL), after spending the caller's anonymous rate budget.
Token requests carry no cookies, so the view skips the CSRF check for them and sets no CSRF cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from argus_plugins.core.request_auth import mark_token_refused, mark_token_user

from .tokens import authenticate_bearer


class BearerTokenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> None:
        view_class = getattr(view_func, "view_class", None)
        if not getattr(view_class, "accepts_bearer_tokens", False):
            return
        authorization = request.headers.get("Authorization")
        if authorization is None:
            return
        result = authenticate_bearer(authorization)
        if result.user is None:
            mark_token_refused(request, result.error or "Invalid API token.")
        else:
            mark_token_user(request, result.user, result.token_id)
