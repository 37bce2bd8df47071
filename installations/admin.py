"""Operators' view of installations and grants: filters for active/expired/revoked, history read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from argus_plugins.core import clock
from argus_plugins.core.admin_mixins import AuditedAdminMixin, StaffReadOnlyMixin

from .models import Capability, CapabilityGrant, Installation, InstallationEvent


class ReadOnlyAdmin(AuditedAdminMixin, StaffReadOnlyMixin, admin.ModelAdmin):
    """Operators (staff) read everything here; changes go through the tenant-facing API only."""


class GrantStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = clock.now()
        if self.value() == "active":
            return queryset.active_at(now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(Capability)
class CapabilityAdmin(ReadOnlyAdmin):
    list_display = ("name", "risk_level", "description")


@admin.register(CapabilityGrant)
class CapabilityGrantAdmin(ReadOnlyAdmin):
    list_display = (
        "capability",
        "installation",
        "granted_by",
        "granted_at",
        "expires_at",
        "revoked_at",
        "state",
    )
    list_filter = (GrantStateFilter, "capability")
    search_fields = ("installation__tenant__slug", "installation__plugin__slug")
    list_select_related = ("capability", "installation__tenant", "installation__plugin", "granted_by")

    @admin.display(description="State")
    def state(self, grant: CapabilityGrant) -> str:
        if grant.revoked_at is not None:
            return "revoked"
        return "active" if grant.is_active_at(clock.now()) else "expired"


class GrantInline(admin.TabularInline):
    model = CapabilityGrant
    fields = ("capability", "granted_by", "granted_at", "expires_at", "revoked_at", "revoke_reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class InstallationStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Installed"), ("uninstalled", "Uninstalled")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(Q(uninstalled_at__isnull=self.value() == "active"))
        return queryset


@admin.register(Installation)
class InstallationAdmin(ReadOnlyAdmin):
    list_display = ("plugin", "tenant", "pinned_version", "installed_by", "installed_at", "uninstalled_at")
    list_filter = (InstallationStateFilter,)
    search_fields = ("tenant__slug", "plugin__slug")
    list_select_related = ("plugin", "tenant", "pinned_version", "installed_by")
    inlines = (GrantInline,)


@admin.register(InstallationEvent)
class InstallationEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "plugin", "tenant", "version", "actor")
    list_filter = ("kind",)
    list_select_related = ("plugin", "tenant", "version", "actor")
