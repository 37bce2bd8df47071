"""Marketplace mutations: thin, each calls one service function; errors come back typed, nothing written."""

from __future__ import annotations

from typing import Any

import graphene

from argus_plugins.core.graphql.mutations import BaseMutation

from .. import entitlements, listings, plans, reviews
from .types import (
    BillingPeriodEnum,
    EntitlementType,
    ListingType,
    PlanType,
    PricingModelEnum,
    ReviewReplyType,
    ReviewType,
)


class UpdateListing(BaseMutation):
    listing = graphene.Field(ListingType)

    class Arguments:
        plugin_id = graphene.ID(required=True, description="The listing is created on first update.")
        tagline = graphene.String()
        description = graphene.String(description="Markdown; raw HTML is not rendered.")
        categories = graphene.List(graphene.NonNull(graphene.String))
        tags = graphene.List(graphene.NonNull(graphene.String))
        documentation_url = graphene.String(description="http or https.")
        support_url = graphene.String(description="http or https.")
        icon_url = graphene.String(description="https only.")

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> UpdateListing:
        return cls(listing=listings.update_listing(actor=info.context.user, **data))


class CreatePlan(BaseMutation):
    plan = graphene.Field(PlanType)

    class Arguments:
        listing_id = graphene.ID(required=True)
        name = graphene.String(required=True)
        pricing_model = PricingModelEnum(required=True)
        price = graphene.String(description='Exact decimal string, e.g. "19.99" (not for FREE plans).')
        currency = graphene.String(description="ISO 4217 code (default USD).")
        billing_period = BillingPeriodEnum(description="Subscriptions only.")
        trial_days = graphene.Int()

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CreatePlan:
        return cls(plan=plans.create_plan(actor=info.context.user, **data))


class SetPlanPrice(BaseMutation):
    plan = graphene.Field(PlanType, description="The new current version of the plan.")

    class Arguments:
        plan_id = graphene.ID(required=True)
        price = graphene.String(required=True)
        currency = graphene.String()
        trial_days = graphene.Int()

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> SetPlanPrice:
        return cls(plan=plans.set_plan_price(actor=info.context.user, **data))


class _Acquire(BaseMutation):
    entitlement = graphene.Field(EntitlementType)

    class Meta:
        abstract = True

    class Arguments:
        tenant_id = graphene.ID(required=True)
        listing_id = graphene.ID(required=True)
        plan_id = graphene.ID(required=True)


class PurchaseListing(_Acquire):
    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> PurchaseListing:
        return cls(entitlement=entitlements.purchase_listing(actor=info.context.user, **data))


class SubscribeToListing(_Acquire):
    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> SubscribeToListing:
        return cls(entitlement=entitlements.subscribe_to_listing(actor=info.context.user, **data))


class CancelSubscription(BaseMutation):
    entitlement = graphene.Field(EntitlementType)

    class Arguments:
        entitlement_id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CancelSubscription:
        return cls(entitlement=entitlements.cancel_subscription(actor=info.context.user, **data))


class CreateReview(BaseMutation):
    review = graphene.Field(ReviewType)

    class Arguments:
        tenant_id = graphene.ID(required=True, description="The tenant the review speaks for.")
        listing_id = graphene.ID(required=True)
        rating = graphene.Int(required=True, description="1 to 5.")
        title = graphene.String(required=True)
        body = graphene.String()
        version_id = graphene.ID(description="Default: the version of the tenant's latest successful run.")

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CreateReview:
        return cls(review=reviews.create_review(actor=info.context.user, **data))


class UpdateReview(BaseMutation):
    review = graphene.Field(ReviewType)

    class Arguments:
        id = graphene.ID(required=True)
        rating = graphene.Int(required=True)
        title = graphene.String(required=True)
        body = graphene.String()
        version_id = graphene.ID()

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str, **data: Any) -> UpdateReview:
        return cls(review=reviews.update_review(actor=info.context.user, review_id=id, **data))


class ReplyToReview(BaseMutation):
    reply = graphene.Field(ReviewReplyType)

    class Arguments:
        review_id = graphene.ID(required=True)
        body = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> ReplyToReview:
        return cls(reply=reviews.reply_to_review(actor=info.context.user, **data))


class FlagReview(BaseMutation):
    ok = graphene.Boolean()

    class Arguments:
        review_id = graphene.ID(required=True)
        reason = graphene.String()

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> FlagReview:
        reviews.flag_review(actor=info.context.user, **data)
        return cls(ok=True)


class HideReview(BaseMutation):
    review = graphene.Field(ReviewType)

    class Arguments:
        review_id = graphene.ID(required=True)
        reason = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> HideReview:
        return cls(review=reviews.hide_review(actor=info.context.user, **data))


class DelistListing(BaseMutation):
    listing = graphene.Field(ListingType)

    class Arguments:
        listing_id = graphene.ID(required=True)
        reason = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> DelistListing:
        return cls(listing=listings.delist_listing(actor=info.context.user, **data))


class RelistListing(BaseMutation):
    listing = graphene.Field(ListingType)

    class Arguments:
        listing_id = graphene.ID(required=True)
        reason = graphene.String()

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> RelistListing:
        return cls(listing=listings.relist_listing(actor=info.context.user, **data))


class MarketplaceMutations(graphene.ObjectType):
    update_listing = UpdateListing.Field()
    create_plan = CreatePlan.Field()
    set_plan_price = SetPlanPrice.Field()
    purchase_listing = PurchaseListing.Field()
    subscribe_to_listing = SubscribeToListing.Field()
    cancel_subscription = CancelSubscription.Field()
    create_review = CreateReview.Field()
    update_review = UpdateReview.Field()
    reply_to_review = ReplyToReview.Field()
    flag_review = FlagReview.Field()
    hide_review = HideReview.Field(description="Staff only.")
    delist_listing = DelistListing.Field(description="Staff only.")
    relist_listing = RelistListing.Field(description="Staff only.")
