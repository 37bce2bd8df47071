"""The tamper-evident ledger: an append-only, SHA-256 hash-chained list of entries, plus its head row.

Rows are inserted by ``ledger.services`` and, when they were written unlinked (pending: no sequence yet),
linked exactly once by ``ledger.services.link_pending_entries``, which fills in sequence, prev_hash,
entry_hash and subtree_hashes. Nothing else changes them: the ORM refuses to update or delete them
(``save()`` on an existing row, ``delete()``, ``QuerySet.update()/delete()`` all raise), so no code path
of the application can rewrite history by accident; tampering at the SQL level is what
``ledger.verification.verify_chain`` detects.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import connections, models

from argus_plugins.core import clock
from argus_plugins.core.models import CreatedAtModel, UUIDModel

from .hashing import GENESIS_HASH, TIMESTAMP_LENGTH


class LedgerImmutableError(Exception):
    """Raised on any attempt to change or remove a ledger entry through the ORM."""


def _refuse(action: str) -> NoReturn:
    raise LedgerImmutableError(f"Ledger entries are append-only: {action} is not allowed.")


class LedgerEntryQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        _refuse("update")

    def delete(self) -> NoReturn:
        _refuse("delete")

    # bulk_update() and update_or_create() go through update()/save() and are refused there.

    def pending(self) -> LedgerEntryQuerySet:
        """Entries written but not linked into the chain yet (no sequence), oldest first."""
        return self.filter(sequence__isnull=True).order_by("created_at", "id")

    def linked(self) -> LedgerEntryQuerySet:
        return self.filter(sequence__isnull=False)

    def _write(self, entry: LedgerEntry) -> None:
        """Insert one entry, pending or already linked (``ledger.services.append_entry_without_waiting``, on
        every run's finish).

        One fixed INSERT, with each value prepared by its field as ``save()`` would: the same row, for a
        fraction of ``bulk_create``'s per-call cost (it builds and compiles a query each time), which on
        this hot path was a third of an append's CPU.
        """
        connection = connections[self.db]
        quote = connection.ops.quote_name
        names = PENDING_FIELDS if entry.sequence is None else (*PENDING_FIELDS, "sequence")
        fields = [self.model._meta.get_field(name) for name in names]
        statement = (
            f"INSERT INTO {quote(self.model._meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(field.column) for field in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        values = [field.get_db_prep_save(getattr(entry, field.attname), connection) for field in fields]
        with connection.cursor() as cursor:
            cursor.execute(statement, values)

    _write.queryset_only = False  # type: ignore[attr-defined]  # private, yet on the manager too

    def _link(self, entries: list[LedgerEntry]) -> None:
        """The one update the ledger allows: give pending entries their place in the chain (the caller holds
        the linkers' lock and read them as pending under it; ``ledger.services.link_pending_entries``).

        On PostgreSQL one UPDATE for the whole batch, joined with the new values passed as arrays
        (``unnest``): parsed and planned once, where one UPDATE per entry cost the server about a third more
        per entry. Elsewhere one parametrised UPDATE per entry, sent with ``executemany`` (Django's
        ``bulk_update`` builds a CASE per field and entry, which made a batch of a hundred entries take
        seconds on a busy machine). Each only on a still pending row: the count proves that no entry was
        linked twice.
        """
        connection = connections[self.db]
        quote = connection.ops.quote_name
        table = quote(self.model._meta.db_table)
        prepare_id = self.model._meta.pk.get_db_prep_value
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} AS entry SET sequence = new.sequence, prev_hash = new.prev_hash, "  # noqa: S608
                    "entry_hash = new.entry_hash, subtree_hashes = new.subtree_hashes "
                    "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::bytea[], %s::uuid[]) "
                    "AS new(sequence, prev_hash, entry_hash, subtree_hashes, id) "
                    "WHERE entry.id = new.id AND entry.sequence IS NULL",
                    [
                        *([getattr(entry, field) for entry in entries] for field in LINK_FIELDS),
                        [entry.pk for entry in entries],
                    ],
                )
            else:
                assignments = ", ".join(f"{quote(field)} = %s" for field in LINK_FIELDS)
                condition = f"{quote('id')} = %s AND {quote('sequence')} IS NULL"
                cursor.executemany(
                    f"UPDATE {table} SET {assignments} WHERE {condition}",  # noqa: S608
                    [
                        (*(getattr(entry, field) for field in LINK_FIELDS), prepare_id(entry.pk, connection))
                        for entry in entries
                    ],
                )
            linked = cursor.rowcount
        if linked != len(entries):
            raise LedgerImmutableError(f"{len(entries) - linked} of the entries to link were not pending.")

    _link.queryset_only = False  # type: ignore[attr-defined]  # private, yet on the manager too


#: What a pending entry is written with (the rest is null or empty until it is linked); an entry linked
#: as it is written has these filled in, and its sequence.
PENDING_FIELDS = (
    "id",
    "entry_type",
    "record",
    "tenant",
    "prev_hash",
    "entry_hash",
    "created_at",
    "content_hash",
    "subtree_hashes",
)
#: What linking a pending entry fills in (empty/null before).
LINK_FIELDS = ("sequence", "prev_hash", "entry_hash", "subtree_hashes")


class LedgerEntry(UUIDModel):
    #: 1, 2, 3, … without gaps; the position in the chain. Null while the entry is pending: written (with
    #: the change it records) but not linked yet; the linker gives it the next sequence right after commit.
    sequence = models.BigIntegerField(unique=True, null=True, editable=False)
    entry_type = models.CharField(max_length=64, editable=False)
    record = models.JSONField(editable=False)
    #: The tenant the record concerns (copied from ``record["tenant_id"]``) for tenant-scoped queries.
    #: PROTECT: a tenant that has ledger entries cannot be deleted through the ORM.
    tenant = models.ForeignKey(
        "tenancy.Tenant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    #: Empty while pending, like entry_hash. Indexed in Meta.indexes (plain B-trees: Django's db_index on a
    #: CharField adds a second, LIKE-pattern index on PostgreSQL, which a hex digest never needs and which
    #: every append and every link had to maintain).
    prev_hash = models.CharField(max_length=64, editable=False)
    entry_hash = models.CharField(max_length=64, editable=False)
    #: The exact RFC 3339 string that was hashed (see ledger.hashing.format_timestamp); set when the entry
    #: is written, so it is the time of the change it records, also for an entry linked later.
    created_at = models.CharField(max_length=TIMESTAMP_LENGTH, editable=False)
    #: SHA-256 (hex) of RFC 8785 {"created_at", "entry_type", "record"} (ledger.hashing.content_hash), written
    #: with the entry: what protects a pending entry, which no chain hash covers yet. The linker refuses to
    #: link an entry whose content no longer matches it, and verification checks it on pending entries.
    content_hash = models.CharField(max_length=64, editable=False, default="")
    #: The Merkle tree nodes this entry completes, 32 bytes each, level 0 (its leaf hash) upwards: entry
    #: ``s`` completes one node per trailing zero bit of ``s``, plus its leaf (two on average). A proof
    #: therefore reads only the O(log n) entries holding the nodes it names (see ledger.tree).
    subtree_hashes = models.BinaryField(editable=False, default=b"")

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ("sequence",)
        verbose_name_plural = "ledger entries"
        permissions = [("verify_ledger", "Can verify the ledger's hash chain")]
        constraints = [
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="ledger_sequence_positive"),
            # Pending (no sequence, no hashes) or linked (all of them): never half-linked.
            models.CheckConstraint(
                condition=models.Q(sequence__isnull=True, prev_hash="", entry_hash="")
                | (models.Q(sequence__isnull=False) & ~models.Q(prev_hash="") & ~models.Q(entry_hash="")),
                name="ledger_pending_or_linked",
            ),
        ]
        indexes = [
            models.Index(fields=("prev_hash",), name="ledger_prev_hash"),  # verification's fork check
            models.Index(fields=("entry_hash",), name="ledger_entry_hash"),
            models.Index(fields=("tenant", "entry_type", "sequence"), name="ledger_tenant_type_seq"),
            # The linker's query: few rows, and only for a moment.
            models.Index(
                fields=("created_at", "id"), condition=models.Q(sequence__isnull=True), name="ledger_pending"
            ),
        ]

    def __str__(self) -> str:
        if self.sequence is None:
            return f"pending {self.entry_type} {self.content_hash[:16]}"
        return f"#{self.sequence} {self.entry_type} {self.entry_hash[:16]}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse("save() of an existing entry")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("delete")


class LedgerHeadManager(models.Manager):
    def _move(self, head: LedgerHead, *, sequence: int, entry_hash: str, frontier: bytes) -> int:
        """Move the head past newly linked entries; how many rows moved (1, or 0 if the head was not at
        ``head.sequence`` any more). A plain conditional UPDATE (not save()) so that a concurrent change
        could never be overwritten; fixed SQL, because every append on the hot path moves the head."""
        connection = connections[self.db]
        quote = connection.ops.quote_name
        table = quote(self.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET sequence = %s, entry_hash = %s, frontier = %s "  # noqa: S608
                "WHERE id = %s AND sequence = %s",
                [sequence, entry_hash, frontier, head.pk, head.sequence],
            )
            return cursor.rowcount


class LedgerHead(models.Model):
    """The single row (id 1) holding the last sequence and hash.

    Linking locks it (``SELECT … FOR UPDATE``, after the linkers' advisory lock on PostgreSQL), which
    serialises linkers and makes linking O(1) per entry; verification compares it with the last linked
    entry, so a truncated tail is detected.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    sequence = models.BigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    #: The Merkle tree's frontier: the hashes of the complete subtrees along its right edge, largest first
    #: (one per 1-bit of ``sequence``), 32 bytes each. Enough to append a leaf and compute the root.
    frontier = models.BinaryField(default=b"")

    objects = LedgerHeadManager()

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="ledger_head_singleton")]

    def __str__(self) -> str:
        return f"head #{self.sequence} {self.entry_hash[:16]}"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        _refuse("update")

    def delete(self) -> NoReturn:
        _refuse("delete")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse(f"save() of an existing {self._meta.verbose_name}")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("delete")


class LedgerCheckpoint(AppendOnlyModel, UUIDModel, CreatedAtModel):
    """A signed tree head: the C2SP tlog-checkpoint of the tree at ``tree_size``, as a signed note.

    ``note`` is the exact text published; origin, size and root are copies of its body for querying.
    """

    origin = models.CharField(max_length=255, editable=False)
    tree_size = models.BigIntegerField(unique=True, editable=False)
    #: base64 (standard alphabet) of the 32-byte root hash, exactly as in the note.
    root_hash = models.CharField(max_length=44, editable=False)
    note = models.TextField(editable=False)
    #: The log key's name and its 4-byte key ID (hex) that signed the note.
    key_name = models.CharField(max_length=255, editable=False)
    key_id = models.CharField(max_length=8, editable=False)

    class Meta:
        ordering = ("-tree_size",)
        constraints = [
            models.CheckConstraint(condition=models.Q(tree_size__gte=1), name="ledger_checkpoint_size")
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size} {self.root_hash}"


class LedgerCosignature(AppendOnlyModel, UUIDModel, CreatedAtModel):
    """A witness's signature over a checkpoint it verified as extending every checkpoint it saw before."""

    checkpoint = models.ForeignKey(
        LedgerCheckpoint, on_delete=models.PROTECT, related_name="cosignatures", editable=False
    )
    witness_name = models.CharField(max_length=255, editable=False)
    key_id = models.CharField(max_length=8, editable=False)
    #: The signed-note signature line ("— <name> <base64>"), to be appended to the checkpoint's note.
    signature_line = models.TextField(editable=False)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=("checkpoint", "witness_name", "key_id"), name="uniq_cosignature")
        ]

    def __str__(self) -> str:
        return f"{self.witness_name} cosigned {self.checkpoint.tree_size}"


class LedgerAlarm(AppendOnlyModel, UUIDModel):
    """An operator notification: a witness saw a checkpoint that does not extend the one it accepted."""

    witness_name = models.CharField(max_length=255, editable=False)
    #: The last accepted note, and the offending one (verbatim: the evidence of the fork or rewrite).
    accepted_note = models.TextField(editable=False)
    offending_note = models.TextField(editable=False)
    detail = models.TextField(editable=False)
    created_at = models.DateTimeField(default=clock.now, editable=False, db_index=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.witness_name}: {self.detail[:60]}"
