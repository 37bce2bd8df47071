"""The publisher CLI end to end, offline: keygen -> pack -> sign -> verify, error paths, and publish
against a throwaway local HTTP server that records the multipart request."""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from argus_cli.main import app
from argus_cli.publish import CREATE_PLUGIN_VERSION_MUTATION
from registry.bundles import inspect_bundle
from registry.signing import signing_statement, verify_signature

REPO = Path(__file__).resolve().parents[2]
MANIFEST = {
    "name": "acme-hasher",
    "version": "1.0.0",
    "runtime": "python3.11",
    "entrypoint": "src/main.py",
    "capabilities": ["evidence:read"],
    "resources": {"memory_mb": 256, "cpus": 0.5, "timeout_seconds": 60, "pids": 32},
}
PASSPHRASE_ENV = "ARGUS_TEST_KEY_PASSPHRASE"


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    result = CliRunner().invoke(app, [str(a) for a in args], env=env, input=input)
    # Expected failures must never surface as a traceback.
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> Path:
    """One plain RSA-4096 key pair per session (generation is slow), made by the CLI itself."""
    out = tmp_path_factory.mktemp("keys") / "plain"
    result = run("keygen", "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def encrypted_keys(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("keys") / "encrypted"
    result = run(
        "keygen", "--out", out, "--passphrase-env", PASSPHRASE_ENV, env={PASSPHRASE_ENV: "s3cret pass"}
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def source(tmp_path) -> Path:
    root = tmp_path / "plugin"
    (root / "src").mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps(MANIFEST, indent=2))
    (root / "src" / "main.py").write_text("print('hello')\n")
    return root


@pytest.fixture(scope="module")
def signed_bundle(tmp_path_factory, keys) -> Path:
    """Packed and signed once per module: loading an RSA-4096 private key validates it (~1 s).
    Tests must not modify the bundle or its .sig; they write other signatures with -o."""
    root = tmp_path_factory.mktemp("signed")
    (root / "plugin" / "src").mkdir(parents=True)
    (root / "plugin" / "manifest.json").write_text(json.dumps(MANIFEST, indent=2))
    (root / "plugin" / "src" / "main.py").write_text("print('hello')\n")
    bundle = root / "out" / "acme.tar.gz"
    bundle.parent.mkdir()
    assert run("pack", root / "plugin", "-o", bundle).exit_code == 0
    result = run("sign", bundle, "--key", keys / "private.pem")
    assert result.exit_code == 0, result.output
    return bundle


# ------------------------------------------------------------------------------------ round trip


def test_keygen_pack_sign_verify_round_trip(tmp_path, source, keys):
    fingerprint = (keys / "public.pem").read_bytes()
    assert b"BEGIN PUBLIC KEY" in fingerprint
    assert (keys / "private.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert stat.S_IMODE((keys / "private.pem").stat().st_mode) == 0o600

    bundle = tmp_path / "acme.tar.gz"
    packed = run("pack", source, "-o", bundle)
    assert packed.exit_code == 0, packed.output
    info = inspect_bundle(bundle.read_bytes())
    assert packed.stdout.strip() == info.code_sha256

    signed = run("sign", bundle, "--key", keys / "private.pem")
    assert signed.exit_code == 0, signed.output
    signature = signed.stdout.strip()
    assert (tmp_path / "acme.tar.gz.sig").read_text() == signature + "\n"

    # The signature is over exactly the statement the server will rebuild.
    statement = signing_statement("acme-hasher", "1.0.0", info.code_sha256, info.manifest_sha256)
    verify_signature((keys / "public.pem").read_text(), statement, signature)

    verified = run(
        "verify", bundle, "--signature", tmp_path / "acme.tar.gz.sig", "--public-key", keys / "public.pem"
    )
    assert verified.exit_code == 0, verified.output
    assert len(verified.stdout.strip()) == 64  # the key fingerprint


def test_pack_is_reproducible_and_defaults_to_name_version(tmp_path, source, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run("pack", source)
    assert first.exit_code == 0, first.output
    output = tmp_path / "acme-hasher-1.0.0.tar.gz"
    before = output.read_bytes()
    os.utime(source / "src" / "main.py", (0, 1_234_567_890))
    second = run("pack", source)
    assert second.stdout == first.stdout
    assert output.read_bytes() == before


def test_sign_with_plugin_slug_override(tmp_path, signed_bundle, keys):
    result = run(
        "sign",
        signed_bundle,
        "--key",
        keys / "private.pem",
        "--plugin",
        "acme-hasher-pro",
        "-o",
        tmp_path / "pro.sig",
    )
    assert result.exit_code == 0, result.output
    public = keys / "public.pem"
    ok = run(
        "verify",
        signed_bundle,
        "--signature",
        tmp_path / "pro.sig",
        "--public-key",
        public,
        "--plugin",
        "acme-hasher-pro",
    )
    assert ok.exit_code == 0, ok.output
    wrong = run("verify", signed_bundle, "--signature", tmp_path / "pro.sig", "--public-key", public)
    assert wrong.exit_code == 1
    assert "SIGNATURE_MISMATCH" in wrong.stderr


def test_encrypted_key_needs_its_passphrase(tmp_path, signed_bundle, encrypted_keys):
    private = encrypted_keys / "private.pem"
    assert private.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600

    missing = run("sign", signed_bundle, "--key", private)
    assert missing.exit_code == 1 and "encrypted" in missing.stderr

    wrong = run(
        "sign",
        signed_bundle,
        "--key",
        private,
        "--passphrase-env",
        PASSPHRASE_ENV,
        env={PASSPHRASE_ENV: "nope"},
    )
    assert wrong.exit_code == 1 and "passphrase" in wrong.stderr

    unset = run("sign", signed_bundle, "--key", private, "--passphrase-env", "ARGUS_UNSET_VARIABLE_XYZ")
    assert unset.exit_code == 1 and "ARGUS_UNSET_VARIABLE_XYZ" in unset.stderr

    sig = tmp_path / "enc.sig"
    ok = run("sign", signed_bundle, "--key", private, "-o", sig, "--passphrase-env", PASSPHRASE_ENV,
             env={PASSPHRASE_ENV: "s3cret pass"})  # fmt: skip
    assert ok.exit_code == 0, ok.output
    verified = run("verify", signed_bundle, "--signature", sig, "--public-key", encrypted_keys / "public.pem")
    assert verified.exit_code == 0, verified.output
    sig.unlink()
    prompted = run(
        "sign", signed_bundle, "--key", private, "-o", sig, "--passphrase-prompt", input="s3cret pass\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert (
        run(
            "verify", signed_bundle, "--signature", sig, "--public-key", encrypted_keys / "public.pem"
        ).exit_code
        == 0
    )


# ------------------------------------------------------------------------------------ failures


def test_keygen_refuses_to_overwrite(keys):
    before = (keys / "private.pem").read_bytes()
    result = run("keygen", "--out", keys)
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.stderr
    assert (keys / "private.pem").read_bytes() == before


def test_keygen_passphrase_options_are_exclusive(tmp_path):
    result = run("keygen", "--out", tmp_path / "k", "--passphrase-env", "X", "--passphrase-prompt")
    assert result.exit_code == 1 and "either" in result.stderr
    assert not (tmp_path / "k").exists()


def test_verify_detects_a_tampered_bundle(tmp_path, signed_bundle, keys):
    data = bytearray(signed_bundle.read_bytes())
    tampered = tmp_path / "tampered.tar.gz"
    # Re-pack different content so the archive stays valid and only the signature check can object.
    src = tmp_path / "other"
    (src / "src").mkdir(parents=True)
    (src / "manifest.json").write_text(json.dumps(MANIFEST))
    (src / "src" / "main.py").write_text("print('evil')\n")
    assert run("pack", src, "-o", tampered).exit_code == 0
    assert tampered.read_bytes() != bytes(data)
    result = run(
        "verify", tampered, "--signature", f"{signed_bundle}.sig", "--public-key", keys / "public.pem"
    )
    assert result.exit_code == 1
    assert "signature invalid [SIGNATURE_MISMATCH]" in result.stderr

    data[-5] ^= 0xFF  # corrupts the gzip trailer: refused before any signature check
    (tmp_path / "corrupt.tar.gz").write_bytes(bytes(data))
    corrupt = run(
        "verify",
        tmp_path / "corrupt.tar.gz",
        "--signature",
        f"{signed_bundle}.sig",
        "--public-key",
        keys / "public.pem",
    )
    assert corrupt.exit_code == 1 and "bundle rejected" in corrupt.stderr


def test_verify_with_a_malformed_signature_file(tmp_path, signed_bundle, keys):
    (tmp_path / "bad.sig").write_text("not base64!")
    result = run(
        "verify", signed_bundle, "--signature", tmp_path / "bad.sig", "--public-key", keys / "public.pem"
    )
    assert result.exit_code == 1 and "MALFORMED_SIGNATURE" in result.stderr


def test_verify_refuses_a_weak_public_key(tmp_path, signed_bundle):
    weak = subprocess.run(
        [sys.executable, "-c", "from cryptography.hazmat.primitives.asymmetric import rsa;"
         "from cryptography.hazmat.primitives import serialization as s;"
         "k=rsa.generate_private_key(65537, 2048).public_key();"
         "print(k.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode())"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (tmp_path / "weak.pem").write_text(weak)
    result = run(
        "verify", signed_bundle, "--signature", f"{signed_bundle}.sig", "--public-key", tmp_path / "weak.pem"
    )
    assert result.exit_code == 1 and "KEY_TOO_SMALL" in result.stderr


def test_sign_with_the_public_key_by_mistake(signed_bundle, keys):
    result = run("sign", signed_bundle, "--key", keys / "public.pem")
    assert result.exit_code == 1 and "public key" in result.stderr


def test_pack_refuses_symlinks_and_bad_manifests(tmp_path, source):
    (source / "src" / "link.py").symlink_to(source / "src" / "main.py")
    result = run("pack", source, "-o", tmp_path / "x.tar.gz")
    assert result.exit_code == 1 and "LINK_NOT_ALLOWED" in result.stderr
    (source / "src" / "link.py").unlink()

    (source / "manifest.json").write_text(json.dumps({**MANIFEST, "capabilities": ["Bad"], "runtime": 3}))
    result = run("pack", source, "-o", tmp_path / "x.tar.gz")
    assert result.exit_code == 1
    assert "capabilities.0" in result.stderr and "runtime" in result.stderr
    assert not (tmp_path / "x.tar.gz").exists()


def test_pack_refuses_output_inside_the_source(source):
    result = run("pack", source, "-o", source / "bundle.tar.gz")
    assert result.exit_code == 1 and "must not be inside" in result.stderr


def test_missing_files_are_reported_cleanly(tmp_path, keys):
    result = run("sign", tmp_path / "nope.tar.gz", "--key", keys / "private.pem")
    assert result.exit_code == 1 and "nope.tar.gz" in result.stderr


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "argus_cli", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in ("keygen", "pack", "sign", "verify", "publish"):
        assert command in result.stdout


# --------------------------------------------------------------------------------------- publish


class _Recorder(BaseHTTPRequestHandler):
    response: dict = {}
    requests: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append({"headers": dict(self.headers), "body": body})
        payload = json.dumps(type(self).response).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Handler", (_Recorder,), {"requests": [], "response": {}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/graphql/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _multipart_parts(request: dict) -> list:
    content_type = request["headers"]["Content-Type"]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request["body"]
    )
    return list(message.iter_parts())


def test_publish_sends_a_graphql_multipart_request(server, signed_bundle):
    handler, url = server
    handler.response = {
        "data": {
            "createPluginVersion": {
                "pluginVersion": {"id": "UGx1Z2luVmVyc2lvbjox", "status": "PENDING_REVIEW"},
                "errors": [],
            }
        }
    }
    result = run(
        "--json", "publish", signed_bundle, "--url", url, "--plugin-id", "plugin-42", "--signing-key-id", "key-7",
        "--changelog", "First release", env={"ARGUS_TOKEN": "tok-123", "ARGUS_PLUGIN_CONFIG": "/nonexistent/c.json"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["id"], answer["status"], answer["version"]) == ("UGx1Z2luVmVyc2lvbjox", "PENDING_REVIEW", "1.0.0")

    (request,) = handler.requests
    assert request["headers"]["Authorization"] == "Bearer tok-123"
    parts = _multipart_parts(request)
    # Spec order: operations, map, then the files.
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["operations", "map", "0"]
    operations = json.loads(parts[0].get_content())
    assert operations["query"] == CREATE_PLUGIN_VERSION_MUTATION
    assert operations["variables"] == {
        "pluginId": "plugin-42",
        "version": "1.0.0",
        "changelog": "First release",
        "bundle": None,
        "signature": Path(f"{signed_bundle}.sig").read_text().strip(),
        "signingKeyId": "key-7",
    }
    assert json.loads(parts[1].get_content()) == {"0": ["variables.bundle"]}
    assert parts[2].get_filename() == signed_bundle.name
    assert parts[2].get_content_type() == "application/gzip"
    assert parts[2].get_payload(decode=True) == signed_bundle.read_bytes()


def test_publish_reports_mutation_errors(server, signed_bundle):
    handler, url = server
    handler.response = {
        "data": {"createPluginVersion": {"pluginVersion": None, "errors": [
            {"code": "SIGNATURE_INVALID", "field": "signature", "message": "Signature does not verify."},
        ]}}
    }  # fmt: skip
    result = run(
        "publish", signed_bundle, "--url", url, "--token", "t", "--plugin-id", "p", "--signing-key-id", "k"
    )
    assert result.exit_code == 3  # refused by the server
    assert "[SIGNATURE_INVALID] signature: Signature does not verify." in result.stderr


def test_publish_reports_top_level_graphql_errors(server, signed_bundle):
    handler, url = server
    handler.response = {"errors": [{"message": "Authentication required."}], "data": None}
    result = run(
        "publish", signed_bundle, "--url", url, "--token", "t", "--plugin-id", "p", "--signing-key-id", "k"
    )
    assert result.exit_code == 3 and "Authentication required." in result.stderr


def test_publish_unreachable_server_is_a_clean_error(signed_bundle):
    result = run(
        "publish", signed_bundle, "--url", "http://127.0.0.1:9/graphql/", "--token", "secret-token",
        "--plugin-id", "p", "--signing-key-id", "k", "--timeout", "5",
    )  # fmt: skip
    assert result.exit_code == 4 and "could not reach" in result.stderr  # a network error
    assert "secret-token" not in result.output
