"""Staff desk for the marketplace: listings with delist/relist (through the service functions), the review
moderation queue (flagged first), read-only entitlements and invoices, and an analytics overview page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from argus_plugins.core import clock
from argus_plugins.core.admin_mixins import AuditedAdminMixin, StaffReadOnlyMixin
from argus_plugins.core.errors import DomainError, DomainErrors

from . import analytics, listings, reviews
from .models import (
    Entitlement,
    EntitlementEvent,
    Invoice,
    Listing,
    ListingModerationEvent,
    Plan,
    ReviewFlag,
    ReviewModeration,
)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))


def _with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    service: Any,
    id_argument: str,
) -> HttpResponse | None:
    """An admin action that first asks for a reason, then calls ``service`` for each selected row."""
    if "apply" in request.POST:
        form = ReasonForm(request.POST)
        if form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    service(actor=request.user, reason=form.cleaned_data["reason"], **{id_argument: obj.pk})
                    done += 1
                except (DomainError, DomainErrors) as error:
                    modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
            if done:
                modeladmin.message_user(request, f"{title}: {done} done.", messages.SUCCESS)
            return None
    else:
        form = ReasonForm()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "objects": queryset,
        "action": request.POST.get("action"),
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/marketplace/reason_form.html", context)


class PlanInline(admin.TabularInline):
    model = Plan
    fields = ("name", "version", "pricing_model", "billing_period", "price", "trial_days", "retired_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ModerationEventInline(admin.TabularInline):
    model = ListingModerationEvent
    fields = ("at", "action", "reason", "actor")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Listing)
class ListingAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("plugin", "tagline", "delisted_at", "updated_at")
    list_filter = (("delisted_at", admin.EmptyFieldListFilter),)
    search_fields = ("plugin__slug", "plugin__name", "tagline")
    readonly_fields = (
        "plugin",
        "tagline",
        "description",
        "categories",
        "tags",
        "documentation_url",
        "support_url",
        "icon_url",
        "delisted_at",
        "delisted_reason",
        "created_at",
        "updated_at",
        "updated_by",
    )
    inlines = (PlanInline, ModerationEventInline)
    actions = ("delist", "relist")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Delist the selected listings (asks for a reason)", permissions=["change"])
    def delist(self, request: HttpRequest, queryset: QuerySet[Listing]) -> HttpResponse | None:
        return _with_reason(
            self,
            request,
            queryset,
            title="Delist listings",
            service=listings.delist_listing,
            id_argument="listing_id",
        )

    @admin.action(description="Relist the selected listings", permissions=["change"])
    def relist(self, request: HttpRequest, queryset: QuerySet[Listing]) -> HttpResponse | None:
        return _with_reason(
            self,
            request,
            queryset,
            title="Relist listings",
            service=listings.relist_listing,
            id_argument="listing_id",
        )

    def get_urls(self) -> list[Any]:
        overview = path(
            "analytics/",
            self.admin_site.admin_view(self.analytics_view),
            name="marketplace_listing_analytics",
        )
        return [overview, *super().get_urls()]

    def analytics_view(self, request: HttpRequest) -> HttpResponse:
        """Unsuppressed figures per plugin over the last N days (default 30), computed by the database."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = max(1, min(int(request.GET.get("days", 30)), analytics.MAX_RANGE_DAYS))
        except ValueError:
            days = 30
        today = clock.now().date()
        start = today - dt.timedelta(days=days - 1)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Marketplace analytics: last {days} days ({start} to {today}, UTC)",
            "rows": analytics.overview(start, today),
            "days": days,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/marketplace/analytics.html", context)


class FlagInline(admin.TabularInline):
    model = ReviewFlag
    fields = ("created_at", "user", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReviewModeration)
class ReviewModerationAdmin(AuditedAdminMixin, StaffReadOnlyMixin, admin.ModelAdmin):
    """Reviews, flagged ones first (most flags first), then newest; hide through the service."""

    list_display = ("title", "rating", "listing", "flag_count", "hidden_at", "created_at")
    list_filter = (("hidden_at", admin.EmptyFieldListFilter), "rating")
    search_fields = ("title", "body", "listing__plugin__slug")
    fields = (
        "listing",
        "version",
        "rating",
        "title",
        "body",
        "created_at",
        "updated_at",
        "hidden_at",
        "hidden_reason",
    )
    readonly_fields = fields
    inlines = (FlagInline,)
    actions = ("hide",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("listing__plugin")
            .annotate(flags_total=Count("flags"))
            .order_by("-flags_total", "-created_at", "id")
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change permission (a reviewer's) is needed for the actions; every field stays read-only.
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    @admin.display(description="Flags", ordering="flags_total")
    def flag_count(self, review: Any) -> int:
        return review.flags_total

    @admin.action(description="Hide the selected reviews (asks for a reason)", permissions=["change"])
    def hide(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _with_reason(
            self,
            request,
            queryset,
            title="Hide reviews",
            service=reviews.hide_review,
            id_argument="review_id",
        )


class EntitlementEventInline(admin.TabularInline):
    model = EntitlementEvent
    fields = ("at", "from_status", "to_status", "actor", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Entitlement)
class EntitlementAdmin(AuditedAdminMixin, StaffReadOnlyMixin, admin.ModelAdmin):
    list_display = ("tenant", "listing", "plan", "status", "current_period_end", "started_at")
    list_filter = ("status",)
    search_fields = ("tenant__slug", "listing__plugin__slug")
    inlines = (EntitlementEventInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("tenant", "listing__plugin", "plan")


@admin.register(Invoice)
class InvoiceAdmin(AuditedAdminMixin, StaffReadOnlyMixin, admin.ModelAdmin):
    list_display = ("number", "tenant", "amount", "status", "period_start", "period_end", "due_at", "paid_at")
    list_filter = ("status",)
    search_fields = ("number", "tenant__slug", "provider_reference")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("tenant")
