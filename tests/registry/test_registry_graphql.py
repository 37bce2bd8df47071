"""The registry through GraphQL: keys, uploads (multipart), signatures, review, visibility."""

import base64
import io
import subprocess
import tarfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.files.storage import default_storage

from argus_plugins.canonical import canonical_sha256, sha256_hex
from registry import services
from registry.models import PluginVersion, SigningKey
from tests.support.publishing import make_bundle, manifest_for, public_pem, sign

CREATE_VERSION = """
mutation($pluginId: ID!, $version: String!, $bundle: Upload!, $signature: String!, $keyId: ID!) {
  createPluginVersion(pluginId: $pluginId, version: $version, changelog: "## New", bundle: $bundle,
                      signature: $signature, signingKeyId: $keyId) {
    pluginVersion { id version status codeSha256 signatureVerified signingKey { fingerprint } manifest
                    capabilities resources { memoryMb } }
    errors { code field message }
  }
}"""
REGISTER_KEY = """
mutation($p: ID!, $pem: String!) {
  registerSigningKey(publisherId: $p, publicKeyPem: $pem) { signingKey { fingerprint keyBits } errors { code field } }
}"""


@pytest.fixture
def plugin(publisher_kit):
    return services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="ioc-extractor", name="IOC"
    )


@pytest.fixture
def dev(publisher_kit, gql_for):
    return gql_for(publisher_kit.owner)


def _upload(client, kit, plugin, version="1.0.0", *, bundle=None, manifest=None, signature=None, slug=None):
    manifest = manifest or manifest_for(plugin.slug, version)
    bundle = bundle if bundle is not None else make_bundle(manifest)
    signature = signature or sign(kit.private_key, slug or plugin.slug, version, bundle, manifest)
    return client.execute_multipart(
        CREATE_VERSION,
        {"pluginId": str(plugin.pk), "version": version, "signature": signature, "keyId": str(kit.key.pk)},
        {"bundle": bundle},
    ).payload("createPluginVersion")


def _stored_bundles():
    from pathlib import Path

    root = Path(default_storage.location) / "bundles"
    return {str(path) for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def test_upload_through_multipart_creates_a_verified_draft(dev, publisher_kit, plugin):
    payload = _upload(dev, publisher_kit, plugin)
    assert payload["errors"] == []
    version = payload["pluginVersion"]
    assert version["status"] == "DRAFT" and version["signatureVerified"] is True
    assert version["signingKey"]["fingerprint"] == publisher_kit.key.fingerprint
    stored = PluginVersion.objects.get(pk=version["id"])
    assert version["codeSha256"] == sha256_hex(services.read_stored_bundle(stored))
    assert stored.manifest_sha256 == canonical_sha256(stored.manifest)
    assert version["resources"] == {"memoryMb": 128}


def test_signature_from_the_openssl_cli_is_accepted(dev, publisher_kit, plugin, tmp_path):
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(
        publisher_kit.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    manifest = manifest_for(plugin.slug, "2.0.0")
    bundle = make_bundle(manifest)
    from registry.signing import statement_for_bundle

    (tmp_path / "statement").write_bytes(statement_for_bundle(plugin.slug, "2.0.0", bundle, manifest))
    signature = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-sign",
            str(key_path),
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sigopt",
            "rsa_mgf1_md:sha256",
            str(tmp_path / "statement"),
        ],
        check=True,
        capture_output=True,
    ).stdout
    payload = _upload(
        dev,
        publisher_kit,
        plugin,
        "2.0.0",
        bundle=bundle,
        manifest=manifest,
        signature=base64.b64encode(signature).decode(),
    )
    assert payload["errors"] == []
    assert payload["pluginVersion"]["signatureVerified"] is True


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_flipped_bytes_are_rejected_and_nothing_is_written(dev, publisher_kit, plugin):
    manifest = manifest_for(plugin.slug, "1.0.0")
    bundle = make_bundle(manifest)
    good = sign(publisher_kit.private_key, plugin.slug, "1.0.0", bundle, manifest)
    raw = base64.b64decode(good)
    before = _stored_bundles()
    cases = {
        "signature": dict(bundle=bundle, signature=base64.b64encode(_flip(raw, 100)).decode()),
        "slug": dict(
            bundle=bundle,
            signature=sign(publisher_kit.private_key, "ioc-extractor2", "1.0.0", bundle, manifest),
        ),
        "version": dict(
            bundle=bundle, signature=sign(publisher_kit.private_key, plugin.slug, "1.0.1", bundle, manifest)
        ),
    }
    for name, case in cases.items():
        payload = _upload(dev, publisher_kit, plugin, manifest=manifest, **case)
        assert [e["code"] for e in payload["errors"]] == ["SIGNATURE_MISMATCH"], name
        assert payload["errors"][0]["field"] == "signature"
    # A flipped byte in the compressed bundle: either the archive or the signature check refuses it.
    flipped = _upload(
        dev, publisher_kit, plugin, manifest=manifest, bundle=_flip(bundle, len(bundle) // 2), signature=good
    )
    assert flipped["errors"] and flipped["pluginVersion"] is None
    assert flipped["errors"][0]["code"] in {"SIGNATURE_MISMATCH", "CORRUPT_ARCHIVE", "NOT_GZIP", "NOT_TAR"}
    assert PluginVersion.objects.count() == 0
    assert _stored_bundles() == before


def _malicious(kind: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:

        def add(name, data=b"x", **attrs):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for key, value in attrs.items():
                setattr(info, key, value)
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)

        import json

        add("manifest.json", json.dumps(manifest_for("ioc-extractor", "1.0.0")).encode())
        add("main.py", b"print(1)")
        if kind == "traversal":
            add("../../etc/cron.d/evil")
        elif kind == "absolute":
            add("/etc/passwd")
        elif kind == "symlink":
            add("link", b"", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        elif kind == "bomb":
            add("zeros.bin", b"\0" * (120 * 1024 * 1024))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("traversal", "PATH_TRAVERSAL"),
        ("absolute", "ABSOLUTE_PATH"),
        ("symlink", "LINK_NOT_ALLOWED"),
        ("bomb", "UNCOMPRESSED_TOO_LARGE"),
    ],
)
def test_malicious_bundles_are_refused_without_writing(dev, publisher_kit, plugin, kind, code):
    bundle = _malicious(kind)
    before = _stored_bundles()
    payload = _upload(dev, publisher_kit, plugin, bundle=bundle, signature="AAAA")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, "bundle")]
    assert PluginVersion.objects.count() == 0
    assert _stored_bundles() == before


def test_manifest_problems_are_reported_per_field(dev, publisher_kit, plugin):
    manifest = manifest_for(
        plugin.slug,
        "1.0.0",
        capabilities=["network:open"],
        resources={"memory_mb": 999999, "cpus": 1, "timeout_seconds": 10, "pids": 10},
    )
    payload = _upload(dev, publisher_kit, plugin, manifest=manifest)
    errors = {(e["code"], e["field"]) for e in payload["errors"]}
    assert ("UNKNOWN_CAPABILITY", "manifest.capabilities.0") in errors
    assert ("RESOURCE_LIMIT_EXCEEDED", "manifest.resources.memory_mb") in errors
    assert PluginVersion.objects.count() == 0


def test_platform_range_is_checked_and_named(dev, publisher_kit, plugin):
    manifest = manifest_for(plugin.slug, "1.0.0", min_platform_version="2.0.0", max_platform_version="3.0.0")
    payload = _upload(dev, publisher_kit, plugin, manifest=manifest)
    errors = payload["errors"]
    assert [e["code"] for e in errors] == ["PLATFORM_INCOMPATIBLE"]
    assert "1.0.0" in errors[0]["message"] and "2.0.0" in errors[0]["message"]


def test_version_mismatch_and_duplicates_are_refused(dev, publisher_kit, plugin):
    mismatch = _upload(dev, publisher_kit, plugin, "1.0.0", manifest=manifest_for(plugin.slug, "1.0.1"))
    assert any(e["code"] == "VERSION_MISMATCH" for e in mismatch["errors"])
    assert _upload(dev, publisher_kit, plugin, "1.0.0+build.1")["errors"] == []
    again = _upload(dev, publisher_kit, plugin, "1.0.0+build.2")
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("VERSION_EXISTS", "version")]
    assert PluginVersion.objects.count() == 1


def test_a_manifest_naming_another_plugin_is_refused_and_nothing_is_stored(dev, publisher_kit, plugin):
    other = services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="other-plugin", name="Other"
    )
    payload = _upload(dev, publisher_kit, plugin, manifest=manifest_for(other.slug, "1.0.0"))
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NAME_MISMATCH", "manifest.name")]
    assert payload["pluginVersion"] is None
    assert PluginVersion.objects.count() == 0
    assert _stored_bundles() == set()


def test_versions_list_newest_semver_first(publisher_kit, plugin, gql_for):
    for version in ["1.0.0-alpha", "1.0.0", "1.0.0-beta", "1.10.0", "1.2.0", "1.0.0-alpha.1"]:
        publisher_kit.upload(plugin, version)
    data = (
        gql_for(publisher_kit.owner)
        .execute(
            'query { plugin(slug: "ioc-extractor") { versions(first: 10) { edges { node { version } } } } }'
        )
        .data
    )
    order = [edge["node"]["version"] for edge in data["plugin"]["versions"]["edges"]]
    assert order == ["1.10.0", "1.2.0", "1.0.0", "1.0.0-beta", "1.0.0-alpha.1", "1.0.0-alpha"]


@pytest.mark.parametrize(
    ("make_pem", "code"),
    [
        (lambda: public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)), "KEY_TOO_SMALL"),
        (
            lambda: (
                ec.generate_private_key(ec.SECP384R1())
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            ),
            "UNSUPPORTED_KEY_TYPE",
        ),
        (lambda: "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n", "INVALID_PEM"),
    ],
)
def test_weak_or_wrong_keys_are_rejected(dev, publisher_kit, make_pem, code):
    before = SigningKey.objects.count()
    payload = dev.execute(REGISTER_KEY, {"p": str(publisher_kit.publisher.pk), "pem": make_pem()})
    assert payload.payload("registerSigningKey")["errors"] == [{"code": code, "field": "publicKeyPem"}]
    assert SigningKey.objects.count() == before


def test_private_key_sent_by_mistake_is_rejected(dev, publisher_kit):
    pem = publisher_kit.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    payload = dev.execute(REGISTER_KEY, {"p": str(publisher_kit.publisher.pk), "pem": pem})
    assert payload.payload("registerSigningKey")["errors"] == [
        {"code": "PRIVATE_KEY_SUBMITTED", "field": "publicKeyPem"}
    ]


def test_revoked_key_cannot_sign_and_distrusts_its_versions(dev, publisher_kit, plugin, world, gql_for):
    published = publisher_kit.publish(plugin, "1.0.0", reviewer=world.staff)
    revoked = dev.execute(
        'mutation($id: ID!) { revokeSigningKey(id: $id, reason: "laptop stolen") { signingKey { revoked } errors { code } } }',
        {"id": str(publisher_kit.key.pk)},
    ).payload("revokeSigningKey")
    assert revoked == {"signingKey": {"revoked": True}, "errors": []}
    payload = _upload(dev, publisher_kit, plugin, "1.1.0")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("KEY_REVOKED", "signingKeyId")]
    seen = (
        gql_for(world.analyst_a)
        .execute(
            "query($id: ID!) { pluginVersion(id: $id) { signatureVerified } }", {"id": str(published.pk)}
        )
        .data
    )
    assert seen == {"pluginVersion": {"signatureVerified": False}}


def test_review_flow_and_permissions(dev, publisher_kit, plugin, world, gql_for):
    version_id = _upload(dev, publisher_kit, plugin)["pluginVersion"]["id"]
    submit = "mutation($id: ID!) { submitPluginVersionForReview(id: $id) { pluginVersion { status } errors { code } } }"
    approve = 'mutation($id: ID!) { approvePluginVersion(id: $id, notes: "ok") { pluginVersion { status reviewer } errors { code } } }'
    # Others cannot see the draft at all.
    assert gql_for(world.admin_a).execute(submit, {"id": version_id}).payload("submitPluginVersionForReview")[
        "errors"
    ] == [{"code": "NOT_FOUND"}]
    assert dev.execute(submit, {"id": version_id}).payload("submitPluginVersionForReview")[
        "pluginVersion"
    ] == {"status": "IN_REVIEW"}
    # The publisher cannot approve its own version; staff can.
    assert dev.execute(approve, {"id": version_id}).payload("approvePluginVersion")["errors"] == [
        {"code": "PERMISSION_DENIED"}
    ]
    approved = gql_for(world.staff).execute(approve, {"id": version_id}).payload("approvePluginVersion")
    assert approved == {"pluginVersion": {"status": "PUBLISHED", "reviewer": "sam-staff"}, "errors": []}
    # Now everyone signed in sees it.
    listed = (
        gql_for(world.viewer_a)
        .execute(
            '{ plugins(search: "ioc") { totalCount edges { node { slug latestVersion { version } } } } }'
        )
        .data
    )
    assert listed["plugins"]["edges"] == [
        {"node": {"slug": "ioc-extractor", "latestVersion": {"version": "1.0.0"}}}
    ]


def test_bundle_altered_in_storage_fails_approval(publisher_kit, plugin, world):
    from argus_plugins.core.errors import DomainError

    version = publisher_kit.upload(plugin, "1.0.0")
    services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)
    with default_storage.open(version.bundle.name, "wb") as handle:
        handle.write(make_bundle(manifest_for(plugin.slug, "1.0.0"), {"main.py": "print('evil')"}))
    with pytest.raises(DomainError) as caught:
        services.approve_version(actor=world.staff, version_id=version.pk)
    assert caught.value.code.value == "INTEGRITY_MISMATCH"
    assert PluginVersion.objects.get(pk=version.pk).status == "IN_REVIEW"


def test_drafts_are_invisible_to_other_users(publisher_kit, plugin, world, gql_for):
    version = publisher_kit.upload(plugin, "1.0.0")
    response = gql_for(world.admin_a).execute(
        "query($id: ID!) { pluginVersion(id: $id) { id } }", {"id": str(version.pk)}
    )
    assert response.body["data"] == {"pluginVersion": None}
    assert response.errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert gql_for(world.admin_a).execute("{ plugins { totalCount } }").data == {"plugins": {"totalCount": 0}}


def test_only_reviewers_approve_or_reject_not_every_staff_account(world, gql_for, publisher_kit):
    """An operator's token (staff without the Reviewers role) cannot publish code: approving is reviewing."""
    from argus_plugins.tenancy.models import User
    from registry import services as registry_services
    from registry.models import PluginVersion

    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="gated", name="Gated"
    )
    version = publisher_kit.upload(plugin, "1.0.0")
    registry_services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)
    operator = User.objects.create(username="otto-operator", is_staff=True)
    for mutation in (
        'approvePluginVersion(id: $id, notes: "ok")',
        'rejectPluginVersion(id: $id, notes: "no")',
    ):
        field = mutation.split("(")[0]
        refused = (
            gql_for(operator)
            .execute(
                f"mutation($id: ID!) {{ {mutation} {{ pluginVersion {{ status }} errors {{ code message }} }} }}",
                {"id": str(version.pk)},
            )
            .payload(field)
        )
        assert [e["code"] for e in refused["errors"]] == ["PERMISSION_DENIED"]
        assert "reviewers" in refused["errors"][0]["message"]
    assert PluginVersion.objects.get(pk=version.pk).status == "IN_REVIEW"
    approved = (
        gql_for(world.staff)
        .execute(
            'mutation($id: ID!) { approvePluginVersion(id: $id, notes: "ok") { pluginVersion { status } errors { code } } }',
            {"id": str(version.pk)},
        )
        .payload("approvePluginVersion")
    )
    assert approved == {"pluginVersion": {"status": "PUBLISHED"}, "errors": []}
