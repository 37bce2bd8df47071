"""The points where execution lets higher apps react (argus_plugins.core.hooks; the callables are listed in
``settings.ARGUS_HOOKS``)."""

#: ``handler(execution)``, inside the transaction that records the run's terminal status and ledger entry,
#: with its plugin version loaded and ``ledger_entry_id`` set (the entry itself is written after the
#: handlers, as the transaction's last step): what the handler writes commits with the run's record or not
#: at all (the triggers' execution.* events).
RUN_FINISHED = "execution.run_finished"
#: ``handler(evidence_id)``, inside the upload's transaction (handlers defer their work to the commit).
EVIDENCE_UPLOADED = "execution.evidence_uploaded"
