"""keygen → pack → sign → publish with the real CLI (subprocesses) against a running server."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from argus_plugins.tenancy import services as tenancy_services
from argus_plugins.tenancy.models import User
from installations.catalog import sync_catalog
from installations.models import Capability
from registry import services
from registry.models import PluginVersion
from tests.support.publishing import make_reviewer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugins" / "ioc-extractor"


def cli(*args: str, input: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "argus_cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        input=input,
    )


@pytest.mark.django_db(transaction=True)
def test_keygen_pack_sign_publish_against_a_live_server(live_server, tmp_path):
    sync_catalog(Capability)  # a data migration's rows; an earlier transactional test may have flushed them
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
    assert "Nothing is published yet" in published.stdout  # a DRAFT is not announced as published
    version = PluginVersion.objects.get(plugin=plugin)
    version_id, status = str(version.pk), version.status
    assert version_id in published.stdout
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
    assert again.returncode == 3  # refused by the server
    assert "VERSION_EXISTS" in again.stderr
    assert PluginVersion.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_publisher_session_by_slugs_from_login_to_listing(live_server, tmp_path, isolated_cli_config):
    """login (URL without its slash) -> publisher create -> key register -> publish --submit (creates the
    plugin) -> status -> approved -> versions -> deprecate -> listing edit, all by slug."""
    sync_catalog(Capability)  # transactional tests flush the rows the data migrations loaded
    developer = User.objects.create(username="slug-dev")
    _, token = tenancy_services.create_api_token(actor=developer, name="cli")
    staff = make_reviewer(User.objects.create(username="slug-reviewer", is_staff=True))

    logged_in = cli("login", f"{live_server.url}/graphql", "--token-stdin", input=token + "\n")
    assert logged_in.returncode == 0, logged_in.stderr
    assert isolated_cli_config.stat().st_mode & 0o777 == 0o600
    assert json.loads(isolated_cli_config.read_text())["url"] == f"{live_server.url}/graphql/"

    created = cli("--json", "publisher", "create", "slug-labs", "--name", "Slug Labs")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["slug"] == "slug-labs"
    keys = tmp_path / "keys"
    assert cli("keygen", "--out", keys).returncode == 0
    registered = cli("--json", "key", "register", keys / "public.pem")
    assert registered.returncode == 0, registered.stderr

    source = tmp_path / "ioc-extractor"
    shutil.copytree(EXAMPLE, source)
    published = cli("--json", "publish", source, "--key", keys / "private.pem", "--submit", "--no-progress")
    assert published.returncode == 0, published.stderr
    answer = json.loads(published.stdout)
    assert (answer["plugin"], answer["pluginCreated"], answer["status"]) == ("ioc-extractor", True, "IN_REVIEW")
    version = PluginVersion.objects.get(pk=answer["id"])
    assert version.plugin.publisher.slug == "slug-labs" and version.signing_key.publisher.slug == "slug-labs"

    human = cli("status", "ioc-extractor")
    assert human.returncode == 0 and "IN_REVIEW" in human.stdout
    services.approve_version(actor=staff, version_id=version.pk, notes="fine")
    listed = json.loads(cli("--json", "versions", "ioc-extractor").stdout)["versions"]
    assert [(v["version"], v["status"]) for v in listed] == [("1.0.0", "PUBLISHED")]

    listing_file = tmp_path / "listing.json"
    listing_file.write_text(json.dumps({"tagline": "Finds IOCs", "categories": ["text"]}))
    edited = cli("--json", "listing", "edit", "ioc-extractor", "--from", listing_file)
    assert edited.returncode == 0, edited.stderr
    assert json.loads(edited.stdout)["tagline"] == "Finds IOCs"

    deprecated = cli("deprecate", "ioc-extractor", "1.0.0", "--reason", "superseded")
    assert deprecated.returncode == 0, deprecated.stderr
    version.refresh_from_db()
    assert version.status == "DEPRECATED" and version.deprecation_reason == "superseded"

    unknown = cli("status", "no-such-plugin")
    assert unknown.returncode == 3 and "NOT_FOUND" in unknown.stderr


@pytest.mark.django_db(transaction=True)
def test_bad_token_and_usage_errors_have_their_own_exit_codes(live_server, tmp_path):
    refused = cli("login", f"{live_server.url}/", "--token-stdin", input="not-a-token\n")
    assert refused.returncode == 3 and "UNAUTHENTICATED" in refused.stderr
    not_logged_in = cli("status", "anything")
    assert not_logged_in.returncode == 2 and "argus-plugin login" in not_logged_in.stderr
