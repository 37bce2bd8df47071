import socket
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
