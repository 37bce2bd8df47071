from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

from argus_plugins.core import clock
from argus_plugins.core.models import CreatedAtModel, UUIDModel


class User(AbstractUser, UUIDModel):
    """A person or service account. Staff users are platform operators and marketplace reviewers."""


class Role(models.TextChoices):
    ADMIN = "ADMIN", "Admin"
    ANALYST = "ANALYST", "Analyst"
    VIEWER = "VIEWER", "Viewer"


#: Higher rank includes every right of a lower one.
ROLE_RANK = {Role.VIEWER: 1, Role.ANALYST: 2, Role.ADMIN: 3}


class Tenant(UUIDModel, CreatedAtModel):
    """An agency: the unit of isolation. Nothing of one tenant is ever visible to another."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    #: Set (never cleared) once the tenant has had an event subscription or webhook endpoint. Until then
    #: no event of the tenant can reach anyone, which every finished run can tell from this row alone.
    event_listeners_configured = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def note_event_listener(cls, tenant_id: object) -> None:
        cls.objects.filter(pk=tenant_id, event_listeners_configured=False).update(
            event_listeners_configured=True
        )


def tenant_key(*, related_name: str = "+") -> models.ForeignKey:
    """The tenant a row belongs to. PROTECT: a tenant that owns data cannot be deleted through the ORM."""
    return models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name=related_name)


class TenantOwnedModel(UUIDModel):
    """A row of one tenant's data. ``tenant`` has no reverse accessor on ``Tenant``; a model that wants one
    redeclares the field as ``tenant = tenant_key(related_name=...)``."""

    tenant = tenant_key()

    class Meta:
        abstract = True


class MembershipQuerySet(models.QuerySet):
    def admins(self) -> MembershipQuerySet:
        return self.filter(role=Role.ADMIN)


class Membership(UUIDModel, CreatedAtModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ("created_at", "id")
        constraints = [models.UniqueConstraint(fields=("user", "tenant"), name="uniq_membership_user_tenant")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"

    def has_role(self, required: Role) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[required]


class InvitationStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    ACCEPTED = "ACCEPTED", "Accepted"
    DECLINED = "DECLINED", "Declined"
    REVOKED = "REVOKED", "Revoked"


#: The only moves an invitation makes; every answer is final.
INVITATION_TRANSITIONS: dict[str, frozenset[str]] = {
    InvitationStatus.PENDING: frozenset(
        {InvitationStatus.ACCEPTED, InvitationStatus.DECLINED, InvitationStatus.REVOKED}
    ),
    InvitationStatus.ACCEPTED: frozenset(),
    InvitationStatus.DECLINED: frozenset(),
    InvitationStatus.REVOKED: frozenset(),
}


class TenantInvitationQuerySet(models.QuerySet):
    def open(self) -> TenantInvitationQuerySet:
        """Pending and not expired: still waiting for the invited user's answer."""
        return self.filter(status=InvitationStatus.PENDING, expires_at__gt=clock.now())


class TenantInvitation(UUIDModel, CreatedAtModel):
    """A tenant admin's invitation for a username to join the tenant with a role.

    Nobody becomes a member without consent: the membership is created only when the invited user
    accepts. The invitation names a username, not a user, and is recorded whether or not that username
    exists, so inviting tells the admin nothing about which accounts exist.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=16, choices=Role.choices)
    status = models.CharField(
        max_length=16, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)

    objects = TenantInvitationQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("tenant", "username"),
                condition=models.Q(status="PENDING"),
                name="uniq_pending_invitation_tenant_username",
            )
        ]
        indexes = [models.Index(fields=("username", "status"))]

    def __str__(self) -> str:
        return f"{self.username} → {self.tenant} ({self.role}, {self.status})"

    def is_expired(self) -> bool:
        return self.expires_at <= clock.now()


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        now = clock.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(UUIDModel, CreatedAtModel):
    """A personal API token. Only its SHA-256 is stored; the secret is shown once, at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    #: The first characters of the token, enough for a person to recognise it in a list.
    prefix = models.CharField(max_length=16, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "id")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= clock.now()

    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired()


class TenantPolicy(models.Model):
    """Per-tenant limits set by the tenant's admins or operators; absent fields fall back to settings."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True, related_name="policy")
    #: Grants may not outlive this; a grant created without expiry gets exactly this lifetime.
    max_grant_lifetime = models.DurationField(null=True, blank=True)
    #: Maximum executions of this tenant running at once (None: settings.ARGUS_TENANT_MAX_CONCURRENCY).
    max_concurrent_executions = models.PositiveIntegerField(null=True, blank=True)
    #: Maximum executions of this tenant QUEUED at once (None: settings.ARGUS_TENANT_MAX_QUEUED).
    max_queued_executions = models.PositiveIntegerField(null=True, blank=True)
    #: Resource defaults without compute:extended, e.g. {"memory_mb": 256}; missing keys use settings.
    default_limits = models.JSONField(default=dict, blank=True)
    #: Run this tenant's plugins under gVisor (settings.ARGUS_SANDBOX_GVISOR_RUNTIME) whatever the platform's
    #: default OCI runtime: a user-space kernel between the plugin and the host's (see README).
    require_gvisor = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "tenant policies"

    def __str__(self) -> str:
        return f"Policy of {self.tenant}"
