"""Marketplace fixtures: a published plugin with a listing, plans, tenants, and rows made directly."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import pytest

from argus_plugins.core import clock
from argus_plugins.tenancy import services as tenancy_services
from argus_plugins.tenancy.models import Tenant
from execution.models import Execution, ExecutionStatus
from installations.models import Installation, InstallationEvent, InstallationEventKind
from marketplace import listings, plans
from marketplace.models import Listing, Plan
from marketplace.stats import refresh_listing_stats
from registry import services as registry_services
from registry.models import Plugin, PluginVersion
from tests.conftest import make_user

T0 = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)


@dataclass
class Market:
    plugin: Plugin
    version: PluginVersion
    listing: Listing
    kit: Any


@pytest.fixture
def market(world, publisher_kit) -> Market:
    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="echo", name="Echo"
    )
    version = publisher_kit.publish(plugin, "1.0.0", reviewer=world.staff)
    listing = listings.update_listing(
        actor=publisher_kit.owner,
        plugin_id=plugin.pk,
        tagline="Echoes its input",
        description="# Echo\n\nRepeats **everything**.",
        categories=["utilities"],
        tags=["echo", "demo"],
    )
    return Market(plugin=plugin, version=version, listing=listing, kit=publisher_kit)


def add_plan(market: Market, kind: str, price: str = "19.99", **terms: Any) -> Plan:
    return plans.create_plan(
        actor=market.kit.owner,
        listing_id=market.listing.pk,
        name=terms.pop("name", kind.title()),
        pricing_model=kind,
        price=None if kind == "FREE" else price,
        currency=terms.pop("currency", "EUR"),
        **terms,
    )


@pytest.fixture
def monthly(market) -> Plan:
    return add_plan(market, "SUBSCRIPTION", "49.00", billing_period="MONTHLY")


def make_tenant(name: str) -> tuple[Tenant, Any]:
    admin = make_user(f"{name.lower().replace(' ', '-')}-admin")
    return tenancy_services.create_tenant(actor=admin, name=name), admin


def install_directly(
    tenant: Tenant, plugin: Plugin, actor: Any, *, at: dt.datetime | None = None
) -> Installation:
    """An installation row plus its INSTALLED event, bypassing the entitlement rule (data set builders)."""
    at = at or clock.now()
    installation = Installation.objects.create(
        tenant=tenant, plugin=plugin, installed_by=actor, installed_at=at
    )
    InstallationEvent.objects.create(
        installation=installation,
        tenant=tenant,
        plugin=plugin,
        kind=InstallationEventKind.INSTALLED,
        actor=actor,
        at=at,
    )
    refresh_listing_stats(plugin_ids=[plugin.pk])
    return installation


def make_execution(
    installation: Installation,
    version: PluginVersion,
    status: str = ExecutionStatus.SUCCEEDED,
    *,
    duration_ms: int | None = 100,
    queued_at: dt.datetime | None = None,
) -> Execution:
    queued_at = queued_at or clock.now()
    return Execution.objects.create(
        tenant_id=installation.tenant_id,
        installation=installation,
        plugin_version=version,
        input={},
        input_sha256=hashlib.sha256(b"{}").hexdigest(),
        status=status,
        queued_at=queued_at,
        enqueued_at=queued_at,
        finished_at=queued_at + dt.timedelta(milliseconds=duration_ms or 0) if status != "QUEUED" else None,
        duration_ms=duration_ms,
    )
