from django.apps import AppConfig

from argus_plugins.core.graphql.errors import register_error_codes

from .error_codes import TenancyErrorCode


class TenancyConfig(AppConfig):
    name = "argus_plugins.tenancy"
    label = "tenancy"
    verbose_name = "Tenants and access"

    def ready(self) -> None:
        register_error_codes(TenancyErrorCode)
