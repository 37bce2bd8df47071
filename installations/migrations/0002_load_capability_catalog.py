from django.db import migrations


def load_catalog(apps, schema_editor):
    from installations.catalog import sync_catalog

    sync_catalog(apps.get_model("installations", "Capability"))


class Migration(migrations.Migration):
    dependencies = [("installations", "0001_initial")]

    operations = [migrations.RunPython(load_catalog, migrations.RunPython.noop)]
