from django.apps import AppConfig

from argus_plugins.core.graphql.errors import register_error_codes

from .error_codes import ExecutionErrorCode


class ExecutionConfig(AppConfig):
    name = "execution"

    def ready(self) -> None:
        register_error_codes(ExecutionErrorCode)
