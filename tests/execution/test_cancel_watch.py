"""The worker's cancel signal: it reads the execution row (rate-limited) and keeps the heartbeat fresh,
on the worker's own connection, and a database error never fails the run."""

from __future__ import annotations

import datetime as dt

import pytest

from argus_plugins.core import clock
from execution import services as execution_services
from execution.lifecycle import transition
from execution.models import Execution, ExecutionStatus
from execution.worker import CancelWatch


@pytest.fixture
def running(world, installation) -> Execution:
    execution = execution_services.run_plugin(actor=world.analyst_a, installation_id=installation.pk)
    long_ago = clock.now() - dt.timedelta(minutes=5)
    transition(execution, ExecutionStatus.RUNNING, expected=ExecutionStatus.QUEUED, heartbeat_at=long_ago)
    return execution


def test_a_cancel_request_is_seen_at_the_next_poll(running, settings) -> None:
    settings.ARGUS_CANCEL_POLL_SECONDS = 0
    watch = CancelWatch(running.pk)
    assert not watch.is_set()
    Execution.objects.filter(pk=running.pk).update(cancel_requested_at=clock.now(), cancel_reason="stop")
    assert watch.is_set()
    Execution.objects.filter(pk=running.pk).update(cancel_requested_at=None)
    assert watch.is_set()  # once cancelled, always cancelled


def test_polls_are_rate_limited(running, settings, django_assert_num_queries) -> None:
    settings.ARGUS_CANCEL_POLL_SECONDS = 3600
    watch = CancelWatch(running.pk)
    Execution.objects.filter(pk=running.pk).update(cancel_requested_at=clock.now())
    with django_assert_num_queries(0):
        assert not watch.is_set()  # not asked yet: the next look is an hour away


def test_the_heartbeat_is_refreshed_while_running(running, settings) -> None:
    settings.ARGUS_CANCEL_POLL_SECONDS = 0
    settings.ARGUS_HEARTBEAT_SECONDS = 0
    before = Execution.objects.get(pk=running.pk).heartbeat_at
    assert not CancelWatch(running.pk).is_set()
    assert Execution.objects.get(pk=running.pk).heartbeat_at > before


def test_a_vanished_execution_counts_as_cancelled(running, settings) -> None:
    settings.ARGUS_CANCEL_POLL_SECONDS = 0
    watch = CancelWatch("00000000-0000-4000-8000-000000000000")
    assert watch.is_set()


def test_a_database_error_is_logged_not_raised(running, settings, monkeypatch, caplog) -> None:
    settings.ARGUS_CANCEL_POLL_SECONDS = 0

    def broken(*args, **kwargs):
        raise RuntimeError("database is locked")

    watch = CancelWatch(running.pk)
    monkeypatch.setattr(Execution.objects, "filter", broken)
    assert not watch.is_set()
    assert "cancel request failed" in caplog.text
