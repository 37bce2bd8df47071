"""Publishing tasks by name: what the publisher sends to the broker."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
from celery.signals import before_task_publish
from django.conf import settings

from argus_plugins.celery import app as celery_app
from argus_plugins.core import publishing


def _commands_while(action, last: str, timeout: float = 10.0) -> list[str]:
    """The commands Redis receives (MONITOR) while ``action`` runs, up to the first that starts with
    ``last``."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    seen: list[str] = []
    started = threading.Event()
    with client.monitor() as monitor:

        def listen() -> None:
            started.set()
            deadline = time.monotonic() + timeout
            for event in monitor.listen():
                seen.append(event["command"])
                if event["command"].startswith(last) or time.monotonic() > deadline:
                    return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        started.wait(5)
        client.ping()  # MONITOR is on once Redis answered a command after it
        action()
        listener.join(timeout + 1)
    return seen


@pytest.mark.redis
def test_a_task_published_by_name_sends_its_message_without_subscribing_to_a_result():
    queue = f"test-publishing-{uuid.uuid4().hex[:8]}"
    task_ids: list[str] = []

    def remember(headers=None, **_: object) -> None:
        task_ids.append(headers["id"])

    before_task_publish.connect(remember, weak=False)
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue  # on this process's broker (settings.REDIS_URL)
    try:
        commands = _commands_while(
            lambda: publishing.publish("execution.run", str(uuid.uuid4())), f"LPUSH {queue}"
        )
    finally:
        celery_app.conf.task_default_queue = default_queue
        before_task_publish.disconnect(remember)
        redis.Redis.from_url(settings.REDIS_URL).delete(queue)
    [task_id] = task_ids
    pushed = [command for command in commands if command.startswith("LPUSH") and task_id in command]
    assert len(pushed) == 1, commands
    # The Redis result backend would SUBSCRIBE to celery-task-meta-<id> ahead of the message: nothing reads
    # these tasks' results (their outcome is in the database).
    assert not [command for command in commands if f"celery-task-meta-{task_id}" in command], commands
