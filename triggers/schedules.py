"""Scheduled runs: managing schedules (kept in sync with their django-celery-beat PeriodicTask in the same
transaction) and firing them.

Firing semantics (``fire``), decided against ``clock.now()``:

* At most one firing per period. A cron firing counts only when a cron time has passed since the previous
  counted firing; an interval firing only when at least the interval (less a small clock-skew tolerance)
  has passed. Anything else (a duplicated or re-delivered message, a backlog that built up while workers
  were down, a second beat) is recorded as SKIPPED_CATCH_UP and starts nothing: after downtime there is
  at most one catch-up run, never a burst. Celery beat itself also sends at most one message for all the
  periods it missed while it was down (its entry's last run time jumps to "now").
* Overlap policy SKIP: while an earlier run of the schedule is QUEUED or RUNNING, the firing is recorded
  as SKIPPED_OVERLAP.
* The run is started through ``start_execution(record_refusal=True)``: a refused run (e.g. a revoked grant)
  is recorded as a REJECTED execution with its ledger entry; after ARGUS_SCHEDULE_MAX_REJECTIONS refused
  firings in a row the schedule pauses itself, with the last refusal as the reason.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from argus_plugins.core import clock, flags
from argus_plugins.core.errors import CommonErrorCode, DomainError, DomainErrors, not_found
from argus_plugins.core.sentinels import UNSET
from argus_plugins.core.validation import clean_text, parse_uuid
from argus_plugins.tenancy.models import Role, User
from argus_plugins.tenancy.permissions import require_tenant_object_role, tenant_ids_of
from execution.models import ACTIVE_STATUSES, Execution, ExecutionStatus, Trigger
from execution.services import start_execution
from installations.services import get_installation

from . import cron
from .error_codes import TriggersErrorCode
from .inputs import clean_evidence_ids, clean_static_input
from .models import FiringOutcome, OverlapPolicy, Schedule, ScheduleFiring

FIRE_TASK = "triggers.fire_schedule"


def periodic_task_name(schedule: Schedule) -> str:
    return f"triggers.schedule:{schedule.pk}"


# ------------------------------------------------------------------------------------- reading


def schedules_visible_to(user: Any) -> QuerySet[Schedule]:
    return Schedule.objects.live().filter(tenant_id__in=tenant_ids_of(user))


def get_schedule(user: Any, schedule_id: Any, role: Role = Role.VIEWER, field: str = "id") -> Schedule:
    schedule = (
        Schedule.objects.live()
        .select_related("tenant", "installation__plugin", "periodic_task__crontab", "periodic_task__interval")
        .filter(pk=parse_uuid(schedule_id, field=field))
        .first()
    )
    if schedule is None:
        raise not_found("Schedule", field)
    require_tenant_object_role(user, schedule.tenant_id, role, "Schedule", field)
    return schedule


def beat_schedule(schedule: Schedule, now: Any = clock.now) -> Any:
    """The celery schedule object beat decides with (crontab in the schedule's zone, or an interval)."""
    if schedule.is_cron:
        return cron.crontab(
            cron.parse_cron(schedule.cron_expression), cron.parse_timezone(schedule.timezone), now
        )
    return cron.interval(schedule.interval_seconds, now)


def period_seconds(schedule: Schedule) -> int:
    if schedule.is_cron:
        return cron.cron_min_gap_seconds(cron.parse_cron(schedule.cron_expression))
    return int(schedule.interval_seconds)


def next_run_at(schedule: Schedule) -> dt.datetime | None:
    """When beat sends the schedule's next firing: the crontab's next time in its zone, or the interval
    counted from the last run (beat's own record of it, or ours, whichever is later)."""
    if not schedule.enabled or schedule.deleted_at is not None:
        return None
    now = clock.now()
    if schedule.is_cron:
        return cron.next_after(beat_schedule(schedule), now)
    # Beat counts from its entry's last run, or (none yet, or reset by a change) from the last change.
    task = schedule.periodic_task
    beat_anchor = (task.last_run_at if task is not None else None) or schedule.updated_at
    anchor = max(beat_anchor, schedule.last_fired_at or beat_anchor)
    return max(anchor + dt.timedelta(seconds=schedule.interval_seconds), now)


# ------------------------------------------------------------------------------------- managing


def _clean_timing(cron_expression: Any, interval_seconds: Any, timezone: Any) -> tuple[str, int | None, str]:
    timezone = "UTC" if timezone in (None, "") else timezone
    cron.parse_timezone(timezone)
    if cron_expression not in (None, "") and interval_seconds is not None:
        raise DomainError(
            TriggersErrorCode.SCHEDULE_REQUIRED, "Give either a cron expression or an interval."
        )
    if cron_expression not in (None, ""):
        spec = cron.parse_cron(cron_expression)
        cron.check_min_interval(cron.cron_min_gap_seconds(spec), field="cron")
        return spec.expression, None, timezone
    if interval_seconds is None:
        raise DomainError(TriggersErrorCode.SCHEDULE_REQUIRED, "Give a cron expression or an interval.")
    if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int) or interval_seconds <= 0:
        raise DomainError(
            CommonErrorCode.INVALID, "The interval is a positive number of seconds.", "intervalSeconds"
        )
    if interval_seconds > 366 * 24 * 3600:
        raise DomainError(CommonErrorCode.INVALID, "The interval is at most a year.", "intervalSeconds")
    cron.check_min_interval(interval_seconds, field="intervalSeconds")
    return "", interval_seconds, timezone


def _clean_policy(value: Any) -> str:
    if value in (None, ""):
        return OverlapPolicy.SKIP
    if value not in OverlapPolicy.values:
        raise DomainError(CommonErrorCode.INVALID, "The overlap policy is SKIP or ALLOW.", "overlapPolicy")
    return str(value)


def _crontab_row(expression: str, timezone: str) -> CrontabSchedule:
    spec = cron.parse_cron(expression)
    fields = {
        "minute": spec.minute,
        "hour": spec.hour,
        "day_of_month": spec.day_of_month,
        "month_of_year": spec.month_of_year,
        "day_of_week": spec.day_of_week,
        "timezone": timezone,
    }
    return CrontabSchedule.objects.filter(**fields).first() or CrontabSchedule.objects.create(**fields)


def _interval_row(seconds: int) -> IntervalSchedule:
    fields = {"every": seconds, "period": IntervalSchedule.SECONDS}
    return IntervalSchedule.objects.filter(**fields).first() or IntervalSchedule.objects.create(**fields)


def _drop_unused(crontab_id: int | None, interval_id: int | None) -> None:
    if crontab_id is not None and not PeriodicTask.objects.filter(crontab_id=crontab_id).exists():
        CrontabSchedule.objects.filter(pk=crontab_id).delete()
    if interval_id is not None and not PeriodicTask.objects.filter(interval_id=interval_id).exists():
        IntervalSchedule.objects.filter(pk=interval_id).delete()


def sync_periodic_task(schedule: Schedule, *, timing_changed: bool = False) -> None:
    """Make the schedule's PeriodicTask say what the schedule says (call inside the same transaction)."""
    task = schedule.periodic_task
    if schedule.deleted_at is not None:
        if task is not None:
            old = (task.crontab_id, task.interval_id)
            task.delete()
            schedule.periodic_task = None
            _drop_unused(*old)
        return
    if task is None:
        task = PeriodicTask(name=periodic_task_name(schedule), task=FIRE_TASK)
    old = (task.crontab_id, task.interval_id)
    if schedule.is_cron:
        task.crontab, task.interval = _crontab_row(schedule.cron_expression, schedule.timezone), None
    else:
        task.crontab, task.interval = None, _interval_row(schedule.interval_seconds)
    task.args = json.dumps([str(schedule.pk)])
    task.kwargs = "{}"
    task.enabled = schedule.enabled
    task.description = (
        f"Argus schedule of {schedule.installation.plugin.slug} for tenant {schedule.tenant_id}. "
        "Managed through the API (createSchedule/updateSchedule): edits made here are overwritten."
    )
    if timing_changed:
        task.last_run_at = None  # beat counts a changed schedule from the change, not from an old run
    task.save()
    if schedule.periodic_task_id != task.pk:
        schedule.periodic_task = task
        Schedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
    if old != (task.crontab_id, task.interval_id):
        _drop_unused(*old)


@transaction.atomic
def create_schedule(
    *,
    actor: User,
    installation_id: Any,
    cron_expression: Any = None,
    interval_seconds: Any = None,
    timezone: Any = "UTC",
    input: Any = None,
    evidence_ids: Any = None,
    enabled: bool = True,
    overlap_policy: Any = None,
) -> Schedule:
    installation = get_installation(actor, installation_id, Role.ADMIN, field="installationId")
    flags.require_feature(flags.TRIGGERS_SCHEDULES, installation.tenant_id)
    if not installation.is_active:
        raise DomainError(CommonErrorCode.INVALID_STATE, "The plugin has been uninstalled.", "installationId")
    expression, seconds, zone = _clean_timing(cron_expression, interval_seconds, timezone)
    now = clock.now()
    schedule = Schedule.objects.create(
        tenant_id=installation.tenant_id,
        installation=installation,
        cron_expression=expression,
        interval_seconds=seconds,
        timezone=zone,
        input=clean_static_input(input, installation),
        evidence_ids=clean_evidence_ids(installation.tenant_id, evidence_ids),
        enabled=bool(enabled),
        paused_at=None if enabled else now,
        paused_reason="" if enabled else f"Created paused by {actor.username}.",
        overlap_policy=_clean_policy(overlap_policy),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    sync_periodic_task(schedule)
    return schedule


@transaction.atomic
def update_schedule(
    *,
    actor: User,
    schedule_id: Any,
    cron_expression: Any = UNSET,
    interval_seconds: Any = UNSET,
    timezone: Any = UNSET,
    input: Any = UNSET,
    evidence_ids: Any = UNSET,
    enabled: Any = UNSET,
    overlap_policy: Any = UNSET,
) -> Schedule:
    schedule = get_schedule(actor, schedule_id, Role.ADMIN)
    flags.require_feature(flags.TRIGGERS_SCHEDULES, schedule.tenant_id)
    timing_given = any(value is not UNSET for value in (cron_expression, interval_seconds, timezone))
    timing_changed = False
    if timing_given:
        new_cron = schedule.cron_expression if cron_expression is UNSET else cron_expression
        new_interval = schedule.interval_seconds if interval_seconds is UNSET else interval_seconds
        if cron_expression not in (UNSET, None, "") and interval_seconds is UNSET:
            new_interval = None  # switching to cron
        if interval_seconds not in (UNSET, None) and cron_expression is UNSET:
            new_cron = ""  # switching to an interval
        zone = schedule.timezone if timezone is UNSET else timezone
        expression, seconds, zone = _clean_timing(new_cron, new_interval, zone)
        timing_changed = (expression, seconds, zone) != (
            schedule.cron_expression,
            schedule.interval_seconds,
            schedule.timezone,
        )
        schedule.cron_expression, schedule.interval_seconds, schedule.timezone = expression, seconds, zone
    if input is not UNSET:
        schedule.input = clean_static_input(input, schedule.installation)
    if evidence_ids is not UNSET:
        schedule.evidence_ids = clean_evidence_ids(schedule.tenant_id, evidence_ids)
    if overlap_policy is not UNSET:
        schedule.overlap_policy = _clean_policy(overlap_policy)
    if enabled is not UNSET and enabled is not None and bool(enabled) != schedule.enabled:
        _set_enabled(schedule, bool(enabled), f"Paused by {actor.username}.")
    schedule.updated_at = clock.now()
    schedule.save()
    sync_periodic_task(schedule, timing_changed=timing_changed)
    return schedule


def _set_enabled(schedule: Schedule, enabled: bool, reason: str) -> None:
    if enabled:
        if not schedule.installation.is_active:
            raise DomainError(CommonErrorCode.INVALID_STATE, "The plugin has been uninstalled.", "id")
        schedule.enabled, schedule.paused_at, schedule.paused_reason = True, None, ""
        schedule.consecutive_rejections = 0
    else:
        schedule.enabled, schedule.paused_at, schedule.paused_reason = False, clock.now(), reason[:1000]


@transaction.atomic
def pause_schedule(*, actor: User, schedule_id: Any, reason: Any = None) -> Schedule:
    schedule = get_schedule(actor, schedule_id, Role.ADMIN)
    flags.require_feature(flags.TRIGGERS_SCHEDULES, schedule.tenant_id)
    note = clean_text(reason, field="reason", max_length=500, required=False)
    if not schedule.enabled:
        raise DomainError(CommonErrorCode.INVALID_STATE, "The schedule is already paused.", "id")
    _set_enabled(schedule, False, f"Paused by {actor.username}" + (f": {note}" if note else "."))
    schedule.updated_at = clock.now()
    schedule.save()
    sync_periodic_task(schedule)
    return schedule


@transaction.atomic
def resume_schedule(*, actor: User, schedule_id: Any) -> Schedule:
    schedule = get_schedule(actor, schedule_id, Role.ADMIN)
    flags.require_feature(flags.TRIGGERS_SCHEDULES, schedule.tenant_id)
    if schedule.enabled:
        raise DomainError(CommonErrorCode.INVALID_STATE, "The schedule is not paused.", "id")
    _set_enabled(schedule, True, "")
    schedule.updated_at = clock.now()
    schedule.save()
    sync_periodic_task(schedule)
    return schedule


@transaction.atomic
def delete_schedule(*, actor: User, schedule_id: Any) -> Schedule:
    """Soft delete: the schedule disappears from the API and beat; its firings stay as history."""
    schedule = get_schedule(actor, schedule_id, Role.ADMIN)
    flags.require_feature(flags.TRIGGERS_SCHEDULES, schedule.tenant_id)
    now = clock.now()
    if (
        Schedule.objects.filter(pk=schedule.pk, deleted_at__isnull=True).update(
            deleted_at=now, enabled=False, updated_at=now
        )
        != 1
    ):
        raise not_found("Schedule")
    schedule.refresh_from_db()
    sync_periodic_task(schedule)
    return schedule


@transaction.atomic
def pause_by_operator(schedule: Schedule, reason: str) -> bool:
    """Admin action: pause without a tenant role (operators stop a runaway schedule)."""
    now = clock.now()
    paused = Schedule.objects.filter(pk=schedule.pk, enabled=True, deleted_at__isnull=True).update(
        enabled=False, paused_at=now, paused_reason=reason[:1000], updated_at=now
    )
    if paused:
        schedule.refresh_from_db()
        sync_periodic_task(schedule)
    return bool(paused)


# --------------------------------------------------------------------------------------- firing


def _period_claimed(schedule: Schedule, now: dt.datetime) -> str | None:
    """Why this firing must not run because its period already ran (None: it may run)."""
    last = schedule.last_fired_at
    if last is None:
        return None
    tolerance = cron.skew_tolerance(period_seconds(schedule))
    if schedule.is_cron:
        due = cron.next_after(beat_schedule(schedule), last + tolerance)
        if due <= now + tolerance:
            return None
        return (
            f"No cron time has passed since the firing at {last.isoformat()} (next: {due.isoformat()}); "
            "a duplicate or catch-up firing starts nothing."
        )
    due = last + dt.timedelta(seconds=schedule.interval_seconds)
    if now >= due - tolerance:
        return None
    return (
        f"The previous firing at {last.isoformat()} was less than {schedule.interval_seconds} s ago; "
        "a duplicate or catch-up firing starts nothing."
    )


def _record(schedule: Schedule, now: dt.datetime, outcome: FiringOutcome, reason: str = "", **extra: Any):
    return ScheduleFiring.objects.create(
        schedule=schedule, tenant_id=schedule.tenant_id, fired_at=now, outcome=outcome, reason=reason, **extra
    )


def fire(schedule_id: Any) -> ScheduleFiring | None:
    """What ``triggers.fire_schedule`` does with one beat message. Returns the recorded firing, or None
    for a message about a deleted or paused schedule (its PeriodicTask is gone or disabled)."""
    now = clock.now()
    schedule = (
        Schedule.objects.live()
        .select_related(
            "installation__tenant",
            "installation__plugin",
            "installation__pinned_version__signing_key",
            "created_by",
        )
        .filter(pk=schedule_id, enabled=True)
        .first()
    )
    if schedule is None:
        return None
    with transaction.atomic():
        claimed_reason = _period_claimed(schedule, now)
        if claimed_reason is None:
            # Compare-and-set: of two concurrent firings of one period exactly one claims it.
            claimed = Schedule.objects.filter(
                pk=schedule.pk, enabled=True, deleted_at__isnull=True, last_fired_at=schedule.last_fired_at
            ).update(last_fired_at=now)
            if not claimed:
                claimed_reason = "Another firing claimed this period."
        if claimed_reason is not None:
            return _record(schedule, now, FiringOutcome.SKIPPED_CATCH_UP, claimed_reason)
        if not flags.is_enabled(flags.TRIGGERS_SCHEDULES, schedule.tenant_id):
            return _record(
                schedule,
                now,
                FiringOutcome.SKIPPED_FEATURE_DISABLED,
                "Scheduled runs are disabled for the tenant.",
            )
        if schedule.overlap_policy == OverlapPolicy.SKIP:
            active = Execution.objects.filter(
                schedule_firing__schedule=schedule, status__in=ACTIVE_STATUSES
            ).first()
            if active is not None:
                return _record(
                    schedule,
                    now,
                    FiringOutcome.SKIPPED_OVERLAP,
                    f"The previous run {active.pk} is still {active.status} (overlap policy SKIP).",
                )
        return _start(schedule, now)


def _start(schedule: Schedule, now: dt.datetime) -> ScheduleFiring:
    try:
        execution = start_execution(
            installation=schedule.installation,
            input=schedule.input,
            evidence_ids=schedule.evidence_ids,
            trigger=Trigger.SCHEDULED,
            triggered_by=schedule.created_by,
            record_refusal=True,
        )
    except (DomainError, DomainErrors) as failure:
        errors = failure.errors if isinstance(failure, DomainErrors) else [failure]
        reason = "Refused: " + "; ".join(error.message for error in errors)
        firing = _record(schedule, now, FiringOutcome.REJECTED, reason)
        _count_rejection(schedule, now, reason)
        return firing
    Schedule.objects.filter(pk=schedule.pk).update(last_run_at=now, last_execution=execution)
    if execution.status == ExecutionStatus.REJECTED:
        firing = _record(schedule, now, FiringOutcome.REJECTED, execution.error_reason, execution=execution)
        _count_rejection(schedule, now, execution.error_reason)
        return firing
    Schedule.objects.filter(pk=schedule.pk).update(consecutive_rejections=0)
    return _record(schedule, now, FiringOutcome.STARTED, execution=execution)


def _count_rejection(schedule: Schedule, now: dt.datetime, reason: str) -> None:
    limit = settings.ARGUS_SCHEDULE_MAX_REJECTIONS
    Schedule.objects.filter(pk=schedule.pk).update(consecutive_rejections=F("consecutive_rejections") + 1)
    paused = Schedule.objects.filter(pk=schedule.pk, enabled=True, consecutive_rejections__gte=limit).update(
        enabled=False,
        paused_at=now,
        paused_reason=f"Paused automatically after {limit} refused firings in a row. Last: {reason}"[:1000],
        updated_at=now,
    )
    if paused:
        schedule.refresh_from_db()
        sync_periodic_task(schedule)
