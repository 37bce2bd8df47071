"""The run-end announcements behind waitForExecution, on a Redis server of the test's own (stopped and
started again here; the machine's shared Redis is never touched)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from execution import wakeups
from tests.support.private_redis import PrivateRedis, free_port, private_redis

pytestmark = pytest.mark.redis


@pytest.fixture
def server(tmp_path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path) as started:
        yield started


@pytest.fixture
def listener(server: PrivateRedis) -> Iterator[wakeups.FinishListener]:
    started = wakeups.FinishListener(server.url, channel=f"test-{uuid.uuid4().hex}")
    yield started
    started.stop()


def test_an_announcement_wakes_the_watchers_of_that_run_only(server, listener):
    run, other = str(uuid.uuid4()), str(uuid.uuid4())
    with listener.watch(run) as woken, listener.watch(run) as woken_too, listener.watch(other) as not_woken:
        assert listener.subscribed.wait(10)
        for event in (woken, woken_too, not_woken):
            event.clear()  # the subscription itself woke every watcher
        server.client().publish(listener.channel, run)
        assert woken.wait(10) and woken_too.wait(10)
        assert not not_woken.is_set()
    assert listener.watching() == 0


def test_after_redis_comes_back_every_watcher_is_woken_to_read_again(server, listener):
    run = str(uuid.uuid4())
    with listener.watch(run) as woken:
        assert listener.subscribed.wait(10)
        server.stop()
        # Announcements made meanwhile are lost; the watcher must not rely on them.
        woken.clear()
        server.start()
        assert woken.wait(30)  # resubscribed: woken with no announcement at all
        assert listener.subscribed.is_set()


def test_an_announcement_that_cannot_be_published_is_logged_not_raised(settings, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="execution.wakeups"):
        wakeups.announce_finished(uuid.uuid4())
    assert "Could not announce the end of run" in caplog.text
