"""/healthz: every dependency the platform needs, each with a short timeout; 503 when one is unreachable."""

import pytest
from django.test import Client

from argus_plugins.core.storage_url import parse_storage_url
from tests.support.object_store import s3_bucket, unreachable_storage_url


@pytest.mark.docker
@pytest.mark.redis
def test_healthz_reports_every_dependency(db):
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "redis", "docker", "storage"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["docker"]["server_version"]
    assert body["checks"]["storage"]["backend"] == "file"


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


def _storage_check(settings, url: str) -> tuple[int, dict]:
    settings.STORAGES = {**settings.STORAGES, "default": parse_storage_url(url, upload_memory_bytes=1).storage}
    response = Client().get("/healthz")
    return response.status_code, response.json()["checks"]["storage"]


@pytest.mark.s3
def test_healthz_checks_the_s3_bucket_without_writing_to_it(db, settings):
    with s3_bucket() as bucket:
        _, check = _storage_check(settings, bucket.url)
        assert check["ok"] is True, check
        assert (check["backend"], check["bucket"]) == ("s3", bucket.name)
        assert bucket.keys() == set()

    status, check = _storage_check(settings, bucket.url)  # the bucket is gone now
    assert status == 503
    assert check["ok"] is False
    assert check["error"] == f"StorageUnavailable: the bucket {bucket.name!r} does not exist"


@pytest.mark.s3
def test_healthz_reports_credentials_the_store_refuses(db, settings):
    with s3_bucket() as bucket:
        status, check = _storage_check(settings, bucket.url.replace("@", "-wrong@", 1))  # the secret key
        assert status == 503
        assert check["ok"] is False and check["error"].startswith("StorageUnavailable: "), check


def test_healthz_reports_a_store_that_is_down(db, settings):
    status, check = _storage_check(settings, unreachable_storage_url())
    assert status == 503
    assert check["ok"] is False and check["error"].startswith("StorageUnavailable: "), check


def test_healthz_reports_a_media_directory_it_cannot_write_to(db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media" / "not-yet")  # made by the first upload: fine
    check = Client().get("/healthz").json()["checks"]["storage"]
    assert (check["ok"], check["backend"], check["created"]) == (True, "file", False)

    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    settings.MEDIA_ROOT = str(blocker / "media")  # under a regular file: nothing can be made there
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 503 and body["ok"] is False
    assert body["checks"]["storage"] == {
        "ok": False,
        "error": f"StorageUnavailable: {blocker} is not a directory this process can write to",
        "latency_ms": body["checks"]["storage"]["latency_ms"],
    }
