"""``manage.py build_runtime_images [--force]``: build the sandbox runtime images offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from execution.sandbox.container import connect
from execution.sandbox.errors import SandboxError
from execution.sandbox.images import DEFAULT_CACHE_DIR, DEFAULT_RUNTIME_IMAGES, ensure_runtime_images


class Command(BaseCommand):
    help = (
        "Build the sandbox runtime images without any registry: debootstrap a minimal Debian rootfs "
        "(cached), add the launcher and `docker import` it. Up-to-date images are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="rebuild even if the image is up to date")
        parser.add_argument(
            "--refresh-rootfs", action="store_true", help="run debootstrap again instead of using the cache"
        )
        parser.add_argument(
            "--cache-dir",
            type=Path,
            default=Path(getattr(settings, "ARGUS_RUNTIME_CACHE_DIR", DEFAULT_CACHE_DIR)),
            help="where the debootstrap rootfs tarballs are cached (default: %(default)s)",
        )
        parser.add_argument("--mirror", default=None, help="Debian mirror URL for debootstrap")
        parser.add_argument(
            "--runtime", action="append", default=None, help="build only this runtime (repeatable)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        images = dict(getattr(settings, "ARGUS_RUNTIME_IMAGES", DEFAULT_RUNTIME_IMAGES))
        if options["runtime"]:
            unknown = set(options["runtime"]) - set(images)
            if unknown:
                known = ", ".join(images)
                raise CommandError(f"unknown runtime(s): {', '.join(sorted(unknown))}; known: {known}")
            images = {name: images[name] for name in options["runtime"]}
        try:
            base_url = getattr(settings, "DOCKER_BASE_URL", None)
            client = connect(base_url, timeout=max(getattr(settings, "DOCKER_TIMEOUT_SECONDS", 60), 60))
            reports = ensure_runtime_images(
                client,
                images,
                cache_dir=options["cache_dir"],
                force=options["force"],
                refresh_rootfs=options["refresh_rootfs"],
                mirror=options["mirror"],
                log=lambda line: self.stdout.write(line),
            )
        except SandboxError as exc:
            raise CommandError(str(exc)) from exc
        for report in reports:
            state = "built" if report.built else "up to date"
            self.stdout.write(
                self.style.SUCCESS(f"{report.name}: {report.image} {state} (revision {report.revision})")
            )
