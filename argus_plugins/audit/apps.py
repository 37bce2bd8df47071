from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "argus_plugins.audit"
    label = "audit"
    verbose_name = "Audit log"
