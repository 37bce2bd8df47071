from __future__ import annotations

from typing import Any

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core.graphql.connections import CountableConnection, connection_args, resolve_connection

from ..models import (
    LifecycleEvent,
    Plugin,
    PluginStatus,
    PluginVersion,
    Publisher,
    SigningKey,
    VersionStatus,
)

VersionStatusEnum = graphene.Enum.from_enum(VersionStatus, name="PluginVersionStatus")
PluginStatusEnum = graphene.Enum.from_enum(PluginStatus, name="PluginStatus")


class SigningKeyType(DjangoObjectType):
    revoked = graphene.Boolean(required=True)

    class Meta:
        model = SigningKey
        name = "SigningKey"
        fields = (
            "id",
            "publisher",
            "public_key_pem",
            "fingerprint",
            "key_bits",
            "created_at",
            "revoked_at",
            "revoked_reason",
        )

    @staticmethod
    def resolve_revoked(key: SigningKey, info: graphene.ResolveInfo) -> bool:
        return key.is_revoked


class PublisherType(DjangoObjectType):
    signing_keys = graphene.List(graphene.NonNull(SigningKeyType), required=True)

    class Meta:
        model = Publisher
        name = "Publisher"
        fields = ("id", "name", "slug", "verified", "created_at")

    @staticmethod
    def resolve_signing_keys(publisher: Publisher, info: graphene.ResolveInfo) -> list[SigningKey]:
        return list(publisher.signing_keys.all())


class LifecycleEventType(DjangoObjectType):
    actor = graphene.String(required=True, description="Username of who made the change.")

    class Meta:
        model = LifecycleEvent
        name = "LifecycleEvent"
        fields = ("from_status", "to_status", "note", "at")

    @staticmethod
    def resolve_actor(event: LifecycleEvent, info: graphene.ResolveInfo) -> str:
        return event.actor.username


class ResourceRequestType(graphene.ObjectType):
    memory_mb = graphene.Int(required=True)
    cpus = graphene.Float(required=True)
    timeout_seconds = graphene.Int(required=True)
    pids = graphene.Int(required=True)


class PluginVersionType(DjangoObjectType):
    status = graphene.Field(VersionStatusEnum, required=True)
    manifest = graphene.JSONString(required=True)
    signature_verified = graphene.Boolean(
        required=True, description="The signature verified against the bundle and its key is not revoked."
    )
    capabilities = graphene.List(graphene.NonNull(graphene.String), required=True)
    resources = graphene.Field(ResourceRequestType, required=True)
    history = graphene.List(graphene.NonNull(LifecycleEventType), required=True)
    reviewer = graphene.String(description="Username of the reviewer.")

    class Meta:
        model = PluginVersion
        name = "PluginVersion"
        fields = (
            "id",
            "plugin",
            "version",
            "changelog",
            "manifest_sha256",
            "runtime",
            "min_platform_version",
            "max_platform_version",
            "bundle_size",
            "code_sha256",
            "signature",
            "signing_key",
            "review_notes",
            "created_at",
            "submitted_at",
            "reviewed_at",
            "published_at",
            "deprecation_reason",
        )

    @staticmethod
    def resolve_signature_verified(version: PluginVersion, info: graphene.ResolveInfo) -> bool:
        return version.signature_verified_at is not None and version.is_trusted

    @staticmethod
    def resolve_capabilities(version: PluginVersion, info: graphene.ResolveInfo) -> list[str]:
        return version.capabilities

    @staticmethod
    def resolve_resources(version: PluginVersion, info: graphene.ResolveInfo) -> dict[str, Any]:
        return version.manifest["resources"]

    @staticmethod
    def resolve_history(version: PluginVersion, info: graphene.ResolveInfo) -> list[LifecycleEvent]:
        return list(version.history.select_related("actor").order_by("at", "id"))

    @staticmethod
    def resolve_reviewer(version: PluginVersion, info: graphene.ResolveInfo) -> str | None:
        return version.reviewer.username if version.reviewer_id else None


class PluginVersionConnection(CountableConnection):
    class Meta:
        node = PluginVersionType


class PluginType(DjangoObjectType):
    status = graphene.Field(PluginStatusEnum, required=True)
    categories = graphene.List(graphene.NonNull(graphene.String), required=True)
    versions = graphene.Field(
        PluginVersionConnection,
        required=True,
        description="Newest SemVer first.",
        **connection_args(status=VersionStatusEnum()),
    )
    latest_version = graphene.Field(PluginVersionType, description="The newest published version.")

    class Meta:
        model = Plugin
        name = "Plugin"
        fields = ("id", "publisher", "slug", "name", "summary", "description", "status", "created_at")

    @staticmethod
    def resolve_versions(
        plugin: Plugin, info: graphene.ResolveInfo, status: str | None = None, **page: Any
    ) -> PluginVersionConnection:
        from ..services import visible_versions

        versions = visible_versions(info.context.user).filter(plugin=plugin).select_related("signing_key")
        if status:
            versions = versions.filter(status=status)
        return resolve_connection(PluginVersionConnection, versions.order_by("-precedence_key"), **page)

    @staticmethod
    def resolve_latest_version(plugin: Plugin, info: graphene.ResolveInfo) -> PluginVersion | None:
        return (
            plugin.versions.filter(status=VersionStatus.PUBLISHED)
            .select_related("signing_key")
            .order_by("-precedence_key")
            .first()
        )


class PluginConnection(CountableConnection):
    class Meta:
        node = PluginType
