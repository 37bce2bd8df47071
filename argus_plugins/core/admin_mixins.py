"""Permission mixins shared by the staff admin screens of every app.

Who sees a screen is decided by Django's model permissions, which the staff roles grant (Reviewers,
Operators: argus_plugins.staff.roles); being staff only lets an account log in to the admin.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from .hooks import ADMIN_CHANGED, run_hooks
from .snapshots import diff, snapshot


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


def _action_name(model_admin: admin.ModelAdmin, verb: str) -> str:
    meta = model_admin.model._meta
    return f"admin.{meta.app_label}.{meta.model_name}.{verb}"


def report_admin_change(
    action: str, request: HttpRequest, obj: Any, before: dict[str, Any], after: dict[str, Any] | None = None
) -> None:
    changes = diff(before, snapshot(obj) if after is None else after)
    run_hooks(ADMIN_CHANGED, action=action, request=request, target=obj, changes=changes)


class AuditedAdminMixin:
    """Reports additions, changes (with the form's diff), deletions and admin actions to the
    ``core.admin_changed`` hooks (the audit trail records them), in the change's transaction."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = snapshot(type(obj).objects.filter(pk=obj.pk).first()) if change else {}
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            report_admin_change(_action_name(self, "change" if change else "add"), request, obj, before)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            report_admin_change(_action_name(self, "delete"), request, obj, snapshot(obj), after={})
            super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            for obj in queryset:
                report_admin_change(_action_name(self, "delete"), request, obj, snapshot(obj), after={})
            super().delete_queryset(request, queryset)  # type: ignore[misc]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        return {
            name: (self._audited(func, name), name, description)
            for name, (func, _, description) in actions.items()
        }

    def _audited(self, func: Any, name: str) -> Any:
        @functools.wraps(func)
        def run(model_admin: Any, request: HttpRequest, queryset: Any) -> Any:
            with transaction.atomic():
                ids = [obj.pk for obj in queryset]
                before = {obj.pk: snapshot(obj) for obj in queryset.model.objects.filter(pk__in=ids)}
                result = func(model_admin, request, queryset)
                if result is None:  # an intermediate page (e.g. asking for a reason) has changed nothing yet
                    for obj in queryset.model.objects.filter(pk__in=ids):
                        report_admin_change(_action_name(self, name), request, obj, before.get(obj.pk, {}))
            return result

        return run
