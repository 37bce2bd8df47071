"""``manage.py create_staff_user NAME --role reviewer|operator``: a staff account that can log in to the
admin with a password and sees what its role needs (see argus_plugins.staff.roles)."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from argus_plugins.staff.roles import GROUP_NAMES, StaffRole, grant_role
from argus_plugins.tenancy.models import User


class Command(BaseCommand):
    help = (
        "Create (or update) a staff account with a role. The password is read from standard input with "
        "--password-from-stdin, otherwise asked for twice on the terminal."
    )

    stealth_options = ("stdin",)  # tests pass a file instead of the process's standard input

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            action="append",
            required=True,
            choices=[role.value for role in StaffRole],
            help="reviewer (the review queue) or operator (executions, ledger, tenancy, logs); repeatable.",
        )
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-from-stdin",
            action="store_true",
            help="Read the password from the first line of standard input (for scripts).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        if not username:
            raise CommandError("The username must not be empty.")
        user = User.objects.filter(username=username).first()
        created = user is None
        if created:
            user = User(username=username, email=options["email"])
        password = self._password(user, ask=created or not user.has_usable_password(), **options)
        with transaction.atomic():
            if password is not None:
                user.set_password(password)
            if options["email"]:
                user.email = options["email"]
            user.is_active = True
            user.save()
            roles = [StaffRole(value) for value in dict.fromkeys(options["role"])]
            for role in roles:
                grant_role(user, role)
        groups = ", ".join(GROUP_NAMES[role] for role in roles)
        self.stdout.write(
            f"{'Created' if created else 'Updated'} staff user '{username}' ({groups}). Log in at /admin/."
        )

    def _password(self, user: User, *, ask: bool, password_from_stdin: bool, **options: Any) -> str | None:
        stdin = options.get("stdin") or sys.stdin
        if password_from_stdin:
            password = stdin.readline().rstrip("\r\n")
        elif not ask:
            return None  # an existing account keeps its password
        elif not stdin.isatty():
            raise CommandError("No terminal to ask for the password: pass --password-from-stdin.")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        if not password:
            raise CommandError("The password must not be empty.")
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        return password
