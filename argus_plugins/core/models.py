from __future__ import annotations

from django.db import models
from waffle.models import AbstractUserFlag


class TenantFlag(AbstractUserFlag):
    """A django-waffle flag that can also be switched on for chosen tenants (gradual roll-out)."""

    tenants = models.ManyToManyField(
        "tenancy.Tenant", blank=True, related_name="feature_flags", help_text="Tenants this flag is on for."
    )

    class Meta(AbstractUserFlag.Meta):
        swappable = "WAFFLE_FLAG_MODEL"
        verbose_name = "feature flag"
        verbose_name_plural = "feature flags"
