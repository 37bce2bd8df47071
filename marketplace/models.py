"""The marketplace: listings of plugins, their pricing plans, tenants' entitlements and invoices, reviews.

Ratings, installs and usage are aggregated by the database from the rows (reviews, installation events,
executions); ``ListingStats`` caches the catalogue's figures, recomputed from those rows (never counted
in Python).
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from djmoney.models.fields import MoneyField

from argus_plugins.core import clock
from argus_plugins.core.models import CreatedAtModel, TimestampedModel, UUIDModel
from argus_plugins.tenancy.models import TenantOwnedModel, tenant_key

#: ISO 4217 currencies plans may be priced in (code, minor-unit digits). A short, curated list of current
#: currencies: historical ones and funds/metals that py-moneyed also knows are refused.
SUPPORTED_CURRENCIES: dict[str, int] = {
    "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2,
    "HKD": 2, "HUF": 2, "ILS": 2, "INR": 2, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "NOK": 2, "NZD": 2,
    "PLN": 2, "SEK": 2, "SGD": 2, "TWD": 2, "USD": 2, "ZAR": 2,
}  # fmt: skip
CURRENCY_CHOICES = [(code, code) for code in sorted(SUPPORTED_CURRENCIES)]


# ------------------------------------------------------------------------------------------ listings


class Listing(UUIDModel, TimestampedModel):
    """A plugin's shop window, edited by its publisher's members. One per plugin."""

    plugin = models.OneToOneField("registry.Plugin", on_delete=models.PROTECT, related_name="listing")
    tagline = models.CharField(max_length=200, blank=True)
    #: Markdown source; ``description_html`` is its sanitised rendering (no raw HTML, no scripts).
    description = models.TextField(blank=True)
    description_html = models.TextField(blank=True, editable=False)
    categories = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    documentation_url = models.URLField(max_length=500, blank=True)
    support_url = models.URLField(max_length=500, blank=True)
    icon_url = models.URLField(max_length=500, blank=True, help_text="https only.")
    delisted_at = models.DateTimeField(null=True, blank=True)
    delisted_reason = models.CharField(max_length=500, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ("created_at", "id")
        indexes = [models.Index(fields=("delisted_at",))]

    def __str__(self) -> str:
        return f"Listing of {self.plugin}"

    @property
    def is_delisted(self) -> bool:
        return self.delisted_at is not None


class ListingStats(models.Model):
    """What the catalogue sorts and filters on, one row per listing, so a page is read from indexes.

    A cache of figures derived from other rows (visible reviews, active installations, trusted published
    versions, the plugin's status and the listing's delisting), rewritten by ``marketplace.stats`` in the
    transactions that change them (directly, or through the registry's and installations' hooks) and
    recomputed in full by the ``marketplace.refresh_listing_stats`` task and command.
    """

    listing = models.OneToOneField(Listing, on_delete=models.CASCADE, primary_key=True, related_name="stats")
    #: As ``listings.marketplace_visible()``: not delisted, plugin not archived, a trusted published version.
    visible = models.BooleanField(default=False)
    #: The plugin's name: every sort ends with (name, listing), so a page is read in index order.
    name = models.CharField(max_length=200, blank=True)
    active_installs = models.PositiveIntegerField(default=0)
    rating_count = models.PositiveIntegerField(default=0)
    rating_average = models.FloatField(null=True, blank=True)
    latest_published_at = models.DateTimeField(null=True, blank=True)
    #: The newest (highest precedence) trusted published version: a page reads it with one join.
    latest_version = models.ForeignKey(
        "registry.PluginVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    #: Visible reviews per star (their sum is ``rating_count``): a page's rating distributions need no query.
    stars_1 = models.PositiveIntegerField(default=0)
    stars_2 = models.PositiveIntegerField(default=0)
    stars_3 = models.PositiveIntegerField(default=0)
    stars_4 = models.PositiveIntegerField(default=0)
    stars_5 = models.PositiveIntegerField(default=0)
    #: The listing's category labels (lower-case), GIN-indexed (jsonb_path_ops) on PostgreSQL for ``@>``.
    categories = models.JSONField(default=list, blank=True)
    #: PostgreSQL only (GIN-indexed): name and slug A, tagline and tags B, description C. Null on SQLite.
    search_document = SearchVectorField(null=True, editable=False)
    refreshed_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name_plural = "listing stats"
        # The RATING and NEWEST orders (DESC NULLS LAST, which SQLite cannot index) and the search document
        # (GIN) are indexed on PostgreSQL by migration 0002, the categories (GIN, jsonb_path_ops) by 0003.
        indexes = [
            models.Index(
                fields=("visible", "-active_installs", "name", "listing"), name="listingstats_popular"
            ),
            models.Index(fields=("visible", "name", "listing"), name="listingstats_name"),
        ]

    def __str__(self) -> str:
        return f"Stats of listing {self.listing_id}"


class ModerationAction(models.TextChoices):
    DELISTED = "DELISTED", "Delisted"
    RELISTED = "RELISTED", "Relisted"


class ListingModerationEvent(UUIDModel):
    """Staff delisting and relisting of a listing: who, when, why. Append-only."""

    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="moderation_events")
    action = models.CharField(max_length=16, choices=ModerationAction.choices)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"{self.action} {self.listing_id} at {self.at:%Y-%m-%d %H:%M}"


# --------------------------------------------------------------------------------------------- plans


class PricingModel(models.TextChoices):
    FREE = "FREE", "Free"
    PAID = "PAID", "One-time payment per tenant"
    SUBSCRIPTION = "SUBSCRIPTION", "Subscription"


class BillingPeriod(models.TextChoices):
    MONTHLY = "MONTHLY", "Monthly"
    YEARLY = "YEARLY", "Yearly"


class Plan(UUIDModel, CreatedAtModel):
    """One VERSION of a pricing plan. Rows are immutable: a new price is a new row of the same ``family``
    (``version`` + 1) and the old one is retired, so entitlements keep the exact terms they were sold."""

    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="plans")
    family = models.UUIDField(default=uuid.uuid4, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    name = models.CharField(max_length=80)
    pricing_model = models.CharField(max_length=16, choices=PricingModel.choices)
    billing_period = models.CharField(max_length=8, choices=BillingPeriod.choices, blank=True)
    price = MoneyField(
        max_digits=14, decimal_places=3, default_currency="USD", currency_choices=CURRENCY_CHOICES
    )
    trial_days = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    #: Set when a newer version replaces this one; only current (unretired) versions are offered.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("listing", "pricing_model", "name", "-version")
        constraints = [
            models.UniqueConstraint(fields=("family", "version"), name="uniq_plan_family_version"),
            models.UniqueConstraint(
                fields=("family",),
                condition=models.Q(retired_at__isnull=True),
                name="uniq_current_plan_version",
            ),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="plan_price_not_negative"),
            models.CheckConstraint(condition=models.Q(trial_days__lte=365), name="plan_trial_at_most_a_year"),
            models.CheckConstraint(
                condition=(
                    models.Q(pricing_model="SUBSCRIPTION", billing_period__in=("MONTHLY", "YEARLY"))
                    | (~models.Q(pricing_model="SUBSCRIPTION") & models.Q(billing_period=""))
                ),
                name="plan_billing_period_iff_subscription",
            ),
        ]
        indexes = [models.Index(fields=("listing", "retired_at"))]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.pricing_model} {self.price})"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Plan rows are immutable: create a new version instead.")
        super().save(*args, **kwargs)

    @property
    def is_current(self) -> bool:
        return self.retired_at is None

    @property
    def period_label(self) -> str:
        return self.billing_period or ""


# -------------------------------------------------------------------------------------- entitlements


class EntitlementStatus(models.TextChoices):
    TRIALING = "TRIALING", "Trialing"
    ACTIVE = "ACTIVE", "Active"
    PAST_DUE = "PAST_DUE", "Past due"
    CANCELLED = "CANCELLED", "Cancelled (usable until the period ends)"
    EXPIRED = "EXPIRED", "Expired"


S = EntitlementStatus
#: Statuses that hold the tenant's one entitlement slot for a listing.
LIVE_STATUSES = (S.TRIALING, S.ACTIVE, S.PAST_DUE, S.CANCELLED)
#: Statuses under which the plugin installs and runs, strictly before ``current_period_end``.
USABLE_STATUSES = (S.TRIALING, S.ACTIVE, S.CANCELLED)


class Entitlement(TenantOwnedModel):
    """A tenant's right to use a paid listing under one plan version's terms."""

    tenant = tenant_key(related_name="entitlements")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="entitlements")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="entitlements")
    status = models.CharField(max_length=16, choices=EntitlementStatus.choices)
    started_at = models.DateTimeField(default=clock.now)
    current_period_start = models.DateTimeField()
    #: Usable strictly before this instant (UTC); None for a paid one-time purchase (no end).
    current_period_end = models.DateTimeField(null=True, blank=True)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    #: Subscription periods are computed from this instant (calendar months/years, day clamped).
    billing_anchor = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ("-started_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("tenant", "listing"),
                condition=models.Q(status__in=LIVE_STATUSES),
                name="uniq_live_entitlement_per_tenant_listing",
            )
        ]
        indexes = [
            models.Index(fields=("status", "current_period_end")),
            models.Index(fields=("tenant", "listing", "status")),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} → {self.listing_id} ({self.status})"

    def is_usable_at(self, instant: dt.datetime) -> bool:
        return self.status in USABLE_STATUSES and (
            self.current_period_end is None or instant < self.current_period_end
        )


class EntitlementEvent(UUIDModel):
    """Every status change of an entitlement (append-only)."""

    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"{self.from_status or '-'} → {self.to_status}"


class InvoiceStatus(models.TextChoices):
    DUE = "DUE", "Due"
    PAID = "PAID", "Paid"
    VOID = "VOID", "Void"


class Invoice(TenantOwnedModel):
    """What a tenant owes for one period of an entitlement (or its one-time purchase)."""

    #: ``INV-<year>-<6-digit sequence>``, sequential per calendar year of issue (UTC), never reused.
    number = models.CharField(max_length=32, unique=True)
    tenant = tenant_key(related_name="invoices")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="invoices")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="invoices")
    amount = MoneyField(
        max_digits=14, decimal_places=3, default_currency="USD", currency_choices=CURRENCY_CHOICES
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=InvoiceStatus.choices, default=InvoiceStatus.DUE)
    issued_at = models.DateTimeField(default=clock.now)
    due_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    #: Dotted path of the payment provider that issued it, and the provider's own reference.
    provider = models.CharField(max_length=200)
    provider_reference = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-issued_at", "-number")
        constraints = [
            # A billing cycle that runs twice (task redelivery) cannot bill the same period twice.
            models.UniqueConstraint(fields=("entitlement", "period_start"), name="uniq_invoice_per_period"),
        ]
        indexes = [models.Index(fields=("status", "due_at")), models.Index(fields=("tenant", "-issued_at"))]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"


class InvoiceSequence(UUIDModel):
    """The last invoice number used in a year; incremented with F() under a row lock."""

    year = models.PositiveIntegerField(unique=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


# ------------------------------------------------------------------------------------------- reviews


class Review(TenantOwnedModel, TimestampedModel):
    """One tenant's review of one listed plugin, by a member whose tenant ran it successfully."""

    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="reviews")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("registry.PluginVersion", on_delete=models.PROTECT, related_name="+")
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    #: When the tenant's successful run of the plugin was confirmed (every stored review is verified).
    verified_at = models.DateTimeField()
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_reason = models.CharField(max_length=500, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.UniqueConstraint(fields=("tenant", "listing"), name="uniq_review_per_tenant_listing"),
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"
            ),
        ]
        indexes = [models.Index(fields=("listing", "hidden_at", "rating"))]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.title}"

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None


class ReviewRevision(UUIDModel):
    """The content a review had before an edit (append-only)."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="revisions")
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    version = models.ForeignKey("registry.PluginVersion", on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField()
    replaced_at = models.DateTimeField(default=clock.now, editable=False)
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ("replaced_at", "id")

    def __str__(self) -> str:
        return f"Revision of {self.review_id} at {self.replaced_at:%Y-%m-%d %H:%M}"


class ReviewReply(UUIDModel, CreatedAtModel):
    """The publisher's one reply to a review."""

    review = models.OneToOneField(Review, on_delete=models.PROTECT, related_name="reply")
    body = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name_plural = "review replies"

    def __str__(self) -> str:
        return f"Reply to {self.review_id}"


class ReviewFlag(UUIDModel, CreatedAtModel):
    """A signed-in user's report of a review to moderators (once per user and review)."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="flags")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("created_at", "id")
        constraints = [models.UniqueConstraint(fields=("review", "user"), name="uniq_review_flag_per_user")]

    def __str__(self) -> str:
        return f"Flag on {self.review_id}"


class ReviewModeration(Review):
    """The moderators' queue in the admin (same rows as Review, flagged first)."""

    class Meta:
        proxy = True
        verbose_name = "review to moderate"
        verbose_name_plural = "review moderation queue"
