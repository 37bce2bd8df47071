"""The staff roles: one permission group per role, with exactly the permissions that role's work needs.

Staff accounts log in to the admin (``is_staff``) but see only what their groups grant: a reviewer the
registry (the review queue first) and the marketplace's content moderation; an operator executions, the
ledger, tenancy, installations, triggers, the audit log, schedules and billing. Superusers see everything.
The groups are created by a data migration and brought up to date again by ``create_staff_user`` (the
function is idempotent: a group ends with exactly the permissions listed here). Inlines need their model's
view permission too (a version's history, a listing's plans). When this list changes, add a data migration
that calls ``sync_staff_groups`` again so that existing deployments follow.
"""

from __future__ import annotations

import enum
from typing import Any

from django.db import transaction


class StaffRole(enum.StrEnum):
    REVIEWER = "reviewer"
    OPERATOR = "operator"


GROUP_NAMES: dict[StaffRole, str] = {StaffRole.REVIEWER: "Reviewers", StaffRole.OPERATOR: "Operators"}

#: "app_label.codename" of every permission each role holds.
ROLE_PERMISSIONS: dict[StaffRole, tuple[str, ...]] = {
    StaffRole.REVIEWER: (
        # The review desk: read versions, plugins, publishers and keys; approve or reject (custom permission).
        "registry.view_pluginversionreview",
        "registry.review_pluginversion",
        "registry.view_pluginversion",
        "registry.view_lifecycleevent",  # a version's history, shown on its page
        "registry.view_plugin",
        "registry.view_publisher",
        "registry.change_publisher",  # marks a vetted publisher verified
        "registry.view_publishermembership",
        "registry.view_signingkey",
        # Marketplace content moderation: delist/relist listings, hide reviews (through the services).
        "marketplace.view_listing",
        "marketplace.change_listing",
        "marketplace.view_plan",
        "marketplace.view_listingmoderationevent",
        "marketplace.view_reviewmoderation",
        "marketplace.change_reviewmoderation",
        "marketplace.view_reviewflag",
    ),
    StaffRole.OPERATOR: (
        # Runs and their record.
        "execution.view_execution",
        "ledger.view_ledgerentry",
        "ledger.view_ledgerhead",
        "ledger.verify_ledger",  # runs the chain verification from the admin
        "ledger.view_ledgercheckpoint",
        "ledger.view_ledgercosignature",
        "ledger.view_ledgeralarm",  # a witness's alarm is the operators' to act on
        # Tenancy: who belongs where; operators may revoke API tokens.
        "tenancy.view_tenant",
        "tenancy.view_membership",
        "tenancy.view_user",
        "tenancy.view_apitoken",
        "tenancy.change_apitoken",
        "installations.view_installation",
        "installations.view_installationevent",
        "installations.view_capability",
        "installations.view_capabilitygrant",
        # Triggers and webhooks (pausing a schedule needs only the view; it goes through the service).
        "triggers.view_schedule",
        "triggers.view_schedulefiring",
        "triggers.view_event",
        "triggers.view_eventsubscription",
        "triggers.view_eventdelivery",
        "triggers.view_webhookendpoint",
        "triggers.view_webhookdelivery",
        "triggers.view_webhookattempt",
        # Logs: the audit log and Celery beat's schedules.
        "audit.view_auditevent",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.view_intervalschedule",
        "django_celery_beat.view_crontabschedule",
        "django_celery_beat.view_solarschedule",
        "django_celery_beat.view_clockedschedule",
        # Feature flags per tenant, and billing (read-only).
        "core.view_tenantflag",
        "core.change_tenantflag",
        "marketplace.view_entitlement",
        "marketplace.view_entitlementevent",
        "marketplace.view_invoice",
    ),
}


def sync_staff_groups(apps: Any = None, groups: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Create or correct the role groups: ``groups`` maps a group name to its permissions (default: the
    roles above). A migration passes its historical ``apps`` and its own frozen copy of the roles."""
    if apps is None:
        from django.apps import apps as live_apps

        apps = live_apps
    if groups is None:
        groups = {GROUP_NAMES[role]: list(names) for role, names in ROLE_PERMISSIONS.items()}
    _ensure_permissions(apps)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    synced = {}
    with transaction.atomic():
        for name, permissions in groups.items():
            group, _ = group_model.objects.get_or_create(name=name)
            group.permissions.set([_permission(permission_model, dotted) for dotted in permissions])
            synced[name] = group
    return synced


def _permission(permission_model: Any, dotted: str) -> Any:
    app_label, codename = dotted.split(".", 1)
    return permission_model.objects.get(content_type__app_label=app_label, codename=codename)


def _ensure_permissions(apps: Any) -> None:
    # Permissions are normally created after ``migrate`` (post_migrate); a data migration runs before that,
    # and a flushed test database may lack them too.
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    for app_config in apps.get_app_configs():
        stub = not getattr(app_config, "models_module", None)  # a migration's historical app
        if stub:
            app_config.models_module = True
        try:
            create_contenttypes(app_config, verbosity=0, apps=apps)
            create_permissions(app_config, verbosity=0, apps=apps)
        finally:
            if stub:
                app_config.models_module = None


def grant_role(user: Any, role: StaffRole) -> None:
    """Make ``user`` staff with ``role`` (other roles it holds stay)."""
    group = sync_staff_groups()[GROUP_NAMES[role]]
    with transaction.atomic():
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(group)
