from __future__ import annotations

from typing import Any

import graphene
from django.conf import settings
from graphene_file_upload.scalars import Upload

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.graphql.mutations import BaseMutation

from .. import services
from ..bundles import BundleErrorCode
from .types import PluginType, PluginVersionType, PublisherType, SigningKeyType


class CreatePublisher(BaseMutation):
    publisher = graphene.Field(PublisherType)

    class Arguments:
        name = graphene.String(required=True)
        slug = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CreatePublisher:
        return cls(publisher=services.create_publisher(actor=info.context.user, **data))


class RegisterSigningKey(BaseMutation):
    signing_key = graphene.Field(SigningKeyType)

    class Arguments:
        publisher_id = graphene.ID(required=True)
        public_key_pem = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> RegisterSigningKey:
        return cls(signing_key=services.register_signing_key(actor=info.context.user, **data))


class RevokeSigningKey(BaseMutation):
    signing_key = graphene.Field(SigningKeyType)

    class Arguments:
        id = graphene.ID(required=True)
        reason = graphene.String(required=True)

    @classmethod
    def perform_mutation(
        cls, root: Any, info: graphene.ResolveInfo, id: str, reason: str
    ) -> RevokeSigningKey:
        key = services.revoke_signing_key(actor=info.context.user, key_id=id, reason=reason)
        return cls(signing_key=key)


class CreatePlugin(BaseMutation):
    plugin = graphene.Field(PluginType)

    class Arguments:
        publisher_id = graphene.ID(required=True)
        slug = graphene.String(required=True)
        name = graphene.String(required=True)
        summary = graphene.String()
        description = graphene.String()
        categories = graphene.List(graphene.NonNull(graphene.String))

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CreatePlugin:
        return cls(plugin=services.create_plugin(actor=info.context.user, **data))


class CreatePluginVersion(BaseMutation):
    plugin_version = graphene.Field(PluginVersionType)

    class Arguments:
        plugin_id = graphene.ID(required=True)
        version = graphene.String(required=True)
        changelog = graphene.String()
        bundle = Upload(required=True, description="The .tar.gz bundle (GraphQL multipart request).")
        signature = graphene.String(
            required=True, description="Base64 RSASSA-PSS signature of the statement."
        )
        signing_key_id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CreatePluginVersion:
        upload = data.pop("bundle")
        if not hasattr(upload, "read"):
            raise DomainError(
                CommonErrorCode.INVALID, "Send the bundle as a multipart file upload.", "bundle"
            )
        if upload.size > settings.ARGUS_MAX_BUNDLE_BYTES:
            raise DomainError(
                BundleErrorCode.TOO_LARGE,
                f"The bundle is larger than {settings.ARGUS_MAX_BUNDLE_BYTES} bytes.",
                "bundle",
            )
        version = services.create_plugin_version(
            actor=info.context.user, bundle_bytes=upload.read(), changelog=data.pop("changelog", ""), **data
        )
        return cls(plugin_version=version)


class _VersionAction(BaseMutation):
    """A lifecycle action on one version: the id plus the action's own arguments go to one service."""

    plugin_version = graphene.Field(PluginVersionType)

    class Meta:
        abstract = True

    @classmethod
    def service(cls, **kwargs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str, **data: Any) -> Any:
        return cls(plugin_version=cls.service(actor=info.context.user, version_id=id, **data))


class SubmitPluginVersionForReview(_VersionAction):
    """DRAFT → IN_REVIEW (publisher members)."""

    class Arguments:
        id = graphene.ID(required=True)

    service = staticmethod(services.submit_for_review)


class ApprovePluginVersion(_VersionAction):
    """IN_REVIEW → PUBLISHED (staff). Re-verifies the stored bundle and its signature first."""

    class Arguments:
        id = graphene.ID(required=True)
        notes = graphene.String()

    service = staticmethod(services.approve_version)


class RejectPluginVersion(_VersionAction):
    """IN_REVIEW → REJECTED (staff)."""

    class Arguments:
        id = graphene.ID(required=True)
        notes = graphene.String(required=True)

    service = staticmethod(services.reject_version)


class DeprecatePluginVersion(_VersionAction):
    """PUBLISHED → DEPRECATED: still runs for pinned installations, with a warning."""

    class Arguments:
        id = graphene.ID(required=True)
        reason = graphene.String(required=True)

    service = staticmethod(services.deprecate_version)


class ArchivePluginVersion(_VersionAction):
    """DEPRECATED → ARCHIVED: never runs again."""

    class Arguments:
        id = graphene.ID(required=True)

    service = staticmethod(services.archive_version)


class DeprecatePlugin(BaseMutation):
    """ACTIVE → DEPRECATED for the whole plugin."""

    plugin = graphene.Field(PluginType)

    class Arguments:
        id = graphene.ID(required=True)
        reason = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str, reason: str) -> DeprecatePlugin:
        plugin = services.deprecate_plugin(actor=info.context.user, plugin_id=id, reason=reason)
        return cls(plugin=plugin)


class ArchivePlugin(BaseMutation):
    """DEPRECATED → ARCHIVED for the whole plugin."""

    plugin = graphene.Field(PluginType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> ArchivePlugin:
        return cls(plugin=services.archive_plugin(actor=info.context.user, plugin_id=id))


class RegistryMutations(graphene.ObjectType):
    create_publisher = CreatePublisher.Field()
    register_signing_key = RegisterSigningKey.Field()
    revoke_signing_key = RevokeSigningKey.Field()
    create_plugin = CreatePlugin.Field()
    create_plugin_version = CreatePluginVersion.Field()
    submit_plugin_version_for_review = SubmitPluginVersionForReview.Field()
    approve_plugin_version = ApprovePluginVersion.Field()
    reject_plugin_version = RejectPluginVersion.Field()
    deprecate_plugin_version = DeprecatePluginVersion.Field()
    archive_plugin_version = ArchivePluginVersion.Field()
    deprecate_plugin = DeprecatePlugin.Field()
    archive_plugin = ArchivePlugin.Field()
