"""keygen → pack → sign → publish with the real CLI (subprocesses) against a running server."""

import subprocess
import sys
from pathlib import Path

import pytest

from argus_plugins.tenancy import services as tenancy_services
from argus_plugins.tenancy.models import User
from registry import services
from registry.models import PluginVersion

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugins" / "ioc-extractor"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "argus_cli", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_keygen_pack_sign_publish_against_a_live_server(live_server, tmp_path):
    from installations.catalog import sync_catalog
    from installations.models import Capability

    sync_catalog(Capability)  # an earlier transactional test in this process may have flushed the catalog
    developer = User.objects.create(username="cli-dev")
    _, token = tenancy_services.create_api_token(actor=developer, name="cli")
    publisher = services.create_publisher(actor=developer, name="CLI Labs", slug="cli-labs")
    plugin = services.create_plugin(
        actor=developer, publisher_id=publisher.pk, slug="ioc-extractor", name="IOC"
    )

    keys = tmp_path / "keys"
    assert cli("keygen", "--out", keys).returncode == 0
    assert (keys / "private.pem").stat().st_mode & 0o777 == 0o600
    key = services.register_signing_key(
        actor=developer, publisher_id=publisher.pk, public_key_pem=(keys / "public.pem").read_text()
    )
    bundle = tmp_path / "ioc.tar.gz"
    packed = cli("pack", EXAMPLE, "-o", bundle)
    assert packed.returncode == 0, packed.stderr
    assert cli("sign", bundle, "--key", keys / "private.pem").returncode == 0

    published = cli(
        "publish",
        bundle,
        "--url",
        f"{live_server.url}/graphql/",
        "--token",
        token,
        "--plugin-id",
        plugin.pk,
        "--signing-key-id",
        key.pk,
        "--changelog",
        "First release",
    )
    assert published.returncode == 0, published.stderr
    version_id, status = published.stdout.split()
    version = PluginVersion.objects.get(pk=version_id)
    assert (status, version.status, version.version) == ("DRAFT", "DRAFT", "1.0.0")
    assert version.signing_key == key and version.changelog == "First release"
    assert version.code_sha256 in packed.stdout  # pack printed the hash the server recorded

    again = cli(
        "publish",
        bundle,
        "--url",
        f"{live_server.url}/graphql/",
        "--token",
        token,
        "--plugin-id",
        plugin.pk,
        "--signing-key-id",
        key.pk,
    )
    assert again.returncode == 1
    assert "VERSION_EXISTS" in again.stderr
    assert PluginVersion.objects.count() == 1
