"""Django settings for Argus Plugins, read from the environment (django-environ).

Everything has a safe embedded default (SQLite in ``var/``, Redis on localhost) so a newcomer can run the
platform with no configuration; production (``ARGUS_ENV=production``) refuses to start without an explicit
``SECRET_KEY`` and never runs with ``DEBUG``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

ARGUS_ENV = env.str("ARGUS_ENV", default="development")
PRODUCTION = ARGUS_ENV == "production"

DATA_DIR = Path(env.str("ARGUS_DATA_DIR", default=str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

#: Refuse to start unless cryptography's OpenSSL runs in FIPS mode (see README, "FIPS deployment").
FIPS_MODE = env.bool("FIPS_MODE", default=False)

#: The platform's own SemVer version; plugin manifests declare the range they support.
PLATFORM_VERSION = "1.0.0"


def _development_secret_key(path: Path) -> str:
    # Generated once per checkout and kept out of the repository, so no secret ever lives in code.
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(64)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")  # raises ImproperlyConfigured when missing
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _development_secret_key(DATA_DIR / "secret_key")

DEBUG = env.bool("DEBUG", default=False) and not PRODUCTION
#: Behind a reverse proxy that sets X-Forwarded-For, record the client address from it in the audit log.
ARGUS_TRUST_X_FORWARDED_FOR = env.bool("ARGUS_TRUST_X_FORWARDED_FOR", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "graphene_django",
    "django_celery_beat",
    "waffle",
    "djmoney",
    "argus_plugins.core",
    "argus_plugins.tenancy",
    "argus_plugins.audit",
    "registry",
    "installations",
    "execution",
    "ledger",
    "marketplace",
    "triggers",
]

MIDDLEWARE = [
    "argus_plugins.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "argus_plugins.urls"
WSGI_APPLICATION = "argus_plugins.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'argus.sqlite3'}")}
# Keep connections across requests and tasks: opening one (and on SQLite, checkpointing the WAL when the
# last connection closes) costs more than a whole plugin run's bookkeeping. Checked before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("ARGUS_DB_CONN_MAX_AGE", default=300)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, workers and beat share one SQLite file: WAL lets readers proceed during a write, IMMEDIATE
    # transactions take the write lock up front (no upgrade deadlocks), and the timeout queues writers.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Integration tests share the test database with real Celery worker processes, so it is a file, in
    # RAM-backed /dev/shm where there is one (pytest-xdist appends a suffix per test process).
    _shm = Path("/dev/shm")  # noqa: S108 - a directory for the throwaway test database only
    _test_db_dir = _shm if _shm.is_dir() else DATA_DIR
    _checkout_id = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str(
        "ARGUS_TEST_DB_FILE", default=str(_test_db_dir / f"argus-test-{_checkout_id}.sqlite3")
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenancy.User"
WAFFLE_FLAG_MODEL = "core.TenantFlag"
WAFFLE_CREATE_MISSING_FLAGS = False
WAFFLE_ENABLE_ADMIN_PAGES = False  # argus_plugins.core.admin registers the per-tenant flag admin

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(env.str("ARGUS_MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- GraphQL ------------------------------------------------------------------------------------------
GRAPHENE = {
    "SCHEMA": "argus_plugins.schema.schema",
    "SCHEMA_OUTPUT": str(BASE_DIR / "schema.graphql"),
    "SCHEMA_INDENT": 2,
    "ATOMIC_MUTATIONS": True,
}
GRAPHQL_MAX_DEPTH = env.int("GRAPHQL_MAX_DEPTH", default=12)
GRAPHQL_MAX_ALIASES = env.int("GRAPHQL_MAX_ALIASES", default=100)
GRAPHQL_MAX_OPERATIONS = env.int("GRAPHQL_MAX_OPERATIONS", default=10)
GRAPHQL_MAX_QUERY_BYTES = env.int("GRAPHQL_MAX_QUERY_BYTES", default=100_000)
GRAPHQL_MAX_PAGE_SIZE = env.int("GRAPHQL_MAX_PAGE_SIZE", default=100)
GRAPHQL_DEFAULT_PAGE_SIZE = 20

# --- Redis and Celery ---------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=900)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=960)
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With acks_late an unacknowledged task is redelivered after the visibility timeout: keep it above the
# longest task so a slow run is never executed twice while still alive.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=1800)}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="argus")
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Celery's Django fixup closes every database connection before and after each task unless this is set,
# which would make every task pay a new connection (on PostgreSQL a backend start). Tasks keep theirs
# instead, checked before each task like a web request's (CONN_MAX_AGE, CONN_HEALTH_CHECKS; see
# argus_plugins/celery.py); the fixup still closes them after this many tasks.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)

# --- Docker -------------------------------------------------------------------------------------------
DOCKER_BASE_URL = env.str("DOCKER_HOST", default="unix:///var/run/docker.sock")
DOCKER_TIMEOUT_SECONDS = env.int("DOCKER_TIMEOUT_SECONDS", default=30)

# --- Logging ------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "argus_plugins.core.logging.RequestIdFilter"}},
    "formatters": {
        "standard": {"format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "standard", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- Plugins: registry and sandbox limits -------------------------------------------------------------
ARGUS_MAX_BUNDLE_BYTES = env.int("ARGUS_MAX_BUNDLE_BYTES", default=20 * 1024 * 1024)
ARGUS_MAX_BUNDLE_UNCOMPRESSED_BYTES = env.int(
    "ARGUS_MAX_BUNDLE_UNCOMPRESSED_BYTES", default=100 * 1024 * 1024
)
ARGUS_MAX_BUNDLE_MEMBERS = env.int("ARGUS_MAX_BUNDLE_MEMBERS", default=2000)
#: Publisher keys: RSA of at least this many bits (4096; a FIPS deployment may allow 3072).
ARGUS_SIGNING_KEY_MIN_BITS = env.int("ARGUS_SIGNING_KEY_MIN_BITS", default=4096)
#: Hard ceilings on what any manifest may ask for, whatever the grants.
ARGUS_RESOURCE_MAXIMA = {"memory_mb": 2048, "cpus": 2.0, "timeout_seconds": 900, "pids": 512}
#: What a tenant's executions get at most without the compute:extended capability.
ARGUS_TENANT_DEFAULT_LIMITS = {"memory_mb": 256, "cpus": 1.0, "timeout_seconds": 60, "pids": 64}
#: Runtime name (as in manifests) -> the locally built image that runs it (build_runtime_images).
ARGUS_RUNTIME_IMAGES = {
    "python3.11": {
        "image": "argus-runtime-python3.11:1",
        "suite": "bookworm",
        "packages": ["python3"],
        "interpreter": ["python3"],
        # Python plugins run in a fork of the launcher's interpreter: no second interpreter start per run
        # (see execution/sandbox/launcher.py); "exec" runs `python3 <entrypoint>` as a new program.
        "launch": env.str("ARGUS_PYTHON_LAUNCH", default="fork"),
    },
}

# --- Execution engine ---------------------------------------------------------------------------------
ARGUS_MAX_EVIDENCE_BYTES = env.int("ARGUS_MAX_EVIDENCE_BYTES", default=512 * 1024 * 1024)
ARGUS_MAX_INPUT_BYTES = env.int("ARGUS_MAX_INPUT_BYTES", default=1024 * 1024)
ARGUS_STDOUT_MAX_BYTES = env.int("ARGUS_STDOUT_MAX_BYTES", default=1024 * 1024)
ARGUS_STDERR_MAX_BYTES = env.int("ARGUS_STDERR_MAX_BYTES", default=1024 * 1024)
ARGUS_OUTPUT_MAX_BYTES = env.int("ARGUS_OUTPUT_MAX_BYTES", default=4 * 1024 * 1024)
#: Executions of one tenant running at once (a TenantPolicy may override it).
ARGUS_TENANT_MAX_CONCURRENCY = env.int("ARGUS_TENANT_MAX_CONCURRENCY", default=4)
ARGUS_CAPACITY_RETRY_SECONDS = 1
ARGUS_DOCKER_MAX_RETRIES = env.int("ARGUS_DOCKER_MAX_RETRIES", default=5)
#: Warm, single-use containers kept ready per worker process and container shape (0 disables the pool).
ARGUS_SANDBOX_POOL_SIZE = env.int("ARGUS_SANDBOX_POOL_SIZE", default=1)
#: A stronger OCI runtime (e.g. gVisor's "runsc") where installed; empty uses the engine's default.
ARGUS_SANDBOX_OCI_RUNTIME = env.str("ARGUS_SANDBOX_OCI_RUNTIME", default="")
#: Host directory for per-run scratch space bind-mounted read-only into sandboxes.
ARGUS_SANDBOX_WORK_DIR = env.str("ARGUS_SANDBOX_WORK_DIR", default=str(DATA_DIR / "work"))
ARGUS_CANCEL_POLL_SECONDS = 0.25
ARGUS_HEARTBEAT_SECONDS = 5
ARGUS_HEARTBEAT_TIMEOUT_SECONDS = env.int("ARGUS_HEARTBEAT_TIMEOUT_SECONDS", default=60)
ARGUS_QUEUED_STALE_SECONDS = env.int("ARGUS_QUEUED_STALE_SECONDS", default=120)
CELERY_BEAT_SCHEDULE = {
    "sweep-executions": {"task": "execution.sweep", "schedule": 30.0},
    "marketplace-billing-cycle": {"task": "marketplace.billing_cycle", "schedule": 300.0},
}

# --- Ledger: Merkle tree checkpoints, witnesses ----------------------------------------------------------
#: The checkpoints' origin line (a schema-less URL naming this log) and, by default, the log key's name.
ARGUS_LEDGER_ORIGIN = env.str("ARGUS_LEDGER_ORIGIN", default="argus-plugins.local/ledger")
ARGUS_LEDGER_LOG_KEY_NAME = env.str("ARGUS_LEDGER_LOG_KEY_NAME", default="")
#: The log's ECDSA P-256 private key (PEM, PKCS#8), from the environment or else from this file
#: (``manage.py ledger_keygen`` creates it). Never stored in the database.
ARGUS_LEDGER_LOG_KEY = env.str("ARGUS_LEDGER_LOG_KEY", default="")
ARGUS_LEDGER_LOG_KEY_FILE = env.str(
    "ARGUS_LEDGER_LOG_KEY_FILE", default=str(DATA_DIR / "keys" / "ledger-log.pem")
)
#: A checkpoint is issued at most this often, and only when the tree grew.
ARGUS_LEDGER_CHECKPOINT_INTERVAL_SECONDS = env.int("ARGUS_LEDGER_CHECKPOINT_INTERVAL_SECONDS", default=60)
#: Where each new checkpoint's note is published (empty: nowhere): a directory and/or a webhook URL.
ARGUS_LEDGER_CHECKPOINT_EXPORT_DIR = env.str("ARGUS_LEDGER_CHECKPOINT_EXPORT_DIR", default="")
ARGUS_LEDGER_CHECKPOINT_WEBHOOK = env.str("ARGUS_LEDGER_CHECKPOINT_WEBHOOK", default="")
#: Called with each LedgerAlarm (a witness saw a checkpoint that does not extend the accepted one):
#: dotted paths of functions, e.g. to page an operator. The alarm is logged and stored regardless.
ARGUS_LEDGER_ALARM_HANDLERS = env.list("ARGUS_LEDGER_ALARM_HANDLERS", default=[])
CELERY_BEAT_SCHEDULE["ledger-checkpoint"] = {
    "task": "ledger.issue_checkpoint",
    "schedule": float(ARGUS_LEDGER_CHECKPOINT_INTERVAL_SECONDS),
}

# --- Triggers and webhooks ----------------------------------------------------------------------------
#: No schedule may fire more often than this (an interval below it, or a cron with a shorter gap, is refused).
ARGUS_SCHEDULE_MIN_INTERVAL_SECONDS = env.int("ARGUS_SCHEDULE_MIN_INTERVAL_SECONDS", default=60)
#: After this many refused firings in a row a schedule pauses itself, with the refusal as the reason.
ARGUS_SCHEDULE_MAX_REJECTIONS = env.int("ARGUS_SCHEDULE_MAX_REJECTIONS", default=3)
#: Events of runs that were themselves event-triggered this many hops deep start nothing (loop guard).
ARGUS_EVENT_MAX_CHAIN_DEPTH = env.int("ARGUS_EVENT_MAX_CHAIN_DEPTH", default=5)
ARGUS_EVENT_MAX_PAYLOAD_BYTES = env.int("ARGUS_EVENT_MAX_PAYLOAD_BYTES", default=64 * 1024)
ARGUS_EVENT_MAX_CUSTOM_PER_RUN = env.int("ARGUS_EVENT_MAX_CUSTOM_PER_RUN", default=20)
#: Webhook receivers on otherwise refused addresses (loopback, private...): hostnames, and IPs/CIDRs.
ARGUS_WEBHOOK_ALLOWED_HOSTS = env.list("ARGUS_WEBHOOK_ALLOWED_HOSTS", default=[])
ARGUS_WEBHOOK_ALLOWED_CIDRS = env.list("ARGUS_WEBHOOK_ALLOWED_CIDRS", default=[])
#: Delays (seconds) before each automatic retry of a failed delivery, jittered by +-10 %; then the
#: endpoint is disabled. The Standard Webhooks suggestion: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h.
ARGUS_WEBHOOK_RETRY_SCHEDULE_SECONDS = env.list(
    "ARGUS_WEBHOOK_RETRY_SCHEDULE_SECONDS", cast=int, default=[5, 300, 1800, 7200, 18000, 36000, 50400]
)
ARGUS_WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("ARGUS_WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=5.0)
ARGUS_WEBHOOK_READ_TIMEOUT_SECONDS = env.float("ARGUS_WEBHOOK_READ_TIMEOUT_SECONDS", default=10.0)
#: At most this much of a receiver's response body is read (the rest is never downloaded).
ARGUS_WEBHOOK_RESPONSE_MAX_BYTES = env.int("ARGUS_WEBHOOK_RESPONSE_MAX_BYTES", default=16 * 1024)
#: CA bundle used to verify HTTPS receivers (default: the certifi bundle requests ships).
ARGUS_WEBHOOK_CA_BUNDLE = env.str("ARGUS_WEBHOOK_CA_BUNDLE", default="") or True
#: After rotateWebhookSecret, deliveries are also signed with the previous secret for this long.
ARGUS_WEBHOOK_SECRET_GRACE_SECONDS = env.int("ARGUS_WEBHOOK_SECRET_GRACE_SECONDS", default=24 * 3600)
#: Webhook signing secrets are encrypted at rest with a key derived from this (default: SECRET_KEY).
ARGUS_WEBHOOK_SECRET_KEY = env.str("ARGUS_WEBHOOK_SECRET_KEY", default="") or SECRET_KEY
#: Re-publishes lost event dispatches and sends due webhook retries.
CELERY_BEAT_SCHEDULE["triggers-sweep"] = {"task": "triggers.sweep", "schedule": 10.0}

# --- Marketplace --------------------------------------------------------------------------------------
#: Dotted path of the payment provider class (marketplace.payments.PaymentProvider).
ARGUS_MARKETPLACE_PAYMENT_PROVIDER = env.str(
    "ARGUS_MARKETPLACE_PAYMENT_PROVIDER", default="marketplace.payments.RecordOnlyProvider"
)
#: An invoice is due this many days after it is issued; unpaid then, the entitlement is PAST_DUE.
ARGUS_MARKETPLACE_INVOICE_DUE_DAYS = env.int("ARGUS_MARKETPLACE_INVOICE_DUE_DAYS", default=7)
#: A PAST_DUE entitlement expires when its oldest invoice is still unpaid this many days after it was due.
ARGUS_MARKETPLACE_PAST_DUE_DAYS = env.int("ARGUS_MARKETPLACE_PAST_DUE_DAYS", default=14)
#: Renewals and trial conversions run this long before the period ends (no gap between periods).
ARGUS_MARKETPLACE_RENEWAL_LEAD = datetime.timedelta(
    seconds=env.int("ARGUS_MARKETPLACE_RENEWAL_LEAD_SECONDS", default=3600)
)
#: Publishers' analytics: a bucket with fewer distinct tenants than this is suppressed.
ARGUS_MARKETPLACE_MIN_TENANTS_PER_BUCKET = env.int("ARGUS_MARKETPLACE_MIN_TENANTS_PER_BUCKET", default=3)
