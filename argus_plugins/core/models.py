"""The abstract bases every app's models build on, and the platform's own feature-flag model.

A base holds a field that is the same to the letter in every model that has it; a model whose field differs
(an index, no ``editable=False``) declares it itself. Inherited fields come first in a model's field order
(and so in its GraphQL type and admin form), before the fields it declares."""

from __future__ import annotations

import uuid

from django.db import models
from waffle.models import AbstractUserFlag

from . import clock


class UUIDModel(models.Model):
    """A random UUID4 primary key: ids in URLs and the API say nothing about volumes or order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class CreatedAtModel(models.Model):
    """When the row was written (``clock.now``, timezone-aware); never edited afterwards."""

    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        abstract = True


class TimestampedModel(CreatedAtModel):
    """``created_at`` plus ``updated_at``, which the services set on each change they save."""

    updated_at = models.DateTimeField(default=clock.now)

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
