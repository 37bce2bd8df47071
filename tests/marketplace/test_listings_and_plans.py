"""Listings (safe Markdown, URLs, visibility, delisting) and plans (exact prices, versions)."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from marketplace import entitlements, listings, plans
from marketplace.markdown import ALLOWED_TAGS, render_markdown
from marketplace.models import Entitlement, Listing, ListingModerationEvent, Plan
from registry import services as registry_services

UPDATE = """
mutation($p: ID!, $d: String, $doc: String, $icon: String, $tags: [String!]) {
  updateListing(pluginId: $p, description: $d, documentationUrl: $doc, iconUrl: $icon, tags: $tags) {
    listing { descriptionHtml documentationUrl iconUrl tags }
    errors { code field }
  }
}"""

CREATE_PLAN = """
mutation($l: ID!, $kind: PricingModel!, $price: String, $cur: String, $period: BillingPeriod, $trial: Int) {
  createPlan(listingId: $l, name: "Pro", pricingModel: $kind, price: $price, currency: $cur,
             billingPeriod: $period, trialDays: $trial) {
    plan { id version pricingModel billingPeriod trialDays price { amount currency } }
    errors { code field }
  }
}"""


class _Inspector(HTMLParser):
    """Collects every tag and attribute of rendered HTML (text is harmless, whatever it says)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](java&#x09;script:alert(1))",
        "![x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<a href="https://x" onclick="alert(1)">x</a>',
        "<iframe src='https://evil.example'></iframe>",
        "<style>body{display:none}</style>",
        "[x](vbscript:msgbox)",
        "[x](<javascript:alert(1)>)",
    ],
)
def test_markdown_never_renders_raw_html_or_scripts(source):
    inspector = _Inspector()
    inspector.feed(render_markdown(source))
    assert inspector.tags <= ALLOWED_TAGS and not inspector.tags & {"script", "iframe", "style"}
    for name, value in inspector.attributes:
        assert not name.startswith("on"), (name, value)
        if name in ("href", "src"):
            # A value without a valid scheme (e.g. "java%09script:…") is a harmless relative URL.
            assert urlsplit(value).scheme.lower() in ("", "http", "https", "mailto"), value


def test_markdown_renders_the_usual_things():
    html = render_markdown("# Title\n\n**bold** [docs](https://docs.example/x)\n\n- a\n- b\n\n`code`")
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<li>a</li>" in html
    assert '<a href="https://docs.example/x" rel="nofollow noopener noreferrer">docs</a>' in html


def test_update_listing_validates_urls_and_renders_safely(world, market, gql_for):
    client = gql_for(market.kit.owner)
    variables = {
        "p": str(market.plugin.pk),
        "d": "hi <b>there</b>",
        "doc": "https://docs.example",
        "tags": ["Forensics"],
    }
    payload = client.execute(UPDATE, variables).payload("updateListing")
    assert payload["errors"] == []
    assert payload["listing"] == {
        "descriptionHtml": "<p>hi &lt;b&gt;there&lt;/b&gt;</p>\n",
        "documentationUrl": "https://docs.example",
        "iconUrl": "",
        "tags": ["forensics"],
    }
    for field, value, code in (
        ("doc", "javascript:alert(1)", "UNSAFE_URL"),
        ("doc", "ftp://files.example/x", "UNSAFE_URL"),
        ("doc", "https://user:pw@docs.example", "UNSAFE_URL"),
        ("doc", "https://", "INVALID"),
        ("icon", "http://cdn.example/icon.png", "UNSAFE_URL"),  # icons: https only
        ("doc", "https://x.example/" + "a" * 600, "TOO_LONG"),
    ):
        payload = client.execute(UPDATE, {"p": str(market.plugin.pk), field: value}).payload("updateListing")
        assert [e["code"] for e in payload["errors"]] == [code], (field, value)
    assert Listing.objects.get().documentation_url == "https://docs.example"


def test_only_the_publisher_edits_its_listing(world, market, gql_for):
    for user in (world.admin_a, world.outsider):
        payload = (
            gql_for(user)
            .execute(UPDATE, {"p": str(market.plugin.pk), "d": "hacked"})
            .payload("updateListing")
        )
        assert [e["code"] for e in payload["errors"]] == ["PERMISSION_DENIED"]
    assert "hacked" not in Listing.objects.get().description


def test_listing_visible_only_while_a_trusted_version_is_published(world, market, publisher_kit):
    assert listings.marketplace_visible().filter(pk=market.listing.pk).exists()
    registry_services.revoke_signing_key(
        actor=publisher_kit.owner, key_id=publisher_kit.key.pk, reason="leaked"
    )
    assert not listings.marketplace_visible().filter(pk=market.listing.pk).exists()
    with pytest.raises(Exception) as hidden:
        listings.get_listing(world.admin_a, market.listing.pk)
    assert hidden.value.code.value == "NOT_FOUND"
    assert (
        listings.get_listing(publisher_kit.owner, market.listing.pk) == market.listing
    )  # its publisher still sees it


def test_delist_and_relist_are_staff_only_reversible_and_recorded(world, market, gql_for):
    delist = 'mutation($id: ID!) { delistListing(listingId: $id, reason: "malware report") { listing { delisted } errors { code } } }'
    relist = 'mutation($id: ID!) { relistListing(listingId: $id, reason: "cleared") { listing { delisted } errors { code } } }'
    variables = {"id": str(market.listing.pk)}
    assert gql_for(market.kit.owner).execute(delist, variables).payload("delistListing")["errors"] == [
        {"code": "PERMISSION_DENIED"}
    ]
    staff = gql_for(world.staff)
    assert staff.execute(delist, variables).payload("delistListing")["listing"] == {"delisted": True}
    assert staff.execute(delist, variables).payload("delistListing")["errors"] == [
        {"code": "ALREADY_DELISTED"}
    ]
    assert not listings.marketplace_visible().exists()
    assert staff.execute(relist, variables).payload("relistListing")["listing"] == {"delisted": False}
    assert listings.marketplace_visible().exists()
    history = list(ListingModerationEvent.objects.values_list("action", "reason", "actor__username"))
    assert history == [("DELISTED", "malware report", "sam-staff"), ("RELISTED", "cleared", "sam-staff")]


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"price": "-5"}, "INVALID_PRICE", "price"),
        ({"price": "0"}, "INVALID_PRICE", "price"),
        ({"price": "abc"}, "INVALID_PRICE", "price"),
        ({"price": "1e3"}, "INVALID_PRICE", "price"),
        ({"price": "NaN"}, "INVALID_PRICE", "price"),
        ({"price": "12.345"}, "INVALID_PRICE", "price"),  # EUR has 2 decimals
        ({"price": "99999999"}, "INVALID_PRICE", "price"),
        ({"price": "10", "cur": "XYZ"}, "UNKNOWN_CURRENCY", "currency"),
        ({"price": "10", "cur": "DEM"}, "UNKNOWN_CURRENCY", "currency"),  # historical
        ({"price": "10", "period": None}, "REQUIRED", "billingPeriod"),
        ({"price": "10", "trial": -1}, "INVALID", "trialDays"),
        ({"price": "10", "trial": 400}, "INVALID", "trialDays"),
        ({}, "REQUIRED", "price"),
    ],
)
def test_bad_plan_input_is_typed_and_writes_nothing(world, market, gql_for, variables, code, field):
    base = {"l": str(market.listing.pk), "kind": "SUBSCRIPTION", "cur": "EUR", "period": "MONTHLY"}
    payload = gql_for(market.kit.owner).execute(CREATE_PLAN, {**base, **variables}).payload("createPlan")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert not Plan.objects.exists()


def test_exact_prices_in_minor_units_of_the_currency(world, market, gql_for):
    client = gql_for(market.kit.owner)
    base = {"l": str(market.listing.pk), "kind": "PAID"}
    yen = client.execute(CREATE_PLAN, {**base, "price": "1200", "cur": "JPY"}).payload("createPlan")["plan"]
    assert yen["price"] == {"amount": "1200", "currency": "JPY"}
    dinar = client.execute(CREATE_PLAN, {**base, "price": "0.125", "cur": "KWD"}).payload("createPlan")[
        "plan"
    ]
    assert dinar["price"] == {"amount": "0.125", "currency": "KWD"}
    assert Plan.objects.get(pk=dinar["id"]).price.amount == plans.clean_price("0.125", "KWD").amount


def test_changing_a_price_creates_a_new_version_and_entitled_tenants_keep_their_terms(world, market, monthly):
    entitlement = entitlements.subscribe_to_listing(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, listing_id=market.listing.pk, plan_id=monthly.pk
    )
    newer = plans.set_plan_price(actor=market.kit.owner, plan_id=monthly.pk, price="59.00")
    newer.refresh_from_db()
    assert (newer.version, newer.family, newer.price.amount) == (2, monthly.family, 59)
    monthly.refresh_from_db()
    assert (
        monthly.retired_at is not None and str(monthly.price.amount) == "49.000"
    )  # the old row is untouched
    assert Entitlement.objects.get(pk=entitlement.pk).plan_id == monthly.pk
    assert list(plans.current_plans(market.listing)) == [newer]
    with pytest.raises(ValueError, match="immutable"):
        monthly.save()
    with pytest.raises(Exception) as stale:  # changing a retired version is refused
        plans.set_plan_price(actor=market.kit.owner, plan_id=monthly.pk, price="1")
    assert stale.value.code.value == "PLAN_NOT_AVAILABLE"


def test_free_plans_have_no_price(world, market, gql_for):
    client = gql_for(market.kit.owner)
    base = {"l": str(market.listing.pk), "kind": "FREE"}
    assert client.execute(CREATE_PLAN, base).payload("createPlan")["plan"]["price"]["amount"] == "0.00"
    payload = client.execute(CREATE_PLAN, {**base, "price": "5"}).payload("createPlan")
    assert [e["code"] for e in payload["errors"]] == ["WRONG_PLAN_KIND"]
