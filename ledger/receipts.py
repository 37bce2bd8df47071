"""Execution receipts: one self-contained, canonical JSON document a court expert can verify offline.

A receipt holds the execution's ledger entry (every field of its hash preimage), the inclusion proof of
its leaf in a signed checkpoint's tree, that checkpoint's note, the log's public key, the plugin
version's signed statement with the publisher's signature and key, and the evidence SHA-256 values.
``ledger/standalone_verify.py receipt FILE --log-key PEM`` checks all of it. The document is RFC 8785
canonical JSON plus a newline, so it has exactly one spelling: a single changed byte fails verification.

The entry is found through the execution's one-to-one link to it (``LedgerEntry.execution``, declared by
the execution app) and the version's signature through the registry's relations: lookups by relation
name, so the ledger imports neither app.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.db.models import TextField
from django.db.models.functions import Cast

from argus_plugins.canonical import canonical_json
from argus_plugins.core.errors import DomainError

from .checkpoints import checkpoint_covering, log_public_key
from .error_codes import LedgerErrorCode
from .models import LedgerEntry
from .notes import b64
from .tree import inclusion_proof

RECEIPT_FORMAT = "argus-plugins/execution-receipt/v1"
EXECUTION_ENTRY_TYPE = "execution.completed"
_VERSION = "execution__plugin_version__"


def receipt_entry(execution_id: Any) -> dict[str, Any] | None:
    """The ledger row of an execution, with the facts a receipt needs; None when it has none (yet)."""
    return (
        LedgerEntry.objects.filter(execution__pk=execution_id, entry_type=EXECUTION_ENTRY_TYPE)
        .values(
            "sequence",
            "entry_type",
            "prev_hash",
            "created_at",
            "entry_hash",
            "tenant_id",
            record_text=Cast("record", TextField()),
            signature=Cast(f"{_VERSION}signature", TextField()),
            publisher_key_pem=Cast(f"{_VERSION}signing_key__public_key_pem", TextField()),
        )
        .first()
    )


def build_receipt(execution_id: Any, row: dict[str, Any]) -> str:
    """The receipt text of the execution whose entry is ``row`` (see ``receipt_entry``)."""
    record = json.loads(row["record_text"])
    # A pending entry (linked a moment after its run's commit) is in no checkpoint yet either.
    checkpoint = checkpoint_covering(row["sequence"]) if row["sequence"] is not None else None
    if checkpoint is None:
        raise DomainError(
            LedgerErrorCode.NOT_YET_CHECKPOINTED,
            "This execution's ledger entry is not covered by a signed checkpoint yet; "
            "one is issued every minute while the ledger grows. Try again shortly.",
            "executionId",
        )
    key_name, public_key_pem, _ = log_public_key()
    proof = inclusion_proof(row["sequence"], checkpoint.tree_size)
    statement = canonical_json(
        {key: record.get(key) for key in ("plugin", "version", "code_sha256", "manifest_sha256")}
    )
    document = {
        "format": RECEIPT_FORMAT,
        "execution_id": str(execution_id),
        "entry": {
            "sequence": row["sequence"],
            "entry_type": row["entry_type"],
            "record": record,
            "prev_hash": row["prev_hash"],
            "created_at": row["created_at"],
            "entry_hash": row["entry_hash"],
        },
        "inclusion_proof": {
            "leaf_index": row["sequence"] - 1,
            "tree_size": checkpoint.tree_size,
            "hashes": [b64(digest) for digest in proof],
        },
        "checkpoint": checkpoint.note,
        "log": {"key_name": key_name, "public_key_pem": public_key_pem},
        "plugin_version": {
            "statement": statement.decode("utf-8"),
            "signature": row["signature"],
            "publisher_key_fingerprint": record.get("signing_key_fingerprint"),
            # Re-encoded: the verifier accepts only the canonical PEM spelling of a key.
            "publisher_public_key_pem": canonical_public_pem(row["publisher_key_pem"]),
        },
        "evidence": record.get("evidence", []),
    }
    return canonical_json(document).decode("utf-8") + "\n"


def canonical_public_pem(pem: str) -> str:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
