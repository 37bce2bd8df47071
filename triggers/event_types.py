"""Which event types exist: the platform's own (``argus_plugins.core.events``) and ``custom.*`` ones.

A module of its own so that what validates types (subscriptions, webhook endpoints) does not import the
module that stores and dispatches events (``events.py``), which imports the dispatcher in turn.
"""

from __future__ import annotations

import re

from argus_plugins.core.events import PLATFORM_EVENT_TYPES

CUSTOM_EVENT_TYPE = re.compile(r"^custom(\.[a-z][a-z0-9_]*)+$")


def is_event_type(value: str) -> bool:
    return value in PLATFORM_EVENT_TYPES or bool(CUSTOM_EVENT_TYPE.match(value))
