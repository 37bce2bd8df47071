"""Staff roles (permission groups) and the admin site they work in.

This app sits at the composition root: its roles name permissions of every app, and its admin site puts the
review queue first. Lower layers do not import it.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class StaffConfig(AppConfig):
    name = "argus_plugins.staff"
    label = "staff"
    verbose_name = "Staff roles"


class ArgusAdminConfig(AdminConfig):
    """django.contrib.admin with Argus's site as ``admin.site`` (every ``@admin.register`` lands there)."""

    default_site = "argus_plugins.staff.site.ArgusAdminSite"
