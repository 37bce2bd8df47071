"""Resource limits of a run: the manifest's request, bounded by the tenant's defaults unless
``compute:extended`` is granted, and always by the platform maxima."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.conf import settings

from argus_plugins.core.prepared import PreparedQuery
from argus_plugins.runtimes import RESOURCE_KEYS, bounded_limits
from argus_plugins.tenancy.models import TenantPolicy

EXTENDED_COMPUTE = "compute:extended"


_POLICY = PreparedQuery(
    lambda tenant_id: TenantPolicy.objects.filter(tenant_id=tenant_id).order_by(),
    TenantPolicy._meta.get_field("tenant"),
)


#: "Not read yet": callers that already hold the tenant's policy (or know it has none) pass it on.
_UNREAD: Any = object()


def tenant_policy(tenant_id: Any) -> TenantPolicy | None:
    return _POLICY.first(tenant_id)


def tenant_concurrency_cap(policy: TenantPolicy | None) -> int:
    """Runs of the tenant allowed to be in flight (released to the broker or running) at once."""
    if policy is not None and policy.max_concurrent_executions:
        return policy.max_concurrent_executions
    return settings.ARGUS_TENANT_MAX_CONCURRENCY


def tenant_queue_cap(policy: TenantPolicy | None) -> int:
    """Runs of the tenant allowed to be QUEUED at once; one more is refused with QUEUE_FULL."""
    if policy is not None and policy.max_queued_executions is not None:
        return policy.max_queued_executions
    return settings.ARGUS_TENANT_MAX_QUEUED


def tenant_default_limits(tenant_id: Any, *, policy: TenantPolicy | None = _UNREAD) -> dict[str, Any]:
    if policy is _UNREAD:
        policy = tenant_policy(tenant_id)
    overrides = policy.default_limits if policy else {}
    return {
        **settings.ARGUS_TENANT_DEFAULT_LIMITS,
        **{k: v for k, v in overrides.items() if k in RESOURCE_KEYS},
    }


def applied_limits(
    requested: Mapping[str, Any],
    *,
    tenant_id: Any,
    capabilities: Collection[str],
    policy: TenantPolicy | None = _UNREAD,
) -> dict[str, Any]:
    extended = EXTENDED_COMPUTE in capabilities
    defaults = (
        settings.ARGUS_TENANT_DEFAULT_LIMITS if extended else tenant_default_limits(tenant_id, policy=policy)
    )
    return bounded_limits(
        requested,
        defaults=defaults,
        maxima=settings.ARGUS_RESOURCE_MAXIMA,
        extended=extended,
    )
