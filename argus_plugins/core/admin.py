from django.contrib import admin

from .admin_mixins import AuditedAdminMixin
from .fips import posture
from .models import TenantFlag

_crypto = posture()
admin.site.site_header = "Argus Plugins administration"
admin.site.index_title = (
    f"Operations — {_crypto['openssl']}, FIPS mode {'ON' if _crypto['fips_enabled'] else 'off'}"
    f"{' (required)' if _crypto['fips_mode_required'] else ''}"
)


@admin.register(TenantFlag)
class TenantFlagAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Staff turn features on for everyone, off for everyone, or (Everyone: unknown) for chosen tenants."""

    list_display = ("name", "everyone", "note", "modified")
    list_filter = ("everyone",)
    search_fields = ("name",)
    filter_horizontal = ("tenants",)
    fields = ("name", "everyone", "tenants", "note")
    readonly_fields = ("name",)

    def has_add_permission(self, request, obj=None) -> bool:  # the code knows which flags exist
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
