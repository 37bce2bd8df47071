"""Upload a signed bundle with a GraphQL multipart request (graphql-multipart-request-spec)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from argus_cli.errors import CliError

# The one place the mutation text lives; adjust here if the server's shape changes.
CREATE_PLUGIN_VERSION_MUTATION = """
mutation CreatePluginVersion(
  $pluginId: ID!, $version: String!, $changelog: String, $bundle: Upload!, $signature: String!,
  $signingKeyId: ID!
) {
  createPluginVersion(
    pluginId: $pluginId, version: $version, changelog: $changelog, bundle: $bundle, signature: $signature,
    signingKeyId: $signingKeyId
  ) {
    pluginVersion { id status }
    errors { code field message }
  }
}
""".strip()
MUTATION_FIELD = "createPluginVersion"
BUNDLE_VARIABLE_PATH = "variables.bundle"
BUNDLE_CONTENT_TYPE = "application/gzip"


@dataclass(frozen=True)
class PublishedVersion:
    id: str
    status: str


def build_operations(
    *, plugin_id: str, version: str, changelog: str, signature: str, signing_key_id: str
) -> dict[str, Any]:
    return {
        "operationName": "CreatePluginVersion",
        "query": CREATE_PLUGIN_VERSION_MUTATION,
        "variables": {
            "pluginId": plugin_id,
            "version": version,
            "changelog": changelog,
            "bundle": None,  # replaced by the file part named in "map"
            "signature": signature,
            "signingKeyId": signing_key_id,
        },
    }


def is_insecure_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1")


def publish_version(
    *,
    url: str,
    token: str,
    bundle: bytes,
    bundle_filename: str,
    plugin_id: str,
    version: str,
    changelog: str,
    signature: str,
    signing_key_id: str,
    timeout: float = 120.0,
) -> PublishedVersion:
    """POST the mutation; return the new version or raise CliError with the server's reasons."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise CliError(f"--url must be an http(s) URL, got {url!r}.")
    operations = build_operations(
        plugin_id=plugin_id,
        version=version,
        changelog=changelog,
        signature=signature,
        signing_key_id=signing_key_id,
    )
    # requests emits the plain fields before the file parts, as the spec requires.
    fields = {"operations": json.dumps(operations), "map": json.dumps({"0": [BUNDLE_VARIABLE_PATH]})}
    files = {"0": (bundle_filename, bundle, BUNDLE_CONTENT_TYPE)}
    try:
        response = requests.post(
            url,
            data=fields,
            files=files,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        # The exception text may contain the URL but never the headers, so the token stays private.
        raise CliError(f"could not reach {url}: {type(exc).__name__}: {exc}") from None
    return _parse_response(response)


def _parse_response(response: requests.Response) -> PublishedVersion:
    try:
        body = response.json()
    except ValueError:
        excerpt = response.text[:300].strip()
        raise CliError(f"server answered HTTP {response.status_code} without JSON: {excerpt!r}") from None
    if not isinstance(body, dict):
        raise CliError(f"unexpected response from server (HTTP {response.status_code}).")
    if body.get("errors"):
        messages = "; ".join(str(err.get("message", err)) for err in body["errors"] if isinstance(err, dict))
        raise CliError(
            f"server refused the request (HTTP {response.status_code}): {messages or body['errors']}"
        )
    if response.status_code >= 400:
        raise CliError(f"server answered HTTP {response.status_code}.")
    payload = (body.get("data") or {}).get(MUTATION_FIELD)
    if not isinstance(payload, dict):
        raise CliError("unexpected response from server: no createPluginVersion payload.")
    errors = payload.get("errors") or []
    if errors:
        lines = [
            f"  [{err.get('code')}] {err.get('field') or 'input'}: {err.get('message')}"
            for err in errors
            if isinstance(err, dict)
        ]
        raise CliError("the server rejected this version:\n" + "\n".join(lines))
    version = payload.get("pluginVersion")
    if not isinstance(version, dict) or "id" not in version:
        raise CliError("unexpected response from server: no pluginVersion returned.")
    return PublishedVersion(id=str(version["id"]), status=str(version.get("status")))
