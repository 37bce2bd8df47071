import pytest
from django.core.management import CommandError, call_command

from argus_plugins.tenancy.models import User
from tests.conftest import GraphQLClient


def _run(*args):
    from io import StringIO

    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_creates_user_staff_and_prints_token_last(db):
    lines = _run("operator", "--create-user", "--staff")
    user = User.objects.get(username="operator")
    assert user.is_staff
    assert not user.has_usable_password()
    token = lines[-1]
    response = GraphQLClient(token).execute("{ me { username isStaff } }")
    assert response.data == {"me": {"username": "operator", "isStaff": True}}


def test_unknown_user_without_create_flag_fails(db):
    with pytest.raises(CommandError, match="--create-user"):
        _run("ghost")
    assert not User.objects.filter(username="ghost").exists()
