"""A CycloneDX 1.6 JSON SBOM of a version's frozen dependencies, for reviewers and for download.

Built with cyclonedx-python-lib (the CycloneDX project's own library), validated against the
specification's JSON schema before it is stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from license_expression import ExpressionError, get_spdx_licensing
from packageurl import PackageURL

from .layers import ResolvedPackage

_SPDX = get_spdx_licensing()


def _licenses(text: str) -> list[LicenseExpression | DisjunctiveLicense]:
    if not text:
        return []
    try:
        expression = _SPDX.parse(text, validate=True, strict=True)
    except ExpressionError:
        return [DisjunctiveLicense(name=text[:200])]
    return [LicenseExpression(str(expression))] if expression is not None else []


def build_sbom(
    plugin: str,
    version: str,
    packages: Sequence[ResolvedPackage],
    *,
    layer_sha256: str,
    purl_type: str = "pypi",
) -> dict[str, Any]:
    """The SBOM as a JSON object: the plugin version as the described component, each package a library."""
    bom = Bom()
    bom.metadata.component = Component(
        name=plugin,
        version=version,
        type=ComponentType.APPLICATION,
        bom_ref=f"{plugin}@{version}",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=layer_sha256)],
        description="Argus plugin version; the hash is its frozen dependency layer's",
    )
    for package in packages:
        component = Component(
            name=package.name,
            version=package.version,
            type=ComponentType.LIBRARY,
            bom_ref=f"pkg:{purl_type}/{package.name}@{package.version}",
            purl=PackageURL(type=purl_type, name=package.name, version=package.version,
                            qualifiers={"file_name": package.filename}),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=package.sha256)],
            licenses=_licenses(package.license),
            description=package.summary or None,
        )  # fmt: skip
        bom.components.add(component)
        bom.register_dependency(bom.metadata.component, [component])
    text = JsonV1Dot6(bom).output_as_string(indent=None)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:  # a bug of ours, never the publisher's: fail loudly
        raise ValueError(f"generated SBOM is not valid CycloneDX 1.6: {error}")
    document = json.loads(text)
    # The serial number and timestamp make every rendering unique; the stored SBOM should be a function
    # of the layer alone, so that the reviewer's "what changed" compares like with like.
    document.pop("serialNumber", None)
    document.get("metadata", {}).pop("timestamp", None)
    return document


def sbom_packages(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> {version, sha256, licenses} of an SBOM this module built (for diffs between versions)."""
    packages = {}
    for component in document.get("components", []):
        licenses = [entry.get("expression") or entry.get("license", {}).get("name", "") for entry in
                    component.get("licenses", [])]  # fmt: skip
        hashes = {h["alg"]: h["content"] for h in component.get("hashes", [])}
        packages[component["name"]] = {
            "version": component.get("version", ""),
            "sha256": hashes.get("SHA-256", ""),
            "licenses": licenses,
        }
    return packages


def sbom_diff(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, list[str]]:
    """What a reviewer needs to see: packages added, removed and changed (version or hash) since before."""
    old = sbom_packages(previous) if previous else {}
    new = sbom_packages(current)
    return {
        "added": sorted(f"{name}=={new[name]['version']}" for name in new.keys() - old.keys()),
        "removed": sorted(f"{name}=={old[name]['version']}" for name in old.keys() - new.keys()),
        "changed": sorted(
            f"{name}: {old[name]['version']} -> {new[name]['version']}"
            for name in new.keys() & old.keys()
            if old[name] != new[name]
        ),
    }
