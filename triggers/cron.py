"""Schedule arithmetic: parsing cron expressions and time zones, and asking celery's own schedule classes
(the ones Celery beat decides with) when a schedule runs next, against ``clock.now()``.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from celery import schedules as celery_schedules
from django.conf import settings
from django.core.exceptions import ValidationError
from django_celery_beat import validators as beat_validators
from django_celery_beat.tzcrontab import TzAwareCrontab

from argus_plugins.core import clock
from argus_plugins.core.errors import DomainError

from .error_codes import TriggersErrorCode

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
FIELD_NAMES = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
_FIELD_VALIDATORS = (
    beat_validators.minute_validator,
    beat_validators.hour_validator,
    beat_validators.day_of_month_validator,
    beat_validators.month_of_year_validator,
    beat_validators.day_of_week_validator,
)
#: How far apart beat's and the worker's clocks (plus delivery latency) may be without a firing counting
#: for the wrong period: at most this, and at most a quarter of the schedule's shortest period.
MAX_SKEW = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class CronSpec:
    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str

    @property
    def expression(self) -> str:
        return " ".join((self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week))


def _invalid(message: str) -> DomainError:
    return DomainError(TriggersErrorCode.INVALID_CRON, message, "cron")


def parse_cron(expression: object) -> CronSpec:
    """Five fields ``minute hour day-of-month month day-of-week`` (or an @hourly-style macro)."""
    if not isinstance(expression, str) or not expression.strip():
        raise _invalid("Give a cron expression such as '0 9 * * 1-5'.")
    if len(expression) > 200:
        raise _invalid("The cron expression is too long.")
    text = MACROS.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) != 5:
        raise _invalid(
            f"A cron expression has 5 fields (minute hour day-of-month month day-of-week); got {len(fields)}."
        )
    for name, value, validator in zip(FIELD_NAMES, fields, _FIELD_VALIDATORS, strict=True):
        try:
            validator(value)
        except (ValidationError, ValueError) as error:
            raise _invalid(f"Invalid {name.replace('_', ' ')} field '{value}'.") from error
    spec = CronSpec(*fields)
    try:
        parsed = _celery_crontab(spec, dt.UTC)
    except (ValueError, TypeError, IndexError) as error:
        raise _invalid(f"Invalid cron expression: {str(error).rstrip('.')}.") from error
    try:
        next_after(parsed, clock.now())
    except RuntimeError as error:  # celery gives up on specifications that never match (e.g. 31 February)
        raise _invalid("This cron expression never fires.") from error
    return spec


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_timezone(name: object) -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or name not in _known_zones():
        raise DomainError(
            TriggersErrorCode.INVALID_TIMEZONE,
            f"Unknown time zone {str(name)[:64]!r}: give an IANA name such as 'Europe/Berlin'.",
            "timezone",
        )
    return zoneinfo.ZoneInfo(name)


def _celery_crontab(spec: CronSpec, tz: dt.tzinfo) -> TzAwareCrontab:
    return TzAwareCrontab(
        minute=spec.minute,
        hour=spec.hour,
        day_of_month=spec.day_of_month,
        month_of_year=spec.month_of_year,
        day_of_week=spec.day_of_week,
        tz=tz,
    )


def crontab(spec: CronSpec, tz: dt.tzinfo, now: Callable[[], dt.datetime] = clock.now) -> TzAwareCrontab:
    """The celery crontab beat uses for this spec, reading "now" from ``now`` (the platform clock)."""
    schedule = _celery_crontab(spec, tz)
    schedule.nowfun = lambda: now().astimezone(tz)
    return schedule


def interval(seconds: int, now: Callable[[], dt.datetime] = clock.now) -> celery_schedules.schedule:
    return celery_schedules.schedule(run_every=dt.timedelta(seconds=seconds), nowfun=now)


def next_after(schedule: celery_schedules.crontab, instant: dt.datetime) -> dt.datetime:
    """The first time (UTC) strictly after ``instant`` (to the minute) that the crontab matches."""
    tz = getattr(schedule, "tz", dt.UTC)
    probe = crontab_like(schedule, lambda: instant.astimezone(tz))
    return (instant + probe.remaining_estimate(instant.astimezone(tz))).astimezone(dt.UTC)


def crontab_like(
    schedule: celery_schedules.crontab, now: Callable[[], dt.datetime]
) -> celery_schedules.crontab:
    copy = TzAwareCrontab(
        minute=schedule._orig_minute,
        hour=schedule._orig_hour,
        day_of_week=schedule._orig_day_of_week,
        day_of_month=schedule._orig_day_of_month,
        month_of_year=schedule._orig_month_of_year,
        tz=getattr(schedule, "tz", dt.UTC),
    )
    copy.nowfun = now
    return copy


def cron_min_gap_seconds(spec: CronSpec) -> int:
    """The shortest gap between two consecutive times of day the cron matches (a lower bound of its period;
    days that do not match can only make gaps longer)."""
    parsed = _celery_crontab(spec, dt.UTC)
    times = sorted(hour * 60 + minute for hour in parsed.hour for minute in parsed.minute)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    gaps.append(times[0] + 24 * 60 - times[-1])
    return min(gaps) * 60


def skew_tolerance(period_seconds: int) -> dt.timedelta:
    return min(MAX_SKEW, dt.timedelta(seconds=period_seconds / 4))


def check_min_interval(period_seconds: int, *, field: str) -> None:
    minimum = settings.ARGUS_SCHEDULE_MIN_INTERVAL_SECONDS
    if period_seconds < minimum:
        raise DomainError(
            TriggersErrorCode.INTERVAL_TOO_SHORT,
            f"Schedules may fire at most every {minimum} s; this one would fire every {period_seconds} s.",
            field,
        )
