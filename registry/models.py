from __future__ import annotations

from django.conf import settings
from django.db import models

from argus_plugins.core import clock
from argus_plugins.core.models import CreatedAtModel, UUIDModel


class PublisherRole(models.TextChoices):
    OWNER = "OWNER", "Owner"  # manages members and signing keys
    DEVELOPER = "DEVELOPER", "Developer"  # creates plugins and uploads versions


class Publisher(UUIDModel, CreatedAtModel):
    """A third-party developer organisation. ``verified`` is set by staff after vetting."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    verified = models.BooleanField(default=False)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name


class PublisherMembership(UUIDModel, CreatedAtModel):
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="publisher_memberships"
    )
    role = models.CharField(max_length=16, choices=PublisherRole.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("publisher", "user"), name="uniq_publisher_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.publisher} ({self.role})"


class SigningKey(UUIDModel, CreatedAtModel):
    """A publisher's RSA public key. Revoking it distrusts every version it signed, from then on."""

    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="signing_keys")
    public_key_pem = models.TextField()
    #: SHA-256 (hex) of the DER SubjectPublicKeyInfo.
    fingerprint = models.CharField(max_length=64, unique=True)
    key_bits = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=500, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ("-created_at", "id")

    def __str__(self) -> str:
        return f"{self.publisher.slug}:{self.fingerprint[:16]}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class PluginStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    DEPRECATED = "DEPRECATED", "Deprecated"
    ARCHIVED = "ARCHIVED", "Archived"


class Plugin(UUIDModel, CreatedAtModel):
    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="plugins")
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    categories = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=PluginStatus.choices, default=PluginStatus.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ("slug",)

    def __str__(self) -> str:
        return self.slug


class VersionStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    IN_REVIEW = "IN_REVIEW", "In review"
    PUBLISHED = "PUBLISHED", "Published"
    DEPRECATED = "DEPRECATED", "Deprecated"
    ARCHIVED = "ARCHIVED", "Archived"
    REJECTED = "REJECTED", "Rejected"


#: Statuses in which a version may run: published, or deprecated (with a warning, for pinned installs).
RUNNABLE_VERSION_STATUSES = (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED)


class LayerStatus(models.TextChoices):
    PENDING = "PENDING", "Being resolved"
    RESOLVED = "RESOLVED", "Resolved and frozen"
    FAILED = "FAILED", "Resolution failed"


class DependencyLayer(UUIDModel, CreatedAtModel):
    """The frozen third-party packages of one lock file on one runtime, shared by every version whose
    lock file has the same bytes (builds are cached by the lock file's hash). Immutable once RESOLVED."""

    runtime = models.CharField(max_length=64)
    ecosystem = models.CharField(max_length=16, default="pip")
    lock_sha256 = models.CharField(max_length=64)
    #: The exact lock text resolved (already checked: pinned, hashed), kept for the reviewer.
    lock_text = models.TextField()
    status = models.CharField(max_length=16, choices=LayerStatus.choices, default=LayerStatus.PENDING)
    archive = models.FileField(upload_to="layers/", max_length=255, blank=True)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    archive_size = models.PositiveBigIntegerField(default=0)
    #: [{name, version, filename, sha256, license, summary}] of the installed wheels.
    packages = models.JSONField(default=list)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("runtime", "lock_sha256"), name="uniq_dependency_layer_lock"),
        ]

    def __str__(self) -> str:
        return f"{self.runtime} layer {self.lock_sha256[:12]} ({self.status})"


class PluginVersion(UUIDModel, CreatedAtModel):
    """One signed, immutable upload of a plugin. Only status and review fields ever change."""

    plugin = models.ForeignKey(Plugin, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=128)
    #: Orders versions by SemVer precedence (see registry.versioning.precedence_key).
    precedence_key = models.CharField(max_length=512, editable=False)
    changelog = models.TextField(blank=True)
    manifest = models.JSONField()
    manifest_sha256 = models.CharField(max_length=64)
    runtime = models.CharField(max_length=64)
    min_platform_version = models.CharField(max_length=128, blank=True)
    max_platform_version = models.CharField(max_length=128, blank=True)
    bundle = models.FileField(upload_to="bundles/", max_length=255)
    bundle_size = models.PositiveBigIntegerField()
    code_sha256 = models.CharField(max_length=64)
    signature = models.TextField()
    signing_key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="versions")
    #: When the signature was last verified against the stored bundle (upload, approval).
    signature_verified_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    review_notes = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    deprecation_reason = models.CharField(max_length=500, blank=True)
    #: Set when the manifest declares a lock file: the layer its packages are frozen into.
    dependency_layer = models.ForeignKey(
        DependencyLayer, on_delete=models.PROTECT, related_name="versions", null=True, blank=True
    )

    class Meta:
        ordering = ("plugin", "-precedence_key")
        permissions = [("review_pluginversion", "Can approve or reject plugin versions in review")]
        constraints = [
            models.UniqueConstraint(fields=("plugin", "version"), name="uniq_plugin_version"),
            # 1.0.0+a and 1.0.0+b have equal precedence: one of them would be unreachable.
            models.UniqueConstraint(
                fields=("plugin", "precedence_key"), name="uniq_plugin_version_precedence"
            ),
        ]
        indexes = [models.Index(fields=("status", "submitted_at"))]

    def __str__(self) -> str:
        return f"{self.plugin.slug}@{self.version}"

    @property
    def is_trusted(self) -> bool:
        """Signed by a key that is not revoked (the signature itself was verified on upload)."""
        return not self.signing_key.is_revoked

    @property
    def capabilities(self) -> list[str]:
        return list(self.manifest.get("capabilities", []))


class LifecycleEvent(UUIDModel):
    """Every status change of a plugin or a version: who, when, from, to, why. Append-only."""

    plugin = models.ForeignKey(Plugin, on_delete=models.CASCADE, related_name="lifecycle_events")
    version = models.ForeignKey(
        PluginVersion, on_delete=models.CASCADE, related_name="history", null=True, blank=True
    )
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"{self.from_status or '-'} → {self.to_status} by {self.actor_id}"


class PluginVersionReview(PluginVersion):
    """The reviewers' queue in the admin (versions IN_REVIEW); same rows as PluginVersion."""

    class Meta:
        proxy = True
        verbose_name = "version awaiting review"
        verbose_name_plural = "review queue"
