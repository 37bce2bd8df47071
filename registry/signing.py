"""Publisher signing keys and RSASSA-PSS signatures over plugin versions.

Policy (enforced by :func:`load_public_key`, and again by :func:`verify_signature` so a tightened policy
also applies to keys registered earlier):

* one PEM block labelled ``PUBLIC KEY`` holding a DER SubjectPublicKeyInfo with the ``rsaEncryption``
  algorithm -- no PKCS#1 ``RSA PUBLIC KEY``, certificates, OpenSSH keys or RSASSA-PSS-restricted SPKIs;
* modulus of at least ``min_bits`` (4096 by default; a FIPS deployment may pass 3072) and at most
  ``max_bits`` (16384, OpenSSL's own ceiling for public-key operations);
* public exponent odd with 65537 <= e < 2^256 (FIPS 186-5 / SP 800-56B bounds). That refuses e=1 (no
  signature security at all) and e=3 (small-exponent signature-forgery history, e.g. Bleichenbacher'06),
  while allowing the rare large exponents the standards permit;
* the DER must be canonical (re-encoding the parsed key gives back the same bytes), so the fingerprint,
  SHA-256 of the DER SPKI, identifies the key unambiguously.

``cryptography`` parses the DER (its Rust ASN.1 reader is strict: minimal lengths, no trailing bytes);
this module keeps only what is policy: the PEM framing (cryptography's PEM loader takes the first block
of any text and reads PKCS#1 blocks too), the key type, size and exponent bounds, canonical DER (it
accepts rsaEncryption without NULL parameters, a second spelling of the same key) and refusing
RSASSA-PSS-restricted SPKIs (which it loads as plain RSA keys, dropping the restriction).

Signatures are RSASSA-PSS (RFC 8017) with SHA-256, MGF1-SHA-256 and a salt of EXACTLY 32 bytes, carried
as strict standard base64 (no whitespace, padding required, canonical trailing bits). The signed
statement is the RFC 8785 canonical JSON of plugin slug, version, bundle digest and manifest digest.

This module must stay free of Django imports: the publisher CLI uses it too.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from argus_plugins.canonical import canonical_json, canonical_sha256, is_sha256_hex, sha256_hex

DEFAULT_MIN_BITS = 4096
DEFAULT_MAX_BITS = 16384
SALT_LENGTH = 32
PUBLIC_EXPONENT = 65537  # what keys are generated with (argus_cli.keys)
MIN_PUBLIC_EXPONENT = PUBLIC_EXPONENT
MAX_PUBLIC_EXPONENT_EXCLUSIVE = 2**256
# Far above any legitimate SPKI PEM (a 16384-bit key is ~2.8 KB); caps parsing work on hostile input.
MAX_PEM_CHARS = 16 * 1024

# The DER of the OID id-RSASSA-PSS (1.2.840.113549.1.1.10), which cryptography loads as a plain RSA key.
_RSASSA_PSS_OID = bytes.fromhex("06092a864886f70d01010a")
_KEY_KINDS: tuple[tuple[type, str], ...] = (
    (ec.EllipticCurvePublicKey, "EC"),
    (ed25519.Ed25519PublicKey, "Ed25519"),
    (ed448.Ed448PublicKey, "Ed448"),
    (x25519.X25519PublicKey, "X25519"),
    (x448.X448PublicKey, "X448"),
    (dsa.DSAPublicKey, "DSA"),
)

_PEM_BOUNDARY = re.compile(r"-----(BEGIN|END) ([A-Z0-9 ]*)-----")
_BASE64_BODY = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class KeyRejectionCode(enum.StrEnum):
    INVALID_PEM = "INVALID_PEM"
    MULTIPLE_PEM_BLOCKS = "MULTIPLE_PEM_BLOCKS"
    PRIVATE_KEY_SUBMITTED = "PRIVATE_KEY_SUBMITTED"
    UNSUPPORTED_KEY_TYPE = "UNSUPPORTED_KEY_TYPE"
    KEY_TOO_SMALL = "KEY_TOO_SMALL"
    KEY_TOO_LARGE = "KEY_TOO_LARGE"
    WEAK_EXPONENT = "WEAK_EXPONENT"
    INVALID_KEY = "INVALID_KEY"


class SignatureErrorCode(enum.StrEnum):
    MALFORMED_SIGNATURE = "MALFORMED_SIGNATURE"
    SIGNATURE_MISMATCH = "SIGNATURE_MISMATCH"


class KeyRejected(ValueError):
    """The submitted public key does not satisfy the key policy."""

    def __init__(self, code: KeyRejectionCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"KeyRejected({self.code.value}, {self.message!r})"


class SignatureInvalid(ValueError):
    """The signature is malformed or does not verify. Messages never say which statement part differs."""

    def __init__(self, code: SignatureErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"SignatureInvalid({self.code.value}, {self.message!r})"


@dataclass(frozen=True)
class PublicKeyInfo:
    """A policy-checked publisher key."""

    public_key: rsa.RSAPublicKey
    der: bytes
    fingerprint: str  # SHA-256 hex of ``der``
    key_size: int
    public_exponent: int

    @property
    def pem(self) -> str:
        """Normalised PEM (what should be stored and shown back to the publisher)."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


# --------------------------------------------------------------------------------------------- keys


def load_public_key(
    pem: str | bytes, *, min_bits: int = DEFAULT_MIN_BITS, max_bits: int = DEFAULT_MAX_BITS
) -> PublicKeyInfo:
    """Parse a PEM SubjectPublicKeyInfo and enforce the key policy; raise KeyRejected otherwise."""
    return _check_der(_pem_to_der(pem), min_bits=min_bits, max_bits=max_bits)


def _check_der(der: bytes, *, min_bits: int, max_bits: int) -> PublicKeyInfo:
    public_key = _load_der(der, min_bits=min_bits)
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KeyRejected(
            KeyRejectionCode.UNSUPPORTED_KEY_TYPE,
            f"{_key_kind(public_key)} keys are not accepted; only RSA (rsaEncryption) keys of at least "
            f"{min_bits} bits.",
        )
    reencoded = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if reencoded != der:
        if _RSASSA_PSS_OID in der[:24]:  # within the AlgorithmIdentifier, which follows two short headers
            # cryptography loads an RSASSA-PSS-restricted SPKI (OID 1.2.840.113549.1.1.10) as a plain RSA
            # key and drops its restriction; we refuse it instead of silently widening what it may sign.
            raise KeyRejected(
                KeyRejectionCode.UNSUPPORTED_KEY_TYPE,
                "Only rsaEncryption SubjectPublicKeyInfo keys are accepted (no RSASSA-PSS-restricted keys).",
            )
        # Non-canonical DER (e.g. absent instead of NULL algorithm parameters, which cryptography accepts)
        # would let one key have several fingerprints.
        raise KeyRejected(KeyRejectionCode.INVALID_PEM, "The key is not canonically DER-encoded.")
    numbers = public_key.public_numbers()
    n, e = numbers.n, numbers.e
    bits = n.bit_length()
    if n % 2 == 0:
        raise KeyRejected(KeyRejectionCode.INVALID_KEY, "RSA modulus must be a positive odd number.")
    if bits < min_bits:
        raise KeyRejected(
            KeyRejectionCode.KEY_TOO_SMALL, f"RSA key is {bits} bits; at least {min_bits} bits are required."
        )
    if bits > max_bits:
        raise KeyRejected(
            KeyRejectionCode.KEY_TOO_LARGE, f"RSA key is {bits} bits; at most {max_bits} bits are supported."
        )
    check_public_exponent(e)
    return PublicKeyInfo(
        public_key=public_key, der=der, fingerprint=sha256_hex(der), key_size=bits, public_exponent=e
    )


def check_public_exponent(e: int) -> None:
    """The exponent policy (module docstring): odd, 65537 <= e < 2^256. Raises KeyRejected(WEAK_EXPONENT)."""
    if e % 2 == 0 or e < MIN_PUBLIC_EXPONENT or e >= MAX_PUBLIC_EXPONENT_EXCLUSIVE:
        raise KeyRejected(
            KeyRejectionCode.WEAK_EXPONENT,
            f"RSA public exponent {_short_int(e)} is not allowed; use an odd exponent with "
            f"{MIN_PUBLIC_EXPONENT} <= e < 2^256 ({PUBLIC_EXPONENT} recommended).",
        )


def _load_der(der: bytes, *, min_bits: int) -> PublicKeyTypes:
    """cryptography's strict DER reader (definite, minimal lengths; no trailing bytes) -> a key object."""
    try:
        return serialization.load_der_public_key(der)
    except UnsupportedAlgorithm:
        raise KeyRejected(
            KeyRejectionCode.UNSUPPORTED_KEY_TYPE,
            f"This key algorithm is not accepted; only RSA (rsaEncryption) keys of at least {min_bits} bits.",
        ) from None
    except ValueError as exc:
        # OpenSSL refuses to build an RSA key with e < 3 or an even e before our policy sees the numbers;
        # its message is the only sign. Should the wording change, the key is still refused (INVALID_PEM),
        # only less precisely -- and test_key_policy_rejections says so.
        if str(exc).startswith(("e must be odd", "e must be >= 3")):
            raise KeyRejected(
                KeyRejectionCode.WEAK_EXPONENT,
                f"RSA public exponent is not allowed; use an odd exponent with {MIN_PUBLIC_EXPONENT} <= e < "
                f"2^256 ({PUBLIC_EXPONENT} recommended).",
            ) from None
        raise KeyRejected(
            KeyRejectionCode.INVALID_PEM, "The PEM block does not contain a valid DER public key."
        ) from None


def _key_kind(public_key: PublicKeyTypes) -> str:
    for kind, names in _KEY_KINDS:
        if isinstance(public_key, kind):
            return names
    return type(public_key).__name__  # e.g. DH: deprecated in cryptography, so not named above


def key_fingerprint(pem: str | bytes, *, min_bits: int = DEFAULT_MIN_BITS) -> str:
    """SHA-256 hex of the DER SubjectPublicKeyInfo of a policy-conforming key."""
    return load_public_key(pem, min_bits=min_bits).fingerprint


def _pem_to_der(pem: str | bytes) -> bytes:
    """The framing policy, then the DER inside: cryptography's PEM loader takes the first block of any
    text and also reads PKCS#1 ``RSA PUBLIC KEY`` blocks, so exactly-one-block, the label and "nothing
    around it" are checked here (and the base64 strictly decoded, since the fingerprint is over the DER)."""
    if isinstance(pem, (bytes, bytearray)):
        try:
            text = bytes(pem).decode("ascii")
        except UnicodeDecodeError:
            raise KeyRejected(KeyRejectionCode.INVALID_PEM, "PEM must be ASCII text.") from None
    elif isinstance(pem, str):
        text = pem
    else:
        raise KeyRejected(KeyRejectionCode.INVALID_PEM, "The public key must be PEM text.")
    if len(text) > MAX_PEM_CHARS:
        raise KeyRejected(KeyRejectionCode.INVALID_PEM, f"PEM is larger than {MAX_PEM_CHARS} characters.")
    if not text.isascii():
        raise KeyRejected(KeyRejectionCode.INVALID_PEM, "PEM must be ASCII text.")

    boundaries = list(_PEM_BOUNDARY.finditer(text))
    begins = [m for m in boundaries if m.group(1) == "BEGIN"]
    # Check for private keys first: that mistake matters most and deserves the specific message even
    # when it is pasted together with the public key.
    if any("PRIVATE KEY" in m.group(2) for m in boundaries):
        raise KeyRejected(
            KeyRejectionCode.PRIVATE_KEY_SUBMITTED,
            "This is a PRIVATE key. Never share it; submit the public key (BEGIN PUBLIC KEY) instead, "
            "and consider this private key compromised if it was sent anywhere.",
        )
    if not begins:
        if text.lstrip().startswith(("ssh-rsa", "ssh-ed25519", "ecdsa-")):
            msg = (
                "OpenSSH public keys are not accepted; export a PEM SubjectPublicKeyInfo (BEGIN PUBLIC KEY)."
            )
        else:
            msg = "No PEM block found; expected '-----BEGIN PUBLIC KEY-----'."
        raise KeyRejected(KeyRejectionCode.INVALID_PEM, msg)
    if len(begins) > 1:
        raise KeyRejected(
            KeyRejectionCode.MULTIPLE_PEM_BLOCKS,
            f"Found {len(begins)} PEM blocks; submit exactly one public key.",
        )
    if (
        len(boundaries) != 2
        or boundaries[1].group(1) != "END"
        or boundaries[1].group(2) != begins[0].group(2)
    ):
        raise KeyRejected(KeyRejectionCode.INVALID_PEM, "PEM BEGIN/END lines do not match.")
    label = begins[0].group(2)
    if label != "PUBLIC KEY":
        hint = {
            "RSA PUBLIC KEY": " (PKCS#1; convert with 'openssl rsa -RSAPublicKey_in -pubout')",
            "CERTIFICATE": " (extract it with 'openssl x509 -pubkey -noout')",
        }.get(label, "")
        raise KeyRejected(
            KeyRejectionCode.INVALID_PEM,
            f"Expected a 'PUBLIC KEY' (SubjectPublicKeyInfo) PEM block, got '{label}'{hint}.",
        )
    begin, end = boundaries
    if text[: begin.start()].strip() or text[end.end() :].strip():
        raise KeyRejected(KeyRejectionCode.INVALID_PEM, "Unexpected text outside the PEM block.")
    body = "".join(text[begin.end() : end.start()].split())
    if not body or not _BASE64_BODY.fullmatch(body) or len(body) % 4:
        raise KeyRejected(KeyRejectionCode.INVALID_PEM, "The PEM body is not valid base64.")
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise KeyRejected(KeyRejectionCode.INVALID_PEM, "The PEM body is not valid base64.") from None
    return der


def _short_int(value: int) -> str:
    text = str(value)
    return text if len(text) <= 20 else f"{text[:8]}...({value.bit_length()} bits)"


# ---------------------------------------------------------------------------------------- statement


def signing_statement(plugin_slug: str, version: str, code_sha256: str, manifest_sha256: str) -> bytes:
    """The exact bytes a publisher signs for one plugin version (RFC 8785 canonical JSON, UTF-8)."""
    for name, value in (("plugin_slug", plugin_slug), ("version", version)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
    for name, value in (("code_sha256", code_sha256), ("manifest_sha256", manifest_sha256)):
        if not is_sha256_hex(value):
            # One spelling only: an upper-case digest would be a different statement.
            raise ValueError(f"{name} must be 64 lower-case hex digits")
    return canonical_json(
        {
            "plugin": plugin_slug,
            "version": version,
            "code_sha256": code_sha256,
            "manifest_sha256": manifest_sha256,
        }
    )


def statement_for_bundle(plugin_slug: str, version: str, bundle: bytes, manifest: Any) -> bytes:
    """Statement for a bundle's bytes and its (parsed) manifest."""
    return signing_statement(plugin_slug, version, sha256_hex(bundle), canonical_sha256(manifest))


# ------------------------------------------------------------------------------------- signatures


def _pss() -> padding.PSS:
    # Salt length pinned to 32: neither PSS.AUTO (accepts any) nor PSS.MAX_LENGTH (what most tools
    # default to when signing) -- so a signature made with another salt length is refused.
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=SALT_LENGTH)


def decode_signature_b64(signature_b64: str | bytes, *, max_chars: int = 4096) -> bytes:
    """Strict standard base64 -> bytes, raising SignatureInvalid(MALFORMED_SIGNATURE)."""
    if isinstance(signature_b64, (bytes, bytearray)):
        try:
            signature_b64 = bytes(signature_b64).decode("ascii")
        except UnicodeDecodeError:
            raise _malformed("not ASCII") from None
    if not isinstance(signature_b64, str):
        raise _malformed("must be a base64 string")
    if not signature_b64 or len(signature_b64) > max_chars:
        raise _malformed("empty or too long")
    if len(signature_b64) % 4 or not _BASE64_BODY.fullmatch(signature_b64):
        raise _malformed("only the standard base64 alphabet with '=' padding is accepted")
    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("invalid base64") from None
    if base64.b64encode(raw).decode("ascii") != signature_b64:
        raise _malformed("non-canonical base64 (stray bits in the padding)")
    return raw


def verify_pss(
    public_key: rsa.RSAPublicKey,
    message: bytes,
    signature: bytes,
    *,
    algorithm: hashes.HashAlgorithm | None = None,
    mgf_algorithm: hashes.HashAlgorithm | None = None,
    salt_length: int = SALT_LENGTH,
) -> None:
    """The bare RSASSA-PSS primitive, WITHOUT key policy. Raises SignatureInvalid.

    Defaults are the platform's parameters; the others exist so independent test vectors with other
    parameters can exercise the same code path. Production code calls :func:`verify_signature`.
    """
    algorithm = algorithm or hashes.SHA256()
    mgf_algorithm = mgf_algorithm or algorithm
    # RFC 8017 8.1.2 step 1: the signature must be exactly k octets. OpenSSL tolerates shorter input
    # (it is just a smaller integer); we do not.
    expected_len = (public_key.key_size + 7) // 8
    if len(signature) != expected_len:
        raise _mismatch()
    try:
        public_key.verify(
            signature,
            message,
            padding.PSS(mgf=padding.MGF1(mgf_algorithm), salt_length=salt_length),
            algorithm,
        )
    except InvalidSignature:
        raise _mismatch() from None


def verify_signature(
    public_key_pem: str | bytes | PublicKeyInfo,
    statement: bytes,
    signature_b64: str | bytes,
    *,
    min_bits: int = DEFAULT_MIN_BITS,
) -> None:
    """Verify a publisher signature over ``statement``.

    Raises KeyRejected when the key fails the (current) policy and SignatureInvalid when the signature is
    malformed or wrong. Returns None on success.
    """
    # The policy is re-applied even to an already-loaded key: it is cheap, and a key registered under
    # an older, laxer policy must stop verifying once the policy is tightened.
    if isinstance(public_key_pem, PublicKeyInfo):
        info = _check_der(public_key_pem.der, min_bits=min_bits, max_bits=DEFAULT_MAX_BITS)
    else:
        info = load_public_key(public_key_pem, min_bits=min_bits)
    signature = decode_signature_b64(signature_b64)
    verify_pss(info.public_key, statement, signature)


def sign_statement(
    private_key: rsa.RSAPrivateKey, statement: bytes, *, min_bits: int = DEFAULT_MIN_BITS
) -> str:
    """Sign ``statement`` with RSASSA-PSS/SHA-256/MGF1-SHA-256/salt 32 and return standard base64.

    Refuses keys the server would refuse anyway, so a publisher learns at signing time.
    """
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise KeyRejected(KeyRejectionCode.UNSUPPORTED_KEY_TYPE, "Only RSA private keys can sign plugins.")
    if private_key.key_size < min_bits:
        raise KeyRejected(
            KeyRejectionCode.KEY_TOO_SMALL,
            f"RSA key is {private_key.key_size} bits; at least {min_bits} bits are required.",
        )
    check_public_exponent(private_key.public_key().public_numbers().e)
    signature = private_key.sign(statement, _pss(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def _malformed(detail: str) -> SignatureInvalid:
    return SignatureInvalid(
        SignatureErrorCode.MALFORMED_SIGNATURE, f"Signature is not strict base64: {detail}."
    )


def _mismatch() -> SignatureInvalid:
    return SignatureInvalid(
        SignatureErrorCode.SIGNATURE_MISMATCH,
        "Signature does not verify for this plugin, version, bundle and manifest with this key.",
    )
