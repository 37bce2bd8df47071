"""Tenancy use cases: tenants, members and API tokens. One transaction each; the actor is explicit.

Membership is by consent: an admin invites a username, the invited user accepts (or declines); members
may leave. The audit event of each is written by the mutation base, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.validation import clean_text, parse_uuid

from .error_codes import TenancyErrorCode
from .models import (
    INVITATION_TRANSITIONS,
    ApiToken,
    InvitationStatus,
    Membership,
    Role,
    Tenant,
    TenantInvitation,
    User,
)
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
def invite_tenant_member(*, actor: User, tenant_id: Any, username: Any, role: Any) -> TenantInvitation:
    """Invite ``username`` to the tenant with ``role``; nobody becomes a member until they accept.

    The answer is the same whether or not the username exists: an invitation to a name nobody has waits
    like any other, and only an account with that name (one created before it expires, too) can accept
    it. Inviting a name with an open invitation renews it with the new role and a new expiry.
    """
    membership = require_tenant_role(actor, tenant_id, Role.ADMIN)
    username = clean_text(username, field="username", max_length=150)
    role = _clean_role(role)
    tenant = membership.tenant
    if Membership.objects.filter(tenant=tenant, user__username=username).exists():
        # Members are listed to every member: saying so reveals nothing the admin cannot read.
        raise DomainError(
            CommonErrorCode.DUPLICATE, f"'{username}' is already a member of this tenant.", "username"
        )
    now = clock.now()
    fields = {
        "role": role,
        "invited_by": actor,
        "created_at": now,
        "expires_at": now + dt.timedelta(seconds=settings.ARGUS_INVITATION_TTL_SECONDS),
    }
    pending = (
        TenantInvitation.objects.select_for_update()
        .filter(tenant=tenant, username=username, status=InvitationStatus.PENDING)
        .first()
    )
    if pending is not None:
        for name, value in fields.items():
            setattr(pending, name, value)
        pending.save(update_fields=list(fields))
        return pending
    try:
        with transaction.atomic():
            return TenantInvitation.objects.create(tenant=tenant, username=username, **fields)
    except IntegrityError:  # a concurrent invitation of the same name won: answer with it
        return TenantInvitation.objects.get(tenant=tenant, username=username, status=InvitationStatus.PENDING)


def _answer(invitation: TenantInvitation, to_status: InvitationStatus) -> None:
    """Apply one move of INVITATION_TRANSITIONS, conditionally: a concurrent answer makes this fail."""
    if to_status not in INVITATION_TRANSITIONS[invitation.status]:
        raise DomainError(
            TenancyErrorCode.INVITATION_ANSWERED,
            f"The invitation is already {invitation.get_status_display().lower()}.",
            "id",
        )
    now = clock.now()
    updated = TenantInvitation.objects.filter(pk=invitation.pk, status=invitation.status).update(
        status=to_status, responded_at=now
    )
    if not updated:
        raise DomainError(
            TenancyErrorCode.INVITATION_ANSWERED, "The invitation was answered meanwhile.", "id"
        )
    invitation.status, invitation.responded_at = to_status, now


def _my_invitation(actor: User, invitation_id: Any) -> TenantInvitation:
    """The invitation addressed to the actor; any other one answers NOT_FOUND, like a missing one."""
    require_authenticated(actor)
    invitation = (
        TenantInvitation.objects.select_for_update()
        .select_related("tenant")
        .filter(pk=parse_uuid(invitation_id), username=actor.username)
        .first()
    )
    if invitation is None:
        raise not_found("Invitation")
    return invitation


@transaction.atomic
def accept_tenant_invitation(*, actor: User, invitation_id: Any) -> Membership:
    invitation = _my_invitation(actor, invitation_id)
    if invitation.status == InvitationStatus.PENDING and invitation.is_expired():
        raise DomainError(
            TenancyErrorCode.INVITATION_EXPIRED, "The invitation has expired: ask for a new one.", "id"
        )
    _answer(invitation, InvitationStatus.ACCEPTED)
    try:
        with transaction.atomic():
            return Membership.objects.create(user=actor, tenant=invitation.tenant, role=invitation.role)
    except IntegrityError:
        raise DomainError(
            CommonErrorCode.DUPLICATE, "You are already a member of this tenant.", "id"
        ) from None


@transaction.atomic
def decline_tenant_invitation(*, actor: User, invitation_id: Any) -> TenantInvitation:
    invitation = _my_invitation(actor, invitation_id)
    _answer(invitation, InvitationStatus.DECLINED)
    return invitation


@transaction.atomic
def revoke_tenant_invitation(*, actor: User, invitation_id: Any) -> TenantInvitation:
    require_authenticated(actor)
    invitation = TenantInvitation.objects.select_for_update().filter(pk=parse_uuid(invitation_id)).first()
    if invitation is None:
        raise not_found("Invitation")
    try:
        require_tenant_role(actor, invitation.tenant_id, Role.ADMIN, field="id")
    except DomainError as refusal:
        if refusal.code == CommonErrorCode.NOT_FOUND:
            raise not_found("Invitation") from None  # another tenant's invitation: as if missing
        raise
    _answer(invitation, InvitationStatus.REVOKED)
    return invitation


def open_invitations_for(user: User) -> Any:
    """Invitations waiting for the user's answer, newest first."""
    invitations = TenantInvitation.objects.open().filter(username=user.username)
    return invitations.select_related("tenant", "invited_by").order_by("-created_at", "id")


def _lock_admins(tenant: Tenant) -> list[Membership]:
    # Locking the tenant's admin rows serialises concurrent removals, so the last-admin check holds.
    return list(Membership.objects.select_for_update().filter(tenant=tenant, role=Role.ADMIN))


@transaction.atomic
def remove_tenant_member(*, actor: User, tenant_id: Any, username: Any) -> Tenant:
    admin_membership = require_tenant_role(actor, tenant_id, Role.ADMIN)
    username = clean_text(username, field="username", max_length=150)
    tenant = admin_membership.tenant
    admins = _lock_admins(tenant)
    target = Membership.objects.filter(tenant=tenant, user__username=username).first()
    if target is None:
        raise not_found("Member", "username")
    if target.role == Role.ADMIN and len(admins) <= 1:
        raise DomainError(TenancyErrorCode.LAST_ADMIN, "A tenant must keep at least one admin.", "username")
    target.delete()
    return tenant


@transaction.atomic
def leave_tenant(*, actor: User, tenant_id: Any) -> Tenant:
    """End the actor's own membership. The last admin cannot leave: the tenant would have no admin."""
    membership = require_tenant_role(actor, tenant_id, Role.VIEWER)
    admins = _lock_admins(membership.tenant)
    if membership.role == Role.ADMIN and len(admins) <= 1:
        raise DomainError(
            TenancyErrorCode.LAST_ADMIN,
            "You are the tenant's last admin: make another member admin before leaving.",
            "tenantId",
        )
    Membership.objects.filter(pk=membership.pk).delete()
    return membership.tenant


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
