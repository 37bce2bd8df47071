"""Permission mixins shared by the operators' admin screens of every app."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class StaffViewMixin:
    """Platform staff see these screens without per-model permissions."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff


class ReadOnlyMixin:
    """Nothing is added, changed or deleted here: changes go through the services (API, actions)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StaffReadOnlyMixin(StaffViewMixin, ReadOnlyMixin):
    """Staff read everything here; nobody edits it."""
