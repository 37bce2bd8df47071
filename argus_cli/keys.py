"""Publisher key pairs: generation and loading of the private key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from argus_cli.errors import CliError
from registry.signing import DEFAULT_MIN_BITS, PUBLIC_EXPONENT, load_public_key

KEY_BITS = 4096
PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"


@dataclass(frozen=True)
class GeneratedKeys:
    private_path: Path
    public_path: Path
    fingerprint: str


def generate_keypair(out_dir: Path, passphrase: bytes | None) -> GeneratedKeys:
    """Write ``private.pem`` (PKCS#8, mode 0600, encrypted if a passphrase is given) and ``public.pem``
    (SubjectPublicKeyInfo) into ``out_dir``; never overwrite either."""
    private_path = out_dir / PRIVATE_KEY_FILE
    public_path = out_dir / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise CliError(f"{path} already exists; refusing to overwrite a key.")
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # O_EXCL closes the race with a file appearing after the check above; 0600 is set at creation so
    # the key is never readable by others, not even briefly.
    _write_new(private_path, private_pem, 0o600)
    _write_new(public_path, public_pem, 0o644)
    fingerprint = load_public_key(public_pem).fingerprint
    return GeneratedKeys(private_path, public_path, fingerprint)


def _write_new(path: Path, content: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def is_encrypted_pem(data: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data


def load_private_key(path: Path, passphrase: bytes | None) -> rsa.RSAPrivateKey:
    data = path.read_bytes()
    if b"PRIVATE KEY" not in data:
        if b"PUBLIC KEY" in data:
            raise CliError(f"{path} is a public key; signing needs the private key.")
        raise CliError(f"{path} is not a PEM private key.")
    if is_encrypted_pem(data) and not passphrase:
        raise CliError(f"{path} is encrypted; pass --passphrase-env VAR or --passphrase-prompt.")
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase if is_encrypted_pem(data) else None
        )
    except ValueError as exc:
        if is_encrypted_pem(data):
            raise CliError(f"could not decrypt {path}: wrong passphrase?") from None
        raise CliError(f"could not load {path}: {exc}") from None
    except TypeError as exc:
        raise CliError(f"could not load {path}: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CliError(f"{path} is not an RSA key; plugins are signed with RSA-{DEFAULT_MIN_BITS} or larger.")
    return key


def public_fingerprint(private_key: rsa.RSAPrivateKey) -> str:
    """The fingerprint the server shows for the matching public key (SHA-256 of its DER form)."""
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return load_public_key(public_pem).fingerprint
