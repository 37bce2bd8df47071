"""``UNSET``: the default of a keyword argument whose caller may leave it out, told apart from an explicit
``None``. Partial updates (``update_listing(..., tagline=None)`` clears, leaving ``tagline`` out keeps it)
compare with ``is UNSET``."""

from __future__ import annotations

import enum
from typing import Any, Final


class _Unset(enum.Enum):
    # An enum member is a true singleton: it survives copy, deepcopy and pickle as itself.
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: Typed ``Any`` so that it can stand as the default of an argument of any type.
UNSET: Final[Any] = _Unset.UNSET
