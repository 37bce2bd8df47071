"""The role check every resolver and mutation uses. Tenant access is decided here and nowhere else."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.db.models import CharField, Model, OuterRef, QuerySet, Subquery, Value

from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.validation import parse_uuid

from .models import ROLE_RANK, Membership, Role, Tenant

M = TypeVar("M", bound=Model)

#: Annotation set by ``with_caller_role``: the caller's role in the row's tenant, or None.
CALLER_ROLE = "caller_role_in_tenant"


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
        raise _role_too_weak(role, membership.tenant, field)
    return membership


def _role_too_weak(role: Role, tenant: Tenant, field: str | None) -> DomainError:
    message = f"This requires the {role.label} role in tenant '{tenant.slug}'."
    return DomainError(CommonErrorCode.PERMISSION_DENIED, message, field)


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


def with_caller_role(queryset: QuerySet[M], user: Any, tenant_field: str = "tenant_id") -> QuerySet[M]:
    """Load the caller's role in each row's tenant along with the rows (see ``require_caller_role``).

    Saves the separate membership lookup on hot paths: the object and the right to it come back in one
    statement, and the rule applied to them is the same as ``require_tenant_object_role``'s.
    """
    if not getattr(user, "is_authenticated", False):
        return queryset.annotate(**{CALLER_ROLE: Value(None, output_field=CharField())})
    return with_role_of_user(queryset, user.pk, tenant_field)


def with_role_of_user(queryset: QuerySet[M], user_id: Any, tenant_field: str = "tenant_id") -> QuerySet[M]:
    """``with_caller_role`` for an authenticated user given by id (a value a PreparedQuery can fill in)."""
    # (user, tenant) is unique, so at most one row; no ordering needed.
    memberships = Membership.objects.filter(user_id=user_id, tenant_id=OuterRef(tenant_field)).order_by()
    return queryset.annotate(**{CALLER_ROLE: Subquery(memberships.values("role")[:1])})


def require_caller_role(user: Any, obj: Any, role: Role, what: str, field: str = "id") -> None:
    """``require_tenant_object_role`` for an object loaded through ``with_caller_role``: same answers
    (UNAUTHENTICATED, then NOT_FOUND for a foreign tenant, then PERMISSION_DENIED naming the tenant)."""
    require_authenticated(user)
    caller_role = getattr(obj, CALLER_ROLE)
    if caller_role is None:
        raise not_found(what, field)
    if ROLE_RANK[Role(caller_role)] < ROLE_RANK[role]:
        raise _role_too_weak(role, obj.tenant, None)  # the role, not an input field, is at fault
