"""Input cleaning for marketplace services: each helper raises a typed DomainError naming the field."""

from __future__ import annotations

import decimal
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import QuerySet
from moneyed import Money

from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.validation import clean_text, parse_uuid

from .error_codes import MarketplaceErrorCode
from .models import SUPPORTED_CURRENCIES

MAX_URL = 500
MAX_CATEGORIES = 10
MAX_TAGS = 20
MAX_PRICE = decimal.Decimal("1000000")
LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9 .+#-]{0,38}[a-z0-9+#])?$")
_url_validator = URLValidator(schemes=["http", "https"])


def get_or_404(queryset: QuerySet, object_id: Any, what: str, field: str = "id") -> Any:
    found = queryset.filter(pk=parse_uuid(object_id, field=field)).first()
    if found is None:
        raise not_found(what, field)
    return found


def clean_url(value: Any, *, field: str, https_only: bool = False) -> str:
    """An optional absolute http(s) URL (https only for icons), without credentials."""
    url = clean_text(value, field=field, max_length=MAX_URL, required=False)
    if not url:
        return ""
    schemes = ("https",) if https_only else ("http", "https")
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes:
        raise DomainError(
            MarketplaceErrorCode.UNSAFE_URL, f"Use an absolute {' or '.join(schemes)} URL.", field
        )
    if parts.username or parts.password or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise DomainError(
            MarketplaceErrorCode.UNSAFE_URL, "The URL must not contain credentials or spaces.", field
        )
    try:
        _url_validator(url)
    except ValidationError:
        raise DomainError(CommonErrorCode.INVALID, "Not a valid URL.", field) from None
    return url


def clean_labels(values: Any, *, field: str, maximum: int) -> list[str]:
    """Categories and tags: lower-case labels, de-duplicated and sorted."""
    if values is None:
        return []
    if not isinstance(values, list | tuple) or len(values) > maximum:
        raise DomainError(CommonErrorCode.LIMIT_EXCEEDED, f"Give at most {maximum} {field}.", field)
    labels = set()
    for value in values:
        label = clean_text(value, field=field, max_length=40).lower()
        if not LABEL_RE.match(label):
            raise DomainError(
                CommonErrorCode.INVALID,
                f"'{label[:40]}' is not a valid label: letters, digits, spaces and . + # - only.",
                field,
            )
        labels.add(label)
    return sorted(labels)


def clean_currency(value: Any, field: str = "currency") -> str:
    code = clean_text(value, field=field, max_length=3).upper()
    if code not in SUPPORTED_CURRENCIES:
        raise DomainError(
            MarketplaceErrorCode.UNKNOWN_CURRENCY,
            f"'{code}' is not a supported ISO 4217 currency ({', '.join(sorted(SUPPORTED_CURRENCIES))}).",
            field,
        )
    return code


def clean_price(value: Any, currency: str, *, field: str = "price", allow_zero: bool = False) -> Money:
    """An exact decimal amount given as a string (never a float), with at most the currency's minor-unit
    digits, positive (zero only for FREE plans) and at most 1 000 000."""
    if isinstance(value, bool) or not isinstance(value, str | int | decimal.Decimal):
        raise DomainError(
            MarketplaceErrorCode.INVALID_PRICE, "Give the price as a decimal string, e.g. '19.99'.", field
        )
    text = str(value).strip()
    if not re.fullmatch(r"-?\d{1,12}(\.\d{1,6})?", text):
        raise DomainError(
            MarketplaceErrorCode.INVALID_PRICE, "Give the price as a decimal string, e.g. '19.99'.", field
        )
    amount = decimal.Decimal(text)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise DomainError(MarketplaceErrorCode.INVALID_PRICE, "The price must be greater than zero.", field)
    if amount > MAX_PRICE:
        raise DomainError(
            MarketplaceErrorCode.INVALID_PRICE, f"The price must be at most {MAX_PRICE}.", field
        )
    digits = SUPPORTED_CURRENCIES[currency]
    if -amount.as_tuple().exponent > digits and amount != amount.quantize(decimal.Decimal(1).scaleb(-digits)):
        raise DomainError(
            MarketplaceErrorCode.INVALID_PRICE,
            f"{currency} amounts have at most {digits} decimal places.",
            field,
        )
    return Money(amount.quantize(decimal.Decimal(1).scaleb(-digits)), currency)


def optional_uuid(value: Any, field: str) -> uuid.UUID | None:
    return None if value in (None, "") else parse_uuid(value, field=field)
