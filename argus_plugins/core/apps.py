from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "argus_plugins.core"
    label = "core"
    verbose_name = "Platform core"
