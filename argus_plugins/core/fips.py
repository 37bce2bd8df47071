"""The FIPS posture: which OpenSSL the platform's cryptography runs on, and whether it is in FIPS mode.

With ``FIPS_MODE`` on, the platform refuses to start unless ``cryptography`` reports that its OpenSSL runs
in FIPS mode (an OpenSSL 3 FIPS provider configured as the default). The algorithms the platform uses are
all FIPS-approved: RSA (≥ 3072 bits; we require 4096) with PSS, SHA-256, HMAC-SHA-256.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.backends.openssl import backend
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def openssl_version() -> str:
    return backend.openssl_version_text()


def fips_enabled() -> bool:
    return bool(
        backend._fips_enabled
    )  # the flag cryptography sets from EVP_default_properties_is_fips_enabled


def posture() -> dict[str, Any]:
    return {
        "openssl": openssl_version(),
        "fips_mode_required": settings.FIPS_MODE,
        "fips_enabled": fips_enabled(),
    }


def check_fips_at_startup() -> None:
    if settings.FIPS_MODE and not fips_enabled():
        raise ImproperlyConfigured(
            f"FIPS_MODE is on, but the OpenSSL that cryptography uses ({openssl_version()}) is not running "
            "in FIPS mode. Configure the OpenSSL FIPS provider (see README, 'FIPS deployment') or unset "
            "FIPS_MODE."
        )
