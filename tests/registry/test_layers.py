"""Freezing locked dependencies into a layer, for real: pip download from the package index (PyPI here),
every file re-hashed, wheels installed with `installer`, a reproducible archive, a valid CycloneDX SBOM."""

from __future__ import annotations

import hashlib
import tarfile

import pytest

from registry.layers import LayerBuildFailed, LayerErrorCode, freeze_layer
from registry.lockfile import parse_lock_file
from registry.sbom import build_sbom, sbom_diff

INDEX = "https://pypi.org/simple"
SIX = "six==1.17.0 --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\n"
SIX_OLD = "six==1.16.0 --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254\n"


@pytest.fixture(scope="module")
def six_layer(tmp_path_factory):
    archive = tmp_path_factory.mktemp("layer") / "six.tar.gz"
    return freeze_layer(parse_lock_file(SIX.encode()), index_url=INDEX, archive=archive)


def test_a_layer_holds_the_installed_wheels_and_is_reproducible(six_layer, tmp_path):
    assert six_layer.size == six_layer.archive.stat().st_size
    assert six_layer.sha256 == hashlib.sha256(six_layer.archive.read_bytes()).hexdigest()
    with tarfile.open(six_layer.archive) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert "site-packages/six.py" in members
    assert "site-packages/six-1.17.0.dist-info/RECORD" in members
    assert not any(name.endswith(".pyc") for name in members)
    assert {(m.mtime, m.uid, m.gid) for m in members.values()} == {(0, 0, 0)}
    (package,) = six_layer.packages
    assert (package.name, package.version, package.license) == ("six", "1.17.0", "MIT License")
    # Built again into a file of another name: the same bytes (no name or time in the gzip header).
    again = freeze_layer(parse_lock_file(SIX.encode()), index_url=INDEX, archive=tmp_path / "again.tar.gz")
    assert again.sha256 == six_layer.sha256
    assert again.archive.read_bytes() == six_layer.archive.read_bytes()


def test_a_wrong_hash_is_refused_naming_the_package(tmp_path):
    wrong = SIX.replace("4721f391", "0000f391")
    with pytest.raises(LayerBuildFailed) as refused:
        freeze_layer(parse_lock_file(wrong.encode()), index_url=INDEX, archive=tmp_path / "layer.tar.gz")
    assert refused.value.code == LayerErrorCode.DEPENDENCY_HASH_MISMATCH and refused.value.package == "six"


def test_a_version_that_does_not_exist_is_unavailable(tmp_path):
    missing = SIX.replace("1.17.0", "99.0.0")
    with pytest.raises(LayerBuildFailed) as refused:
        freeze_layer(parse_lock_file(missing.encode()), index_url=INDEX, archive=tmp_path / "layer.tar.gz")
    assert refused.value.code == LayerErrorCode.DEPENDENCY_UNAVAILABLE and refused.value.package == "six"


def test_the_sbom_is_cyclonedx_and_diffs_against_the_previous_version(six_layer, tmp_path):
    sbom = build_sbom("yara-scan", "1.1.0", six_layer.packages, layer_sha256=six_layer.sha256)
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    (component,) = sbom["components"]
    assert component["purl"].startswith("pkg:pypi/six@1.17.0")
    assert component["hashes"] == [{"alg": "SHA-256", "content": six_layer.packages[0].sha256}]
    assert sbom == build_sbom("yara-scan", "1.1.0", six_layer.packages, layer_sha256=six_layer.sha256)
    old = freeze_layer(parse_lock_file(SIX_OLD.encode()), index_url=INDEX, archive=tmp_path / "old.tar.gz")
    previous = build_sbom("yara-scan", "1.0.0", old.packages, layer_sha256=old.sha256)
    assert sbom_diff(previous, sbom) == {"added": [], "removed": [], "changed": ["six: 1.16.0 -> 1.17.0"]}
    assert sbom_diff(None, sbom)["added"] == ["six==1.17.0"]
