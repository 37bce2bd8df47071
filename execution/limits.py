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


def tenant_default_limits(tenant_id: Any) -> dict[str, Any]:
    policy = _POLICY.first(tenant_id)
    overrides = policy.default_limits if policy else {}
    return {
        **settings.ARGUS_TENANT_DEFAULT_LIMITS,
        **{k: v for k, v in overrides.items() if k in RESOURCE_KEYS},
    }


def applied_limits(
    requested: Mapping[str, Any], *, tenant_id: Any, capabilities: Collection[str]
) -> dict[str, Any]:
    extended = EXTENDED_COMPUTE in capabilities
    return bounded_limits(
        requested,
        defaults=settings.ARGUS_TENANT_DEFAULT_LIMITS if extended else tenant_default_limits(tenant_id),
        maxima=settings.ARGUS_RESOURCE_MAXIMA,
        extended=extended,
    )
