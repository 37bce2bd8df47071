from django.apps import AppConfig

from argus_plugins.core.graphql.errors import register_error_codes

from .error_codes import TriggersErrorCode


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Triggers and webhooks"

    def ready(self) -> None:
        register_error_codes(TriggersErrorCode)
