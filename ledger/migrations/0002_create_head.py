from django.db import migrations

GENESIS_HASH = "0" * 64


def create_head(apps, schema_editor):
    # The head row must exist before the first append, so that concurrent first writers lock one row.
    apps.get_model("ledger", "LedgerHead").objects.get_or_create(
        id=1, defaults={"sequence": 0, "entry_hash": GENESIS_HASH}
    )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
