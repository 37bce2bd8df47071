"""The Reviewers and Operators groups with their permissions (see argus_plugins.staff.roles)."""

from django.db import migrations


def create_groups(apps, schema_editor):
    from argus_plugins.staff.roles import sync_staff_groups

    sync_staff_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_create_feature_flags"),
        ("tenancy", "0003_tenant_event_listeners_configured"),
        ("audit", "0001_initial"),
        ("registry", "0002_review_pluginversion_permission"),
        ("installations", "0002_load_capability_catalog"),
        ("execution", "0001_initial"),
        ("ledger", "0003_verify_ledger_permission"),
        ("marketplace", "0001_initial"),
        ("triggers", "0003_delivery_plural_names"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
