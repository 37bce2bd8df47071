"""C2SP signed notes and tlog checkpoints, signed with ECDSA P-256 / SHA-256 (no Django imports).

* ``c2sp.org/tlog-checkpoint``: the note text is ``<origin>\\n<tree size>\\n<base64 root hash>\\n``.
* ``c2sp.org/signed-note``: text, a blank line, then one line per signature:
  ``— <key name> <base64(4-byte key ID || signature)>``.
* Signature type ``0x02`` (ECDSA, "as implemented by github.com/transparency-dev/witness", FIPS-approved):
  an ASN.1 DER ECDSA signature over SHA-256 of the note text; the key ID is the first four bytes of
  SHA-256 of the public key's DER SubjectPublicKeyInfo. The verifier key string other tools take is
  ``<name>+<key ID hex>+base64(0x02 || DER SPKI)`` (transparency-dev/formats ``NewECDSAVerifier``).

The log signs its checkpoints with such a key; witnesses cosign with their own (same signature type).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE_TYPE_ECDSA = 0x02
EM_DASH = "\u2014"
#: Key names: no whitespace and no "+" (the verifier key string's separator).
_KEY_NAME = re.compile(r"[^\s+]+")
MAX_NOTE_CHARS = 64 * 1024


class NoteError(ValueError):
    """A note, checkpoint or key that is malformed or does not verify."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def strict_b64decode(text: str) -> bytes:
    """Standard base64 with padding and canonical trailing bits only (one spelling per value)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"not canonical base64: {text[:60]!r}") from None
    if b64(data) != text:
        raise NoteError(f"not canonical base64: {text[:60]!r}")
    return data


def spki_der(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(spki_der(public_key)).digest()[:4]


def load_public_key(pem: str | bytes) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise NoteError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise NoteError("the key must be an ECDSA P-256 public key")
    return key


def load_private_key(pem: str | bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    except (ValueError, TypeError) as exc:
        raise NoteError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise NoteError("the key must be an ECDSA P-256 private key")
    return key


def generate_private_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(public_key: ec.EllipticCurvePublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


@dataclass(frozen=True)
class NoteSigner:
    """A named ECDSA P-256 key that signs notes (the log's key, or a witness's)."""

    name: str
    private_key: ec.EllipticCurvePrivateKey

    def __post_init__(self) -> None:
        if not _KEY_NAME.fullmatch(self.name):
            raise NoteError(f"invalid key name {self.name!r}: no whitespace or '+'")

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> bytes:
        return key_id(self.public_key)

    @property
    def verifier_key(self) -> str:
        """``<name>+<key ID hex>+base64(0x02 || DER SPKI)``, the form transparency-dev tools take."""
        der = spki_der(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([SIGNATURE_TYPE_ECDSA]) + der)}"

    def signature_line(self, text: str) -> str:
        signature = self.private_key.sign(text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
        return f"{EM_DASH} {self.name} {b64(self.key_id + signature)}\n"

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line, this key's signature line."""
        check_text(text)
        return text + "\n" + self.signature_line(text)


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes
    line: str


def check_text(text: str) -> None:
    if not text.endswith("\n") or len(text) > MAX_NOTE_CHARS:
        raise NoteError("a note's text must end with a newline (and be at most 64 KiB)")
    if any(ord(char) < 0x20 and char != "\n" for char in text):
        raise NoteError("a note must not contain control characters other than newline")


def split_note(note: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and its signatures (not verified here)."""
    check_text(note)
    at = note.rfind("\n\n")
    if at < 0:
        raise NoteError("a signed note needs a blank line before its signatures")
    text, block = note[: at + 1], note[at + 2 :]
    signatures = []
    for line in block.splitlines(keepends=True):
        parts = line[:-1].split(" ")
        if (
            not line.endswith("\n")
            or len(parts) != 3
            or parts[0] != EM_DASH
            or not _KEY_NAME.fullmatch(parts[1])
        ):
            raise NoteError(f"malformed signature line {line[:80]!r}")
        blob = strict_b64decode(parts[2])
        if len(blob) < 5:
            raise NoteError("a signature is too short")
        signatures.append(Signature(parts[1], blob[:4], blob[4:], line))
    if not signatures:
        raise NoteError("the note has no signature")
    return text, signatures


def verify_note(note: str, name: str, public_key: ec.EllipticCurvePublicKey) -> tuple[str, list[Signature]]:
    """Return the note's text if the key ``name`` signed it; its other signatures are returned unverified."""
    text, signatures = split_note(note)
    wanted = key_id(public_key)
    ours = [sig for sig in signatures if sig.name == name and sig.key_id == wanted]
    if not ours:
        raise NoteError(f"the note is not signed by {name} (key ID {wanted.hex()})")
    for sig in ours:
        try:
            public_key.verify(sig.signature, text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise NoteError(f"the signature of {name} does not verify") from None
    return text, signatures


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    #: Optional extension lines, verbatim (each ending with a newline).
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{b64(self.root)}\n" + "".join(self.extensions)


_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


def parse_checkpoint(text: str) -> Checkpoint:
    """The body of a C2SP tlog checkpoint (the note's text, already verified)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint has an origin, a size and a root hash line")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin or not _SIZE.fullmatch(size):
        raise NoteError("malformed checkpoint origin or size")
    digest = strict_b64decode(root)
    if len(digest) != 32:
        raise NoteError("a checkpoint's root hash is 32 bytes")
    extensions = tuple(line + "\n" for line in lines[3:-1])
    if any(line == "\n" for line in extensions):
        raise NoteError("a checkpoint has no empty lines")
    return Checkpoint(origin, int(size), digest, extensions)
