from django.apps import AppConfig

from argus_plugins.core.graphql.errors import register_error_codes

from .error_codes import InstallationErrorCode


class InstallationsConfig(AppConfig):
    name = "installations"

    def ready(self) -> None:
        register_error_codes(InstallationErrorCode)
