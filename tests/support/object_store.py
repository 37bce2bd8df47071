"""A bucket of the test's own on the real S3 server scripts/test.sh starts (SeaweedFS; ARGUS_TEST_S3_URL)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import boto3
import pytest

from argus_plugins.core.storage_url import parse_storage_url

UPLOAD_MEMORY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class S3Bucket:
    url: str  # the ARGUS_STORAGE_URL that selects it
    name: str
    client: object  # a boto3 S3 client on the same server, to look at (or tamper with) what is stored

    def keys(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)  # type: ignore[attr-defined]
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()  # type: ignore[attr-defined]

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)  # type: ignore[attr-defined]

    def storages(self) -> dict[str, dict[str, object]]:
        """A STORAGES setting whose default storage is this bucket."""
        return {
            "default": parse_storage_url(self.url, upload_memory_bytes=UPLOAD_MEMORY_BYTES).storage,
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
        }


def server_url() -> str:
    """ARGUS_TEST_S3_URL (no bucket); skipped where it is not set, except in CI, where that is a failure."""
    url = os.environ.get("ARGUS_TEST_S3_URL")
    if not url:
        message = "ARGUS_TEST_S3_URL is not set (scripts/test.sh starts SeaweedFS): the S3 test cannot run"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


def _client(url: str) -> object:
    parts = urlsplit(url)
    return boto3.client(
        "s3",
        endpoint_url=f"http://{parts.hostname}:{parts.port}",
        aws_access_key_id=parts.username,
        aws_secret_access_key=parts.password,
        region_name="us-east-1",
    )


@contextlib.contextmanager
def s3_bucket() -> Iterator[S3Bucket]:
    """A new bucket, emptied and removed afterwards."""
    url = server_url()
    name = f"argus-test-{uuid.uuid4().hex[:16]}"
    client = _client(url)
    client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    bucket = S3Bucket(url=f"{url.rstrip('/')}/{name}?secure=false", name=name, client=client)
    try:
        yield bucket
    finally:
        with contextlib.suppress(Exception):
            for key in bucket.keys():  # noqa: SIM118 - S3Bucket.keys() lists the objects
                client.delete_object(Bucket=name, Key=key)  # type: ignore[attr-defined]
            client.delete_bucket(Bucket=name)  # type: ignore[attr-defined]


def unreachable_storage_url() -> str:
    """An S3 URL whose port nothing listens on: a store that is down."""
    from tests.support.private_redis import free_port

    return f"s3://key:secret@127.0.0.1:{free_port()}/argus?secure=false"
