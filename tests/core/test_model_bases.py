"""Every model of the platform takes its UUID4 key and its owning tenant from the abstract bases, so that
the rule lives in one place (argus_plugins.core.models.UUIDModel, argus_plugins.tenancy.models)."""

from __future__ import annotations

import uuid

from django.apps import apps
from django.db import models

from argus_plugins.core import clock
from argus_plugins.core.models import CreatedAtModel, UUIDModel
from argus_plugins.tenancy.models import Tenant, TenantOwnedModel

#: The project's own apps, bottom layer first.
PLATFORM_APPS = ["core", "tenancy", "audit", "ledger", "registry", "installations", "execution"]
PLATFORM_APPS += ["marketplace", "triggers"]
#: Keys that are not a random UUID, each for a reason: waffle's own flag table, a row per tenant keyed
#: by its tenant, the ledger's single head row, and a listing's catalogue figures keyed by its listing.
OTHER_KEYS = {"core.TenantFlag", "tenancy.TenantPolicy", "ledger.LedgerHead", "marketplace.ListingStats"}


def platform_models() -> list[type[models.Model]]:
    return [model for model in apps.get_models() if model._meta.app_label in PLATFORM_APPS]


def test_every_platform_model_has_a_uuid4_key_from_the_base():
    assert len(platform_models()) > 30
    for model in platform_models():
        if model._meta.label in OTHER_KEYS:
            continue
        assert issubclass(model, UUIDModel), model._meta.label
        key = model._meta.pk
        assert isinstance(key, models.UUIDField) and key.default is uuid.uuid4, model._meta.label


def test_every_row_owned_by_a_tenant_takes_its_tenant_from_the_base():
    owned = []
    for model in platform_models():
        field = next((f for f in model._meta.concrete_fields if f.name == "tenant"), None)
        is_owning_key = (
            isinstance(field, models.ForeignKey)
            and field.related_model is Tenant
            and field.remote_field.on_delete is models.PROTECT
            and not field.null
        )
        assert is_owning_key == issubclass(model, TenantOwnedModel), model._meta.label
        if is_owning_key:
            owned.append(model._meta.label)
    assert "execution.Execution" in owned and "installations.InstallationEvent" in owned


def test_every_creation_stamp_comes_from_the_base():
    for model in platform_models():
        field = next((f for f in model._meta.concrete_fields if f.name == "created_at"), None)
        is_plain_stamp = (
            isinstance(field, models.DateTimeField)
            and field.default is clock.now
            and not field.editable
            and not field.db_index
        )
        assert is_plain_stamp == issubclass(model, CreatedAtModel), model._meta.label
