"""API token format, hashing and bearer authentication."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argus_plugins.core import clock
from argus_plugins.core.prepared import PreparedQuery

from .models import ApiToken, User

# token_hash is unique: no ORDER BY needed. Compiled once per connection: this runs on every request.
_TOKEN_BY_HASH = PreparedQuery(
    lambda token_hash: ApiToken.objects.select_related("user").filter(token_hash=token_hash).order_by(),
    ApiToken._meta.get_field("token_hash"),
)

TOKEN_PREFIX = "argus_"  # noqa: S105 - a public marker, not a secret
_TOKEN_RE = re.compile(r"^argus_[A-Za-z0-9_-]{43}$")
# Writing last_used_at on every request would turn reads into writes; a minute's precision is plenty.
LAST_USED_PRECISION = timedelta(minutes=1)


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BearerResult:
    user: User | None
    error: str | None = None
    token_id: object | None = None  # the token's key, e.g. for per-token rate limits


def authenticate_bearer(authorization: str) -> BearerResult:
    """Resolve an ``Authorization`` header value to a user, or say precisely why not."""
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return BearerResult(None, "Malformed Authorization header: expected 'Bearer <token>'.")
    credential = credential.strip()
    if not _TOKEN_RE.match(credential):
        return BearerResult(None, "Invalid API token.")
    token = _TOKEN_BY_HASH.first(hash_token(credential))
    if token is None:
        return BearerResult(None, "Invalid API token.")
    if not token.user.is_active:
        return BearerResult(None, "Invalid API token.")
    if token.revoked_at is not None:
        return BearerResult(None, "This API token has been revoked.")
    if token.is_expired():
        return BearerResult(None, "This API token has expired.")
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return BearerResult(token.user, token_id=token.pk)
