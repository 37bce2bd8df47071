"""The server side of publishing, as GraphQL operations: publishers, keys, plugins, versions, listings.

Every function takes an ``Api`` and slugs or ids; slugs are resolved to ids here, so commands accept
either ("slugs everywhere, UUIDs accepted too").
"""

from __future__ import annotations

import uuid
from typing import Any

from argus_cli.api import Api, Progress
from argus_cli.errors import ServerRefused, UsageError

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
BUNDLE_CONTENT_TYPE = "application/gzip"

VERSION_FIELDS = "id version status changelog submittedAt publishedAt reviewNotes deprecationReason"
PLUGIN_QUERY = f"""
query Plugin($id: ID, $slug: String) {{
  plugin(id: $id, slug: $slug) {{
    id slug name status
    publisher {{ id slug name signingKeys {{ id fingerprint revoked }} }}
    versions(first: 100) {{ edges {{ node {{ {VERSION_FIELDS} }} }} }}
  }}
}}
"""
PUBLISHER_QUERY = """
query Publisher($id: ID, $slug: String) {
  publisher(id: $id, slug: $slug) { id slug name signingKeys { id fingerprint revoked } }
}
"""
CREATE_PUBLISHER = """
mutation CreatePublisher($name: String!, $slug: String!) {
  createPublisher(name: $name, slug: $slug) { publisher { id slug name } errors { code field message } }
}
"""
REGISTER_KEY = """
mutation RegisterSigningKey($publisherId: ID!, $pem: String!) {
  registerSigningKey(publisherId: $publisherId, publicKeyPem: $pem) {
    signingKey { id fingerprint keyBits } errors { code field message }
  }
}
"""
CREATE_PLUGIN = """
mutation CreatePlugin($publisherId: ID!, $slug: String!, $name: String!, $summary: String) {
  createPlugin(publisherId: $publisherId, slug: $slug, name: $name, summary: $summary) {
    plugin { id slug name } errors { code field message }
  }
}
"""
SUBMIT = """
mutation Submit($id: ID!) {
  submitPluginVersionForReview(id: $id) { pluginVersion { id version status } errors { code field message } }
}
"""
DEPRECATE = """
mutation Deprecate($id: ID!, $reason: String!) {
  deprecatePluginVersion(id: $id, reason: $reason) {
    pluginVersion { id version status deprecationReason } errors { code field message }
  }
}
"""
UPDATE_LISTING = """
mutation UpdateListing(
  $pluginId: ID!, $tagline: String, $description: String, $categories: [String!], $tags: [String!],
  $documentationUrl: String, $supportUrl: String, $iconUrl: String
) {
  updateListing(
    pluginId: $pluginId, tagline: $tagline, description: $description, categories: $categories, tags: $tags,
    documentationUrl: $documentationUrl, supportUrl: $supportUrl, iconUrl: $iconUrl
  ) { listing { id slug tagline delisted } errors { code field message } }
}
"""
LISTING_FIELDS = {
    "tagline": "tagline",
    "description": "description",
    "categories": "categories",
    "tags": "tags",
    "documentationUrl": "documentationUrl",
    "documentation_url": "documentationUrl",
    "supportUrl": "supportUrl",
    "support_url": "supportUrl",
    "iconUrl": "iconUrl",
    "icon_url": "iconUrl",
}


def is_id(reference: str) -> bool:
    """A UUID is an id; anything else is a slug."""
    try:
        uuid.UUID(reference)
    except ValueError:
        return False
    return True


def _by(reference: str) -> dict[str, str]:
    return {"id": reference} if is_id(reference) else {"slug": reference}


def find_plugin(client: Api, reference: str) -> dict[str, Any] | None:
    try:
        return client.query(PLUGIN_QUERY, _by(reference))["plugin"]
    except ServerRefused as exc:
        if exc.code == "NOT_FOUND":
            return None
        raise


def get_plugin(client: Api, reference: str) -> dict[str, Any]:
    plugin = find_plugin(client, reference)
    if plugin is None:
        raise ServerRefused(f"[NOT_FOUND] no plugin {reference!r} visible to you.", code="NOT_FOUND")
    return plugin


def versions_of(plugin: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in plugin["versions"]["edges"]]


def get_version(client: Api, plugin_reference: str, version: str) -> dict[str, Any]:
    plugin = get_plugin(client, plugin_reference)
    for node in versions_of(plugin):
        if node["version"] == version or node["id"] == version:
            return node
    raise ServerRefused(f"[NOT_FOUND] {plugin['slug']} has no version {version}.", code="NOT_FOUND")


def get_publisher(client: Api, reference: str) -> dict[str, Any]:
    try:
        publisher = client.query(PUBLISHER_QUERY, _by(reference))["publisher"]
    except ServerRefused as exc:
        if exc.code != "NOT_FOUND":
            raise
        publisher = None
    if publisher is None:
        raise ServerRefused(f"[NOT_FOUND] no publisher {reference!r} visible to you.", code="NOT_FOUND")
    return publisher


def create_publisher(client: Api, name: str, slug: str) -> dict[str, Any]:
    return client.mutate("createPublisher", CREATE_PUBLISHER, {"name": name, "slug": slug})["publisher"]


def register_key(client: Api, publisher: str, public_key_pem: str) -> dict[str, Any]:
    publisher_id = publisher if is_id(publisher) else get_publisher(client, publisher)["id"]
    payload = client.mutate(
        "registerSigningKey", REGISTER_KEY, {"publisherId": publisher_id, "pem": public_key_pem}
    )
    return payload["signingKey"]


def create_plugin(client: Api, publisher: str, slug: str, name: str, summary: str) -> dict[str, Any]:
    publisher_id = get_publisher(client, publisher)["id"]
    variables = {"publisherId": publisher_id, "slug": slug, "name": name, "summary": summary}
    return client.mutate("createPlugin", CREATE_PLUGIN, variables)["plugin"]


def signing_key_for(publisher: dict[str, Any], fingerprint: str | None) -> str:
    """The id of the publisher's active key with ``fingerprint``; without one, its only active key."""
    active = [key for key in publisher["signingKeys"] if not key["revoked"]]
    if fingerprint is not None:
        for key in active:
            if key["fingerprint"] == fingerprint:
                return key["id"]
        raise UsageError(
            f"this key (fingerprint {fingerprint}) is not an active signing key of publisher "
            f"{publisher['slug']}: register it with `argus-plugin key register PUBLIC.pem --publisher "
            f"{publisher['slug']}`."
        )
    if len(active) == 1:
        return active[0]["id"]
    raise UsageError(
        f"publisher {publisher['slug']} has {len(active)} active keys: "
        "pass --key (to sign now) or --signing-key-id."
    )


def upload_version(
    client: Api,
    *,
    plugin_id: str,
    version: str,
    changelog: str,
    signature: str,
    signing_key_id: str,
    bundle: bytes,
    bundle_filename: str,
    progress: Progress | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    payload = client.upload(
        "createPluginVersion",
        CREATE_PLUGIN_VERSION_MUTATION,
        {
            "pluginId": plugin_id,
            "version": version,
            "changelog": changelog,
            "signature": signature,
            "signingKeyId": signing_key_id,
        },
        file_variable="bundle",
        filename=bundle_filename,
        content=bundle,
        content_type=BUNDLE_CONTENT_TYPE,
        progress=progress,
        timeout=timeout,
    )
    return payload["pluginVersion"]


def submit(client: Api, version_id: str) -> dict[str, Any]:
    return client.mutate("submitPluginVersionForReview", SUBMIT, {"id": version_id})["pluginVersion"]


def deprecate(client: Api, version_id: str, reason: str) -> dict[str, Any]:
    return client.mutate("deprecatePluginVersion", DEPRECATE, {"id": version_id, "reason": reason})[
        "pluginVersion"
    ]


def update_listing(client: Api, plugin_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = {"pluginId": plugin_id}
    for key, value in fields.items():
        if key not in LISTING_FIELDS:
            raise UsageError(
                f"unknown listing field {key!r}; known: {', '.join(sorted(set(LISTING_FIELDS.values())))}."
            )
        variables[LISTING_FIELDS[key]] = value
    return client.mutate("updateListing", UPDATE_LISTING, variables)["listing"]
