"""``ARGUS_STORAGE_URL``: where bundles, evidence, artifacts and dependency layers live, as one URL.

    file:///var/lib/argus/media                       the local filesystem (the embedded default)
    s3://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET?secure=true&region=eu-west-1
                                                      any S3-compatible server, through django-storages

Parsed once, by the settings, into Django's ``STORAGES["default"]`` (and ``MEDIA_ROOT`` for ``file://``);
a URL that cannot be used stops the process at startup with a message naming what is wrong. Credentials
may be percent-encoded (a ``/`` in a secret key is ``%2F``). Imports no Django settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

FILE_SYSTEM_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "storages.backends.s3.S3Storage"
S3_QUERY_OPTIONS = frozenset({"secure", "region"})
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

#: How long the worker and the web tier wait for the object store before they give up (seconds): a store
#: that is down must fail a run or an upload quickly and clearly, not hang it.
S3_CONNECT_TIMEOUT = 5
S3_READ_TIMEOUT = 60
S3_MAX_ATTEMPTS = 3
#: Uploads past this size go in parts of this size, at most S3_UPLOAD_THREADS at a time: what one upload
#: holds in memory is bounded by their product, whatever the file's size.
S3_PART_BYTES = 8 * 1024 * 1024
S3_UPLOAD_THREADS = 2


@dataclass(frozen=True)
class StorageConfig:
    """What the settings need: the default storage's STORAGES entry, and the media root for ``file://``."""

    storage: dict[str, Any]
    media_root: Path | None


def _fail(url: str, problem: str) -> ImproperlyConfigured:
    # The message ends up in logs: never the secret key.
    shown = re.sub(r"^([a-z0-9]+://[^:/@]*:)[^@]*@", r"\1***@", url.strip(), flags=re.IGNORECASE)
    return ImproperlyConfigured(f"ARGUS_STORAGE_URL {shown!r} is not usable: {problem}")


def parse_storage_url(url: str, *, upload_memory_bytes: int) -> StorageConfig:
    """The storage ``url`` selects; ``upload_memory_bytes``: how much of an object a read keeps in memory
    before spooling to a temporary file (Django's FILE_UPLOAD_MAX_MEMORY_SIZE)."""
    parts = urlsplit(url.strip())
    if parts.scheme == "file":
        return _file_storage(url, parts)
    if parts.scheme == "s3":
        return _s3_storage(url, parts, upload_memory_bytes)
    raise _fail(url, "the scheme must be file:// or s3://")


def _file_storage(url: str, parts: Any) -> StorageConfig:
    if parts.netloc not in ("", "localhost"):
        raise _fail(url, "a file:// URL names a local directory (file:///absolute/path)")
    path = Path(unquote(parts.path))
    if not path.is_absolute() or parts.query:
        raise _fail(url, "a file:// URL takes an absolute path and no query (file:///absolute/path)")
    # No "location" option: FileSystemStorage follows MEDIA_ROOT, which the settings set from this path.
    return StorageConfig(storage={"BACKEND": FILE_SYSTEM_BACKEND}, media_root=path)


def _s3_storage(url: str, parts: Any, upload_memory_bytes: int) -> StorageConfig:
    try:
        port = parts.port
    except ValueError:
        raise _fail(url, "the port is not a number") from None
    if not parts.hostname:
        raise _fail(url, "the server's host is missing (s3://KEY:SECRET@HOST:PORT/BUCKET)")
    if not parts.username or not parts.password:
        raise _fail(url, "the access key and secret key are missing (s3://KEY:SECRET@HOST:PORT/BUCKET)")
    bucket = parts.path.strip("/")
    if not bucket or "/" in bucket:
        raise _fail(url, "the path must be exactly one bucket name (s3://KEY:SECRET@HOST:PORT/BUCKET)")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - S3_QUERY_OPTIONS)
    if unknown:
        raise _fail(url, f"unknown option(s) {', '.join(unknown)} (known: secure, region)")
    secure_text = query.get("secure", ["true"])[-1].lower()
    if secure_text not in _BOOLEANS:
        raise _fail(url, "secure must be true or false")
    secure = _BOOLEANS[secure_text]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    endpoint = f"{'https' if secure else 'http'}://{host}" + (f":{port}" if port else "")

    # Only a deployment that uses S3 needs boto's configuration.
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    options = {
        "access_key": unquote(parts.username),
        "secret_key": unquote(parts.password),
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "region_name": query.get("region", [""])[-1] or None,
        "use_ssl": secure,
        # Path-style requests (http://host:port/bucket/key) work with every S3-compatible server.
        "addressing_style": "path",
        "signature_version": "s3v4",
        # Like FileSystemStorage: a name that is taken gets a new one instead of replacing the object.
        "file_overwrite": False,
        "default_acl": None,
        "querystring_auth": True,
        "max_memory_size": upload_memory_bytes,
        "transfer_config": TransferConfig(
            multipart_threshold=S3_PART_BYTES,
            multipart_chunksize=S3_PART_BYTES,
            max_concurrency=S3_UPLOAD_THREADS,
        ),
        "client_config": Config(
            connect_timeout=S3_CONNECT_TIMEOUT,
            read_timeout=S3_READ_TIMEOUT,
            retries={"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
            s3={"addressing_style": "path"},
            signature_version="s3v4",
        ),
    }
    return StorageConfig(storage={"BACKEND": S3_BACKEND, "OPTIONS": options}, media_root=None)
