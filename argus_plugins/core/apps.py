from django.apps import AppConfig
from django.db.backends.signals import connection_created


class CoreConfig(AppConfig):
    name = "argus_plugins.core"
    label = "core"
    verbose_name = "Platform core"

    def ready(self) -> None:
        from .fips import check_fips_at_startup

        # Fail at start (web, worker, beat, management commands alike), never at the first signature check.
        check_fips_at_startup()

        from .postgres_timestamps import use_c_timestamptz_loader

        # Configures each new database connection (Django's documented hook for it): timestamps through
        # psycopg's C loader on PostgreSQL.
        connection_created.connect(use_c_timestamptz_loader, dispatch_uid="argus-c-timestamptz-loader")

        from django.db.models import Field, ForeignObject

        from .lookups import AnyOf, RelatedAnyOf

        # field__any_of=[...]: __in with one array parameter on PostgreSQL.
        Field.register_lookup(AnyOf)
        ForeignObject.register_lookup(RelatedAnyOf)
