import enum


class TenancyErrorCode(enum.StrEnum):
    LAST_ADMIN = "LAST_ADMIN"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_REVOKED = "TOKEN_REVOKED"
