from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from argus_plugins.core import clock
from argus_plugins.core.admin_mixins import AuditedAdminMixin

from .models import ApiToken, Membership, Tenant, User


@admin.register(User)
class ArgusUserAdmin(AuditedAdminMixin, UserAdmin):
    list_display = ("username", "email", "is_staff", "is_active", "date_joined")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Tenant)
class TenantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    readonly_fields = ("id", "created_at")
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "tenant__name", "tenant__slug")
    autocomplete_fields = ("user", "tenant")


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Operators may see and revoke tokens, never their secrets: only the display prefix is shown."""

    list_display = ("name", "user", "masked", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    fields = ("name", "user", "masked", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("name", "user", "masked", "created_at", "last_used_at")
    actions = ("revoke_selected",)

    @admin.display(description="Token")
    def masked(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    def has_add_permission(self, request, obj=None) -> bool:  # tokens are created by their owner only
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=clock.now())
        self.message_user(request, f"Revoked {count} token(s).")
