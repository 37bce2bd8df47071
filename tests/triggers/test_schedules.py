"""Schedules: beat's own decision (the PeriodicTask's celery schedule, driven by the platform clock) and
``fire`` at those instants, across DST, refusals, overlap and catch-up after downtime."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from argus_plugins.core import clock
from argus_plugins.core.errors import DomainError
from execution.models import Execution, ExecutionStatus, Trigger
from execution.services import request_cancel
from installations import services as installation_services
from triggers import schedules
from triggers.models import FiringOutcome, OverlapPolicy, Schedule, ScheduleFiring

UTC = dt.UTC


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def make_schedule(world, installation, **options) -> Schedule:
    options.setdefault("overlap_policy", OverlapPolicy.ALLOW)
    return schedules.create_schedule(actor=world.admin_a, installation_id=installation.pk, **options)


def beat_entry(schedule: Schedule):
    """The celery schedule beat's DatabaseScheduler builds from the PeriodicTask, on the platform clock."""
    task = PeriodicTask.objects.select_related("crontab", "interval").get(pk=schedule.periodic_task_id)
    celery_schedule = task.schedule
    tz = getattr(celery_schedule, "tz", UTC)
    celery_schedule.nowfun = lambda: clock.now().astimezone(tz)
    return celery_schedule


def simulate_beat(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[ScheduleFiring]:
    """Step the clock exactly as beat would (is_due's "check again in N s") and fire when due."""
    entry = beat_entry(schedule)
    now, last_run, fired = start, start, []
    while now < end:
        with clock.frozen(now):
            due, next_check = entry.is_due(last_run)
            if due:
                fired.append(schedules.fire(schedule.pk))
                last_run = now
                due, next_check = entry.is_due(last_run)
        now = now + dt.timedelta(seconds=max(next_check, 1))
    return fired


def test_create_keeps_a_periodic_task_in_sync(world, plugin_factory):
    installation = plugin_factory()
    schedule = make_schedule(world, installation, cron_expression="0 9 * * 1-5", timezone="Europe/Berlin")
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.name == f"triggers.schedule:{schedule.pk}" and task.task == "triggers.fire_schedule"
    assert task.args == f'["{schedule.pk}"]' and task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "9", "1-5")
    assert str(task.crontab.timezone) == "Europe/Berlin" and task.interval is None

    schedules.update_schedule(actor=world.admin_a, schedule_id=schedule.pk, interval_seconds=600)
    task.refresh_from_db()
    assert task.crontab is None and task.interval.every == 600 and task.interval.period == "seconds"
    assert not CrontabSchedule.objects.filter(hour="9", day_of_week="1-5").exists()  # unused row removed

    schedules.pause_schedule(actor=world.admin_a, schedule_id=schedule.pk, reason="maintenance")
    task.refresh_from_db()
    assert task.enabled is False
    schedule.refresh_from_db()
    assert (
        schedule.paused_reason == "Paused by alice-admin: maintenance"
        and schedules.next_run_at(schedule) is None
    )

    schedules.resume_schedule(actor=world.admin_a, schedule_id=schedule.pk)
    task.refresh_from_db()
    assert task.enabled is True

    schedules.delete_schedule(actor=world.admin_a, schedule_id=schedule.pk)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    assert not IntervalSchedule.objects.filter(every=600).exists()
    assert schedules.fire(schedule.pk) is None  # a stray message for a deleted schedule does nothing


@pytest.mark.parametrize(
    ("expression", "zone", "start", "end", "expected_local"),
    [
        # US DST ends on 2026-11-01: 09:00 local is 13:00 UTC before and 14:00 UTC after.
        (
            "0 9 * * *",
            "America/New_York",
            at(2026, 10, 30, 12),
            at(2026, 11, 3, 12),
            ["2026-10-30T09:00", "2026-10-31T09:00", "2026-11-01T09:00", "2026-11-02T09:00"],
        ),
        # EU DST starts on 2026-03-29: 02:30 does not exist that day, it runs at 03:30 CEST.
        (
            "30 2 * * *",
            "Europe/Berlin",
            at(2026, 3, 27, 12),
            at(2026, 3, 31, 12),
            ["2026-03-28T02:30", "2026-03-29T03:30", "2026-03-30T02:30", "2026-03-31T02:30"],
        ),
    ],
)
def test_cron_fires_at_the_right_minute_in_its_zone_across_dst(
    world, plugin_factory, expression, zone, start, end, expected_local
):
    installation = plugin_factory()
    with clock.frozen(start):
        schedule = make_schedule(world, installation, cron_expression=expression, timezone=zone)
        predicted = schedules.next_run_at(schedule)
    firings = simulate_beat(schedule, start, end)
    local = [f.fired_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M") for f in firings]
    assert local == expected_local
    assert [f.outcome for f in firings] == [FiringOutcome.STARTED] * len(expected_local)
    assert predicted == firings[0].fired_at  # nextRunAt is what beat then did
    for firing in firings:
        assert firing.execution.trigger == Trigger.SCHEDULED and firing.fired_at.second == 0
    # nextRunAt right after a firing is the next one beat makes.
    for before, after in itertools.pairwise(firings):
        with clock.frozen(before.fired_at + dt.timedelta(seconds=1)):
            assert schedules.next_run_at(Schedule.objects.get(pk=schedule.pk)) == after.fired_at


def test_interval_next_run_counts_from_the_last_run(world, plugin_factory):
    installation = plugin_factory()
    with clock.frozen(at(2026, 5, 1, 10)):
        schedule = make_schedule(world, installation, interval_seconds=3600)
        assert schedules.next_run_at(schedule) >= at(2026, 5, 1, 11)
    with clock.frozen(at(2026, 5, 1, 11, 0, 2)):
        firing = schedules.fire(schedule.pk)
    assert firing.outcome == FiringOutcome.STARTED
    with clock.frozen(at(2026, 5, 1, 11, 30)):
        schedule.refresh_from_db()
        assert schedules.next_run_at(schedule) == at(2026, 5, 1, 12, 0, 2)
        assert (
            schedule.last_run_at == at(2026, 5, 1, 11, 0, 2) and schedule.last_execution == firing.execution
        )


def test_revoked_grant_records_rejected_runs_then_pauses_the_schedule(world, plugin_factory, settings):
    settings.ARGUS_SCHEDULE_MAX_REJECTIONS = 3
    installation = plugin_factory(capabilities=["artifacts:write"])
    with clock.frozen(at(2026, 6, 1, 8)):
        schedule = make_schedule(world, installation, interval_seconds=3600)
    grant = installation.grants.get()
    installation_services.revoke_capability_grant(actor=world.admin_a, grant_id=grant.pk, reason="audit")

    outcomes = []
    for hour in (9, 10, 11):
        with clock.frozen(at(2026, 6, 1, hour)):
            outcomes.append(schedules.fire(schedule.pk))
    for firing in outcomes:
        assert firing.outcome == FiringOutcome.REJECTED
        execution = Execution.objects.select_related("ledger_entry").get(pk=firing.execution_id)
        assert execution.status == ExecutionStatus.REJECTED and execution.trigger == Trigger.SCHEDULED
        assert "'artifacts:write' was revoked: audit" in execution.error_reason
        assert execution.ledger_entry.record["status"] == "REJECTED"
        assert execution.ledger_entry.record["trigger"] == "SCHEDULED"
    schedule.refresh_from_db()
    assert schedule.enabled is False and schedule.consecutive_rejections == 3
    assert schedule.paused_reason.startswith("Paused automatically after 3 refused firings in a row.")
    assert "revoked: audit" in schedule.paused_reason
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled is False
    with clock.frozen(at(2026, 6, 1, 12)):
        assert schedules.fire(schedule.pk) is None  # paused: a stray message starts nothing
    assert Execution.objects.filter(installation=installation).count() == 3

    # Granting again and resuming starts counting afresh.
    installation_services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="artifacts:write"
    )
    schedules.resume_schedule(actor=world.admin_a, schedule_id=schedule.pk)
    with clock.frozen(at(2026, 6, 1, 13)):
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.STARTED
    schedule.refresh_from_db()
    assert schedule.consecutive_rejections == 0 and schedule.paused_reason == ""


def test_a_success_resets_the_rejection_count(world, plugin_factory):
    installation = plugin_factory(capabilities=["artifacts:write"])
    with clock.frozen(at(2026, 6, 1, 8)):
        schedule = make_schedule(world, installation, interval_seconds=3600)
    grant = installation.grants.get()
    installation_services.revoke_capability_grant(actor=world.admin_a, grant_id=grant.pk, reason="oops")
    with clock.frozen(at(2026, 6, 1, 9)):
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.REJECTED
    installation_services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="artifacts:write"
    )
    with clock.frozen(at(2026, 6, 1, 10)):
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.STARTED
    schedule.refresh_from_db()
    assert schedule.consecutive_rejections == 0 and schedule.enabled


def test_an_unstartable_run_is_a_refused_firing_without_execution(world, plugin_factory):
    installation = plugin_factory()
    with clock.frozen(at(2026, 6, 1, 8)):
        schedule = make_schedule(world, installation, interval_seconds=3600)
    installation_services.uninstall_plugin(actor=world.admin_a, installation_id=installation.pk)
    with clock.frozen(at(2026, 6, 1, 9)):
        firing = schedules.fire(schedule.pk)
    assert firing.outcome == FiringOutcome.REJECTED and "uninstalled" in firing.reason
    assert firing.execution is None  # nothing to record an execution against
    schedule.refresh_from_db()
    assert schedule.consecutive_rejections == 1


def test_overlap_skip_records_a_skipped_firing_and_starts_nothing(world, plugin_factory):
    installation = plugin_factory()
    with clock.frozen(at(2026, 7, 1, 8)):
        schedule = make_schedule(world, installation, interval_seconds=600, overlap_policy=OverlapPolicy.SKIP)
    with clock.frozen(at(2026, 7, 1, 8, 10)):
        first = schedules.fire(schedule.pk)
    assert first.outcome == FiringOutcome.STARTED and first.execution.status == ExecutionStatus.QUEUED
    with clock.frozen(at(2026, 7, 1, 8, 20)):
        skipped = schedules.fire(schedule.pk)
    assert skipped.outcome == FiringOutcome.SKIPPED_OVERLAP and skipped.execution is None
    assert str(first.execution.pk) in skipped.reason and "QUEUED" in skipped.reason
    assert Execution.objects.filter(installation=installation).count() == 1

    request_cancel(first.execution, "done")  # the previous run is over
    with clock.frozen(at(2026, 7, 1, 8, 30)):
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.STARTED


def test_overlap_allow_starts_while_the_previous_run_is_active(world, plugin_factory):
    installation = plugin_factory()
    with clock.frozen(at(2026, 7, 1, 8)):
        schedule = make_schedule(
            world, installation, interval_seconds=600, overlap_policy=OverlapPolicy.ALLOW
        )
    for minute in (10, 20):
        with clock.frozen(at(2026, 7, 1, 8, minute)):
            assert schedules.fire(schedule.pk).outcome == FiringOutcome.STARTED
    assert Execution.objects.filter(installation=installation, status=ExecutionStatus.QUEUED).count() == 2


def test_interval_catch_up_after_downtime_runs_once(world, plugin_factory):
    installation = plugin_factory()
    with clock.frozen(at(2026, 8, 1, 10)):
        schedule = make_schedule(world, installation, interval_seconds=300)
    entry = beat_entry(schedule)
    with clock.frozen(at(2026, 8, 1, 10, 5)):
        assert entry.is_due(at(2026, 8, 1, 10))[0]
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.STARTED
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.SKIPPED_CATCH_UP  # duplicate message

    # Beat was down for an hour: on restart it is due once, and not again right after.
    restart = at(2026, 8, 1, 11, 7)
    with clock.frozen(restart):
        assert entry.is_due(at(2026, 8, 1, 10, 5))[0] is True
        assert entry.is_due(restart)[0] is False
    # Workers were down while beat kept sending: twelve queued messages arrive within seconds.
    burst = []
    for second in range(12):
        with clock.frozen(restart + dt.timedelta(seconds=second)):
            burst.append(schedules.fire(schedule.pk).outcome)
    assert burst.count(FiringOutcome.STARTED) == 1 and burst[0] == FiringOutcome.STARTED
    assert burst.count(FiringOutcome.SKIPPED_CATCH_UP) == 11
    skipped = ScheduleFiring.objects.filter(schedule=schedule, outcome=FiringOutcome.SKIPPED_CATCH_UP).first()
    assert "less than 300 s ago" in skipped.reason and skipped.execution is None
    # The regular cadence resumes one interval after the catch-up run.
    with clock.frozen(restart + dt.timedelta(seconds=300)):
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.STARTED
    assert Execution.objects.filter(installation=installation).count() == 3


def test_cron_catch_up_after_downtime_runs_once(world, plugin_factory):
    installation = plugin_factory()
    with clock.frozen(at(2026, 8, 1, 9, 58)):
        schedule = make_schedule(world, installation, cron_expression="*/5 * * * *")
    entry = beat_entry(schedule)
    with clock.frozen(at(2026, 8, 1, 10, 0, 0, 300000)):
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.STARTED
    with clock.frozen(at(2026, 8, 1, 10, 0, 20)):
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.SKIPPED_CATCH_UP
    # Beat down from 10:02 to 11:13: fourteen slots missed; beat itself sends once on restart.
    with clock.frozen(at(2026, 8, 1, 11, 13)):
        assert entry.is_due(at(2026, 8, 1, 10, 0))[0] is True
        assert entry.is_due(at(2026, 8, 1, 11, 13))[0] is False
    outcomes = []
    for second in range(5):  # plus a backlog of duplicates
        with clock.frozen(at(2026, 8, 1, 11, 13, second)):
            outcomes.append(schedules.fire(schedule.pk).outcome)
    assert outcomes == [FiringOutcome.STARTED] + [FiringOutcome.SKIPPED_CATCH_UP] * 4
    with clock.frozen(at(2026, 8, 1, 11, 15, 0, 500000)):
        assert schedules.fire(schedule.pk).outcome == FiringOutcome.STARTED  # the next slot is normal


def test_a_beat_clock_slightly_ahead_still_fires_each_slot_once(world, plugin_factory):
    installation = plugin_factory()
    with clock.frozen(at(2026, 8, 1, 9, 58)):
        schedule = make_schedule(world, installation, cron_expression="* * * * *")
    outcomes = []
    for minute in range(4):
        for offset in (-2.0, -1.5):  # message processed 2 s before the worker's clock reaches the slot
            with clock.frozen(at(2026, 8, 1, 10, minute) + dt.timedelta(seconds=offset)):
                outcomes.append(schedules.fire(schedule.pk).outcome)
    assert outcomes == [FiringOutcome.STARTED, FiringOutcome.SKIPPED_CATCH_UP] * 4


def test_schedules_fire_nothing_while_the_feature_is_off(world, plugin_factory):
    from argus_plugins.core.models import TenantFlag

    installation = plugin_factory()
    with clock.frozen(at(2026, 9, 1, 8)):
        schedule = make_schedule(world, installation, interval_seconds=600)
    TenantFlag.objects.filter(name="triggers.schedules").update(everyone=False)
    with clock.frozen(at(2026, 9, 1, 8, 10)):
        firing = schedules.fire(schedule.pk)
    assert firing.outcome == FiringOutcome.SKIPPED_FEATURE_DISABLED and firing.execution is None
    assert not Execution.objects.filter(installation=installation).exists()


@pytest.mark.parametrize(
    ("options", "code", "field"),
    [
        ({"cron_expression": "*/2 * * * *"}, "INTERVAL_TOO_SHORT", "cron"),
        ({"cron_expression": "0,1 * * * *"}, "INTERVAL_TOO_SHORT", "cron"),
        ({"interval_seconds": 299}, "INTERVAL_TOO_SHORT", "intervalSeconds"),
    ],
)
def test_minimum_interval_setting_is_enforced_for_cron_and_interval(
    world, plugin_factory, settings, options, code, field
):
    settings.ARGUS_SCHEDULE_MIN_INTERVAL_SECONDS = 300
    installation = plugin_factory()
    with pytest.raises(DomainError) as refused:
        make_schedule(world, installation, **options)
    assert (refused.value.code.value, refused.value.field) == (code, field)
    assert (
        not Schedule.objects.exists()
        and not PeriodicTask.objects.filter(task="triggers.fire_schedule").exists()
    )
    make_schedule(world, installation, cron_expression="*/5 * * * *")  # exactly the minimum is fine
