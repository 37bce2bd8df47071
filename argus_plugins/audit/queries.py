"""Who may read which audit events: tenant admins their tenant's, staff everything."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.tenancy.models import Role
from argus_plugins.tenancy.permissions import require_authenticated, require_tenant_role

from .models import AuditEvent


def events_visible_to(user: Any, *, tenant_id: Any = None) -> QuerySet[AuditEvent]:
    require_authenticated(user)
    if tenant_id is not None:
        if user.is_staff:
            return AuditEvent.objects.filter(tenant_id=tenant_id)
        membership = require_tenant_role(user, tenant_id, Role.ADMIN)
        return AuditEvent.objects.filter(tenant=membership.tenant)
    if user.is_staff:
        return AuditEvent.objects.all()

    raise DomainError(CommonErrorCode.REQUIRED, "Give the tenant whose audit log you want.", "tenantId")
