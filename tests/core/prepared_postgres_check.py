"""Run by test_prepared_queries.py in a subprocess against a fresh PostgreSQL database (DATABASE_URL):
migrates, creates a tenant with a published, installed plugin and a queued run, and compares what the
prepared hot-path queries return with the plain ORM querysets they stand for. Prints a JSON summary."""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.check_scripts import start_django  # noqa: E402

start_django()

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from argus_plugins.tenancy import services as tenancy_services  # noqa: E402
from argus_plugins.tenancy.models import Membership, Role, TenantPolicy, User  # noqa: E402
from argus_plugins.tenancy.permissions import CALLER_ROLE, with_caller_role  # noqa: E402
from argus_plugins.tenancy.tokens import authenticate_bearer  # noqa: E402
from execution import services as execution_services  # noqa: E402
from execution import worker  # noqa: E402
from execution.limits import tenant_default_limits  # noqa: E402
from execution.models import Execution  # noqa: E402
from installations import services as installation_services  # noqa: E402
from installations.authorization import resolve_version  # noqa: E402
from installations.models import Installation  # noqa: E402
from marketplace.plans import requires_entitlement  # noqa: E402
from registry import bundles, signing  # noqa: E402
from registry import services as registry_services  # noqa: E402
from registry.models import PluginVersion, VersionStatus  # noqa: E402
from tests.support.prepared import compare, create_world, hot_path_queries, values_for  # noqa: E402
from tests.support.publishing import make_reviewer  # noqa: E402

execution_services.enqueue_after_commit = lambda execution: None  # no worker reads this database

staff = make_reviewer(User.objects.create(username="pg-staff", is_staff=True))
analyst = User.objects.create(username="pg-analyst")
_, token = tenancy_services.create_api_token(actor=analyst, name="pg")
tenant = tenancy_services.create_tenant(actor=staff, name="PG Agency")
Membership.objects.create(user=analyst, tenant=tenant, role=Role.ANALYST)
other = tenancy_services.create_tenant(actor=staff, name="PG Other")
TenantPolicy.objects.create(tenant=tenant, default_limits={"memory_mb": 128})
publisher = registry_services.create_publisher(actor=staff, name="PG Publisher", slug="pg-pub")
key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
public_pem = key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
signing_key = registry_services.register_signing_key(
    actor=staff, publisher_id=publisher.pk, public_key_pem=public_pem.decode()
)
plugin = registry_services.create_plugin(actor=staff, publisher_id=publisher.pk, slug="pg-echo", name="PG")
manifest = {
    "name": "pg-echo",
    "version": "1.0.0",
    "runtime": "python3.11",
    "entrypoint": "main.py",
    "capabilities": [],
    "resources": {"memory_mb": 256, "cpus": 1.0, "timeout_seconds": 60, "pids": 64},
    "min_platform_version": "1.0.0",
    "max_platform_version": "1.99.0",
}
source = Path(os.environ["ARGUS_DATA_DIR"]) / "plugin-src"
source.mkdir(parents=True)
(source / "manifest.json").write_text(json.dumps(manifest))
(source / "main.py").write_text("print('hi')\n")
bundle = bundles.pack_directory(source)
version = registry_services.create_plugin_version(
    actor=staff,
    plugin_id=plugin.pk,
    version="1.0.0",
    changelog="",
    bundle_bytes=bundle,
    signature=signing.sign_statement(key, signing.statement_for_bundle("pg-echo", "1.0.0", bundle, manifest)),
    signing_key_id=signing_key.pk,
)
registry_services.submit_for_review(actor=staff, version_id=version.pk)
registry_services.approve_version(actor=staff, version_id=version.pk, notes="pg")
installation = installation_services.install_plugin(actor=staff, tenant_id=tenant.pk, plugin_id=plugin.pk)
execution = execution_services.run_plugin(actor=analyst, installation_id=installation.pk, input={"n": 1})

mismatches = []
compared = 0


def stored_values(obj):
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def same(label, prepared, plain, related=()):
    global compared
    compared += 1
    for name in ("", *related):
        a, b = prepared, plain
        for part in filter(None, name.split(".")):
            a, b = getattr(a, part), getattr(b, part)
        if stored_values(a) != stored_values(b) or a.pk != b.pk:
            mismatches.append(f"{label}{'.' + name if name else ''}")


loaded = worker._load(str(execution.pk))
same(
    "load",
    loaded,
    Execution.objects.select_related(
        "tenant__policy",
        "installation",
        "plugin_version__plugin",
        "plugin_version__signing_key",
        "triggered_by",
    ).get(pk=execution.pk),
    ("tenant", "tenant.policy", "installation", "plugin_version", "plugin_version.plugin", "triggered_by"),
)
if worker._EVIDENCE_LINKS.fetch(execution.pk) != list(execution.evidence_links.all()):
    mismatches.append("evidence links")
found = installation_services.get_installation(analyst, str(installation.pk), Role.ANALYST)
plain = with_caller_role(Installation.objects.select_related("tenant", "plugin"), analyst).get(
    pk=installation.pk
)
same("installation", found, plain, ("tenant", "plugin"))
if getattr(found, CALLER_ROLE) != Role.ANALYST:
    mismatches.append("installation role")
same(
    "newest version",
    resolve_version(installation),
    PluginVersion.objects.select_related("plugin", "signing_key").get(
        plugin=plugin, status=VersionStatus.PUBLISHED
    ),
    ("plugin", "signing_key"),
)
same("token user", authenticate_bearer(f"Bearer {token}").user, analyst)
compared += 3
if tenant_default_limits(tenant.pk)["memory_mb"] != 128:
    mismatches.append("policy limits")
if "memory_mb" not in tenant_default_limits(other.pk):
    mismatches.append("default limits")
if requires_entitlement(plugin.pk):
    mismatches.append("entitlement")
# Every hot-path PreparedQuery against the QuerySet it stands for, in a world of its own.
with transaction.atomic():  # the ledger head's query locks (select_for_update)
    world = create_world()
    for label, prepared in hot_path_queries():
        compared += 1
        if not compare(prepared, values_for(prepared, world)):
            mismatches.append(label)
print(json.dumps({"vendor": connection.vendor, "compared": compared, "mismatches": mismatches}))
