"""Key policy and RSASSA-PSS verification, checked against independent vectors and the openssl CLI.

Wycheproof verdicts: "valid" must verify and "invalid" must not. "acceptable" (legal but discouraged
encodings) is treated as MUST-NOT-VERIFY: a signature registry has no reason to be lenient. The 4096-bit
file currently has no acceptable cases; the rule is still encoded so a vector update cannot loosen it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from argus_plugins.canonical import canonical_sha256, sha256_hex
from registry.signing import (
    KeyRejected,
    KeyRejectionCode,
    PublicKeyInfo,
    SignatureErrorCode,
    SignatureInvalid,
    decode_signature_b64,
    key_fingerprint,
    load_public_key,
    sign_statement,
    signing_statement,
    statement_for_bundle,
    verify_pss,
    verify_signature,
)

REPO = Path(__file__).resolve().parents[2]
TESTDATA = Path(os.environ.get("ARGUS_TESTDATA_DIR", REPO / "tests" / "data"))
WYCHEPROOF = TESTDATA / "wycheproof"
HASHES = {
    "SHA-1": hashes.SHA1,
    "SHA-224": hashes.SHA224,
    "SHA-256": hashes.SHA256,
    "SHA-384": hashes.SHA384,
    "SHA-512": hashes.SHA512,
}


def _load_vectors(name: str) -> list[tuple[dict, dict]]:
    data = json.loads((WYCHEPROOF / name).read_text())
    cases = [(group, test) for group in data["testGroups"] for test in group["tests"]]
    assert len(cases) == data["numberOfTests"]
    return cases


PSS_4096 = _load_vectors("rsa_pss_4096_sha256_mgf1_32_test.json")
PSS_MISC = _load_vectors("rsa_pss_misc_test.json")


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def openssl_key(tmp_path_factory) -> dict:
    """One RSA-4096 key for the whole session, made by the openssl CLI (an independent implementation).

    Session scope: RSA-4096 generation takes seconds. Under xdist each worker makes its own, in its own
    temporary directory, so workers never share files.
    """
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is required for the interoperability tests")
    directory = tmp_path_factory.mktemp("openssl-key")
    private = directory / "private.pem"
    public = directory / "public.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096", "-out", str(private)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)],
        check=True,
        capture_output=True,
    )
    return {
        "dir": directory,
        "private_path": private,
        "public_path": public,
        "private_key": serialization.load_pem_private_key(private.read_bytes(), password=None),
        "public_pem": public.read_text(),
    }


def _der_len(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(value)) + value


def _der_int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


RSA_ENCRYPTION_ALG = _tlv(0x30, bytes.fromhex("06092a864886f70d010101") + b"\x05\x00")
RSA_PSS_ALG = _tlv(0x30, bytes.fromhex("06092a864886f70d01010a"))
# rsaEncryption without its NULL parameters: cryptography loads it, but it is a second DER for one key.
RSA_ALG_WITHOUT_NULL = _tlv(0x30, bytes.fromhex("06092a864886f70d010101"))


def _spki_pem(n: int, e: int, algorithm: bytes = RSA_ENCRYPTION_ALG) -> str:
    """A SubjectPublicKeyInfo with arbitrary numbers (cryptography refuses to build some of them)."""
    rsa_key = _tlv(0x30, _der_int(n) + _der_int(e))
    der = _tlv(0x30, algorithm + _tlv(0x03, b"\x00" + rsa_key))
    return _pem(der)


def _pem(der: bytes, label: str = "PUBLIC KEY") -> str:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _public_pem(key) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


# ------------------------------------------------------------------------------ wycheproof vectors


@pytest.mark.parametrize(
    ("group", "case"), PSS_4096, ids=[f"tc{t['tcId']}-{t['result']}" for _, t in PSS_4096]
)
def test_wycheproof_rsa_pss_4096(group, case):
    assert (group["keySize"], group["sha"], group["mgfSha"], group["sLen"]) == (
        4096,
        "SHA-256",
        "SHA-256",
        32,
    )
    info = load_public_key(group["publicKeyPem"])  # the vector key satisfies the production policy
    assert info.der == bytes.fromhex(group["publicKeyDer"])
    message, signature = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    if case["result"] == "valid":
        verify_pss(info.public_key, message, signature)
        verify_signature(group["publicKeyPem"], message, base64.b64encode(signature).decode())
    else:  # "invalid" and (by decision, see module docstring) "acceptable"
        with pytest.raises(SignatureInvalid):
            verify_pss(info.public_key, message, signature)
        with pytest.raises(SignatureInvalid):
            verify_signature(info, message, base64.b64encode(signature).decode())


def test_wycheproof_4096_file_has_all_108_cases():
    assert len(PSS_4096) == 108
    assert {t["result"] for _, t in PSS_4096} <= {"valid", "invalid", "acceptable"}


@pytest.mark.parametrize(
    ("group", "case"),
    PSS_MISC,
    ids=[f"tc{t['tcId']}-{g['sha']}-mgf{g['mgfSha']}-s{g['sLen']}" for g, t in PSS_MISC],
)
def test_wycheproof_misc_2048_primitive_only(group, case):
    """2048-bit keys: the primitive agrees with every verdict; the policy still refuses the key."""
    with pytest.raises(KeyRejected) as rejected:
        load_public_key(group["publicKeyPem"])
    assert rejected.value.code is KeyRejectionCode.KEY_TOO_SMALL

    key = serialization.load_pem_public_key(group["publicKeyPem"].encode())
    message, signature = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    params = {
        "algorithm": HASHES[group["sha"]](),
        "mgf_algorithm": HASHES[group["mgfSha"]](),
        "salt_length": group["sLen"],
    }
    if case["result"] == "valid":
        verify_pss(key, message, signature, **params)
    else:
        with pytest.raises(SignatureInvalid):
            verify_pss(key, message, signature, **params)

    # With the platform's fixed parameters only SHA-256 / MGF1-SHA-256 / salt 32 may verify: in
    # particular a valid signature with another salt length (0, 20, 28, 48, 64) must not.
    ours = (group["sha"], group["mgfSha"], group["sLen"]) == ("SHA-256", "SHA-256", 32)
    if case["result"] == "valid" and ours:
        verify_pss(key, message, signature)
    else:
        with pytest.raises(SignatureInvalid):
            verify_pss(key, message, signature)


# ------------------------------------------------------------------------------- openssl interop


def _openssl_sign(key: dict, statement: bytes, saltlen: str, tmp_path: Path) -> str:
    message = tmp_path / "statement.json"
    message.write_bytes(statement)
    signature = tmp_path / "statement.sig"
    subprocess.run(
        [
            "openssl", "dgst", "-sha256",
            "-sigopt", "rsa_padding_mode:pss",
            "-sigopt", f"rsa_pss_saltlen:{saltlen}",
            "-sigopt", "rsa_mgf1_md:sha256",
            "-sign", str(key["private_path"]),
            "-out", str(signature),
            str(message),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return base64.b64encode(signature.read_bytes()).decode()


STATEMENT = signing_statement("acme-hasher", "1.2.0", sha256_hex(b"bundle"), canonical_sha256({"name": "x"}))


def test_openssl_dgst_signature_is_accepted(openssl_key, tmp_path):
    signature = _openssl_sign(openssl_key, STATEMENT, "32", tmp_path)
    verify_signature(openssl_key["public_pem"], STATEMENT, signature)


def test_openssl_pkeyutl_signature_over_the_digest_is_accepted(openssl_key, tmp_path):
    digest = tmp_path / "digest.bin"
    digest.write_bytes(hashlib.sha256(STATEMENT).digest())
    out = tmp_path / "sig.bin"
    subprocess.run(
        [
            "openssl", "pkeyutl", "-sign",
            "-inkey", str(openssl_key["private_path"]),
            "-in", str(digest), "-out", str(out),
            "-pkeyopt", "digest:sha256",
            "-pkeyopt", "rsa_padding_mode:pss",
            "-pkeyopt", "rsa_pss_saltlen:32",
            "-pkeyopt", "rsa_mgf1_md:sha256",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    verify_signature(openssl_key["public_pem"], STATEMENT, base64.b64encode(out.read_bytes()).decode())


@pytest.mark.parametrize("saltlen", ["max", "20", "0", "64"])
def test_openssl_signature_with_another_salt_length_is_refused(openssl_key, tmp_path, saltlen):
    signature = _openssl_sign(openssl_key, STATEMENT, saltlen, tmp_path)
    with pytest.raises(SignatureInvalid) as info:
        verify_signature(openssl_key["public_pem"], STATEMENT, signature)
    assert info.value.code is SignatureErrorCode.SIGNATURE_MISMATCH


def test_our_signature_verifies_with_openssl(openssl_key, tmp_path):
    signature = sign_statement(openssl_key["private_key"], STATEMENT)
    (tmp_path / "statement.json").write_bytes(STATEMENT)
    (tmp_path / "statement.sig").write_bytes(base64.b64decode(signature))
    result = subprocess.run(
        [
            "openssl", "dgst", "-sha256",
            "-sigopt", "rsa_padding_mode:pss",
            "-sigopt", "rsa_pss_saltlen:32",
            "-sigopt", "rsa_mgf1_md:sha256",
            "-verify", str(openssl_key["public_path"]),
            "-signature", str(tmp_path / "statement.sig"),
            str(tmp_path / "statement.json"),
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Verified OK" in result.stdout


def test_pkcs1v15_signature_is_refused(openssl_key):
    raw = openssl_key["private_key"].sign(STATEMENT, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(SignatureInvalid):
        verify_signature(openssl_key["public_pem"], STATEMENT, base64.b64encode(raw).decode())


# ------------------------------------------------------------------------------ tamper detection

BUNDLE = b"\x1f\x8b\x08" + secrets.token_bytes(2000)
MANIFEST = {"name": "acme-hasher", "version": "1.2.0", "entrypoint": "main.py"}


@pytest.fixture(scope="module")
def signed(openssl_key) -> dict:
    statement = statement_for_bundle("acme-hasher", "1.2.0", BUNDLE, MANIFEST)
    return {"statement": statement, "signature": sign_statement(openssl_key["private_key"], statement)}


def test_signed_statement_verifies(openssl_key, signed):
    verify_signature(openssl_key["public_pem"], signed["statement"], signed["signature"])


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.mark.parametrize(
    "tampered_statement",
    [
        pytest.param(lambda: statement_for_bundle("acme-hasher", "1.2.0", _flip(BUNDLE, 0), MANIFEST), id="bundle-first-byte"),
        pytest.param(lambda: statement_for_bundle("acme-hasher", "1.2.0", _flip(BUNDLE, 1000), MANIFEST), id="bundle-middle"),
        pytest.param(lambda: statement_for_bundle("acme-hasher", "1.2.0", BUNDLE + b"\0", MANIFEST), id="bundle-appended"),
        pytest.param(lambda: statement_for_bundle("acme-hasher", "1.2.1", BUNDLE, MANIFEST), id="version"),
        pytest.param(lambda: statement_for_bundle("acme-hasher", "1.2.0+1", BUNDLE, MANIFEST), id="version-build"),
        pytest.param(lambda: statement_for_bundle("acme-hashes", "1.2.0", BUNDLE, MANIFEST), id="slug"),
        pytest.param(lambda: statement_for_bundle("evil-hasher", "1.2.0", BUNDLE, MANIFEST), id="other-slug"),
        pytest.param(
            lambda: statement_for_bundle("acme-hasher", "1.2.0", BUNDLE, {**MANIFEST, "entrypoint": "evil.py"}),
            id="manifest",
        ),
    ],
)  # fmt: skip
def test_any_change_to_the_statement_is_refused(openssl_key, signed, tampered_statement):
    with pytest.raises(SignatureInvalid) as info:
        verify_signature(openssl_key["public_pem"], tampered_statement(), signed["signature"])
    assert info.value.code is SignatureErrorCode.SIGNATURE_MISMATCH


@pytest.mark.parametrize("index", [0, 1, 255, 511])
def test_flipped_signature_byte_is_refused(openssl_key, signed, index):
    raw = _flip(base64.b64decode(signed["signature"]), index)
    with pytest.raises(SignatureInvalid):
        verify_signature(openssl_key["public_pem"], signed["statement"], base64.b64encode(raw).decode())


def test_signature_from_another_key_is_refused(openssl_key, signed, wycheproof_4096_pem):
    with pytest.raises(SignatureInvalid):
        verify_signature(wycheproof_4096_pem, signed["statement"], signed["signature"])


def test_pss_is_randomised_and_both_signatures_verify(openssl_key, signed):
    again = sign_statement(openssl_key["private_key"], signed["statement"])
    assert again != signed["signature"]
    verify_signature(openssl_key["public_pem"], signed["statement"], again)


# --------------------------------------------------------------------------- signature encoding


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda s: s[:-2], id="missing-padding"),
        pytest.param(lambda s: s.rstrip("="), id="stripped-padding"),
        pytest.param(lambda s: s + "\n", id="trailing-newline"),
        pytest.param(lambda s: " " + s, id="leading-space"),
        pytest.param(lambda s: s[:64] + "\n" + s[64:], id="wrapped"),
        pytest.param(lambda s: s.replace("+", "-").replace("/", "_") if ("+" in s or "/" in s) else "-" + s[1:], id="urlsafe"),
        pytest.param(lambda s: s[:10] + "*" + s[11:], id="bad-char"),
        pytest.param(lambda s: s[:10] + "\u00e9" + s[11:], id="non-ascii"),
        pytest.param(lambda s: "", id="empty"),
        pytest.param(lambda s: s * 10, id="too-long"),
    ],
)  # fmt: skip
def test_signature_must_be_strict_base64(openssl_key, signed, mangle):
    with pytest.raises(SignatureInvalid) as info:
        verify_signature(openssl_key["public_pem"], signed["statement"], mangle(signed["signature"]))
    assert info.value.code is SignatureErrorCode.MALFORMED_SIGNATURE


def test_non_canonical_base64_padding_bits_are_refused():
    assert decode_signature_b64("QQ==") == b"A"
    with pytest.raises(SignatureInvalid) as info:
        decode_signature_b64("QR==")  # decodes to b"A" too, with stray bits
    assert info.value.code is SignatureErrorCode.MALFORMED_SIGNATURE


@pytest.mark.parametrize("length", [511, 513, 1])
def test_signature_of_the_wrong_length_is_a_mismatch(openssl_key, signed, length):
    raw = (base64.b64decode(signed["signature"]) * 2)[:length]
    with pytest.raises(SignatureInvalid) as info:
        verify_signature(openssl_key["public_pem"], signed["statement"], base64.b64encode(raw).decode())
    assert info.value.code is SignatureErrorCode.SIGNATURE_MISMATCH


# ------------------------------------------------------------------------------------ statement


def test_statement_is_canonical_json_of_the_four_fields():
    code, manifest = "a" * 64, "b" * 64
    assert signing_statement("acme-hasher", "1.0.0", code, manifest) == (
        b'{"code_sha256":"' + code.encode() + b'","manifest_sha256":"' + manifest.encode()
        + b'","plugin":"acme-hasher","version":"1.0.0"}'
    )  # fmt: skip


def test_statement_for_bundle_hashes_bytes_and_canonical_manifest():
    a = statement_for_bundle("p", "1.0.0", b"bytes", {"b": 1, "a": 2})
    b = statement_for_bundle("p", "1.0.0", b"bytes", {"a": 2, "b": 1})
    assert a == b == signing_statement("p", "1.0.0", sha256_hex(b"bytes"), canonical_sha256({"a": 2, "b": 1}))


@pytest.mark.parametrize(
    "args",
    [
        ("", "1.0.0", "a" * 64, "b" * 64),
        ("p", "", "a" * 64, "b" * 64),
        ("p", "1.0.0", "A" * 64, "b" * 64),
        ("p", "1.0.0", "a" * 63, "b" * 64),
        ("p", "1.0.0", "a" * 64, "g" * 64),
        (None, "1.0.0", "a" * 64, "b" * 64),
    ],
)
def test_statement_rejects_malformed_parts(args):
    with pytest.raises(ValueError):
        signing_statement(*args)


# ----------------------------------------------------------------------------------- key policy


@pytest.fixture(scope="session")
def wycheproof_4096_pem() -> str:
    return PSS_4096[0][0]["publicKeyPem"]


@pytest.fixture(scope="session")
def wycheproof_2048_pem() -> str:
    return PSS_MISC[0][0]["publicKeyPem"]


def test_fingerprint_is_sha256_of_der_spki(wycheproof_4096_pem):
    der = bytes.fromhex(PSS_4096[0][0]["publicKeyDer"])
    info = load_public_key(wycheproof_4096_pem)
    assert info.fingerprint == hashlib.sha256(der).hexdigest() == key_fingerprint(wycheproof_4096_pem)
    assert (info.key_size, info.public_exponent) == (4096, 65537)
    assert load_public_key(info.pem).fingerprint == info.fingerprint


def test_fingerprint_ignores_pem_layout(wycheproof_4096_pem):
    der = bytes.fromhex(PSS_4096[0][0]["publicKeyDer"])
    body = base64.b64encode(der).decode()
    variants = [
        wycheproof_4096_pem.replace("\n", "\r\n"),
        "\n\n" + wycheproof_4096_pem + "\n\n",
        f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----",
        wycheproof_4096_pem.encode(),
    ]
    fingerprints = {load_public_key(v).fingerprint for v in variants}
    assert fingerprints == {hashlib.sha256(der).hexdigest()}


def test_min_bits_is_a_parameter(wycheproof_2048_pem):
    assert load_public_key(wycheproof_2048_pem, min_bits=2048).key_size == 2048
    with pytest.raises(KeyRejected) as info:
        load_public_key(wycheproof_2048_pem, min_bits=3072)
    assert info.value.code is KeyRejectionCode.KEY_TOO_SMALL
    assert "2048" in info.value.message and "3072" in info.value.message


def test_policy_is_reapplied_at_verification(wycheproof_2048_pem):
    lax = load_public_key(wycheproof_2048_pem, min_bits=2048)
    with pytest.raises(KeyRejected) as info:
        verify_signature(lax, b"statement", base64.b64encode(b"\0" * 256).decode())
    assert info.value.code is KeyRejectionCode.KEY_TOO_SMALL


def _private_pems(key) -> dict[str, str]:
    def dump(fmt, enc=None):
        return key.private_bytes(
            serialization.Encoding.PEM, fmt, enc or serialization.NoEncryption()
        ).decode()

    return {
        "pkcs8": dump(serialization.PrivateFormat.PKCS8),
        "traditional": dump(serialization.PrivateFormat.TraditionalOpenSSL),
        "encrypted": dump(serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")),
    }


@pytest.fixture(scope="module")
def small_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("flavour", ["pkcs8", "traditional", "encrypted"])
def test_private_key_is_refused_with_a_specific_code(small_rsa_key, flavour):
    with pytest.raises(KeyRejected) as info:
        load_public_key(_private_pems(small_rsa_key)[flavour])
    assert info.value.code is KeyRejectionCode.PRIVATE_KEY_SUBMITTED
    assert "PRIVATE" in info.value.message


def test_private_key_pasted_with_the_public_key_is_refused(openssl_key):
    pem = openssl_key["public_pem"] + openssl_key["private_path"].read_text()
    with pytest.raises(KeyRejected) as info:
        load_public_key(pem)
    assert info.value.code is KeyRejectionCode.PRIVATE_KEY_SUBMITTED


def test_openssh_private_key_is_refused():
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    with pytest.raises(KeyRejected) as info:
        load_public_key(pem)
    assert info.value.code is KeyRejectionCode.PRIVATE_KEY_SUBMITTED


def _self_signed_certificate_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("make_pem", "code"),
    [
        pytest.param(lambda k: _public_pem(ec.generate_private_key(ec.SECP384R1()).public_key()), KeyRejectionCode.UNSUPPORTED_KEY_TYPE, id="ec-p384"),
        pytest.param(lambda k: _public_pem(ed25519.Ed25519PrivateKey.generate().public_key()), KeyRejectionCode.UNSUPPORTED_KEY_TYPE, id="ed25519"),
        pytest.param(lambda k: _spki_pem(k.n, k.e, RSA_PSS_ALG), KeyRejectionCode.UNSUPPORTED_KEY_TYPE, id="rsassa-pss-spki"),
        pytest.param(lambda k: _spki_pem(k.n, 3), KeyRejectionCode.WEAK_EXPONENT, id="e=3"),
        pytest.param(lambda k: _spki_pem(k.n, 1), KeyRejectionCode.WEAK_EXPONENT, id="e=1"),
        pytest.param(lambda k: _spki_pem(k.n, 65536), KeyRejectionCode.WEAK_EXPONENT, id="e-even"),
        pytest.param(lambda k: _spki_pem(k.n, 65535), KeyRejectionCode.WEAK_EXPONENT, id="e-below-65537"),
        pytest.param(lambda k: _spki_pem(k.n, 2**256 + 1), KeyRejectionCode.WEAK_EXPONENT, id="e>=2^256"),
        pytest.param(lambda k: _spki_pem(k.n + 1, 65537), KeyRejectionCode.INVALID_KEY, id="even-modulus"),
        pytest.param(lambda k: _spki_pem((1 << 16400) | 1, 65537), KeyRejectionCode.KEY_TOO_LARGE, id="16400-bit"),
        pytest.param(lambda k: _public_pem(rsa.generate_private_key(65537, 1024).public_key()), KeyRejectionCode.KEY_TOO_SMALL, id="rsa-1024"),  # noqa: S505
        pytest.param(lambda k: _spki_pem(k.n >> 1 | 1, 65537), KeyRejectionCode.KEY_TOO_SMALL, id="rsa-4095-bit"),
        pytest.param(lambda k: _spki_pem(k.n, 65537) * 2, KeyRejectionCode.MULTIPLE_PEM_BLOCKS, id="two-blocks"),
        pytest.param(lambda k: _pem(_spki_der(k) + b"\x00"), KeyRejectionCode.INVALID_PEM, id="der-trailing-byte"),
        pytest.param(lambda k: _pem(_non_minimal_der(k)), KeyRejectionCode.INVALID_PEM, id="der-non-minimal-length"),
        pytest.param(lambda k: _spki_pem(k.n, k.e, RSA_ALG_WITHOUT_NULL), KeyRejectionCode.INVALID_PEM, id="der-absent-null-params"),
        pytest.param(lambda k: _spki_pem(k.n, k.e, _tlv(0x30, bytes.fromhex("06092a864886f70d0101ff0500"))), KeyRejectionCode.INVALID_PEM, id="unknown-algorithm-oid"),
        pytest.param(lambda k: _pem(dsa.generate_private_key(2048).public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)), KeyRejectionCode.UNSUPPORTED_KEY_TYPE, id="dsa"),
        pytest.param(lambda k: _pem(_spki_der(k), "RSA PUBLIC KEY"), KeyRejectionCode.INVALID_PEM, id="pkcs1-label"),
        pytest.param(lambda k: _self_signed_certificate_pem(), KeyRejectionCode.INVALID_PEM, id="certificate"),
        pytest.param(lambda k: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ user@host", KeyRejectionCode.INVALID_PEM, id="openssh-public"),
        pytest.param(lambda k: "not a key", KeyRejectionCode.INVALID_PEM, id="garbage"),
        pytest.param(lambda k: "", KeyRejectionCode.INVALID_PEM, id="empty"),
        pytest.param(lambda k: secrets.token_bytes(300), KeyRejectionCode.INVALID_PEM, id="random-bytes"),
        pytest.param(lambda k: "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n", KeyRejectionCode.INVALID_PEM, id="bad-base64"),
        pytest.param(lambda k: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", KeyRejectionCode.INVALID_PEM, id="not-der"),
        pytest.param(lambda k: "-----BEGIN PUBLIC KEY-----\n", KeyRejectionCode.INVALID_PEM, id="no-end"),
        pytest.param(lambda k: _spki_pem(k.n, 65537).replace("END PUBLIC", "END PRIVATE").replace("PRIVATE", "OTHER"), KeyRejectionCode.INVALID_PEM, id="mismatched-end"),
        pytest.param(lambda k: "comment\n" + _spki_pem(k.n, 65537), KeyRejectionCode.INVALID_PEM, id="text-before"),
        pytest.param(lambda k: _spki_pem(k.n, 65537) + "trailer", KeyRejectionCode.INVALID_PEM, id="text-after"),
        pytest.param(lambda k: "A" * 20000, KeyRejectionCode.INVALID_PEM, id="huge"),
        pytest.param(lambda k: 42, KeyRejectionCode.INVALID_PEM, id="not-text"),
    ],
)  # fmt: skip
def test_key_policy_rejections(openssl_key, make_pem, code):
    numbers = openssl_key["private_key"].public_key().public_numbers()
    with pytest.raises(KeyRejected) as info:
        load_public_key(make_pem(numbers))
    assert info.value.code is code, info.value.message
    assert info.value.message


def _spki_der(numbers) -> bytes:
    return base64.b64decode("".join(_spki_pem(numbers.n, numbers.e).splitlines()[1:-1]))


def _non_minimal_der(numbers) -> bytes:
    der = _spki_der(numbers)
    assert der[1] == 0x82  # SEQUENCE, two length bytes: re-encode with a needless third one
    return der[:1] + b"\x83\x00" + der[2:]


def test_large_odd_exponent_below_2_256_is_allowed(openssl_key):
    numbers = openssl_key["private_key"].public_key().public_numbers()
    info = load_public_key(_spki_pem(numbers.n, 2**255 + 1))
    assert info.public_exponent == 2**255 + 1


def test_key_rejected_carries_code_and_message(wycheproof_2048_pem):
    with pytest.raises(KeyRejected) as info:
        load_public_key(wycheproof_2048_pem)
    assert isinstance(info.value, ValueError)
    assert str(info.value) == info.value.message
    assert info.value.code == "KEY_TOO_SMALL"  # StrEnum: usable directly as a GraphQL enum value


def test_sign_statement_refuses_keys_the_server_would_refuse(small_rsa_key):
    with pytest.raises(KeyRejected) as info:
        sign_statement(small_rsa_key, b"statement")
    assert info.value.code is KeyRejectionCode.KEY_TOO_SMALL
    with pytest.raises(KeyRejected) as info:
        sign_statement(ec.generate_private_key(ec.SECP256R1()), b"statement")  # type: ignore[arg-type]
    assert info.value.code is KeyRejectionCode.UNSUPPORTED_KEY_TYPE


def test_public_key_info_is_a_dataclass(wycheproof_4096_pem):
    info = load_public_key(wycheproof_4096_pem)
    assert isinstance(info, PublicKeyInfo)
    assert info.pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_signature_shorter_than_the_modulus_is_refused_even_if_numerically_valid(small_rsa_key):
    """RFC 8017 8.1.2 step 1. OpenSSL accepts a signature missing its leading zero byte (it is the same
    integer); we require exactly k octets so one signature has exactly one encoding."""
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    for attempt in range(5000):  # about 1 in 256 signatures starts with 0x00
        message = b"statement %d" % attempt
        signature = small_rsa_key.sign(message, pss, hashes.SHA256())
        if signature[0] == 0:
            break
    else:  # pragma: no cover - probability about 3e-9
        pytest.fail("no signature with a leading zero byte found")
    public_key = small_rsa_key.public_key()
    verify_pss(public_key, message, signature)
    public_key.verify(signature[1:], message, pss, hashes.SHA256())  # the library alone would accept
    with pytest.raises(SignatureInvalid):
        verify_pss(public_key, message, signature[1:])
