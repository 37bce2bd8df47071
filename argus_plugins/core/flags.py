"""Feature flags, evaluated per tenant through one helper (django-waffle, toggled by staff in the admin).

A flag is on for a tenant when its ``everyone`` switch is on, or (``everyone`` unset) when the tenant is
in its tenant list. ``everyone`` off turns it off for all.
"""

from __future__ import annotations

from typing import Any

from waffle import get_waffle_flag_model

from .errors import CommonErrorCode, DomainError

MARKETPLACE_PAID = "marketplace.paid"
TRIGGERS_SCHEDULES = "triggers.schedules"
TRIGGERS_EVENTS = "triggers.events"
WEBHOOKS = "webhooks"
KNOWN_FLAGS = {
    MARKETPLACE_PAID: "Paid and subscription plans (purchase, subscribe, invoices).",
    TRIGGERS_SCHEDULES: "Scheduled plugin runs (Celery beat).",
    TRIGGERS_EVENTS: "Event-triggered plugin runs.",
    WEBHOOKS: "Outgoing signed webhooks.",
}


def ensure_default_flags(flag_model: Any = None) -> None:
    """Create the known flags, on for everyone, where missing (data migration and test fixtures)."""
    flag_model = flag_model or get_waffle_flag_model()
    for name, note in KNOWN_FLAGS.items():
        flag_model.objects.get_or_create(name=name, defaults={"everyone": True, "note": note})


def is_enabled(name: str, tenant: Any) -> bool:
    flag = get_waffle_flag_model().objects.filter(name=name).first()
    if flag is None or flag.everyone is False:
        return False
    if flag.everyone is True:
        return True
    tenant_id = getattr(tenant, "pk", tenant)
    return flag.tenants.filter(pk=tenant_id).exists()


def require_feature(name: str, tenant: Any) -> None:
    """Raise FEATURE_DISABLED (before anything is written) when ``name`` is off for ``tenant``."""
    if not is_enabled(name, tenant):
        raise DomainError(
            CommonErrorCode.FEATURE_DISABLED, f"The feature '{name}' is not enabled for this tenant."
        )


def enabled_flags(tenant: Any) -> list[str]:
    return [name for name in KNOWN_FLAGS if is_enabled(name, tenant)]
