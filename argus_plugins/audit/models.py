from __future__ import annotations

from django.conf import settings
from django.db import models

from argus_plugins.core import clock
from argus_plugins.core.models import UUIDModel


class AuditImmutableError(Exception):
    """Audit events are append-only: they can be neither changed nor deleted."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[override]
        raise AuditImmutableError("Audit events cannot be updated.")

    def delete(self):  # type: ignore[override]
        raise AuditImmutableError("Audit events cannot be deleted.")


class AuditEvent(UUIDModel):
    """Who changed what, when, from where: one row per mutation or admin action, in the same transaction."""

    at = models.DateTimeField(default=clock.now, editable=False, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    #: Kept as text too, so the event stays readable if the account is renamed.
    actor_username = models.CharField(max_length=150, blank=True)
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, related_name="audit_events", null=True, blank=True
    )
    #: "graphql.<mutationName>" or "admin.<app>.<model>.<add|change|delete|action name>".
    action = models.CharField(max_length=120, db_index=True)
    target_type = models.CharField(max_length=120, blank=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    #: {"field": [before, after], ...}; values rendered as JSON-safe text, secrets never included.
    changes = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ("-at", "id")
        indexes = [models.Index(fields=("tenant", "-at"))]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditImmutableError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise AuditImmutableError("Audit events cannot be deleted.")
