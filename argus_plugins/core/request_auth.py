"""What authentication middleware tells the views about a request's ``Authorization: Bearer`` header.

Core defines these marks and reads them (the GraphQL view, the rate limits); the API tokens themselves
live a layer up, in ``argus_plugins.tenancy``, whose ``BearerTokenMiddleware`` checks the header and sets
the marks. A view takes part by setting ``accepts_bearer_tokens = True``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

_ATTR_AUTHENTICATED = "_argus_token_auth"
_ATTR_KEY_ID = "_argus_token_id"
_ATTR_REFUSAL = "_argus_token_refusal"


def mark_token_user(request: HttpRequest, user: Any, token_id: object) -> None:
    """The request acts as ``user``, authenticated by the API token ``token_id`` (not by a cookie)."""
    request.user = user
    setattr(request, _ATTR_AUTHENTICATED, True)
    setattr(request, _ATTR_KEY_ID, token_id)


def mark_token_refused(request: HttpRequest, reason: str) -> None:
    setattr(request, _ATTR_REFUSAL, reason)


def is_token_request(request: HttpRequest) -> bool:
    return getattr(request, _ATTR_AUTHENTICATED, False) is True


def token_id(request: HttpRequest) -> object | None:
    """The authenticating token's key (e.g. for per-token rate limits), None for other requests."""
    return getattr(request, _ATTR_KEY_ID, None)


def token_refusal(request: HttpRequest) -> str | None:
    """Why the request's bearer header was refused; None when it was accepted or there was none.

    A header nothing looked at (no middleware ran) counts as refused: a view never ignores it."""
    if is_token_request(request) or request.headers.get("Authorization") is None:
        return None
    return getattr(request, _ATTR_REFUSAL, None) or "The Authorization header could not be checked."
