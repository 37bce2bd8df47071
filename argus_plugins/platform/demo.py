"""The demo the start command runs: a ready admin, then the platform's main job end to end.

It publishes the bundled ``ioc-extractor`` example the way a third-party developer would (pack, sign,
upload), approves it as a reviewer, installs it in the demo tenant, grants ``evidence:read``, uploads
sample evidence and runs the plugin through the GraphQL API, then shows the result and its ledger entry.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import transaction

from argus_cli.errors import ServerRefused
from argus_cli.runs import follow_run, progress_line
from argus_plugins.staff.roles import StaffRole, grant_role
from argus_plugins.tenancy import services as tenancy_services
from argus_plugins.tenancy.models import Membership, Role, Tenant, User
from registry import bundles, services, signing
from registry.models import Plugin, PluginVersion, Publisher, SigningKey, VersionStatus

DEMO_USERNAME = "demo-admin"
DEMO_TENANT = "Demo Agency"
DEMO_PUBLISHER = "argus-examples"
DEMO_PLUGIN = "ioc-extractor"
EXAMPLES = Path(settings.BASE_DIR) / "examples"

INSTALLATIONS_QUERY = """
query($t: ID!) {
  installations(tenantId: $t, active: true, first: 100) { edges { node { id plugin { slug } } } }
}"""
INSTALL_MUTATION = """
mutation($t: ID!, $p: ID!) {
  installPlugin(tenantId: $t, pluginId: $p) { installation { id } errors { code field message } }
}"""
MISSING_QUERY = "query($id: ID!) { installation(id: $id) { missingCapabilities } }"
GRANT_MUTATION = """
mutation($i: ID!, $c: String!) {
  grantCapability(installationId: $i, capability: $c) { grant { id } errors { code field message } }
}"""
UPLOAD_MUTATION = """
mutation($t: ID!, $file: Upload!) {
  uploadEvidence(tenantId: $t, file: $file) { evidence { id sha256 } errors { code field message } }
}"""
RUN_MUTATION = """
mutation($i: ID!, $e: [ID!]) {
  runPlugin(installationId: $i, input: "{}", evidenceIds: $e) {
    execution { id status }
    errors { code field message }
  }
}"""
EXECUTION_FIELDS = """
    status terminal exitCode stdout stderr output errorReason durationMs ledgerEntry { sequence entryHash }
    progress { fraction message }"""


@transaction.atomic
def prepare_demo_admin() -> tuple[str, str]:
    """A staff user who administers the demo tenant, with a fresh API token (returned once)."""
    user, created = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"is_staff": True})
    if created:
        user.set_unusable_password()
        user.save()
    for role in StaffRole:  # the demo's one account reviews (approves the demo plugin) and operates
        grant_role(user, role)
    tenant = Tenant.objects.filter(memberships__user=user, name=DEMO_TENANT).first()
    if tenant is None:
        tenant = tenancy_services.create_tenant(actor=user, name=DEMO_TENANT)
    Membership.objects.filter(user=user, tenant=tenant).update(role=Role.ADMIN)
    _, token = tenancy_services.create_api_token(actor=user, name="demo")
    return user.username, token


def _demo_key(directory: Path) -> rsa.RSAPrivateKey:
    path = directory / "demo-publisher-key.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)  # type: ignore[return-value]
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return key


def publish_example(user: User, write: Callable[[str], None]) -> Any:
    """Publish (once) the example plugin as its developer would, and approve it as a reviewer."""
    source = EXAMPLES / "plugins" / DEMO_PLUGIN
    manifest = json.loads((source / "manifest.json").read_text())
    existing = PluginVersion.objects.filter(plugin__slug=DEMO_PLUGIN, version=manifest["version"]).first()
    if existing is not None and existing.status == VersionStatus.PUBLISHED:
        return existing
    publisher = Publisher.objects.filter(slug=DEMO_PUBLISHER).first() or services.create_publisher(
        actor=user, name="Argus Examples", slug=DEMO_PUBLISHER
    )
    key = _demo_key(Path(settings.DATA_DIR) / "demo")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    fingerprint = signing.load_public_key(public_pem).fingerprint
    signing_key = SigningKey.objects.filter(fingerprint=fingerprint).first() or services.register_signing_key(
        actor=user, publisher_id=publisher.pk, public_key_pem=public_pem
    )
    plugin = Plugin.objects.filter(slug=DEMO_PLUGIN).first() or services.create_plugin(
        actor=user,
        publisher_id=publisher.pk,
        slug=DEMO_PLUGIN,
        name="IOC extractor",
        summary=manifest["description"][:300],
        categories=["extraction", "financial-crime"],
    )
    bundle = bundles.pack_directory(source)
    signature = signing.sign_statement(
        key, signing.statement_for_bundle(DEMO_PLUGIN, manifest["version"], bundle, manifest)
    )
    version = existing or services.create_plugin_version(
        actor=user,
        plugin_id=plugin.pk,
        version=manifest["version"],
        changelog="First release.",
        bundle_bytes=bundle,
        signature=signature,
        signing_key_id=signing_key.pk,
    )
    write(
        f"Published {DEMO_PLUGIN} {version.version}: code_sha256 {version.code_sha256}, signed by key "
        f"{signing_key.fingerprint[:16]}…"
    )
    if version.status == VersionStatus.DRAFT:
        services.submit_for_review(actor=user, version_id=version.pk)
    return services.approve_version(
        actor=user, version_id=version.pk, notes="Demo: approved by the demo reviewer."
    )


class _Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.url = f"{base_url}/graphql/"
        self.token = token

    def _send(self, body: bytes, content_type: str) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the platform's own local URL
            self.url,
            data=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer = json.loads(response.read())
        if answer.get("errors"):
            codes = {error.get("extensions", {}).get("code") for error in answer["errors"]}
            if codes == {"WAIT_UNAVAILABLE"}:  # follow_run polls meanwhile
                raise ServerRefused(f"GraphQL error: {answer['errors']}", code="WAIT_UNAVAILABLE")
            raise RuntimeError(f"GraphQL error: {answer['errors']}")
        return answer["data"]

    def query(self, query: str, variables: dict[str, Any] | None = None, **named: Any) -> dict[str, Any]:
        body = {"query": query, "variables": {**(variables or {}), **named}}
        return self._send(json.dumps(body).encode(), "application/json")

    def upload(self, query: str, variables: dict[str, Any], file_variable: str, name: str, data: bytes):
        boundary = uuid.uuid4().hex
        operations = json.dumps({"query": query, "variables": {**variables, file_variable: None}})
        mapping = json.dumps({"0": [f"variables.{file_variable}"]})
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'.encode()
            + operations.encode()
            + b"\r\n",
            f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{mapping}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="{name}"\r\n'
            f"Content-Type: text/plain\r\n\r\n".encode()
            + data
            + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        return self._send(b"".join(parts), f"multipart/form-data; boundary={boundary}")


def _payload(data: dict[str, Any], field: str) -> dict[str, Any]:
    payload = data[field]
    if payload["errors"]:
        raise RuntimeError(f"{field} failed: {payload['errors']}")
    return payload


def run_demo(
    *, base_url: str, token: str, write: Callable[[str], None], timeout: float = 180.0
) -> dict[str, Any]:
    """Publish, install, grant, upload and run the example plugin; print and return the execution."""
    user = User.objects.get(username=DEMO_USERNAME)
    tenant = Tenant.objects.get(memberships__user=user, name=DEMO_TENANT)
    version = publish_example(user, write)
    api = _Api(base_url, token)

    listing = api.query(INSTALLATIONS_QUERY, t=str(tenant.pk))["installations"]["edges"]
    installed = [edge["node"]["id"] for edge in listing if edge["node"]["plugin"]["slug"] == DEMO_PLUGIN]
    if installed:
        installation_id = installed[0]
    else:
        answer = api.query(INSTALL_MUTATION, t=str(tenant.pk), p=str(version.plugin_id))
        installation_id = _payload(answer, "installPlugin")["installation"]["id"]
        write(f"Installed {DEMO_PLUGIN} in '{DEMO_TENANT}'.")
    for capability in api.query(MISSING_QUERY, id=installation_id)["installation"]["missingCapabilities"]:
        _payload(api.query(GRANT_MUTATION, i=installation_id, c=capability), "grantCapability")
        write(f"Granted {capability}.")

    sample = EXAMPLES / "evidence" / "chat-export.txt"
    answer = api.upload(UPLOAD_MUTATION, {"t": str(tenant.pk)}, "file", sample.name, sample.read_bytes())
    evidence = _payload(answer, "uploadEvidence")["evidence"]
    write(f"Uploaded evidence {sample.name} (sha256 {evidence['sha256'][:16]}…).")

    started = time.monotonic()
    execution = _payload(api.query(RUN_MUTATION, i=installation_id, e=[evidence["id"]]), "runPlugin")[
        "execution"
    ]
    write(f"Queued execution {execution['id']}; waiting for the sandbox…")
    shown = ""
    for result in follow_run(api, execution["id"], fields=EXECUTION_FIELDS, poll_seconds=0.2):
        # The run's status and the plugin's own progress report, each time either changes.
        line = progress_line(result, time.monotonic() - started)
        if line.split(" (")[0] != shown:
            write(f"  {line}")
            shown = line.split(" (")[0]
        if result["terminal"] or time.monotonic() - started > timeout:
            break
    write(
        f"Execution {execution['id']} finished: {result['status']} (exit code {result['exitCode']}, "
        f"{result['durationMs']} ms in the sandbox)."
    )
    if result["errorReason"]:
        write(f"Reason: {result['errorReason']}")
    write(f"Plugin stdout: {result['stdout'].strip()}")
    if result["output"]:
        output = json.loads(result["output"])
        write("Plugin output (indicators found in the evidence):")
        for item in output.get("indicators", []):
            write(f"  {item['type']:<6} {item['value']}")
    if result.get("ledgerEntry"):
        entry = result["ledgerEntry"]
        write(f"Ledger entry #{entry['sequence']}: {entry['entryHash']}")
    return result
