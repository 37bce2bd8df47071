"""The points where the registry lets higher apps react (argus_plugins.core.hooks; the callables are listed
in ``settings.ARGUS_HOOKS``)."""

#: ``handler(plugin_ids)``, inside the transaction that changed what these plugins offer: a version's status
#: (approval, deprecation, archiving...), the plugin's status, or the revocation of a key that signed some of
#: their versions (e.g. the marketplace's catalogue figures, rewritten in the same commit).
PLUGINS_CHANGED = "registry.plugins_changed"
