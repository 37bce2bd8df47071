"""Fixtures that tests of several apps share: an installed plugin and a queued run of it in tenant A, and
an admin site client logged in as a superuser.

Registered for the whole suite by ``pytest_plugins`` in tests/conftest.py. ``installation`` installs
``installed_version``, the echo plugin unless a directory or module overrides that fixture (e.g. with
``reader_v1``, a plugin that requests ``evidence:read``).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from argus_plugins.tenancy.models import User
from execution.models import Execution
from execution.services import run_plugin
from installations import services as installation_services
from installations.models import Installation
from registry import services as registry_services
from registry.models import Plugin, PluginVersion
from tests.support.publishing import manifest_for


@pytest.fixture
def reader_plugin(publisher_kit: Any) -> Plugin:
    return registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="reader", name="Reader"
    )


@pytest.fixture
def reader_v1(publisher_kit: Any, reader_plugin: Plugin, world: Any) -> PluginVersion:
    """Version 1.0.0 of the reader plugin, published; it requests ``evidence:read``."""
    manifest = manifest_for("reader", "1.0.0", capabilities=["evidence:read"])
    return publisher_kit.publish(reader_plugin, "1.0.0", reviewer=world.staff, manifest=manifest)


@pytest.fixture
def installed_version(published_version: PluginVersion) -> PluginVersion:
    """The plugin version that ``installation`` installs."""
    return published_version


@pytest.fixture
def installation(world: Any, installed_version: PluginVersion) -> Installation:
    """Tenant A's installation of ``installed_version``'s plugin, by tenant A's admin; nothing granted."""
    return installation_services.install_plugin(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=installed_version.plugin_id
    )


@pytest.fixture
def queued_run(world: Any, installation: Installation) -> Execution:
    """A run of ``installation`` started by tenant A's analyst; QUEUED, since no worker runs here."""
    return run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})


@pytest.fixture
def operator_client(client: Client, db: None) -> Client:
    """The test client, logged in to the admin site as a superuser (a platform operator)."""
    client.force_login(User.objects.create_superuser("root-op", password="x"))
    return client
