"""Tenancy use cases: tenants, members and API tokens. One transaction each; the actor is explicit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.validation import clean_text, parse_uuid

from .error_codes import TenancyErrorCode
from .models import ApiToken, Membership, Role, Tenant, User
from .permissions import require_authenticated, require_tenant_role
from .tokens import generate_token, hash_token

MAX_NAME_LENGTH = 200
MAX_TOKEN_NAME_LENGTH = 100


def _unique_tenant_slug(name: str) -> str:
    base = slugify(name)[:60] or "tenant"
    slug, counter = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        counter += 1
        slug = f"{base}-{counter}"
    return slug


@transaction.atomic
def create_tenant(*, actor: User, name: Any) -> Tenant:
    require_authenticated(actor)
    name = clean_text(name, field="name", max_length=MAX_NAME_LENGTH)
    tenant = Tenant.objects.create(name=name, slug=_unique_tenant_slug(name))
    Membership.objects.create(user=actor, tenant=tenant, role=Role.ADMIN)
    return tenant


def _clean_role(role: Any) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise DomainError(CommonErrorCode.INVALID, "Unknown role.", "role") from None


@transaction.atomic
def add_tenant_member(*, actor: User, tenant_id: Any, username: Any, role: Any) -> Membership:
    membership = require_tenant_role(actor, tenant_id, Role.ADMIN)
    username = clean_text(username, field="username", max_length=150)
    role = _clean_role(role)
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise not_found("User", "username")
    try:
        with transaction.atomic():
            return Membership.objects.create(user=user, tenant=membership.tenant, role=role)
    except IntegrityError:
        raise DomainError(
            CommonErrorCode.DUPLICATE, f"'{username}' is already a member of this tenant.", "username"
        ) from None


@transaction.atomic
def remove_tenant_member(*, actor: User, tenant_id: Any, username: Any) -> Tenant:
    admin_membership = require_tenant_role(actor, tenant_id, Role.ADMIN)
    username = clean_text(username, field="username", max_length=150)
    tenant = admin_membership.tenant
    # Lock the tenant's admin rows so two concurrent removals cannot both pass the last-admin check.
    admins = list(Membership.objects.select_for_update().filter(tenant=tenant, role=Role.ADMIN))
    target = Membership.objects.filter(tenant=tenant, user__username=username).first()
    if target is None:
        raise not_found("Member", "username")
    if target.role == Role.ADMIN and len(admins) <= 1:
        raise DomainError(TenancyErrorCode.LAST_ADMIN, "A tenant must keep at least one admin.", "username")
    target.delete()
    return tenant


@transaction.atomic
def create_api_token(
    *, actor: User, name: Any, expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for the actor; returns the record and the secret, which is never stored."""
    require_authenticated(actor)
    name = clean_text(name, field="name", max_length=MAX_TOKEN_NAME_LENGTH)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise DomainError(CommonErrorCode.INVALID, "Give a time zone with the expiry.", "expiresAt")
        if expires_at <= clock.now():
            raise DomainError(CommonErrorCode.INVALID, "The expiry must be in the future.", "expiresAt")
    raw = generate_token()
    token = ApiToken.objects.create(
        user=actor, name=name, token_hash=hash_token(raw), prefix=raw[:12], expires_at=expires_at
    )
    return token, raw


@transaction.atomic
def revoke_api_token(*, actor: User, token_id: Any) -> ApiToken:
    require_authenticated(actor)
    token_uuid = parse_uuid(token_id)
    token = ApiToken.objects.select_for_update().filter(pk=token_uuid, user=actor).first()
    if token is None:
        raise not_found("API token")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
    return token
