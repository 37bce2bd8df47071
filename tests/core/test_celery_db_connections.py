"""Celery tasks keep their database connection between tasks, checked like a web request's."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from argus_plugins.celery import app

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit, as in a worker


class _Task:
    request = SimpleNamespace(is_eager=False)


TASK = _Task()


def _run_one_task_lifecycle(fixup: DjangoWorkerFixup) -> None:
    """The signals a worker sends around one task, in the fixup's order and then ours."""
    fixup.on_task_prerun(sender=TASK)
    task_prerun.send(sender=TASK, task_id="t", task=TASK)
    connection.ensure_connection()  # the task body uses the database
    fixup.on_task_postrun(sender=TASK)
    task_postrun.send(sender=TASK, task_id="t", task=TASK)


def test_a_connection_is_reused_across_tasks():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    opened = connection.connection
    for _ in range(5):
        _run_one_task_lifecycle(fixup)
    assert connection.connection is opened


def test_an_expired_connection_is_replaced_before_the_next_task():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    opened = connection.connection
    connection.close_at = time.monotonic() - 1  # older than CONN_MAX_AGE
    _run_one_task_lifecycle(fixup)
    assert connection.connection is not None
    assert connection.connection is not opened


def test_the_fixup_still_recycles_after_db_reuse_max_tasks(settings):
    fixup = DjangoWorkerFixup(app)
    fixup.db_reuse_max = 2
    connection.ensure_connection()
    opened = connection.connection
    for _ in range(3):
        _run_one_task_lifecycle(fixup)
    assert connection.connection is not opened
