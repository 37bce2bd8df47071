"""The points where the ledger lets higher apps react (argus_plugins.core.hooks; the callables are listed in
``settings.ARGUS_HOOKS``)."""

#: ``handler(entry_ids)``, right after the commit that linked those entries into the chain (whichever
#: process linked them: the one that wrote them, another writer's linker, a linked append or the beat
#: task). From then on each has its sequence and hashes: e.g. execution announces the end of the runs they
#: record only now, so that a client woken by it reads the run's entry in its place in the chain.
ENTRIES_LINKED = "ledger.entries_linked"
