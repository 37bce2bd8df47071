"""FIPS posture: refuse to start on a non-FIPS OpenSSL when required; approved algorithms only."""

import ast
import os
import subprocess
import sys
from pathlib import Path

from django.test import Client

from argus_plugins.core.fips import fips_enabled, openssl_version

ROOT = Path(__file__).resolve().parents[2]

# Modules on a security path: signing, hashing, tokens, the ledger, webhook signatures.
SECURITY_PATHS = [
    "argus_plugins/canonical.py", "argus_plugins/tenancy/tokens.py", "registry/signing.py", "registry/bundles.py",
    "registry/services.py", "ledger", "execution/worker.py", "execution/services.py", "triggers", "argus_cli",
]
FORBIDDEN = {"md5", "sha1", "MD5", "SHA1", "sha224", "blake2b", "blake2s", "DSA", "PKCS1v15"}


def test_fips_mode_on_a_non_fips_openssl_refuses_to_start():
    assert not fips_enabled()  # this machine's OpenSSL has no FIPS provider configured
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "FIPS_MODE": "1"},
    )
    assert result.returncode != 0
    assert "FIPS_MODE is on" in result.stderr and "not running in FIPS mode" in result.stderr


def test_without_fips_mode_the_platform_starts():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "FIPS_MODE": "0"},
    )
    assert result.returncode == 0, result.stderr


def test_healthz_and_admin_show_the_crypto_posture(world):
    body = Client().get("/healthz").json()
    assert body["crypto"] == {"openssl": openssl_version(), "fips_mode_required": False, "fips_enabled": False}
    client = Client()
    client.force_login(world.staff)
    world.staff.is_superuser = True
    world.staff.save()
    page = client.get("/admin/").content.decode()
    assert openssl_version() in page and "FIPS mode off" in page


def _names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add(node.name.split(".")[-1])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in {"md5", "sha1"}:
            names.add(node.value)
    return names


def test_no_unapproved_algorithm_on_a_security_path():
    offenders = {}
    for entry in SECURITY_PATHS:
        target = ROOT / entry
        files = [target] if target.is_file() else sorted(target.rglob("*.py")) if target.exists() else []
        for path in files:
            bad = _names_used(path) & FORBIDDEN
            if bad:
                offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}
