from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from argus_plugins.core.errors import DomainError
from argus_plugins.tenancy import services
from argus_plugins.tenancy.models import User


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME. The token is printed as the last line of output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--create-user", action="store_true", help="Create the user if it does not exist."
        )
        parser.add_argument(
            "--staff", action="store_true", help="Make the user staff (a role comes from create_staff_user)."
        )
        parser.add_argument("--name", default="cli", help="A label for the token.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        user = User.objects.filter(username=username).first()
        if user is None:
            if not options["create_user"]:
                raise CommandError(f"No user '{username}'. Pass --create-user to create it.")
            user = User(username=username)
            user.set_unusable_password()
            user.save()
            self.stdout.write(f"Created user '{username}'.")
        if options["staff"] and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
            self.stdout.write(f"'{username}' is now staff.")
        try:
            token, raw = services.create_api_token(actor=user, name=options["name"])
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Token '{token.name}' ({token.prefix}…) for '{username}'. It is shown only once:")
        self.stdout.write(raw)
