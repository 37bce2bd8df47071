"""The composition root's own app: what runs the whole platform (``run_platform``) and its demo.

It may import every app; no app imports it.
"""

from __future__ import annotations

from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "argus_plugins.platform"
    label = "platform"
    verbose_name = "Platform"
