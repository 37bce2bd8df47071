"""``manage.py refresh_listing_stats``: recompute every listing's catalogue figures from the rows."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from marketplace.stats import refresh_listing_stats


class Command(BaseCommand):
    help = "Recompute ListingStats (visibility, installs, ratings, latest publication) of every listing."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"refreshed {refresh_listing_stats()} listings")
