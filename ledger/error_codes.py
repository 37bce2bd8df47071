import enum


class LedgerErrorCode(enum.StrEnum):
    #: The execution's entry is newer than the latest signed checkpoint (issued every minute or so).
    NOT_YET_CHECKPOINTED = "NOT_YET_CHECKPOINTED"
    #: No log key is configured, so nothing can be signed or published as the log's.
    LOG_KEY_MISSING = "LOG_KEY_MISSING"
