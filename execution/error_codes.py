import enum


class ExecutionErrorCode(enum.StrEnum):
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    INPUT_INVALID = "INPUT_INVALID"
    EVIDENCE_TOO_LARGE = "EVIDENCE_TOO_LARGE"
    NOT_CANCELLABLE = "NOT_CANCELLABLE"
    QUEUE_FULL = "QUEUE_FULL"
    #: A run's output kept in the object store is missing there, or no longer matches its recorded SHA-256.
    OUTPUT_UNAVAILABLE = "OUTPUT_UNAVAILABLE"
    #: waitForExecution cannot hold the request here (every waiting slot of the web process is taken, or
    #: the server runs single-threaded workers): poll ``execution(id)`` instead, or wait again later.
    WAIT_UNAVAILABLE = "WAIT_UNAVAILABLE"
