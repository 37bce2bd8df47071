"""A small GraphQL client for the CLI: typed failures (refused by the server vs. unreachable), and
streamed multipart uploads with progress and a timeout that grows with the upload's size."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests
from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor

from argus_cli.config import Connection
from argus_cli.errors import NetworkError, ServerRefused

CONNECT_TIMEOUT = 15.0
DEFAULT_TIMEOUT = 60.0
# After the last byte is sent, the server verifies the bundle (hash, signature, manifest): allow a
# generous rate for that on top of the base timeout so that large bundles never time out spuriously.
VERIFY_SECONDS_PER_MIB = 2.0
MiB = 1 << 20

Progress = Callable[[int, int], None]


def upload_timeout(size: int, base: float = DEFAULT_TIMEOUT) -> tuple[float, float]:
    """(connect, read) for an upload of ``size`` bytes. The body is streamed in small chunks, each with
    its own socket timeout, so a slow uplink only needs every chunk to move, never the whole body in
    ``base`` seconds."""
    return (CONNECT_TIMEOUT, base + VERIFY_SECONDS_PER_MIB * size / MiB)


class Api:
    def __init__(self, connection: Connection, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.connection = connection
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {connection.token}", "Accept": "application/json"}
        )

    def query(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query; return its ``data`` or raise ServerRefused with the first error's code."""
        body = self._post(json={"query": document, "variables": variables or {}})
        return _data(body)

    def mutate(self, field: str, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run a mutation; return the payload of ``field`` or raise ServerRefused with its errors."""
        return _payload(_data(self._post(json={"query": document, "variables": variables})), field)

    def upload(
        self,
        field: str,
        document: str,
        variables: dict[str, Any],
        *,
        file_variable: str,
        filename: str,
        content: bytes,
        content_type: str,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """A GraphQL multipart request (graphql-multipart-request-spec), streamed with progress."""
        operations = {"query": document, "variables": {**variables, file_variable: None}}
        encoder = MultipartEncoder(
            fields=[
                ("operations", json.dumps(operations)),
                ("map", json.dumps({"0": [f"variables.{file_variable}"]})),
                ("0", (filename, content, content_type)),
            ]
        )
        total = encoder.len
        monitor = MultipartEncoderMonitor(
            encoder, (lambda m: progress(min(m.bytes_read, total), total)) if progress else None
        )
        body = self._post(
            data=monitor,
            headers={"Content-Type": monitor.content_type},
            timeout=upload_timeout(len(content), timeout or self.timeout),
        )
        return _payload(_data(body), field)

    def _post(self, *, timeout: float | tuple[float, float] | None = None, **kwargs: Any) -> dict[str, Any]:
        url = self.connection.url
        try:
            response = self.session.post(
                url, timeout=timeout or (CONNECT_TIMEOUT, self.timeout), allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            # The exception text may name the URL, never the headers: the token stays private.
            raise NetworkError(f"could not reach {url}: {type(exc).__name__}: {exc}") from None
        if response.is_redirect:
            raise NetworkError(
                f"{url} answered with a redirect to {response.headers.get('Location')!r}; "
                "use the GraphQL endpoint's exact URL (e.g. https://HOST/graphql/)."
            )
        try:
            body = response.json()
        except ValueError:
            excerpt = response.text[:200].strip()
            raise NetworkError(
                f"{url} answered HTTP {response.status_code} without JSON: {excerpt!r}"
            ) from None
        if not isinstance(body, dict):
            raise NetworkError(f"{url} answered HTTP {response.status_code} with unexpected JSON.")
        if response.status_code >= 500 and not body.get("errors"):
            raise NetworkError(f"{url} answered HTTP {response.status_code}.")
        return body


def _data(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
        extensions = first.get("extensions") or {}
        code = extensions.get("code")
        messages = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
        if code == "INTERNAL_ERROR" and not body.get("data"):
            request_id = extensions.get("requestId")
            suffix = f" (request id {request_id})" if request_id else ""
            raise NetworkError(f"the server failed: {messages}{suffix}")
        raise ServerRefused(f"[{code or 'ERROR'}] {messages}", code=code, field=extensions.get("field"))
    data = body.get("data")
    if not isinstance(data, dict):
        raise NetworkError("unexpected answer from the server: no data.")
    return data


def _payload(data: dict[str, Any], field: str) -> dict[str, Any]:
    payload = data.get(field)
    if not isinstance(payload, dict):
        raise NetworkError(f"unexpected answer from the server: no {field} payload.")
    errors = [e for e in payload.get("errors") or [] if isinstance(e, dict)]
    if errors:
        lines = "\n".join(
            f"  [{e.get('code')}] {e.get('field') or 'input'}: {e.get('message')}" for e in errors
        )
        raise ServerRefused(
            f"the server refused {field}:\n{lines}", code=errors[0].get("code"), field=errors[0].get("field")
        )
    return payload
