import pytest
from django.test import Client


@pytest.mark.docker
@pytest.mark.redis
def test_healthz_reports_every_dependency(db):
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "redis", "docker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["docker"]["server_version"]


def test_healthz_reports_an_unreachable_dependency_as_503(db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.DOCKER_BASE_URL = "unix:///nonexistent/docker.sock"
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False and body["checks"]["redis"]["error"]
    assert body["checks"]["docker"]["ok"] is False
