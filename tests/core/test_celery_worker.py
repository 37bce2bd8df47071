import socket
import time
import uuid

import pytest

from argus_plugins.core.tasks import ping
from tests.support.celery_worker import running_worker


@pytest.mark.redis
@pytest.mark.worker
def test_health_task_runs_on_a_real_worker_through_real_redis(tmp_path):
    token = uuid.uuid4().hex
    with running_worker(tmp_path) as worker:
        result = ping.apply_async(args=[token], queue=worker.queue)
        reply = result.get(timeout=30)
    assert reply == {"pong": token, "worker": socket.gethostname()}
    assert f"Task core.ping[{result.id}] succeeded" in worker.log()


@pytest.mark.redis
@pytest.mark.worker
def test_a_worker_sends_task_events_only_once_a_monitor_switches_them_on(tmp_path):
    """What Flower and ``celery control enable_events`` rely on (README, "Operations")."""
    import threading

    from argus_plugins.celery import app

    seen: list[tuple[str, str]] = []
    with running_worker(tmp_path) as worker, app.connection_for_read() as connection:
        receiver = app.events.Receiver(
            connection, handlers={"*": lambda event: seen.append((event["type"], event.get("uuid", "")))}
        )
        listening = threading.Thread(target=lambda: receiver.capture(limit=None, timeout=None), daemon=True)
        listening.start()
        with app.connection_for_write() as publishing:
            probe = app.events.Dispatcher(publishing)
            deadline = time.monotonic() + 10
            while not any(kind == "monitor-ready" for kind, _ in seen) and time.monotonic() < deadline:
                probe.send("monitor-ready")  # until the receiver's queue is bound and hears it
                time.sleep(0.1)
            probe.close()
        quiet = ping.apply_async(args=["before"], queue=worker.queue)
        quiet.get(timeout=30)
        app.control.enable_events(destination=[f"{worker.queue}@{socket.gethostname()}"], reply=True, timeout=10)
        watched = ping.apply_async(args=["after"], queue=worker.queue)
        watched.get(timeout=30)
        deadline = time.monotonic() + 10
        while ("task-succeeded", watched.id) not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        receiver.should_stop = True
        listening.join(timeout=5)
    assert ("task-received", watched.id) in seen and ("task-succeeded", watched.id) in seen
    assert ("task-sent", quiet.id) in seen  # the publisher's event, always on
    assert [kind for kind, task_id in seen if task_id == quiet.id and kind != "task-sent"] == []
