"""Resource limits of a run: the manifest's request, bounded by the tenant's defaults unless
``compute:extended`` is granted, and always by the platform maxima."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.conf import settings

from argus_plugins.core.prepared import PreparedQuery
from argus_plugins.tenancy.models import TenantPolicy

RESOURCE_KEYS = ("memory_mb", "cpus", "timeout_seconds", "pids")
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
    maxima = settings.ARGUS_RESOURCE_MAXIMA
    bound = dict(maxima)
    if EXTENDED_COMPUTE not in capabilities:
        defaults = tenant_default_limits(tenant_id)
        bound = {key: min(defaults[key], maxima[key]) for key in RESOURCE_KEYS}
    return {key: min(requested[key], bound[key]) for key in RESOURCE_KEYS}
