"""Print the nginx configuration of the web tier for a containerised deployment (compose.yaml's front)."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from argus_plugins.core.web_tier import compose_nginx_settings, render_nginx_config


class Command(BaseCommand):
    help = (
        "Print nginx.conf for an nginx in front of gunicorn (by default compose.yaml's: "
        "manage.py nginx_config > deploy/nginx/compose.conf)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", help="nginx's listen address (default: 8000)")
        parser.add_argument("--upstream", help="gunicorn: host:port or unix:/path (default: web:8000)")

    def handle(self, *args: Any, **options: Any) -> None:
        nginx = compose_nginx_settings()
        overrides = {key: options[key] for key in ("listen", "upstream") if options[key]}
        if overrides:
            nginx = dataclasses.replace(nginx, purpose="rendered by manage.py nginx_config", **overrides)
        self.stdout.write(render_nginx_config(nginx), ending="")
