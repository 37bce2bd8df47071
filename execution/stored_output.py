"""Where a run's output lives: a small output.json in the run's row, a larger one as an object in the store.

    size <= ARGUS_OUTPUT_INLINE_MAX_BYTES   Execution.output (the parsed value, jsonb on PostgreSQL)
    larger (up to ARGUS_OUTPUT_MAX_BYTES)   the object outputs/<tenant>/<run>.json, the bytes exactly as the
                                            plugin wrote them; Execution.output stays None

Either way ``output_sha256`` is the SHA-256 of the plugin's bytes (what the ledger records), so an object read
back is checked against it before it is returned: a stored output that was altered is refused, not served.
The object is written before the run's terminal status commits (never inside the ledger's transaction); the
worker removes it again when that status does not commit.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from argus_plugins.canonical import sha256_hex
from argus_plugins.core.errors import DomainError
from argus_plugins.core.objects import (
    StorageUnavailable,
    read_object,
    storage_errors,
    storage_unavailable_error,
)

from .error_codes import ExecutionErrorCode
from .models import Execution
from .output import OutputRefused, parse_output

#: The parsed value the worker already holds, kept on the in-memory run for the hooks of its recording (the
#: triggers' events) so that they do not read the object back inside the ledger's transaction.
_PARSED = "_stored_output_value"


def output_fields(execution: Execution, data: bytes, value: Any) -> dict[str, Any]:
    """The run's fields for its accepted output ``value`` (parsed from ``data``): inline when small enough,
    else ``data`` is written to the store first. StorageUnavailable when the store cannot take it."""
    if len(data) <= settings.ARGUS_OUTPUT_INLINE_MAX_BYTES:
        return {"output": value, "output_size": len(data)}
    with storage_errors():
        name = default_storage.save(f"outputs/{execution.tenant_id}/{execution.pk}.json", ContentFile(data))
    execution.__dict__[_PARSED] = value
    return {"output": None, "output_size": len(data), "output_object": name}


def run_output(execution: Execution) -> Any:
    """The run's output value, wherever it is kept (None when it has none).

    Raises DomainError OUTPUT_UNAVAILABLE when the stored object is missing or does not match the recorded
    SHA-256, and STORAGE_UNAVAILABLE when the store cannot be reached.
    """
    if not execution.output_object:
        return execution.output
    if _PARSED in execution.__dict__:
        return execution.__dict__[_PARSED]
    try:
        data = read_object(execution.output_object.name)
    except FileNotFoundError:
        raise DomainError(
            ExecutionErrorCode.OUTPUT_UNAVAILABLE,
            "The run's output is missing from the object store.",
            "output",
        ) from None
    except StorageUnavailable as error:
        raise storage_unavailable_error(error, "output") from None
    if sha256_hex(data) != execution.output_sha256:
        raise DomainError(
            ExecutionErrorCode.OUTPUT_UNAVAILABLE,
            "The run's stored output does not match its recorded SHA-256: refused.",
            "output",
        )
    try:
        value = parse_output(data)
    except OutputRefused as refused:  # it was accepted when the run ended: this cannot be the plugin's
        raise DomainError(
            ExecutionErrorCode.OUTPUT_UNAVAILABLE, f"The run's stored {refused}.", "output"
        ) from None
    execution.__dict__[_PARSED] = value
    return value
