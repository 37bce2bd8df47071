from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "argus_plugins.core"
    label = "core"
    verbose_name = "Platform core"

    def ready(self) -> None:
        from .fips import check_fips_at_startup

        # Fail at start (web, worker, beat, management commands alike), never at the first signature check.
        check_fips_at_startup()
