from __future__ import annotations

from typing import Any

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core.graphql.connections import CountableConnection, connection_args, resolve_connection

from .. import dependencies
from ..manifest import lock_file_of
from ..models import (
    LifecycleEvent,
    Plugin,
    PluginStatus,
    PluginVersion,
    Publisher,
    SigningKey,
    VersionStatus,
)
from ..services import visible_versions

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


class DependencyPackageType(graphene.ObjectType):
    name = graphene.String(required=True)
    version = graphene.String(required=True)
    filename = graphene.String(required=True, description="The wheel installed.")
    sha256 = graphene.String(required=True)
    license = graphene.String(required=True)

    class Meta:
        name = "DependencyPackage"


class DependencyLayerType(graphene.ObjectType):
    """A version's third-party packages, frozen into a read-only layer when it is submitted."""

    lock_file = graphene.String(required=True, description="The lock file's path in the bundle.")
    status = graphene.String(
        required=True, description="NOT_SUBMITTED (resolved at submission), PENDING, RESOLVED or FAILED."
    )
    lock_sha256 = graphene.String(description="SHA-256 of the checked lock text (layers are cached by it).")
    layer_sha256 = graphene.String(description="SHA-256 of the frozen layer, verified before every run.")
    layer_size = graphene.Float()
    error_code = graphene.String(description="Why resolution failed (e.g. DEPENDENCY_HASH_MISMATCH).")
    error_message = graphene.String()
    packages = graphene.List(graphene.NonNull(DependencyPackageType), required=True)

    class Meta:
        name = "DependencyLayer"


class PluginVersionType(DjangoObjectType):
    status = graphene.Field(VersionStatusEnum, required=True)
    dependencies = graphene.Field(
        DependencyLayerType, description="Null when the manifest declares no dependencies."
    )
    sbom = graphene.JSONString(
        description="CycloneDX 1.6 JSON of the frozen dependencies (null until they are resolved)."
    )
    sbom_changes = graphene.JSONString(
        description="Packages added, removed and changed since the previous published version."
    )
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

    @staticmethod
    def resolve_dependencies(version: PluginVersion, info: graphene.ResolveInfo) -> dict[str, Any] | None:
        lock_file = lock_file_of(version.manifest)
        if lock_file is None:
            return None
        layer = version.dependency_layer
        if layer is None:
            return {"lock_file": lock_file, "status": "NOT_SUBMITTED", "packages": []}
        return {
            "lock_file": lock_file,
            "status": layer.status,
            "lock_sha256": layer.lock_sha256,
            "layer_sha256": layer.archive_sha256 or None,
            "layer_size": layer.archive_size or None,
            "error_code": layer.error_code or None,
            "error_message": layer.error_message or None,
            "packages": layer.packages,
        }

    @staticmethod
    def resolve_sbom(version: PluginVersion, info: graphene.ResolveInfo) -> dict[str, Any] | None:
        return dependencies.sbom_of(version)

    @staticmethod
    def resolve_sbom_changes(version: PluginVersion, info: graphene.ResolveInfo) -> dict[str, Any] | None:
        return dependencies.sbom_changes(version)


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
