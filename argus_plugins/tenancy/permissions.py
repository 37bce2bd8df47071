"""The role check every resolver and mutation uses. Tenant access is decided here and nowhere else."""

from __future__ import annotations

import uuid
from typing import Any

from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.validation import parse_uuid

from .models import Membership, Role, Tenant


def require_authenticated(user: Any) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        raise DomainError(CommonErrorCode.UNAUTHENTICATED, "Authentication required.")


def require_staff(user: Any) -> None:
    require_authenticated(user)
    if not user.is_staff:
        raise DomainError(CommonErrorCode.PERMISSION_DENIED, "Only platform staff may do this.")


def tenant_ids_of(user: Any) -> list[uuid.UUID]:
    """Ids of the tenants the user belongs to (empty for anonymous users)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(Membership.objects.filter(user=user).values_list("tenant_id", flat=True))


def require_tenant_role(
    user: Any, tenant_id: Any, role: Role = Role.VIEWER, *, field: str = "tenantId"
) -> Membership:
    """Return the caller's membership of the tenant if it grants at least ``role``.

    A tenant the caller does not belong to answers NOT_FOUND, exactly like one that does not exist, so
    tenant ids cannot be probed. Staff get no implicit tenant rights: operators act through the admin.
    """
    require_authenticated(user)
    tenant_uuid = parse_uuid(tenant_id, field=field)
    membership = Membership.objects.select_related("tenant").filter(user=user, tenant_id=tenant_uuid).first()
    if membership is None:
        raise not_found("Tenant", field)
    if not membership.has_role(role):
        raise DomainError(
            CommonErrorCode.PERMISSION_DENIED,
            f"This requires the {role.label} role in tenant '{membership.tenant.slug}'.",
            field,
        )
    return membership


def require_tenant_object_role(
    user: Any, tenant: Tenant | uuid.UUID, role: Role, what: str, field: str = "id"
) -> Membership:
    """Role check for an object already loaded by id (named by input ``field``): an object of a tenant the
    caller does not belong to is reported as not found; a too-weak role as PERMISSION_DENIED."""
    tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
    try:
        return require_tenant_role(user, tenant_id, role, field=field)
    except DomainError as error:
        if error.code == CommonErrorCode.NOT_FOUND:
            raise not_found(what, field) from None
        error.field = None  # the role, not an input field, is at fault
        raise
