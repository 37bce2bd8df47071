"""Download an execution's receipt (``executionReceipt``) byte for byte, for offline verification."""

from __future__ import annotations

from pathlib import Path

from argus_cli.api import Api
from argus_cli.errors import NetworkError

RECEIPT_QUERY = "query Receipt($id: ID!) { executionReceipt(executionId: $id) { document } }"


def fetch_receipt(client: Api, execution_id: str) -> str:
    """The receipt document, exactly as the server wrote it (its bytes are what gets verified)."""
    answer = client.query(RECEIPT_QUERY, {"id": execution_id}).get("executionReceipt") or {}
    document = answer.get("document")
    if not isinstance(document, str):
        raise NetworkError("unexpected response from server: no receipt document.")
    return document


def save_receipt(document: str, path: Path) -> None:
    # Binary write: no newline translation, so the file's bytes are the document's UTF-8 bytes.
    path.write_bytes(document.encode("utf-8"))
