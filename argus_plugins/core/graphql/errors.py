"""The one error shape of every mutation payload: ``errors: [Error!]!`` with ``code``, ``field``,
``message``. ``ErrorCode`` is composed from each app's error-code enum so clients see every code."""

from __future__ import annotations

import enum
from importlib import import_module

import graphene
from django.conf import settings

from ..errors import CommonErrorCode, DomainError

# Each app that defines error codes lists its enum here ("module:Class").
ERROR_CODE_ENUMS = [
    "argus_plugins.tenancy.error_codes:TenancyErrorCode",
    "registry.error_codes:RegistryErrorCode",
    "registry.signing:KeyRejectionCode",
    "registry.signing:SignatureErrorCode",
    "registry.bundles:BundleErrorCode",
    "registry.manifest:ManifestErrorCode",
    "registry.lockfile:LockErrorCode",
    "registry.layers:LayerErrorCode",
    "installations.error_codes:InstallationErrorCode",
    "execution.error_codes:ExecutionErrorCode",
    "marketplace.error_codes:MarketplaceErrorCode",
    "triggers.error_codes:TriggersErrorCode",
    *getattr(settings, "ARGUS_EXTRA_ERROR_CODE_ENUMS", []),
]


def _all_error_codes() -> list[str]:
    names = [member.value for member in CommonErrorCode]
    for dotted in ERROR_CODE_ENUMS:
        module_name, _, class_name = dotted.partition(":")
        enum_cls: type[enum.Enum] = getattr(import_module(module_name), class_name)
        names.extend(member.value for member in enum_cls if member.value not in names)
    return names


ErrorCode = graphene.Enum("ErrorCode", [(name, name) for name in _all_error_codes()])


class Error(graphene.ObjectType):
    code = graphene.Field(ErrorCode, required=True, description="Machine-readable reason.")
    field = graphene.String(description="The input field at fault (camelCase), or null for the whole input.")
    message = graphene.String(required=True, description="Human-readable explanation.")


def error_from_domain(error: DomainError) -> Error:
    return Error(code=error.code.value, field=error.field, message=error.message)
