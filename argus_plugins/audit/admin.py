from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group

from argus_plugins.core.admin_mixins import AuditedAdminMixin, StaffReadOnlyMixin

from .models import AuditEvent

# Django's group admin and django-celery-beat's schedule admins, re-registered so that their changes are
# audited like everything else (those apps are installed before this one, so they are registered by now).
admin.site.unregister(Group)
for _model, _model_admin in list(admin.site._registry.items()):
    if _model._meta.app_label == "django_celery_beat" and not isinstance(_model_admin, AuditedAdminMixin):
        admin.site.unregister(_model)
        admin.site.register(
            _model, type(f"Audited{type(_model_admin).__name__}", (AuditedAdminMixin, type(_model_admin)), {})
        )


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    pass


@admin.register(AuditEvent)
class AuditEventAdmin(AuditedAdminMixin, StaffReadOnlyMixin, admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ("at", "actor_username", "tenant", "action", "target_type", "target_id", "client_address")
    list_filter = ("action", "target_type")
    search_fields = ("actor_username", "action", "target_id", "request_id")
    date_hierarchy = "at"
