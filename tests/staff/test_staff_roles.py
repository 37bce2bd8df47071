"""Staff roles out of the box: the groups, the command that makes a working account, what each role sees
in the admin (a permission matrix), the reviewer's index with the queue first, the Executions admin."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from argus_plugins.core import clock
from argus_plugins.staff.roles import GROUP_NAMES, ROLE_PERMISSIONS, StaffRole, grant_role, sync_staff_groups
from argus_plugins.tenancy.models import User
from execution.models import Execution, ExecutionStatus, Trigger
from ledger.models import LedgerEntry
from ledger.services import append_entry
from registry import services as registry_services

PASSWORD = "correct horse battery staple 7"

REVIEWER_PAGES = [
    "/admin/registry/",
    "/admin/registry/pluginversionreview/",
    "/admin/registry/pluginversion/",
    "/admin/registry/plugin/",
    "/admin/registry/publisher/",
    "/admin/marketplace/listing/",
    "/admin/marketplace/reviewmoderation/",
]
OPERATOR_PAGES = [
    "/admin/execution/",
    "/admin/execution/execution/",
    "/admin/ledger/ledgerentry/",
    "/admin/tenancy/tenant/",
    "/admin/tenancy/membership/",
    "/admin/tenancy/apitoken/",
    "/admin/installations/installation/",
    "/admin/triggers/schedule/",
    "/admin/triggers/webhookdelivery/",
    "/admin/audit/auditevent/",
    "/admin/django_celery_beat/periodictask/",
    "/admin/core/tenantflag/",
    "/admin/marketplace/invoice/",
]
#: Nobody but a superuser: accounts and permissions are not a role's business.
SUPERUSER_PAGES = ["/admin/auth/group/", "/admin/tenancy/user/add/", "/admin/tenancy/tenantpolicy/"]


def _create_staff_user(username: str, *roles: str) -> User:
    arguments = [username, "--password-from-stdin"]
    for role in roles:
        arguments += ["--role", role]
    out = io.StringIO()
    call_command("create_staff_user", *arguments, stdin=io.StringIO(PASSWORD + "\n"), stdout=out)
    assert f"staff user '{username}'" in out.getvalue()
    return User.objects.get(username=username)


def _logged_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


@pytest.fixture
def reviewer(db):
    _create_staff_user("rita-reviewer", "reviewer")
    return _logged_in("rita-reviewer")


@pytest.fixture
def operator(db):
    _create_staff_user("otto-operator", "operator")
    return _logged_in("otto-operator")


def test_the_newest_groups_migration_carries_the_current_roles():
    """Changing the roles needs a data migration with the new list, or deployments keep the old groups."""
    import pkgutil
    from importlib import import_module

    from argus_plugins.staff import migrations

    names = sorted(module.name for module in pkgutil.iter_modules(migrations.__path__))
    frozen = [import_module(f"{migrations.__name__}.{name}") for name in names]
    newest = [module.GROUPS for module in frozen if hasattr(module, "GROUPS")][-1]
    assert {GROUP_NAMES[role]: list(perms) for role, perms in ROLE_PERMISSIONS.items()} == newest


def test_the_groups_hold_exactly_their_roles_permissions(db):
    # The data migration calls the same function; a flushed (transactional) test database may have lost
    # its groups, and a group changed by hand is corrected.
    from django.contrib.auth.models import Permission

    groups = sync_staff_groups()
    groups["Operators"].permissions.add(Permission.objects.get(codename="delete_tenant"))
    sync_staff_groups()
    for role, names in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=GROUP_NAMES[role])
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == set(names)


def test_the_command_makes_a_staff_account_that_logs_in_with_its_password(db):
    user = _create_staff_user("rita-reviewer", "reviewer")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["Reviewers"]
    assert user.check_password(PASSWORD)
    response = Client().post(
        "/admin/login/?next=/admin/", {"username": "rita-reviewer", "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200 and b"Review queue" in response.content


def test_the_command_adds_a_role_to_an_existing_account_and_keeps_its_password(db):
    _create_staff_user("sam", "reviewer")
    call_command("create_staff_user", "sam", "--role", "operator", stdout=io.StringIO())
    user = User.objects.get(username="sam")
    assert set(user.groups.values_list("name", flat=True)) == {"Reviewers", "Operators"}
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize(
    ("stdin", "message"), [("\n", "must not be empty"), ("abc\n", "too short")]
)
def test_the_command_refuses_a_bad_password_and_creates_nothing(db, stdin, message):
    with pytest.raises(CommandError, match=message):
        call_command(
            "create_staff_user", "weak", "--role", "reviewer", "--password-from-stdin", stdin=io.StringIO(stdin)
        )
    assert not User.objects.filter(username="weak").exists()


def test_the_command_needs_a_known_role(db):
    with pytest.raises(CommandError):
        call_command("create_staff_user", "x", "--role", "janitor", "--password-from-stdin")


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        ("reviewer", REVIEWER_PAGES, OPERATOR_PAGES + SUPERUSER_PAGES),
        ("operator", OPERATOR_PAGES, REVIEWER_PAGES + SUPERUSER_PAGES),
        ("", [], REVIEWER_PAGES + OPERATOR_PAGES + SUPERUSER_PAGES),  # staff with no role sees nothing
    ],
)
def test_permission_matrix(db, role, allowed, denied):
    user = User.objects.create_user("staffer", password=PASSWORD, is_staff=True)
    if role:
        grant_role(user, StaffRole(role))
    client = _logged_in("staffer")
    for url in allowed:
        assert client.get(url).status_code == 200, url
    for url in denied:
        assert client.get(url).status_code in (403, 404), url  # an app index with nothing visible is a 404


def test_non_staff_are_sent_to_the_login_page(db):
    User.objects.create_user("tenant-admin", password=PASSWORD)
    client = _logged_in("tenant-admin")
    for url in ["/admin/", REVIEWER_PAGES[1], OPERATOR_PAGES[1]]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def _submit(publisher_kit, slug: str):
    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug=slug, name=slug.title()
    )
    version = publisher_kit.upload(plugin, "1.0.0")
    return registry_services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)


def test_a_reviewers_index_shows_the_queue_first_with_its_count(reviewer, publisher_kit):
    _submit(publisher_kit, "alpha")
    _submit(publisher_kit, "beta")
    page = reviewer.get("/admin/").content.decode()
    summary = page.index('id="review-queue-summary"')
    assert re.search(r"<strong>2</strong>\s+versions waiting for review", page[summary:])
    # The registry is the first app and the queue its first model, with the count in its name.
    apps = [page.index(f'class="app-{label} module') for label in ("registry", "marketplace")]
    assert summary < apps[0] < apps[1]
    registry_block = page[apps[0] : apps[1]]
    assert registry_block.index("Review queue (2 waiting)") < registry_block.index("Plugin versions")
    app_index = reviewer.get("/admin/registry/")
    assert app_index.status_code == 200 and b"Review queue (2 waiting)" in app_index.content


def test_an_operators_index_has_no_review_queue(operator):
    page = operator.get("/admin/").content.decode()
    assert "review-queue-summary" not in page and "Review queue" not in page
    assert page.index('class="app-execution module') < page.index('class="app-ledger module')


def test_plural_names():
    from triggers.models import EventDelivery, WebhookDelivery

    assert EventDelivery._meta.verbose_name_plural == "event deliveries"
    assert WebhookDelivery._meta.verbose_name_plural == "webhook deliveries"


# ----------------------------------------------------------------------------------------- executions


@pytest.fixture
def runs(world, published_version, installation):
    entry = append_entry("execution.completed", {"n": 1}, tenant_id=world.tenant_a.pk)

    def run(status: str, trigger: str, reason: str = "", days_ago: int = 0, ledger: LedgerEntry | None = None):
        at = clock.now() - dt.timedelta(days=days_ago)
        return Execution.objects.create(
            tenant=world.tenant_a,
            installation=installation,
            plugin_version=published_version,
            trigger=trigger,
            input={"secret": "tenant data"},
            input_sha256=hashlib.sha256(b"{}").hexdigest(),
            status=status,
            error_reason=reason,
            stdout="private output",
            stderr="Traceback: boom",
            queued_at=at,
            enqueued_at=at,
            ledger_entry=ledger,
        )

    return {
        "installation": installation,
        "entry": entry,
        "ok": run(ExecutionStatus.SUCCEEDED, Trigger.MANUAL, ledger=entry),
        "failed": run(ExecutionStatus.FAILED, Trigger.SCHEDULED, reason="exit status 3", days_ago=10),
    }


def test_executions_admin_lists_filters_and_links(operator, runs, world):
    base = "/admin/execution/execution/"
    page = operator.get(base).content.decode()
    assert str(runs["ok"].pk) in page and str(runs["failed"].pk) in page
    by_status = operator.get(base, {"status__exact": "FAILED"}).content.decode()
    assert str(runs["failed"].pk) in by_status and str(runs["ok"].pk) not in by_status
    by_trigger = operator.get(base, {"trigger__exact": "MANUAL"}).content.decode()
    assert str(runs["ok"].pk) in by_trigger and str(runs["failed"].pk) not in by_trigger
    by_tenant = operator.get(base, {"tenant__id__exact": str(world.tenant_b.pk)}).content.decode()
    assert str(runs["ok"].pk) not in by_tenant
    plugin_id = runs["ok"].plugin_version.plugin_id
    by_plugin = operator.get(base, {"plugin_version__plugin__id__exact": str(plugin_id)}).content.decode()
    assert str(runs["ok"].pk) in by_plugin and str(runs["failed"].pk) in by_plugin
    week = operator.get(base, {"queued_at__gte": (clock.now() - dt.timedelta(days=7)).isoformat()})
    assert str(runs["failed"].pk) not in week.content.decode()
    by_reason = operator.get(base, {"q": "exit status"}).content.decode()
    assert str(runs["failed"].pk) in by_reason and str(runs["ok"].pk) not in by_reason

    detail = operator.get(f"{base}{runs['ok'].pk}/change/").content.decode()
    assert reverse("admin:ledger_ledgerentry_change", args=[runs["entry"].pk]) in detail
    assert reverse("admin:installations_installation_change", args=[runs["installation"].pk]) in detail
    assert "Traceback: boom" in detail
    assert "tenant data" not in detail and "private output" not in detail


def test_executions_admin_is_read_only(operator, runs):
    base = "/admin/execution/execution/"
    run = runs["failed"]
    assert operator.get(f"{base}add/").status_code == 403
    assert operator.get(f"{base}{run.pk}/delete/").status_code == 403
    assert b'name="status"' not in operator.get(f"{base}{run.pk}/change/").content
    operator.post(f"{base}{run.pk}/change/", {"status": "SUCCEEDED"})
    operator.post(base, {"action": "delete_selected", "_selected_action": [str(run.pk)], "post": "yes"})
    assert Execution.objects.get(pk=run.pk).status == ExecutionStatus.FAILED


def test_operators_verify_the_ledger_from_the_admin_and_reviewers_cannot(operator, reviewer, db):
    append_entry("execution.completed", {"n": 1})
    page = operator.get("/admin/ledger/ledgerentry/")
    assert b'id="verify-ledger"' in page.content
    done = operator.post("/admin/ledger/ledgerentry/verify/", follow=True)
    assert b"Ledger OK: 1 entries" in done.content
    assert reviewer.post("/admin/ledger/ledgerentry/verify/").status_code == 403
