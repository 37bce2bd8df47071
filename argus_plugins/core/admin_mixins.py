"""Permission mixins shared by the staff admin screens of every app.

Who sees a screen is decided by Django's model permissions, which the staff roles grant (Reviewers,
Operators: argus_plugins.staff.roles); being staff only lets an account log in to the admin.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ReadOnlyMixin:
    """Nothing is added, changed or deleted here: changes go through the services (API, actions)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StaffReadOnlyMixin(ReadOnlyMixin):
    """Staff whose role grants the model's view permission read everything here; nobody edits it."""
