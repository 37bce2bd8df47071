"""Celery tasks of the marketplace. Task bodies call plain functions."""

from __future__ import annotations

from celery import shared_task

from . import billing


@shared_task(name="marketplace.billing_cycle", acks_late=True, soft_time_limit=240, time_limit=300)
def billing_cycle() -> dict[str, int]:
    """Renewals, trial ends, past-due and expiry (see marketplace.billing for the policy). Safe to run
    twice or concurrently: every change is a guarded, per-entitlement transaction."""
    return billing.run_billing_cycle()
