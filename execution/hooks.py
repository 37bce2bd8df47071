"""The points where execution lets higher apps react (argus_plugins.core.hooks; the callables are listed in
``settings.ARGUS_HOOKS``)."""

#: ``handler(execution)``, inside the transaction that records the run's terminal status and ledger entry,
#: with ``execution.ledger_entry`` and its plugin version loaded: what the handler writes commits with the
#: run's record or not at all (the triggers' execution.* events). The ledger's lock may be held meanwhile:
#: a handler must not wait for rows that a transaction appending to the ledger could hold.
RUN_FINISHED = "execution.run_finished"
#: ``handler(evidence_id)``, inside the upload's transaction (handlers defer their work to the commit).
EVIDENCE_UPLOADED = "execution.evidence_uploaded"
