from django.apps import AppConfig

from argus_plugins.core.graphql.errors import register_error_codes

from .bundles import BundleErrorCode
from .error_codes import RegistryErrorCode
from .layers import LayerErrorCode
from .lockfile import LockErrorCode
from .manifest import ManifestErrorCode
from .signing import KeyRejectionCode, SignatureErrorCode


class RegistryConfig(AppConfig):
    name = "registry"

    def ready(self) -> None:
        register_error_codes(
            RegistryErrorCode,
            KeyRejectionCode,
            SignatureErrorCode,
            BundleErrorCode,
            ManifestErrorCode,
            LockErrorCode,
            LayerErrorCode,
        )
