from django.db import migrations


def create_flags(apps, schema_editor):
    from argus_plugins.core.flags import ensure_default_flags

    # On for everyone by default; operators restrict a flag to chosen tenants (or turn it off) in the admin.
    ensure_default_flags(apps.get_model("core", "TenantFlag"))


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(create_flags, migrations.RunPython.noop)]
