from __future__ import annotations

from django.conf import settings
from django.db import models

from argus_plugins.core import clock
from argus_plugins.core.models import UUIDModel
from argus_plugins.tenancy.models import TenantOwnedModel, tenant_key


class RiskLevel(models.TextChoices):
    LOW = "LOW", "Low"
    MEDIUM = "MEDIUM", "Medium"
    HIGH = "HIGH", "High"


class Capability(UUIDModel):
    """An entry of the capability catalog (registry/data/capabilities.json, loaded by migration).

    Network access is deliberately absent: executions are always network-less.
    """

    name = models.CharField(max_length=64, unique=True)
    description = models.TextField()
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "capabilities"

    def __str__(self) -> str:
        return self.name


class InstallationQuerySet(models.QuerySet):
    def active(self) -> InstallationQuerySet:
        return self.filter(uninstalled_at__isnull=True)


class Installation(TenantOwnedModel):
    """A tenant's installation of a plugin, pinned to a version or following the latest published one."""

    tenant = tenant_key(related_name="installations")
    plugin = models.ForeignKey("registry.Plugin", on_delete=models.PROTECT, related_name="installations")
    #: None follows the newest PUBLISHED version.
    pinned_version = models.ForeignKey(
        "registry.PluginVersion",
        on_delete=models.PROTECT,
        related_name="pinned_installations",
        null=True,
        blank=True,
    )
    config = models.JSONField(default=dict, blank=True)
    installed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    installed_at = models.DateTimeField(default=clock.now, editable=False)
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    uninstalled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    objects = InstallationQuerySet.as_manager()

    class Meta:
        ordering = ("-installed_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("tenant", "plugin"),
                condition=models.Q(uninstalled_at__isnull=True),
                name="uniq_active_installation_per_tenant_plugin",
            )
        ]

    def __str__(self) -> str:
        return f"{self.plugin} in {self.tenant}"

    @property
    def is_active(self) -> bool:
        return self.uninstalled_at is None


class InstallationEventKind(models.TextChoices):
    INSTALLED = "INSTALLED", "Installed"
    UNINSTALLED = "UNINSTALLED", "Uninstalled"
    VERSION_CHANGED = "VERSION_CHANGED", "Version changed"
    CONFIG_CHANGED = "CONFIG_CHANGED", "Configuration changed"


class InstallationEvent(TenantOwnedModel):
    """Install tracking (append-only): the marketplace counts installs and uninstalls from these rows."""

    installation = models.ForeignKey(Installation, on_delete=models.PROTECT, related_name="events")
    plugin = models.ForeignKey(
        "registry.Plugin", on_delete=models.PROTECT, related_name="installation_events"
    )
    version = models.ForeignKey(
        "registry.PluginVersion", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    kind = models.CharField(max_length=16, choices=InstallationEventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        ordering = ("at", "id")
        indexes = [models.Index(fields=("plugin", "kind", "at"))]

    def __str__(self) -> str:
        return f"{self.kind} {self.plugin_id} in {self.tenant_id} at {self.at:%Y-%m-%d %H:%M}"


class CapabilityGrantQuerySet(models.QuerySet):
    def active_at(self, instant) -> CapabilityGrantQuerySet:
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=instant)
        )


class CapabilityGrant(UUIDModel):
    """A tenant admin's grant of one capability to one installation. Never edited except to revoke."""

    installation = models.ForeignKey(Installation, on_delete=models.PROTECT, related_name="grants")
    capability = models.ForeignKey(Capability, on_delete=models.PROTECT, related_name="grants")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(default=clock.now, editable=False)
    #: The grant is active strictly before this instant (UTC).
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    revoke_reason = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    objects = CapabilityGrantQuerySet.as_manager()

    class Meta:
        ordering = ("-granted_at", "id")
        indexes = [models.Index(fields=("installation", "capability", "revoked_at"))]

    def __str__(self) -> str:
        return f"{self.capability} → {self.installation}"

    def is_active_at(self, instant) -> bool:
        return self.revoked_at is None and (self.expires_at is None or instant < self.expires_at)
