"""The database-held run queue: which runs the dispatcher releases, in which order, under which caps.

No message reaches a broker here: the dispatcher publishes after its transaction commits, and these tests
run inside one that never does. What is pinned is the release itself (``released_at`` on the rows).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import override_settings

from argus_plugins.core import clock
from argus_plugins.tenancy import services as tenancy_services
from argus_plugins.tenancy.models import TenantPolicy
from execution import dispatch
from execution import services as execution_services
from execution.models import Execution, ExecutionStatus
from installations import services as installation_services

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def tenants(world, published_version):
    """Tenants A, B and C, each with the echo plugin installed; submit(t) queues one run of tenant t."""
    tenant_c = tenancy_services.create_tenant(actor=world.admin_b, name="Agency C")
    admins = {"A": (world.tenant_a, world.admin_a), "B": (world.tenant_b, world.admin_b)}
    admins["C"] = (tenant_c, world.admin_b)
    installations = {
        name: installation_services.install_plugin(
            actor=admin, tenant_id=tenant.pk, plugin_id=published_version.plugin.pk
        )
        for name, (tenant, admin) in admins.items()
    }
    submitted: list[Execution] = []

    def submit(name: str, count: int = 1) -> list[Execution]:
        runs = []
        for _ in range(count):
            # Submitted while every worker slot is taken: the dispatcher runs in runPlugin's transaction and
            # releases nothing, so the runs wait in the database for the releases these tests look at.
            with override_settings(ARGUS_DISPATCH_SLOTS=0):
                run = execution_services.run_plugin(
                    actor=admins[name][1], installation_id=installations[name].pk, input={}
                )
            # Submission order made explicit: the clock may not tick between two runs.
            queued_at = START + dt.timedelta(seconds=len(submitted))
            Execution.objects.filter(pk=run.pk).update(queued_at=queued_at)
            submitted.append(run)
            runs.append(run)
        return runs

    submit.tenants = {name: tenant for name, (tenant, _admin) in admins.items()}  # type: ignore[attr-defined]
    return submit


def _label(execution_id, names: dict) -> str:
    run = Execution.objects.get(pk=execution_id)
    return next(name for name, tenant in names.items() if tenant.pk == run.tenant_id)


def _released(names: dict) -> list[str]:
    return [_label(pk, names) for pk in dispatch.release_queued_runs()]


def _finish(runs: list[Execution]) -> None:
    Execution.objects.filter(pk__in=[run.pk for run in runs]).update(
        status=ExecutionStatus.SUCCEEDED, finished_at=clock.now()
    )


def test_a_new_run_waits_in_the_database_until_released(tenants):
    (run,) = tenants("A")
    run.refresh_from_db()
    assert (run.status, run.released_at) == (ExecutionStatus.QUEUED, None)
    assert dispatch.release_queued_runs() == [str(run.pk)]
    run.refresh_from_db()
    assert run.status == ExecutionStatus.QUEUED and run.released_at is not None
    assert dispatch.release_queued_runs() == []  # released once


def test_a_run_submitted_with_a_free_slot_is_released_in_its_own_transaction(
    world, published_version, monkeypatch, django_capture_on_commit_callbacks
):
    """No second transaction for the dispatcher: the run is released before runPlugin's transaction commits,
    and its message is published right after that commit (and only then)."""
    from argus_plugins.core import publishing

    installation = installation_services.install_plugin(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=published_version.plugin.pk
    )
    sent = []
    monkeypatch.setattr(publishing, "publish", lambda task_name, *args: sent.append((task_name, *args)))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = execution_services.run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})
        run.refresh_from_db()
        assert run.status == ExecutionStatus.QUEUED and run.released_at is not None
        assert sent == []  # not before the commit
    assert sent == [("execution.run", str(run.pk))]
    assert dispatch._release_safely not in callbacks


def test_the_dispatcher_is_asked_once_per_transaction(world):
    dispatch.release_after_commit()
    dispatch.release_after_commit()  # e.g. a run that finishes and, through an event, queues the next
    assert [callback for _, callback, _ in connection.run_on_commit] == [dispatch._release_safely]


def test_runs_are_released_round_robin_across_tenants(tenants, settings):
    settings.ARGUS_DISPATCH_SLOTS = 4
    names = tenants.tenants
    flood = tenants("B", 6)  # B floods first
    a_runs = tenants("A", 2)
    tenants("C", 1)
    # Never-served tenants in the order of their oldest run, then B again: one run per tenant per round.
    first = dispatch.release_queued_runs()
    assert [_label(pk, names) for pk in first] == ["B", "A", "C", "B"]
    assert first[:2] == [str(flood[0].pk), str(a_runs[0].pk)]  # each tenant's own runs in submission order
    assert _released(names) == []  # every slot is taken
    _finish([flood[0], a_runs[0]])
    # A was served before B's second run in the last round: A goes first now, and C has nothing left.
    assert _released(names) == ["A", "B"]
    _finish(list(Execution.objects.filter(released_at__isnull=False, status=ExecutionStatus.QUEUED)))
    assert _released(names) == ["B", "B", "B"]  # only B is left: it gets every free slot
    assert Execution.objects.filter(released_at__isnull=True).count() == 0


def test_the_other_tenants_next_run_is_released_at_the_first_free_slot(tenants, settings):
    settings.ARGUS_DISPATCH_SLOTS = 1
    names = tenants.tenants
    flood = tenants("B", 50)
    assert _released(names) == ["B"]
    (a_run,) = tenants("A")
    assert _released(names) == []  # the only slot is B's
    _finish(flood[:1])
    assert dispatch.release_queued_runs() == [str(a_run.pk)]  # not behind the 49 others
    _finish([a_run])
    assert _released(names) == ["B"]


def test_a_tenant_never_has_more_runs_in_flight_than_its_cap(tenants, settings):
    settings.ARGUS_DISPATCH_SLOTS = 10
    names = tenants.tenants
    TenantPolicy.objects.create(tenant=names["B"], max_concurrent_executions=2)
    settings.ARGUS_TENANT_MAX_CONCURRENCY = 3  # A's cap, from settings
    b_runs = tenants("B", 5)
    tenants("A", 5)
    Execution.objects.filter(pk=b_runs[0].pk).update(status=ExecutionStatus.RUNNING, started_at=clock.now())
    released = _released(names)
    assert sorted(released) == ["A", "A", "A", "B"]  # B: one running + one released = its cap of 2
    assert _released(names) == []
    _finish(b_runs[:1])
    assert _released(names) == ["B"]


def test_runs_in_flight_of_every_tenant_share_the_slots(tenants, settings):
    settings.ARGUS_DISPATCH_SLOTS = 3
    names = tenants.tenants
    running = tenants("C", 2)
    Execution.objects.filter(pk__in=[r.pk for r in running]).update(
        status=ExecutionStatus.RUNNING, started_at=clock.now(), released_at=clock.now()
    )
    tenants("A", 3)
    assert _released(names) == ["A"]


def test_a_cancelled_held_run_is_never_released(tenants):
    (cancelled, kept) = tenants("A", 2)
    execution_services.request_cancel(cancelled, "not needed")
    assert dispatch.release_queued_runs() == [str(kept.pk)]
    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.released_at) == (ExecutionStatus.CANCELLED, None)


def test_a_failed_publish_puts_the_unsent_runs_back_on_hold(tenants, monkeypatch):
    from argus_plugins.core import publishing

    first, second = tenants("A", 2)
    released = dispatch.release_queued_runs()
    assert released == [str(first.pk), str(second.pk)]
    sent = []

    def broker(task_name, execution_id):
        assert task_name == "execution.run"
        if sent:
            raise ConnectionRefusedError("broker unreachable")  # fault injection: Redis went down
        sent.append(execution_id)

    monkeypatch.setattr(publishing, "publish", broker)
    assert dispatch.publish(released) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.released_at is not None and second.released_at is None
    assert dispatch.release_queued_runs() == [str(second.pk)]  # the next dispatch sends it again


def test_the_finish_of_a_run_dispatches_after_commit(tenants, django_capture_on_commit_callbacks):
    (run,) = tenants("A")
    with django_capture_on_commit_callbacks() as callbacks:
        execution_services.request_cancel(run, "stop")
    assert dispatch._release_safely in callbacks


def test_a_lone_held_run_is_released_only_within_the_slots_and_its_tenant_s_cap(tenants, settings):
    first, second = tenants("A", 2)
    Execution.objects.filter(pk=first.pk).update(status=ExecutionStatus.RUNNING)  # in flight
    TenantPolicy.objects.create(tenant=tenants.tenants["A"], max_concurrent_executions=1)
    settings.ARGUS_DISPATCH_SLOTS = 10
    assert dispatch.release_queued_runs() == []  # the tenant is at its cap
    TenantPolicy.objects.filter(tenant=tenants.tenants["A"]).update(max_concurrent_executions=2)
    settings.ARGUS_DISPATCH_SLOTS = 1
    assert dispatch.release_queued_runs() == []  # every worker slot is taken (by the running one)
    settings.ARGUS_DISPATCH_SLOTS = 2
    assert dispatch.release_queued_runs() == [str(second.pk)]
    assert Execution.objects.get(pk=second.pk).released_at is not None


def test_on_sqlite_a_finished_run_with_nothing_held_costs_one_read_and_no_write_transaction(tenants):
    from django.test.utils import CaptureQueriesContext

    (held,) = tenants("A")
    with CaptureQueriesContext(connection) as captured:
        dispatch._release_safely()  # one run held: the dispatcher runs and releases it
    assert Execution.objects.get(pk=held.pk).released_at is not None
    assert any(query["sql"].startswith("UPDATE") for query in captured.captured_queries)
    with CaptureQueriesContext(connection) as captured:
        dispatch._release_safely()  # nothing held any more
    if connection.vendor == "sqlite":
        assert [query["sql"].split()[0] for query in captured.captured_queries] == ["SELECT"]
    else:  # PostgreSQL: the dispatcher and its lock, which is what waits for an overlapping enqueue
        assert any("pg_advisory_xact_lock" in query["sql"] for query in captured.captured_queries)


@pytest.mark.parametrize("source", ["setting", "policy"])
def test_runplugin_beyond_the_queue_cap_is_refused_with_queue_full(world, gql_for, tenants, settings, source):
    if source == "setting":
        settings.ARGUS_TENANT_MAX_QUEUED = 2
    else:
        TenantPolicy.objects.create(tenant=world.tenant_a, max_queued_executions=2)
    queued = tenants("A", 2)
    installation_id = queued[0].installation_id
    mutation = (
        """mutation($i: ID!) { runPlugin(installationId: $i) { execution { id } errors { code field } } }"""
    )
    payload = gql_for(world.admin_a).execute(mutation, {"i": str(installation_id)}).payload("runPlugin")
    assert payload == {"execution": None, "errors": [{"code": "QUEUE_FULL", "field": None}]}
    assert Execution.objects.filter(tenant=world.tenant_a).count() == 2
    tenants("B", 1)  # other tenants are not affected
    _finish(queued[:1])  # a terminal run no longer counts
    payload = gql_for(world.admin_a).execute(mutation, {"i": str(installation_id)}).payload("runPlugin")
    assert payload["errors"] == [] and payload["execution"]["id"]


@pytest.mark.postgres
def test_the_dispatcher_on_postgresql_releases_in_turn_and_never_beyond_the_slots(
    postgres_database, tmp_path
):
    from pathlib import Path

    from tests.support.postgres import run_check_script

    result = run_check_script(
        Path(__file__).with_name("dispatch_postgres_check.py"), postgres_database, tmp_path
    )
    assert result["first"] == ["B", "A", "B", "A", "B"]
    assert (result["concurrent"], result["distinct"], result["in_flight"], result["held"]) == (5, 5, 5, 1)
    # Queued while another dispatcher held the lock: not waited for, released after the commit.
    assert result["deferred"] is True
    assert (result["released_while_locked"], result["released_after_commit"]) == (0, 1)
