"""Signed checkpoints of the ledger's tree: issued by a beat task, stored, listed and exported.

The log key (ECDSA P-256) comes from ``ARGUS_LEDGER_LOG_KEY`` (PEM text) or else the file named by
``ARGUS_LEDGER_LOG_KEY_FILE``; it is never stored in the database. Its name (``ARGUS_LEDGER_LOG_KEY_NAME``,
default the origin) and the origin line (``ARGUS_LEDGER_ORIGIN``) identify the log to verifiers.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import requests
from django.conf import settings
from django.db import IntegrityError, transaction

from .models import LedgerCheckpoint
from .notes import Checkpoint, NoteSigner, b64, load_private_key, public_key_pem
from .services import link_pending_entries
from .tree import current_head

logger = logging.getLogger(__name__)


class LogKeyMissingError(RuntimeError):
    """No log key is configured: checkpoints cannot be signed."""


def log_signer() -> NoteSigner:
    pem = settings.ARGUS_LEDGER_LOG_KEY
    if not pem:
        path = Path(settings.ARGUS_LEDGER_LOG_KEY_FILE)
        if not path.is_file():
            raise LogKeyMissingError(
                f"No ledger log key: set ARGUS_LEDGER_LOG_KEY or create {path} (manage.py ledger_keygen)."
            )
        pem = path.read_text(encoding="ascii")
    name = settings.ARGUS_LEDGER_LOG_KEY_NAME or settings.ARGUS_LEDGER_ORIGIN
    return _signer(pem, name)


@lru_cache(maxsize=4)
def _signer(pem: str, name: str) -> NoteSigner:
    return NoteSigner(name, load_private_key(pem))


def log_public_key() -> tuple[str, str, str]:
    """``(key name, public key PEM, verifier key string)`` of the log key."""
    signer = log_signer()
    return signer.name, public_key_pem(signer.public_key), signer.verifier_key


def issue_checkpoint() -> LedgerCheckpoint | None:
    """Sign and store a checkpoint of the current tree, unless the tree is empty or already checkpointed.

    Safe to run concurrently: the unique tree size lets one of two racing issuers win; the other returns
    the winner's checkpoint. Entries still pending (committed, not linked yet) are linked first, so the
    checkpoint covers every entry committed before it.
    """
    signer = log_signer()
    link_pending_entries()
    head = current_head()
    if head.size == 0:
        return None
    existing = LedgerCheckpoint.objects.filter(tree_size=head.size).first()
    if existing is not None:
        return existing
    checkpoint = Checkpoint(settings.ARGUS_LEDGER_ORIGIN, head.size, head.root)
    note = signer.sign(checkpoint.text())
    try:
        with transaction.atomic():
            stored = LedgerCheckpoint.objects.create(
                origin=checkpoint.origin,
                tree_size=head.size,
                root_hash=b64(head.root),
                note=note,
                key_name=signer.name,
                key_id=signer.key_id.hex(),
            )
    except IntegrityError:
        return LedgerCheckpoint.objects.get(tree_size=head.size)
    logger.info("ledger checkpoint %s issued (root %s)", stored.tree_size, stored.root_hash)
    export_checkpoint(stored)
    return stored


def latest_checkpoint() -> LedgerCheckpoint | None:
    return LedgerCheckpoint.objects.order_by("-tree_size").first()


def checkpoint_covering(sequence: int) -> LedgerCheckpoint | None:
    """The newest checkpoint whose tree contains entry ``sequence``."""
    return LedgerCheckpoint.objects.filter(tree_size__gte=sequence).order_by("-tree_size").first()


def export_checkpoint(
    checkpoint: LedgerCheckpoint, *, directory: str | None = None, webhook: str | None = None
) -> None:
    """Publish a checkpoint's note: a file ``<size>.checkpoint`` (and ``latest.checkpoint``) in a directory
    and/or a POST (``text/plain``) to a webhook. Defaults: the ``ARGUS_LEDGER_CHECKPOINT_EXPORT_*`` settings.
    A failure is logged, not raised: publishing is best effort, the checkpoint is stored either way."""
    directory = directory if directory is not None else settings.ARGUS_LEDGER_CHECKPOINT_EXPORT_DIR
    webhook = webhook if webhook is not None else settings.ARGUS_LEDGER_CHECKPOINT_WEBHOOK
    if directory:
        try:
            target = Path(directory)
            target.mkdir(parents=True, exist_ok=True)
            (target / f"{checkpoint.tree_size}.checkpoint").write_text(checkpoint.note, encoding="utf-8")
            (target / "latest.checkpoint.tmp").write_text(checkpoint.note, encoding="utf-8")
            (target / "latest.checkpoint.tmp").replace(target / "latest.checkpoint")
        except OSError:
            logger.exception("could not export ledger checkpoint %s to %s", checkpoint.tree_size, directory)
    if webhook:
        try:
            response = requests.post(
                webhook,
                data=checkpoint.note.encode("utf-8"),
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=settings.ARGUS_WEBHOOK_CONNECT_TIMEOUT_SECONDS,
            )
            response.raise_for_status()
        except requests.RequestException:
            logger.exception("could not publish ledger checkpoint %s to the webhook", checkpoint.tree_size)
