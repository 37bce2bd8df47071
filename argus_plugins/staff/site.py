"""The admin site: whoever may review sees the review queue first, with the number of versions waiting."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

#: Apps in the order staff work through them; the rest follow alphabetically.
APP_ORDER = ("registry", "execution", "ledger", "tenancy", "installations", "triggers", "marketplace")
REVIEW_QUEUE = ("registry", "pluginversionreview")


class ArgusAdminSite(admin.AdminSite):
    index_template = "admin/staff_index.html"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        apps.sort(key=lambda app: (_rank(app["app_label"]), app["name"].lower()))
        for app in apps:
            if app["app_label"] == REVIEW_QUEUE[0]:
                # The queue first inside the registry, with its count in the name (index and sidebar).
                app["models"].sort(key=lambda model: model["object_name"].lower() != REVIEW_QUEUE[1])
                for model in app["models"]:
                    if model["object_name"].lower() == REVIEW_QUEUE[1]:
                        waiting = waiting_for_review(request)
                        model["name"] = f"{model['name'].capitalize()} ({waiting} waiting)"
        return apps

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        context = dict(extra_context or {})
        if request.user.has_perm("registry.view_pluginversionreview"):
            from django.urls import reverse

            context["review_queue"] = {
                "waiting": waiting_for_review(request),
                "url": reverse(f"{self.name}:registry_pluginversionreview_changelist"),
            }
        return super().index(request, context)


def _rank(app_label: str) -> int:
    return APP_ORDER.index(app_label) if app_label in APP_ORDER else len(APP_ORDER)


def waiting_for_review(request: HttpRequest) -> int:
    """Versions IN_REVIEW, counted once per request (the index and its sidebar both show it)."""
    if not hasattr(request, "_argus_waiting_for_review"):
        from registry.models import PluginVersion, VersionStatus

        waiting = PluginVersion.objects.filter(status=VersionStatus.IN_REVIEW)
        request._argus_waiting_for_review = waiting.count()
    return request._argus_waiting_for_review
