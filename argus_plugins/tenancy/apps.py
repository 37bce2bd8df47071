from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "argus_plugins.tenancy"
    label = "tenancy"
    verbose_name = "Tenants and access"
