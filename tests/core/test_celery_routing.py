"""Housekeeping tasks go to queues of their own beside the runs' queue, so that a backlog of runs cannot
delay them; every worker consumes all of them."""

from __future__ import annotations

import pytest

from argus_plugins.celery import app, housekeeping_queues


def _queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name, (), {})["queue"].name


@pytest.mark.parametrize(
    ("task_name", "suffix"),
    [
        ("execution.run", ""),
        ("execution.sweep", ".housekeeping"),
        ("triggers.sweep", ".housekeeping"),
        ("triggers.fire_schedule", ".housekeeping"),
        ("triggers.dispatch_event", ".housekeeping"),
        ("marketplace.billing_cycle", ".housekeeping"),
        ("triggers.deliver_webhook", ".webhooks"),
    ],
)
def test_tasks_are_routed_beside_the_current_default_queue(task_name: str, suffix: str) -> None:
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = "q-test"
    try:
        assert _queue(task_name) == f"q-test{suffix}"
    finally:
        app.conf.task_default_queue = previous


def test_a_worker_started_without_a_queue_list_consumes_every_queue(settings) -> None:
    default = settings.CELERY_TASK_DEFAULT_QUEUE
    assert list(settings.CELERY_TASK_QUEUES) == [default, *housekeeping_queues(default)]
