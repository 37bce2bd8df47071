"""Build the Merkle tree over entries appended before it existed (a no-op on a new installation)."""

from django.db import migrations
from django.db.models import TextField
from django.db.models.functions import Cast

BATCH = 2000


def backfill(apps, schema_editor):
    # Pure modules (no models): the historical models below are the only ORM used.
    from ledger.hashing import stored_preimage
    from ledger.merkle import extend_frontier, leaf_hash

    entry_model = apps.get_model("ledger", "LedgerEntry")
    head_model = apps.get_model("ledger", "LedgerHead")
    head = head_model.objects.filter(pk=1).first()
    if head is None or head.sequence == 0:
        return
    rows = (
        entry_model.objects.filter(sequence__lte=head.sequence)
        .order_by("sequence")
        .values_list("pk", "sequence", "entry_type", Cast("record", TextField()), "prev_hash", "created_at")
    )
    frontier: list[bytes] = []
    size = 0
    pending = []
    for pk, sequence, entry_type, text, prev_hash, created_at in rows.iterator(chunk_size=BATCH):
        if sequence != size + 1:
            raise RuntimeError(f"ledger entry {size + 1} is missing; run verify_ledger before migrating")
        _, data = stored_preimage(sequence, entry_type, text, prev_hash, created_at)
        completed: list[bytes] = []
        extend_frontier(frontier, size, leaf_hash(data), completed.append)
        size += 1
        pending.append(entry_model(pk=pk, subtree_hashes=b"".join(completed)))
        if len(pending) == BATCH:
            entry_model.objects.bulk_update(pending, ["subtree_hashes"])
            pending = []
    entry_model.objects.bulk_update(pending, ["subtree_hashes"])
    head_model.objects.filter(pk=1).update(frontier=b"".join(frontier))


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_merkle_tree_and_checkpoints")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
