from django.apps import AppConfig

from argus_plugins.core.graphql.errors import register_error_codes

from .error_codes import MarketplaceErrorCode


class MarketplaceConfig(AppConfig):
    name = "marketplace"

    def ready(self) -> None:
        register_error_codes(MarketplaceErrorCode)
