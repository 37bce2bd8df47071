"""Download an execution's receipt (``executionReceipt``) byte for byte, for offline verification."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import requests

from argus_cli.errors import CliError

RECEIPT_QUERY = "query Receipt($id: ID!) { executionReceipt(executionId: $id) { document } }"


def fetch_receipt(*, url: str, token: str, execution_id: str, timeout: float = 60.0) -> str:
    """The receipt document, exactly as the server wrote it (its bytes are what gets verified)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise CliError(f"--url must be an http(s) URL, got {url!r}.")
    try:
        response = requests.post(
            url,
            json={"query": RECEIPT_QUERY, "variables": {"id": execution_id}},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )
        body = response.json()
    except requests.RequestException as exc:
        raise CliError(f"could not reach {url}: {type(exc).__name__}: {exc}") from None
    except ValueError:
        raise CliError(f"server answered HTTP {response.status_code} without JSON.") from None
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        code = (first.get("extensions") or {}).get("code", "ERROR")
        raise CliError(f"the server refused the receipt [{code}]: {first.get('message', errors[0])}")
    document = ((body.get("data") or {}).get("executionReceipt") or {}).get("document")
    if not isinstance(document, str):
        raise CliError("unexpected response from server: no receipt document.")
    return document


def save_receipt(document: str, path: Path) -> None:
    # Binary write: no newline translation, so the file's bytes are the document's UTF-8 bytes.
    path.write_bytes(document.encode("utf-8"))
