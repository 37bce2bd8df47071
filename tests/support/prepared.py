"""The hot-path PreparedQuery objects, a world to run them in, and what "the same result" means.

Shared by tests/core/test_prepared_queries.py (SQLite), tests/core/prepared_postgres_check.py (PostgreSQL)
and bench/prepared_bench.py: each finds the queries the same way, so a query added to or removed from
the code is compared and measured without a list to keep in step.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

#: The modules whose module-level PreparedQuery objects are the hot paths.
HOT_PATH_MODULES = (
    "argus_plugins.tenancy.tokens",
    "execution.limits",
    "execution.worker",
    "installations.authorization",
    "installations.services",
    "ledger.services",
    "marketplace.plans",
    "triggers.events",
)


def hot_path_queries() -> list[tuple[str, Any]]:
    """(``module.NAME``, PreparedQuery) for every module-level PreparedQuery of HOT_PATH_MODULES."""
    from argus_plugins.core.prepared import PreparedQuery

    found = []
    for module_name in HOT_PATH_MODULES:
        module = importlib.import_module(module_name)
        found += [
            (f"{module_name}.{name}", value)
            for name, value in vars(module).items()
            if isinstance(value, PreparedQuery)
        ]
    return found


def create_world() -> dict[str, Any]:
    """A tenant with a policy, event listeners and a published, installed plugin; an analyst with an API
    token who queued one run, an event subscription and a webhook endpoint (no evidence, no marketplace
    plans: those two queries find nothing). Returns the values the hot-path queries take. Commits nothing itself: where transactions
    commit (a script, not a test), the caller keeps the run from being released to a worker."""
    from argus_plugins.staff.roles import StaffRole, grant_role
    from argus_plugins.tenancy import services as tenancy_services
    from argus_plugins.tenancy.models import Membership, Role, TenantPolicy, User
    from argus_plugins.tenancy.tokens import hash_token
    from execution import services as execution_services
    from installations import services as installation_services
    from registry import services as registry_services
    from tests.support.publishing import make_publisher_kit
    from triggers.models import EventSubscription, WebhookEndpoint

    suffix = uuid.uuid4().hex[:8]
    staff = User.objects.create(username=f"hot-staff-{suffix}", is_staff=True)
    grant_role(staff, StaffRole.REVIEWER)
    analyst = User.objects.create(username=f"hot-analyst-{suffix}")
    _, token = tenancy_services.create_api_token(actor=analyst, name="hot paths")
    tenant = tenancy_services.create_tenant(actor=staff, name=f"Hot Paths {suffix}")
    Membership.objects.create(user=analyst, tenant=tenant, role=Role.ANALYST)
    TenantPolicy.objects.create(tenant=tenant, default_limits={"memory_mb": 128})
    type(tenant).objects.filter(pk=tenant.pk).update(event_listeners_configured=True)
    kit = make_publisher_kit(staff, slug=f"hot-pub-{suffix}")
    plugin = registry_services.create_plugin(
        actor=staff, publisher_id=kit.publisher.pk, slug=f"hot-{suffix}", name="Hot paths"
    )
    kit.publish(plugin, "1.0.0", reviewer=staff)
    installation = installation_services.install_plugin(actor=staff, tenant_id=tenant.pk, plugin_id=plugin.pk)
    execution = execution_services.run_plugin(actor=analyst, installation_id=installation.pk, input={"n": 1})
    EventSubscription.objects.create(
        tenant=tenant,
        installation=installation,
        event_type="execution.succeeded",
        filter_expression="output.n > `0`",
        created_by=staff,
    )
    WebhookEndpoint.objects.create(
        tenant=tenant,
        url="https://receiver.example/hooks",
        event_types=["execution.*"],
        secret_encrypted="not used here",
        created_by=staff,
    )
    return {
        ("ApiToken", "token_hash"): hash_token(token),
        ("TenantPolicy", "tenant"): tenant.pk,
        ("Tenant", "id"): tenant.pk,
        ("Execution", "id"): execution.pk,
        ("ExecutionEvidence", "execution"): execution.pk,
        ("PluginVersion", "plugin"): plugin.pk,
        ("Listing", "plugin"): plugin.pk,
        ("Installation", "id"): installation.pk,
        ("Membership", "user"): analyst.pk,
        ("EventSubscription", "tenant"): tenant.pk,
        ("EventSubscription", "event_type"): "execution.succeeded",
        ("WebhookEndpoint", "tenant"): tenant.pk,
    }


def values_for(prepared: Any, world: dict[str, Any]) -> tuple[Any, ...]:
    """The call's values, by the model and name of each field the prepared query takes."""
    return tuple(world[(field.model.__name__, field.name)] for field in prepared.fields)


def loaded_state(rows: list[Any], annotations: tuple[str, ...] = ()) -> list[Any]:
    """Every stored value of each row, of the objects select_related cached on it (recursively), and the
    query's annotations: what a caller can read without another query."""

    def state(obj: Any, seen: frozenset = frozenset()) -> Any:
        if obj is None:
            return None
        key = (type(obj).__name__, obj.pk)
        if key in seen:  # a reverse one-to-one caches its way back (tenant.policy.tenant)
            return key
        return (
            *key,
            {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields},
            {
                name: state(related, seen | {key})
                for name, related in sorted(obj._state.fields_cache.items())
            },
        )

    return [(state(row), {name: getattr(row, name) for name in annotations}) for row in rows]


def compare(prepared: Any, values: tuple[Any, ...]) -> bool:
    """Whether the prepared query returns what the plain ORM returns for the QuerySet it stands for."""
    queryset = prepared.build(*values)
    annotations = tuple(queryset.query.annotations)
    return loaded_state(prepared.fetch(*values), annotations) == loaded_state(list(queryset), annotations)
