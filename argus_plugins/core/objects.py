"""Reading and writing the platform's stored objects (bundles, evidence, artifacts, layers) through Django's
default storage, whatever ``ARGUS_STORAGE_URL`` selected: never by local path, always as a stream.

An object store that cannot be reached (or answers with a server error) raises ``StorageUnavailable``, the
platform's fault: callers turn it into a clear terminal reason or a typed GraphQL error. A missing object
raises ``FileNotFoundError`` as before.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import FileSystemStorage, default_storage, storages

from .errors import CommonErrorCode, DomainError

CHUNK_BYTES = 1024 * 1024
STORED_FILE_MODE = 0o644
#: How long /healthz waits for the object store (connect, then answer; one attempt): a store that is down
#: must not make the health check itself hang.
PROBE_TIMEOUT_SECONDS = 2


class StorageUnavailable(Exception):
    """The object store could not be reached or failed to answer (not the caller's fault)."""


def _client_error_is_missing(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Translate the store's failures into StorageUnavailable (missing objects into FileNotFoundError)."""
    try:
        yield
    except FileNotFoundError:
        raise
    except ClientError as error:
        if _client_error_is_missing(error):
            raise FileNotFoundError(str(error)) from error
        raise StorageUnavailable(_describe(error)) from error
    except (BotoCoreError, OSError) as error:
        raise StorageUnavailable(_describe(error)) from error


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__


def storage_unavailable_error(error: StorageUnavailable, field: str | None = None) -> DomainError:
    """The typed GraphQL error for a mutation whose object could not be stored or read."""
    return DomainError(
        CommonErrorCode.STORAGE_UNAVAILABLE,
        f"The object store is unavailable; try again later. ({error})",
        field,
    )


def _chunks(name: str) -> Iterator[bytes]:
    with storage_errors(), default_storage.open(name, "rb") as handle:
        s3_object = getattr(
            handle, "obj", None
        )  # django-storages' S3File: read the object's body as it arrives
        if s3_object is not None:
            yield from s3_object.get()["Body"].iter_chunks(CHUNK_BYTES)
        else:
            yield from handle.chunks(CHUNK_BYTES)


def read_object(name: str, *, limit: int | None = None) -> bytes:
    """The object's bytes (its first ``limit`` bytes at most), for what is held in memory anyway (bundles,
    layers)."""
    parts: list[bytes] = []
    size = 0
    for chunk in _chunks(name):
        if limit is not None and size + len(chunk) >= limit:
            parts.append(chunk[: limit - size])
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def copy_object(name: str, target: Path) -> str:
    """Stream the object into a new file ``target`` (created here, mode 0644) and return the SHA-256 of the
    bytes written: what is hashed is exactly what is on disk. The file is removed when the copy fails."""
    digest = hashlib.sha256()
    fd = os.open(
        target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, STORED_FILE_MODE
    )
    try:
        os.fchmod(fd, STORED_FILE_MODE)  # os.open's mode is filtered by the umask
        with os.fdopen(fd, "wb", closefd=False) as out:
            for chunk in _chunks(name):
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise
    os.close(fd)
    return digest.hexdigest()


def delete_object(name: str) -> None:
    """Remove an object; a store that is down leaves it behind (logged by the caller's context)."""
    with contextlib.suppress(StorageUnavailable, FileNotFoundError), storage_errors():
        default_storage.delete(name)


def probe_store() -> dict[str, Any]:
    """Whether the object store answers, cheaply, for /healthz: one HEAD request on the bucket (S3), or a
    look at the media directory (file://). StorageUnavailable says what is wrong."""
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        return {"backend": "file", **_probe_directory(Path(storage.location))}
    bucket = getattr(storage, "bucket_name", None)
    if bucket is None:
        raise StorageUnavailable(f"unknown storage backend {type(storage).__name__}")
    client = _probe_client(
        storage.endpoint_url, storage.access_key, storage.secret_key, storage.region_name, storage.use_ssl
    )
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        if _client_error_is_missing(error):
            raise StorageUnavailable(f"the bucket {bucket!r} does not exist") from None
        raise StorageUnavailable(_describe(error)) from error
    except BotoCoreError as error:
        raise StorageUnavailable(_describe(error)) from error
    return {"backend": "s3", "bucket": bucket}


def _probe_directory(location: Path) -> dict[str, Any]:
    """The media directory, or (before the first upload creates it) the directory it will be made in, must be
    a directory this process may write to."""
    existing = location
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise StorageUnavailable(f"{existing} is not a directory this process can write to")
    return {"created": existing == location}


@functools.lru_cache(maxsize=4)
def _probe_client(endpoint: str, access_key: str, secret_key: str, region: str | None, use_ssl: bool) -> Any:
    """A client of its own with short timeouts and no retries (the storage's own waits much longer)."""
    return boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key).client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        use_ssl=use_ssl,
        config=Config(
            connect_timeout=PROBE_TIMEOUT_SECONDS,
            read_timeout=PROBE_TIMEOUT_SECONDS,
            retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"},
            signature_version="s3v4",
        ),
    )
