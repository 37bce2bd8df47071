"""npm lock files for the node runtime: the same rule as pip's (pinned, integrity-hashed, no install
scripts), and a layer frozen for real from the npm registry with the integrity checked."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from registry.layers import LayerBuildFailed, LayerErrorCode
from registry.lockfile import LockErrorCode, LockFileInvalid
from registry.npm_layers import freeze_npm_layer, tarball_url
from registry.npm_lock import npm_lock_text, parse_npm_lock

EXAMPLE_LOCK = (
    Path(__file__).resolve().parents[2] / "examples" / "plugins" / "indicator-check-js" / "package-lock.json"
)
SHA512 = "sha512-" + "A" * 86 + "=="


def lock(packages: dict) -> bytes:
    return json.dumps({"lockfileVersion": 3, "packages": {"": {"name": "x"}, **packages}}).encode()


def test_the_example_lock_parses_and_normalises_stably():
    (validator,) = parse_npm_lock(EXAMPLE_LOCK.read_bytes())
    assert (validator.name, validator.version, validator.path) == (
        "validator",
        "13.15.35",
        "node_modules/validator",
    )
    text = npm_lock_text([validator])
    assert parse_npm_lock(text.encode()) == [validator]


@pytest.mark.parametrize(
    ("entry", "code", "says"),
    [
        ({"version": "^1.2.0", "integrity": SHA512}, LockErrorCode.DEPENDENCY_UNPINNED, "not exact"),
        ({"version": "1.2.0"}, LockErrorCode.DEPENDENCY_UNHASHED, "no sha512 integrity"),
        ({"version": "1.2.0", "integrity": "sha1-abc="}, LockErrorCode.DEPENDENCY_UNHASHED, "no sha512"),
        (
            {"version": "1.2.0", "integrity": SHA512, "hasInstallScript": True},
            LockErrorCode.LOCK_FILE_INVALID,
            "install scripts",
        ),
        ({"version": "1.2.0", "integrity": SHA512, "link": True}, LockErrorCode.LOCK_FILE_INVALID, "links"),
    ],
)
def test_refusals_name_the_package(entry, code, says):
    with pytest.raises(LockFileInvalid) as refused:
        parse_npm_lock(lock({"node_modules/left-pad": entry}))
    (problem,) = refused.value.problems
    assert problem.code == code and "node_modules/left-pad" in problem.message and says in problem.message


def test_dev_dependencies_are_left_out_and_version_1_locks_refused():
    assert parse_npm_lock(lock({"node_modules/jest": {"version": "29.0.0", "dev": True}})) == []
    with pytest.raises(LockFileInvalid, match="lockfileVersion 2 or 3"):
        parse_npm_lock(json.dumps({"lockfileVersion": 1, "dependencies": {}}).encode())


def test_scoped_tarball_urls():
    assert (
        tarball_url("https://r.example/", "@types/node", "18.0.0")
        == "https://r.example/@types/node/-/node-18.0.0.tgz"
    )


def test_a_layer_from_the_npm_registry_with_its_integrity_checked(tmp_path):
    requirements = parse_npm_lock(EXAMPLE_LOCK.read_bytes())
    registry_url = "https://registry.npmjs.org"
    layer = freeze_npm_layer(requirements, registry_url=registry_url, archive=tmp_path / "a.tar.gz")
    with tarfile.open(layer.archive) as archive:
        names = set(archive.getnames())
    assert "node_modules/validator/package.json" in names and "node_modules/validator/index.js" in names
    assert layer.packages[0].license == "MIT"
    again = freeze_npm_layer(requirements, registry_url=registry_url, archive=tmp_path / "b.tar.gz")
    assert again.sha256 == layer.sha256
    tampered = [r.__class__(r.name, r.version, (SHA512,), 0, path=r.path) for r in requirements]
    with pytest.raises(LayerBuildFailed) as refused:
        freeze_npm_layer(tampered, registry_url=registry_url, archive=tmp_path / "c.tar.gz")
    assert (
        refused.value.code == LayerErrorCode.DEPENDENCY_HASH_MISMATCH and refused.value.package == "validator"
    )
