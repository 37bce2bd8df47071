"""Entitlements: the state machine, the billing policy over time, and the one authorisation rule."""

import datetime as dt
import itertools

import pytest
from waffle import get_waffle_flag_model

from argus_plugins.core import clock
from argus_plugins.core.errors import DomainError, DomainErrors
from argus_plugins.core.flags import MARKETPLACE_PAID
from execution.models import Execution, ExecutionStatus, Trigger
from execution.services import run_plugin, start_execution
from installations import services as installation_services
from installations.authorization import authorize
from installations.models import Installation
from marketplace import billing, entitlements
from marketplace.lifecycle import ENTITLEMENT_TRANSITIONS, transition_entitlement
from marketplace.models import Entitlement, EntitlementEvent, EntitlementStatus, Invoice, InvoiceStatus

from .conftest import T0, US, add_plan

S = EntitlementStatus
ALLOWED = {(a, b) for a, targets in ENTITLEMENT_TRANSITIONS.items() for b in targets}
FORBIDDEN = sorted((a, b) for a, b in itertools.permutations(S.values, 2) if (a, b) not in ALLOWED)


def _codes(decision):
    return [r.code.value for r in decision.refusals]


def _subscribe(world, listing, plan, at=T0):
    with clock.frozen(at):
        return entitlements.subscribe_to_listing(
            actor=world.admin_a, tenant_id=world.tenant_a.pk, listing_id=listing.pk, plan_id=plan.pk
        )


def _install(world, market, at=T0):
    with clock.frozen(at):
        return installation_services.install_plugin(
            actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=market.plugin.pk
        )


def _cycle(at):
    with clock.frozen(at):
        return billing.run_billing_cycle()


# ------------------------------------------------------------------------------- the state machine


def test_the_transition_table_is_complete_and_expired_is_final():
    assert set(ENTITLEMENT_TRANSITIONS) == set(S.values)
    assert ENTITLEMENT_TRANSITIONS[S.EXPIRED] == frozenset()
    assert len(FORBIDDEN) == 13


@pytest.mark.parametrize(("current", "target"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_forbidden_transition_is_refused_and_changes_nothing(world, market, monthly, current, target):
    entitlement = _subscribe(world, market.listing, monthly)
    Entitlement.objects.filter(pk=entitlement.pk).update(status=current)
    events = EntitlementEvent.objects.count()
    with pytest.raises(DomainError) as refused:
        transition_entitlement(entitlement, target)
    assert refused.value.code.value == "INVALID_TRANSITION"
    assert Entitlement.objects.get(pk=entitlement.pk).status == current
    assert EntitlementEvent.objects.count() == events


def test_repeating_a_transition_is_a_no_op(world, market, monthly):
    entitlement = _subscribe(world, market.listing, monthly)
    events = EntitlementEvent.objects.count()
    assert transition_entitlement(entitlement, S.ACTIVE).status == S.ACTIVE
    assert EntitlementEvent.objects.count() == events


# ----------------------------------------------------------------------------- the policy over time


def test_trial_then_active_then_past_due_then_expired(world, market):
    plan = add_plan(market, "SUBSCRIPTION", "10.00", billing_period="MONTHLY", trial_days=14)
    entitlement = _subscribe(world, market.listing, plan)
    assert entitlement.status == S.TRIALING and entitlement.current_period_end == T0 + dt.timedelta(days=14)
    assert Invoice.objects.count() == 0  # nothing billed during the trial
    trial_end = entitlement.current_period_end

    assert _cycle(trial_end - dt.timedelta(hours=2))["trials_ended"] == 0
    assert _cycle(trial_end - dt.timedelta(minutes=30))["trials_ended"] == 1  # within the renewal lead
    entitlement.refresh_from_db()
    assert entitlement.status == S.ACTIVE
    assert entitlement.current_period_start == trial_end
    assert entitlement.current_period_end == dt.datetime(2026, 4, 24, 9, 0, tzinfo=dt.UTC)
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.DUE and str(invoice.amount.amount) == "10.000"
    assert (invoice.period_start, invoice.period_end) == (trial_end, entitlement.current_period_end)

    due = invoice.due_at
    assert _cycle(due - US)["past_due"] == 0
    assert _cycle(due)["past_due"] == 1
    entitlement.refresh_from_db()
    assert entitlement.status == S.PAST_DUE
    assert _cycle(due + dt.timedelta(days=14) - US)["expired_unpaid"] == 0
    assert _cycle(due + dt.timedelta(days=14))["expired_unpaid"] == 1
    entitlement.refresh_from_db()
    assert entitlement.status == S.EXPIRED and entitlement.ended_at == due + dt.timedelta(days=14)
    assert Invoice.objects.get().status == InvoiceStatus.VOID
    history = list(entitlement.events.values_list("from_status", "to_status"))
    assert history == [
        ("", "TRIALING"),
        ("TRIALING", "ACTIVE"),
        ("ACTIVE", "PAST_DUE"),
        ("PAST_DUE", "EXPIRED"),
    ]


def test_paying_a_past_due_invoice_reactivates(world, market, monthly):
    entitlement = _subscribe(world, market.listing, monthly)
    invoice = Invoice.objects.get()
    _cycle(invoice.due_at)
    entitlement.refresh_from_db()
    assert entitlement.status == S.PAST_DUE
    with clock.frozen(invoice.due_at + dt.timedelta(days=1)):
        billing.record_payment(invoice_id=invoice.pk, reference="bank-123")
    entitlement.refresh_from_db()
    assert entitlement.status == S.ACTIVE
    assert Invoice.objects.get().status == InvoiceStatus.PAID


def test_active_then_cancelled_then_expired_at_period_end(world, market, monthly):
    entitlement = _subscribe(world, market.listing, monthly)
    assert entitlement.status == S.ACTIVE
    end = entitlement.current_period_end
    assert end == dt.datetime(2026, 4, 10, 9, 0, tzinfo=dt.UTC)
    with clock.frozen(T0 + dt.timedelta(days=3)):
        entitlement = entitlements.cancel_subscription(actor=world.admin_a, entitlement_id=entitlement.pk)
    assert entitlement.status == S.CANCELLED and entitlement.cancelled_by == world.admin_a
    assert entitlement.is_usable_at(end - US) and not entitlement.is_usable_at(end)
    Invoice.objects.update(status=InvoiceStatus.PAID)  # paid: only the period end matters now
    assert _cycle(end - US)["cancelled_expired"] == 0
    counts = _cycle(end)
    assert counts["cancelled_expired"] == 1 and counts["renewed"] == 0
    entitlement.refresh_from_db()
    assert entitlement.status == S.EXPIRED and entitlement.ended_at == end
    assert Invoice.objects.count() == 1  # a cancelled subscription is never renewed


def test_cancelling_a_trial_keeps_it_usable_until_the_trial_ends(world, market):
    plan = add_plan(market, "SUBSCRIPTION", "10.00", billing_period="YEARLY", trial_days=7)
    entitlement = _subscribe(world, market.listing, plan)
    with clock.frozen(T0 + dt.timedelta(days=1)):
        entitlement = entitlements.cancel_subscription(actor=world.admin_a, entitlement_id=entitlement.pk)
    assert entitlement.status == S.CANCELLED
    _cycle(T0 + dt.timedelta(days=7))
    entitlement.refresh_from_db()
    assert entitlement.status == S.EXPIRED and Invoice.objects.count() == 0


def test_renewal_bills_the_next_calendar_period_once(world, market, monthly):
    entitlement = _subscribe(world, market.listing, monthly, at=dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC))
    assert entitlement.current_period_end == dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC)
    Invoice.objects.update(status=InvoiceStatus.PAID)
    at = dt.datetime(2026, 2, 28, 11, 30, tzinfo=dt.UTC)
    assert _cycle(at)["renewed"] == 1
    assert _cycle(at)["renewed"] == 0  # a redelivered task changes nothing
    entitlement.refresh_from_db()
    assert entitlement.current_period_start == dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC)
    assert entitlement.current_period_end == dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)  # anchored, no drift
    numbers = list(Invoice.objects.order_by("issued_at").values_list("number", flat=True))
    assert numbers == ["INV-2026-000001", "INV-2026-000002"]


def test_one_time_purchase_is_active_without_end_and_cannot_be_cancelled(world, market):
    plan = add_plan(market, "PAID", "250")
    with clock.frozen(T0):
        entitlement = entitlements.purchase_listing(
            actor=world.admin_a, tenant_id=world.tenant_a.pk, listing_id=market.listing.pk, plan_id=plan.pk
        )
    assert entitlement.status == S.ACTIVE and entitlement.current_period_end is None
    invoice = Invoice.objects.get()
    assert invoice.period_end is None and str(invoice.amount) == "€250.00"
    with pytest.raises(DomainError) as refused:
        entitlements.cancel_subscription(actor=world.admin_a, entitlement_id=entitlement.pk)
    assert refused.value.code.value == "WRONG_PLAN_KIND"


def test_a_second_entitlement_for_the_same_listing_is_refused(world, market, monthly):
    _subscribe(world, market.listing, monthly)
    with pytest.raises(DomainError) as refused:
        _subscribe(world, market.listing, monthly)
    assert refused.value.code.value == "ALREADY_ENTITLED"
    assert Entitlement.objects.count() == 1


# ------------------------------------------------------------------------------ the one rule


def test_install_refused_without_entitlement_then_allowed(world, market, monthly):
    with pytest.raises(DomainError) as refused:
        _install(world, market)
    assert refused.value.code.value == "ENTITLEMENT_REQUIRED"
    assert not Installation.objects.exists()
    _subscribe(world, market.listing, monthly)
    assert _install(world, market).is_active


def test_a_free_plan_means_no_entitlement_is_needed(world, market, monthly):
    add_plan(market, "FREE")
    assert _install(world, market).is_active


def test_execution_allowed_one_microsecond_before_the_lapse_and_refused_one_after(world, market, monthly):
    entitlement = _subscribe(world, market.listing, monthly)
    installation = _install(world, market)
    with clock.frozen(T0 + dt.timedelta(days=1)):
        entitlements.cancel_subscription(actor=world.admin_a, entitlement_id=entitlement.pk)
    end = Entitlement.objects.get(pk=entitlement.pk).current_period_end

    assert authorize(installation, at=end - US).allowed
    assert _codes(authorize(installation, at=end)) == ["ENTITLEMENT_REQUIRED"]  # exclusive, like grants
    assert _codes(authorize(installation, at=end + US)) == ["ENTITLEMENT_REQUIRED"]

    with clock.frozen(end - US):
        allowed = run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})
    assert allowed.status == ExecutionStatus.QUEUED
    with clock.frozen(end + US), pytest.raises(DomainErrors) as refused:
        run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})
    assert [e.code.value for e in refused.value.errors] == ["NOT_AUTHORIZED"]
    assert "ended" in refused.value.errors[0].message
    # Triggered runs record the refusal (the worker's re-authorisation does the same): REJECTED with the reason.
    with clock.frozen(end + US):
        rejected = start_execution(
            installation=installation,
            input={},
            evidence_ids=[],
            trigger=Trigger.SCHEDULED,
            triggered_by=None,
            record_refusal=True,
        )
    rejected = Execution.objects.get(pk=rejected.pk)
    assert rejected.status == ExecutionStatus.REJECTED and "entitlement" in rejected.error_reason


def test_lapsed_entitlement_suspends_the_installation_without_deleting_it(world, market, monthly, gql_for):
    entitlement = _subscribe(world, market.listing, monthly)
    installation = _install(world, market)
    query = "query($id: ID!) { installation(id: $id) { active suspended suspensionReason } }"
    client = gql_for(world.admin_a)
    with clock.frozen(T0 + dt.timedelta(days=1)):
        assert client.execute(query, {"id": str(installation.pk)}).data["installation"]["suspended"] is False
    due = Invoice.objects.get().due_at
    _cycle(due)  # unpaid: PAST_DUE
    assert Entitlement.objects.get(pk=entitlement.pk).status == S.PAST_DUE
    with clock.frozen(due + US):
        data = client.execute(query, {"id": str(installation.pk)}).data["installation"]
    assert data["active"] is True and data["suspended"] is True and "past due" in data["suspensionReason"]
    assert Installation.objects.filter(pk=installation.pk, uninstalled_at__isnull=True).exists()


# ------------------------------------------------------------------------------ GraphQL surface

SUBSCRIBE = """
mutation($t: ID!, $l: ID!, $p: ID!) {
  subscribeToListing(tenantId: $t, listingId: $l, planId: $p) {
    entitlement { status currentPeriodEnd usable plan { version price { amount currency } } }
    errors { code field message }
  }
}"""
CANCEL = (
    "mutation($id: ID!) { cancelSubscription(entitlementId: $id) { entitlement { status } errors { code } } }"
)


def _disable_paid_flag():
    get_waffle_flag_model().objects.filter(name=MARKETPLACE_PAID).update(everyone=False)


def test_feature_flag_off_answers_feature_disabled_and_writes_nothing(world, market, monthly, gql_for):
    client = gql_for(world.admin_a)
    entitlement = _subscribe(world, market.listing, monthly)
    _disable_paid_flag()
    variables = {"t": str(world.tenant_a.pk), "l": str(market.listing.pk), "p": str(monthly.pk)}
    Entitlement.objects.all().update(status=S.EXPIRED)
    before = (Entitlement.objects.count(), Invoice.objects.count())
    payload = client.execute(SUBSCRIBE, variables).payload("subscribeToListing")
    assert [e["code"] for e in payload["errors"]] == ["FEATURE_DISABLED"] and payload["entitlement"] is None
    assert (Entitlement.objects.count(), Invoice.objects.count()) == before
    Entitlement.objects.filter(pk=entitlement.pk).update(status=S.ACTIVE)
    payload = client.execute(CANCEL, {"id": str(entitlement.pk)}).payload("cancelSubscription")
    assert [e["code"] for e in payload["errors"]] == ["FEATURE_DISABLED"]
    assert Entitlement.objects.get(pk=entitlement.pk).status == S.ACTIVE


def test_flag_on_for_one_tenant_only(world, market, monthly, gql_for):
    flag = get_waffle_flag_model().objects.get(name=MARKETPLACE_PAID)
    flag.everyone = None
    flag.save()
    flag.tenants.add(world.tenant_b)
    variables = {"t": str(world.tenant_a.pk), "l": str(market.listing.pk), "p": str(monthly.pk)}
    payload = gql_for(world.admin_a).execute(SUBSCRIBE, variables).payload("subscribeToListing")
    assert [e["code"] for e in payload["errors"]] == ["FEATURE_DISABLED"]
    variables["t"] = str(world.tenant_b.pk)
    payload = gql_for(world.admin_b).execute(SUBSCRIBE, variables).payload("subscribeToListing")
    assert payload["errors"] == [] and payload["entitlement"]["status"] == "ACTIVE"


def test_subscribe_over_graphql_and_permissions(world, market, monthly, gql_for):
    variables = {"t": str(world.tenant_a.pk), "l": str(market.listing.pk), "p": str(monthly.pk)}
    for user, code in (
        (world.analyst_a, "PERMISSION_DENIED"),
        (world.admin_b, "NOT_FOUND"),
        (None, "UNAUTHENTICATED"),
    ):
        payload = gql_for(user).execute(SUBSCRIBE, variables).payload("subscribeToListing")
        assert [e["code"] for e in payload["errors"]] == [code]
    assert not Entitlement.objects.exists()
    for bad, code in (
        ({"p": "nope"}, "INVALID"),
        ({"l": "00000000-0000-0000-0000-000000000000"}, "NOT_FOUND"),
    ):
        payload = (
            gql_for(world.admin_a).execute(SUBSCRIBE, {**variables, **bad}).payload("subscribeToListing")
        )
        assert [e["code"] for e in payload["errors"]] == [code]
    payload = gql_for(world.admin_a).execute(SUBSCRIBE, variables).payload("subscribeToListing")
    assert payload["errors"] == []
    assert payload["entitlement"]["usable"] is True
    assert payload["entitlement"]["plan"]["price"] == {"amount": "49.00", "currency": "EUR"}
    invoices = (
        gql_for(world.admin_a)
        .execute(
            "query($t: ID!) { invoices(tenantId: $t) { totalCount edges { node { number status amount { amount } } } } }",
            {"t": str(world.tenant_a.pk)},
        )
        .data["invoices"]
    )
    assert invoices["totalCount"] == 1 and invoices["edges"][0]["node"]["status"] == "DUE"
    foreign = gql_for(world.admin_b).execute(
        "query($t: ID!) { invoices(tenantId: $t) { totalCount } }", {"t": str(world.tenant_a.pk)}
    )
    assert foreign.errors[0]["extensions"]["code"] == "NOT_FOUND"


def test_purchase_refuses_a_subscription_plan_and_a_retired_version(world, market, monthly, gql_for):
    purchase = """mutation($t: ID!, $l: ID!, $p: ID!) {
      purchaseListing(tenantId: $t, listingId: $l, planId: $p) { entitlement { id } errors { code field } } }"""
    variables = {"t": str(world.tenant_a.pk), "l": str(market.listing.pk), "p": str(monthly.pk)}
    payload = gql_for(world.admin_a).execute(purchase, variables).payload("purchaseListing")
    assert payload["errors"] == [{"code": "WRONG_PLAN_KIND", "field": "planId"}]
    from marketplace import plans

    plans.set_plan_price(actor=market.kit.owner, plan_id=monthly.pk, price="59")
    payload = gql_for(world.admin_a).execute(SUBSCRIBE, variables).payload("subscribeToListing")
    assert [e["code"] for e in payload["errors"]] == ["PLAN_NOT_AVAILABLE"]
    assert not Entitlement.objects.exists()


def test_cancelling_a_past_due_subscription_expires_it_and_voids_the_debt(world, market, monthly):
    entitlement = _subscribe(world, market.listing, monthly)
    due = Invoice.objects.get().due_at
    _cycle(due)
    with clock.frozen(due + dt.timedelta(days=2)):
        entitlement = entitlements.cancel_subscription(actor=world.admin_a, entitlement_id=entitlement.pk)
    assert entitlement.status == S.EXPIRED and entitlement.cancelled_at == due + dt.timedelta(days=2)
    assert Invoice.objects.get().status == InvoiceStatus.VOID
    assert list(entitlement.events.values_list("to_status", flat=True)) == ["ACTIVE", "PAST_DUE", "EXPIRED"]
