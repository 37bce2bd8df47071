"""Registry use cases: publishers, signing keys, plugins, versions and their review.

Nothing is trusted until verified here: a version is stored only after its bundle, manifest and
signature all check out, and the signature is checked again against the stored bytes at approval
(and, by the execution engine, before every run, through ``verify_stored_version``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from argus_plugins.canonical import canonical_sha256, sha256_hex
from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError, DomainErrors, not_found
from argus_plugins.core.events import PLATFORM_EVENT_TYPES
from argus_plugins.core.hooks import run_hooks
from argus_plugins.core.objects import (
    StorageUnavailable,
    delete_object,
    read_object,
    storage_errors,
    storage_unavailable_error,
)
from argus_plugins.core.validation import clean_text, parse_uuid
from argus_plugins.tenancy.models import User
from argus_plugins.tenancy.permissions import require_authenticated, require_staff
from ledger import records as ledger_records

from . import bundles, dependencies, signing
from . import manifest as manifest_rules
from .capabilities import known_capability_names
from .error_codes import RegistryErrorCode
from .hooks import PLUGINS_CHANGED
from .lifecycle import transition_plugin, transition_version
from .models import (
    Plugin,
    PluginStatus,
    PluginVersion,
    Publisher,
    PublisherMembership,
    PublisherRole,
    SigningKey,
    VersionStatus,
)
from .permissions import publisher_membership, require_publisher_role
from .versioning import parse_version, precedence_key

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_CATEGORIES = 10
MAX_CHANGELOG = 50_000
MAX_NOTES = 5_000


def _clean_slug(value: Any, field: str = "slug") -> str:
    slug = clean_text(value, field=field, max_length=64)
    if not SLUG_RE.match(slug):
        raise DomainError(
            CommonErrorCode.INVALID,
            "Use lower-case letters, digits and inner hyphens (e.g. 'ioc-extractor').",
            field,
        )
    return slug


def _get(queryset: QuerySet, object_id: Any, what: str, field: str = "id") -> Any:
    found = queryset.filter(pk=parse_uuid(object_id, field=field)).first()
    if found is None:
        raise not_found(what, field)
    return found


# ------------------------------------------------------------------------------------ visibility


def visible_plugins(user: Any) -> QuerySet[Plugin]:
    """Plugins the user may see: every plugin with a runnable version, plus their publishers' own."""
    if getattr(user, "is_staff", False):
        return Plugin.objects.all()
    if not getattr(user, "is_authenticated", False):
        return Plugin.objects.none()
    listed = PluginVersion.objects.filter(status__in=(VersionStatus.PUBLISHED, VersionStatus.DEPRECATED))
    own = PublisherMembership.objects.filter(user=user)
    return Plugin.objects.filter(
        Q(pk__in=listed.values("plugin_id")) | Q(publisher_id__in=own.values("publisher_id"))
    )


def visible_versions(user: Any) -> QuerySet[PluginVersion]:
    """Published and deprecated versions for everyone signed in; every status for members and staff."""
    if getattr(user, "is_staff", False):
        return PluginVersion.objects.all()
    if not getattr(user, "is_authenticated", False):
        return PluginVersion.objects.none()
    own = PublisherMembership.objects.filter(user=user)
    return PluginVersion.objects.filter(
        Q(status__in=(VersionStatus.PUBLISHED, VersionStatus.DEPRECATED))
        | Q(plugin__publisher_id__in=own.values("publisher_id"))
    )


# ------------------------------------------------------------------------------ publishers & keys


@transaction.atomic
def create_publisher(*, actor: User, name: Any, slug: Any) -> Publisher:
    require_authenticated(actor)
    name = clean_text(name, field="name", max_length=200)
    slug = _clean_slug(slug)
    try:
        with transaction.atomic():
            publisher = Publisher.objects.create(name=name, slug=slug)
    except IntegrityError:
        raise DomainError(
            CommonErrorCode.DUPLICATE, f"The publisher slug '{slug}' is taken.", "slug"
        ) from None
    PublisherMembership.objects.create(publisher=publisher, user=actor, role=PublisherRole.OWNER)
    return publisher


@transaction.atomic
def register_signing_key(*, actor: User, publisher_id: Any, public_key_pem: Any) -> SigningKey:
    require_authenticated(actor)
    publisher = _get(Publisher.objects.all(), publisher_id, "Publisher", "publisherId")
    require_publisher_role(actor, publisher, PublisherRole.OWNER)
    pem = clean_text(public_key_pem, field="publicKeyPem", max_length=20_000)
    try:
        key = signing.load_public_key(pem, min_bits=settings.ARGUS_SIGNING_KEY_MIN_BITS)
    except signing.KeyRejected as rejected:
        raise DomainError(rejected.code, rejected.message, "publicKeyPem") from None
    try:
        with transaction.atomic():
            return SigningKey.objects.create(
                publisher=publisher,
                public_key_pem=key.pem,
                fingerprint=key.fingerprint,
                key_bits=key.key_size,
                created_by=actor,
            )
    except IntegrityError:
        raise DomainError(
            CommonErrorCode.DUPLICATE, "This key is already registered.", "publicKeyPem"
        ) from None


@transaction.atomic
def revoke_signing_key(*, actor: User, key_id: Any, reason: Any) -> SigningKey:
    require_authenticated(actor)
    key = _get(SigningKey.objects.select_for_update().select_related("publisher"), key_id, "Signing key")
    if publisher_membership(actor, key.publisher) is None and not actor.is_staff:
        raise not_found("Signing key")
    require_publisher_role(actor, key.publisher, PublisherRole.OWNER)
    reason = clean_text(reason, field="reason", max_length=500)
    if key.revoked_at is not None:
        raise DomainError(RegistryErrorCode.KEY_REVOKED, "This key is already revoked.", "id")
    key.revoked_at, key.revoked_reason, key.revoked_by = clock.now(), reason, actor
    key.save(update_fields=["revoked_at", "revoked_reason", "revoked_by"])
    signed = PluginVersion.objects.filter(signing_key=key).values_list("plugin_id", flat=True).distinct()
    run_hooks(PLUGINS_CHANGED, list(signed))  # its versions are no longer trusted, in this commit
    return key


# ---------------------------------------------------------------------------------------- plugins


def _clean_categories(categories: Any) -> list[str]:
    if categories is None:
        return []
    if not isinstance(categories, list | tuple) or len(categories) > MAX_CATEGORIES:
        raise DomainError(CommonErrorCode.INVALID, f"Give at most {MAX_CATEGORIES} categories.", "categories")
    return sorted({clean_text(c, field="categories", max_length=50).lower() for c in categories})


@transaction.atomic
def create_plugin(
    *,
    actor: User,
    publisher_id: Any,
    slug: Any,
    name: Any,
    summary: Any = "",
    description: Any = "",
    categories: Any = None,
) -> Plugin:
    require_authenticated(actor)
    publisher = _get(Publisher.objects.all(), publisher_id, "Publisher", "publisherId")
    require_publisher_role(actor, publisher)
    fields = {
        "slug": _clean_slug(slug),
        "name": clean_text(name, field="name", max_length=200),
        "summary": clean_text(summary, field="summary", max_length=300, required=False),
        "description": clean_text(description, field="description", max_length=50_000, required=False),
        "categories": _clean_categories(categories),
    }
    try:
        with transaction.atomic():
            return Plugin.objects.create(publisher=publisher, created_by=actor, **fields)
    except IntegrityError:
        raise DomainError(
            CommonErrorCode.DUPLICATE, f"The plugin slug '{fields['slug']}' is taken.", "slug"
        ) from None


def _plugin_for_publisher_action(actor: User, plugin_id: Any, field: str = "id") -> Plugin:
    plugin = _get(visible_plugins(actor).select_related("publisher"), plugin_id, "Plugin", field)
    require_publisher_role(actor, plugin.publisher)
    return plugin


# --------------------------------------------------------------------------------------- versions


def _manifest_errors(invalid: manifest_rules.ManifestInvalid) -> DomainErrors:
    errors = []
    for issue in invalid.errors:
        field = "bundle" if issue.field is None else f"manifest.{issue.field}"
        code = issue.code
        if code == manifest_rules.ManifestErrorCode.PLATFORM_INCOMPATIBLE:
            code = RegistryErrorCode.PLATFORM_INCOMPATIBLE
        errors.append(DomainError(code, issue.message, field))
    return DomainErrors(errors)


def validate_upload(
    *, plugin: Plugin, version: str, bundle_bytes: bytes
) -> tuple[bundles.BundleInfo, manifest_rules.PluginManifest]:
    """Everything about an upload that does not need the database: bundle safety, then the manifest."""
    try:
        info = bundles.inspect_bundle(
            bundle_bytes,
            max_bundle_bytes=settings.ARGUS_MAX_BUNDLE_BYTES,
            max_uncompressed_bytes=settings.ARGUS_MAX_BUNDLE_UNCOMPRESSED_BYTES,
            max_members=settings.ARGUS_MAX_BUNDLE_MEMBERS,
        )
    except bundles.BundleRejected as rejected:
        raise DomainError(rejected.code, rejected.message, "bundle") from None
    try:
        manifest = manifest_rules.validate_manifest(
            info.manifest,
            version=version,
            platform_version=settings.PLATFORM_VERSION,
            known_runtimes=set(settings.ARGUS_RUNTIME_IMAGES),
            resource_limits=settings.ARGUS_RESOURCE_MAXIMA,
            known_capabilities=known_capability_names(),
            known_events=PLATFORM_EVENT_TYPES,
            bundle_files=info.file_names,
            plugin_slug=plugin.slug,
        )
    except manifest_rules.ManifestInvalid as invalid:
        raise _manifest_errors(invalid) from None
    return info, manifest


def _verify(key: SigningKey, statement: bytes, signature: str, field: str = "signature") -> None:
    try:
        signing.verify_signature(
            key.public_key_pem, statement, signature, min_bits=settings.ARGUS_SIGNING_KEY_MIN_BITS
        )
    except signing.SignatureInvalid as invalid:
        raise DomainError(invalid.code, invalid.message, field) from None
    except signing.KeyRejected as rejected:
        raise DomainError(rejected.code, rejected.message, "signingKeyId") from None


@transaction.atomic
def create_plugin_version(
    *,
    actor: User,
    plugin_id: Any,
    version: Any,
    changelog: Any,
    bundle_bytes: bytes,
    signature: Any,
    signing_key_id: Any,
) -> PluginVersion:
    """Validate and store a signed upload as a DRAFT. Nothing is written unless every check passes."""
    plugin = _plugin_for_publisher_action(actor, plugin_id, "pluginId")
    if plugin.status == PluginStatus.ARCHIVED:
        raise DomainError(RegistryErrorCode.INVALID_TRANSITION, "This plugin is archived.", "pluginId")
    parsed = parse_version(version)
    version = str(version)
    changelog = clean_text(
        changelog, field="changelog", max_length=MAX_CHANGELOG, required=False, strip=False
    )
    signature = clean_text(signature, field="signature", max_length=4096)
    key = _get(
        SigningKey.objects.filter(publisher=plugin.publisher), signing_key_id, "Signing key", "signingKeyId"
    )
    if key.is_revoked:
        raise DomainError(RegistryErrorCode.KEY_REVOKED, "This signing key has been revoked.", "signingKeyId")
    key_sort = precedence_key(parsed)
    if PluginVersion.objects.filter(plugin=plugin, precedence_key=key_sort).exists():
        raise DomainError(
            RegistryErrorCode.VERSION_EXISTS,
            f"Version {version} of '{plugin.slug}' already exists.",
            "version",
        )
    info, manifest = validate_upload(plugin=plugin, version=version, bundle_bytes=bundle_bytes)
    dependencies.locked_requirements(info.manifest, bundle_bytes)  # unpinned or unhashed: refused now
    _verify(
        key,
        signing.signing_statement(plugin.slug, version, info.code_sha256, info.manifest_sha256),
        signature,
    )
    version_id = uuid.uuid4()
    # One file per version, written only now that every check passed; removed again if the row is not.
    try:
        with storage_errors():
            name = default_storage.save(f"bundles/{plugin.pk}/{version_id}.tar.gz", ContentFile(bundle_bytes))
    except StorageUnavailable as error:
        raise storage_unavailable_error(error, "bundle") from None
    try:
        with transaction.atomic():
            return PluginVersion.objects.create(
                id=version_id,
                plugin=plugin,
                version=version,
                precedence_key=key_sort,
                changelog=changelog,
                manifest=info.manifest,
                manifest_sha256=info.manifest_sha256,
                runtime=manifest.runtime,
                min_platform_version=manifest.min_platform_version or "",
                max_platform_version=manifest.max_platform_version or "",
                bundle=name,
                bundle_size=len(bundle_bytes),
                code_sha256=info.code_sha256,
                signature=signature,
                signing_key=key,
                signature_verified_at=clock.now(),
                created_by=actor,
            )
    except IntegrityError:
        delete_object(name)
        raise DomainError(
            RegistryErrorCode.VERSION_EXISTS,
            f"Version {version} of '{plugin.slug}' already exists.",
            "version",
        ) from None
    except BaseException:
        delete_object(name)
        raise


def read_stored_bundle(version: PluginVersion) -> bytes:
    """The stored archive (a byte more than the largest allowed at most: its hash then cannot match).
    StorageUnavailable when the object store cannot be reached; FileNotFoundError when it is missing."""
    return read_object(version.bundle.name, limit=settings.ARGUS_MAX_BUNDLE_BYTES + 1)


def verify_stored_version(version: PluginVersion) -> bytes:
    """Re-hash the stored bundle and re-verify its signature; return the verified bytes.

    Raises INTEGRITY_MISMATCH when the stored bytes are not what was signed, KEY_REVOKED when the key has
    been revoked since, and the signature codes when the signature no longer verifies; StorageUnavailable
    (no verdict on the bundle) when the object store cannot be reached.
    """
    key = version.signing_key
    if key.is_revoked:
        raise DomainError(RegistryErrorCode.KEY_REVOKED, "The version's signing key has been revoked.")
    try:
        data = read_stored_bundle(version)
    except FileNotFoundError:
        raise DomainError(RegistryErrorCode.INTEGRITY_MISMATCH, "The stored bundle is missing.") from None

    if (
        sha256_hex(data) != version.code_sha256
        or canonical_sha256(version.manifest) != version.manifest_sha256
    ):
        raise DomainError(
            RegistryErrorCode.INTEGRITY_MISMATCH, "The stored bundle does not match its recorded SHA-256."
        )
    statement = signing.signing_statement(
        version.plugin.slug, version.version, version.code_sha256, version.manifest_sha256
    )
    _verify(key, statement, version.signature)
    return data


def _version_for_publisher_action(actor: User, version_id: Any) -> PluginVersion:
    version = _get(
        visible_versions(actor).select_related("plugin__publisher", "signing_key"),
        version_id,
        "Plugin version",
    )
    require_publisher_role(actor, version.plugin.publisher)
    return version


@transaction.atomic
def submit_for_review(*, actor: User, version_id: Any) -> PluginVersion:
    version = _version_for_publisher_action(actor, version_id)
    version = transition_version(version, VersionStatus.IN_REVIEW, actor=actor, submitted_at=clock.now())
    if manifest_rules.lock_file_of(version.manifest) is not None:
        dependencies.attach_layer(version, _verified_for_mutation(version))
    return version


def _verified_for_mutation(version: PluginVersion) -> bytes:
    """verify_stored_version, with a store that is down answered as a typed error (not an internal one)."""
    try:
        return verify_stored_version(version)
    except StorageUnavailable as error:
        raise storage_unavailable_error(error) from None


REVIEW_PERMISSION = "registry.review_pluginversion"


def require_reviewer(actor: User) -> None:
    """Approving and rejecting is the marketplace reviewers' job (the Reviewers role), not any staff's."""
    require_staff(actor)
    if not actor.has_perm(REVIEW_PERMISSION):
        raise DomainError(
            CommonErrorCode.PERMISSION_DENIED, "Only marketplace reviewers may approve or reject versions."
        )


@transaction.atomic
def approve_version(*, actor: User, version_id: Any, notes: Any = "") -> PluginVersion:
    """A reviewer's approval. The stored bytes and the signature are verified again before publishing."""
    require_reviewer(actor)
    notes = clean_text(notes, field="notes", max_length=MAX_NOTES, required=False)
    version = _get(
        PluginVersion.objects.select_related("plugin", "signing_key"), version_id, "Plugin version"
    )
    if version.status != VersionStatus.IN_REVIEW:
        raise DomainError(
            RegistryErrorCode.INVALID_TRANSITION,
            f"Cannot move this version from {version.status} to {VersionStatus.PUBLISHED}.",
            "id",
        )
    _verified_for_mutation(version)
    dependencies.require_resolved(version)
    now = clock.now()
    version = transition_version(
        version,
        VersionStatus.PUBLISHED,
        actor=actor,
        note=notes,
        reviewer=actor,
        review_notes=notes,
        reviewed_at=now,
        published_at=now,
        signature_verified_at=now,
    )
    ledger_records.record_version_approved(version)  # same transaction: approved iff recorded
    return version


@transaction.atomic
def reject_version(*, actor: User, version_id: Any, notes: Any) -> PluginVersion:
    require_reviewer(actor)
    notes = clean_text(notes, field="notes", max_length=MAX_NOTES)
    version = _get(PluginVersion.objects.select_related("plugin"), version_id, "Plugin version")
    return transition_version(
        version,
        VersionStatus.REJECTED,
        actor=actor,
        note=notes,
        reviewer=actor,
        review_notes=notes,
        reviewed_at=clock.now(),
    )


@transaction.atomic
def deprecate_version(*, actor: User, version_id: Any, reason: Any) -> PluginVersion:
    version = _version_for_publisher_action(actor, version_id)
    reason = clean_text(reason, field="reason", max_length=500)
    return transition_version(
        version, VersionStatus.DEPRECATED, actor=actor, note=reason, deprecation_reason=reason
    )


@transaction.atomic
def archive_version(*, actor: User, version_id: Any) -> PluginVersion:
    version = _version_for_publisher_action(actor, version_id)
    return transition_version(version, VersionStatus.ARCHIVED, actor=actor)


@transaction.atomic
def deprecate_plugin(*, actor: User, plugin_id: Any, reason: Any) -> Plugin:
    plugin = _plugin_for_publisher_action(actor, plugin_id)
    reason = clean_text(reason, field="reason", max_length=500)
    return transition_plugin(plugin, PluginStatus.DEPRECATED, actor=actor, note=reason)


@transaction.atomic
def archive_plugin(*, actor: User, plugin_id: Any) -> Plugin:
    plugin = _plugin_for_publisher_action(actor, plugin_id)
    return transition_plugin(plugin, PluginStatus.ARCHIVED, actor=actor)
