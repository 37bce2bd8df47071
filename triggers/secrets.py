"""Webhook signing secrets: generated per the Standard Webhooks spec ("whsec_" + base64 of 32 random
bytes), shown once, stored encrypted (Fernet, key derived with HKDF-SHA256 from ARGUS_WEBHOOK_SECRET_KEY,
which defaults to SECRET_KEY: changing that key makes stored secrets unreadable, so rotate them)."""

from __future__ import annotations

import base64
import functools
import secrets

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "whsec_"
SECRET_BYTES = 32


def generate() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@functools.lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"argus webhook secrets v1").derive(
        key_material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str) -> str:
    return _fernet(settings.ARGUS_WEBHOOK_SECRET_KEY).encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet(settings.ARGUS_WEBHOOK_SECRET_KEY).decrypt(token.encode()).decode()
