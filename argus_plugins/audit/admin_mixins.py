"""Every admin change and action writes an AuditEvent, through this mixin on every ModelAdmin."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from . import services


def _action_name(model_admin: admin.ModelAdmin, verb: str) -> str:
    meta = model_admin.model._meta
    return f"admin.{meta.app_label}.{meta.model_name}.{verb}"


class AuditedAdminMixin:
    """Records additions, changes (with the form's diff), deletions and admin actions."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = services.snapshot(type(obj).objects.filter(pk=obj.pk).first()) if change else {}
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            services.record(
                _action_name(self, "change" if change else "add"),
                actor=request.user,
                request=request,
                target=obj,
                changes=services.diff(before, services.snapshot(obj)),
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            services.record(
                _action_name(self, "delete"),
                actor=request.user,
                request=request,
                target=obj,
                changes=services.diff(services.snapshot(obj), {}),
            )
            super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            for obj in queryset:
                services.record(
                    _action_name(self, "delete"),
                    actor=request.user,
                    request=request,
                    target=obj,
                    changes=services.diff(services.snapshot(obj), {}),
                )
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
                before = {obj.pk: services.snapshot(obj) for obj in queryset.model.objects.filter(pk__in=ids)}
                result = func(model_admin, request, queryset)
                if result is None:  # an intermediate page (e.g. asking for a reason) has changed nothing yet
                    for obj in queryset.model.objects.filter(pk__in=ids):
                        services.record(
                            _action_name(self, name), actor=request.user, request=request, target=obj,
                            changes=services.diff(before.get(obj.pk, {}), services.snapshot(obj)),
                        )
            return result

        return run
