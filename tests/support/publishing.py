"""Build, sign and publish plugin bundles for tests, through the real registry services."""

from __future__ import annotations

import functools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from registry import bundles, services, signing
from registry.models import Plugin, PluginVersion, Publisher, SigningKey

TRIVIAL_ENTRYPOINT = """\
import json, sys
data = json.load(sys.stdin)
print("hello from the plugin")
print("a warning", file=sys.stderr)
with open("/argus/output/output.json", "w") as out:
    json.dump({"echo": data}, out)
"""


@functools.cache
def private_key(index: int = 0) -> rsa.RSAPrivateKey:
    """RSA-4096 keys are slow to generate: one per index per test process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=4096)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def manifest_for(name: str, version: str, **overrides: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": name,
        "version": version,
        "runtime": "python3.11",
        "entrypoint": "main.py",
        "capabilities": [],
        "resources": {"memory_mb": 128, "cpus": 0.5, "timeout_seconds": 30, "pids": 32},
        "min_platform_version": "1.0.0",
        "max_platform_version": "1.99.0",
    }
    manifest.update(overrides)
    return manifest


def make_bundle(manifest: dict[str, Any], files: dict[str, str | bytes] | None = None) -> bytes:
    files = {"main.py": TRIVIAL_ENTRYPOINT} if files is None else files
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "manifest.json").write_text(json.dumps(manifest))
        for relative, content in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        return bundles.pack_directory(root)


def sign(key: rsa.RSAPrivateKey, slug: str, version: str, bundle: bytes, manifest: dict[str, Any]) -> str:
    return signing.sign_statement(key, signing.statement_for_bundle(slug, version, bundle, manifest))


@dataclass
class PublisherKit:
    publisher: Publisher
    key: SigningKey
    private_key: rsa.RSAPrivateKey
    owner: Any

    def upload(
        self,
        plugin: Plugin,
        version: str,
        *,
        manifest: dict[str, Any] | None = None,
        files: dict[str, str | bytes] | None = None,
    ) -> PluginVersion:
        manifest = manifest or manifest_for(plugin.slug, version)
        bundle = make_bundle(manifest, files)
        return services.create_plugin_version(
            actor=self.owner,
            plugin_id=plugin.pk,
            version=version,
            changelog="",
            bundle_bytes=bundle,
            signature=sign(self.private_key, plugin.slug, version, bundle, manifest),
            signing_key_id=self.key.pk,
        )

    def publish(self, plugin: Plugin, version: str, *, reviewer: Any, **upload: Any) -> PluginVersion:
        uploaded = self.upload(plugin, version, **upload)
        services.submit_for_review(actor=self.owner, version_id=uploaded.pk)
        return services.approve_version(actor=reviewer, version_id=uploaded.pk, notes="ok")


def make_reviewer(user: Any) -> Any:
    """``user`` as a marketplace reviewer: staff holding the permission approval and rejection require
    (what the Reviewers role grants; the role's group itself is tested in tests/staff)."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(PluginVersion)
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="review_pluginversion",
        defaults={"name": "Can approve or reject plugin versions in review"},
    )
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(permission)
    for cache in ("_perm_cache", "_user_perm_cache"):
        user.__dict__.pop(cache, None)
    return user


def make_publisher_kit(owner: Any, slug: str = "acme-forensics", key_index: int = 0) -> PublisherKit:
    publisher = services.create_publisher(actor=owner, name=slug.replace("-", " ").title(), slug=slug)
    key = private_key(key_index)
    signing_key = services.register_signing_key(
        actor=owner, publisher_id=publisher.pk, public_key_pem=public_pem(key)
    )
    return PublisherKit(publisher=publisher, key=signing_key, private_key=key, owner=owner)
