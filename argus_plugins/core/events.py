"""Event types the platform itself emits. Plugins may also declare ``custom.<name>`` events."""

PLATFORM_EVENT_TYPES = (
    "evidence.uploaded",
    "execution.succeeded",
    "execution.failed",
    "execution.rejected",
    "execution.cancelled",
    "plugin.installed",
)
