"""ARGUS_STORAGE_URL: one URL selects the object store; a URL that cannot be used stops startup clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from argus_plugins.core.storage_url import FILE_SYSTEM_BACKEND, S3_BACKEND, parse_storage_url

MEMORY = 2 * 1024 * 1024


def test_file_url_selects_the_filesystem_under_its_path():
    config = parse_storage_url("file:///srv/argus/media", upload_memory_bytes=MEMORY)
    assert config.storage == {"BACKEND": FILE_SYSTEM_BACKEND}
    assert config.media_root == Path("/srv/argus/media")


def test_s3_url_configures_django_storages():
    config = parse_storage_url(
        "s3://AKID:se%2Fcret@objects.internal:8333/argus?secure=false&region=eu-west-1",
        upload_memory_bytes=MEMORY,
    )
    options = config.storage["OPTIONS"]
    assert config.storage["BACKEND"] == S3_BACKEND and config.media_root is None
    assert (options["access_key"], options["secret_key"]) == ("AKID", "se/cret")
    assert options["bucket_name"] == "argus"
    assert options["endpoint_url"] == "http://objects.internal:8333"
    assert (options["use_ssl"], options["region_name"], options["addressing_style"]) == (
        False,
        "eu-west-1",
        "path",
    )
    assert options["file_overwrite"] is False and options["max_memory_size"] == MEMORY


def test_s3_is_secure_unless_told_otherwise():
    options = parse_storage_url("s3://k:s@s3.example.com/b", upload_memory_bytes=MEMORY).storage["OPTIONS"]
    assert options["endpoint_url"] == "https://s3.example.com" and options["use_ssl"] is True
    assert options["region_name"] is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://host/x", "scheme"),
        ("file://relative/path", "local directory"),
        ("file:///srv/media?x=1", "absolute path"),
        ("s3://k:s@host:9000/", "bucket"),
        ("s3://k:s@host:9000/a/b", "bucket"),
        ("s3://host:9000/bucket", "access key"),
        ("s3://k:s@host:port/bucket", "port"),
        ("s3://k:s@host:9000/bucket?secure=maybe", "secure"),
        ("s3://k:s@host:9000/bucket?tls=true", "unknown option"),
    ],
)
def test_unusable_urls_are_refused_with_the_reason(url, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        parse_storage_url(url, upload_memory_bytes=MEMORY)


def test_the_secret_key_never_appears_in_the_error():
    with pytest.raises(ImproperlyConfigured) as error:
        parse_storage_url("s3://key:topsecret@host:9000/", upload_memory_bytes=MEMORY)
    assert "topsecret" not in str(error.value) and "key:***@host" in str(error.value)


def test_a_bad_url_stops_startup(tmp_path):
    env = {
        "ARGUS_STORAGE_URL": "s3://k:s@host:9000/",
        "ARGUS_DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ARGUS_STORAGE_URL" in result.stderr and "bucket" in result.stderr
