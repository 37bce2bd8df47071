"""Export the ledger as JSON Lines, streamed in sequence order with constant memory."""

from __future__ import annotations

import json
from typing import TextIO

from django.db.models import TextField
from django.db.models.functions import Cast

from .models import LedgerEntry, LedgerHead

EXPORT_FIELDS = ("sequence", "entry_type", "record", "prev_hash", "created_at", "entry_hash")


def export_jsonl(out: TextIO, *, chunk_size: int = 2000) -> int:
    """Write every linked entry up to the head (read first, so concurrent appends are not half-exported).

    Pending entries (not linked yet) are not exported: they have no place in the chain yet."""
    head = LedgerHead.objects.filter(pk=LedgerHead.SINGLETON_ID).values_list("sequence", flat=True).first()
    rows = LedgerEntry.objects.linked().order_by("sequence")
    if head is not None:
        rows = rows.filter(sequence__lte=head)
    rows = rows.values_list(
        "sequence",
        "entry_type",
        Cast("record", output_field=TextField()),
        "prev_hash",
        "created_at",
        "entry_hash",
    )
    count = 0
    for sequence, entry_type, record_text, prev_hash, created_at, entry_hash in rows.iterator(
        chunk_size=chunk_size
    ):
        line = {
            "sequence": sequence,
            "entry_type": entry_type,
            # Parsed from the stored text and re-serialised: the record is exported exactly as stored.
            "record": json.loads(record_text),
            "prev_hash": prev_hash,
            "created_at": created_at,
            "entry_hash": entry_hash,
        }
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
        # U+2028/U+2029 are legal in JSON strings but many line readers split on them: escape them (they
        # can only occur inside strings, so the JSON value is unchanged).
        out.write(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n")
        count += 1
    return count
