"""The abstract base every app's models build on, and the platform's own feature-flag model."""

from __future__ import annotations

import uuid

from django.db import models
from waffle.models import AbstractUserFlag


class UUIDModel(models.Model):
    """A random UUID4 primary key: ids in URLs and the API say nothing about volumes or order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class TenantFlag(AbstractUserFlag):
    """A django-waffle flag that can also be switched on for chosen tenants (gradual roll-out)."""

    tenants = models.ManyToManyField(
        "tenancy.Tenant", blank=True, related_name="feature_flags", help_text="Tenants this flag is on for."
    )

    class Meta(AbstractUserFlag.Meta):
        swappable = "WAFFLE_FLAG_MODEL"
        verbose_name = "feature flag"
        verbose_name_plural = "feature flags"
