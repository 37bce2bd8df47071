"""The demo the start command runs: a ready admin, and (once plugins can run) a real plugin execution."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from argus_plugins.tenancy import services as tenancy_services
from argus_plugins.tenancy.models import Membership, Role, Tenant, User

DEMO_USERNAME = "demo-admin"
DEMO_TENANT = "Demo Agency"


@transaction.atomic
def prepare_demo_admin() -> tuple[str, str]:
    """A staff user who administers the demo tenant, with a fresh API token (returned once)."""
    user, created = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"is_staff": True})
    if created:
        user.set_unusable_password()
        user.save()
    tenant = Tenant.objects.filter(memberships__user=user, name=DEMO_TENANT).first()
    if tenant is None:
        tenant = tenancy_services.create_tenant(actor=user, name=DEMO_TENANT)
    Membership.objects.filter(user=user, tenant=tenant).update(role=Role.ADMIN)
    _, token = tenancy_services.create_api_token(actor=user, name="demo")
    return user.username, token


def run_demo(*, base_url: str, token: str, write: Callable[[str], None]) -> None:
    """Show the stack answering through the API as the demo admin."""
    import json
    import urllib.request

    body = json.dumps({"query": "{ me { username isStaff } tenants { edges { node { name myRole } } } }"})
    request = urllib.request.Request(  # noqa: S310 - the platform's own local URL
        f"{base_url}/graphql/",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        write("GraphQL answers as the demo admin: " + response.read().decode())
