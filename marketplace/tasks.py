"""Celery tasks of the marketplace. Task bodies call plain functions."""

from __future__ import annotations

from celery import shared_task

from . import billing, stats


@shared_task(name="marketplace.billing_cycle", acks_late=True, soft_time_limit=240, time_limit=300)
def billing_cycle() -> dict[str, int]:
    """Renewals, trial ends, past-due and expiry (see marketplace.billing for the policy). Safe to run
    twice or concurrently: every change is a guarded, per-entitlement transaction."""
    return billing.run_billing_cycle()


@shared_task(name="marketplace.refresh_listing_stats", acks_late=True, soft_time_limit=840, time_limit=900)
def refresh_listing_stats() -> int:
    """Recompute every listing's catalogue figures from the rows (idempotent): repairs any row a write
    outside the services (a bulk import, the admin) left behind."""
    return stats.refresh_listing_stats()
