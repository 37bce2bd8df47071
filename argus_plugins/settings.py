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
from csp.constants import NONCE, NONE, SELF

from argus_plugins import runtimes
from argus_plugins.core.storage_url import parse_storage_url

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


#: Every process of the platform (gunicorn workers, Celery worker processes, beat) writes its Prometheus
#: metrics into PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode; the library reads the
#: variable when first imported, after the settings), and ``/metrics`` adds up what it finds in
#: ARGUS_METRICS_DIR and its subdirectories. By default both are one directory; services in separate
#: containers each write into their own subdirectory of a shared volume (see compose.yaml).
_metrics_default = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(DATA_DIR / "metrics"))
ARGUS_METRICS_DIR = Path(env.str("ARGUS_METRICS_DIR", default=_metrics_default))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ARGUS_METRICS_DIR))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
#: Bearer token a Prometheus server sends to scrape ``/metrics``; unset, the endpoint answers 404.
ARGUS_METRICS_TOKEN = env.str("ARGUS_METRICS_TOKEN", default="")
#: Collectors that compute gauges from the database when ``/metrics`` is scraped (dotted paths).
ARGUS_METRICS_COLLECTORS = ["execution.metrics.QueueDepthCollector"]

#: Upward reactions (argus_plugins.core.hooks): a lower layer names the point, higher apps answer it. Each
#: point's constant lives in the hooks.py of the app that calls it; tests/core/test_hooks.py checks that
#: every path here imports and that every point named here is one an app calls.
ARGUS_HOOKS: dict[str, list[str]] = {
    # core → audit: every mutation and admin change leaves one audit event, in its transaction.
    "core.mutation_succeeded": ["argus_plugins.audit.services.record_mutation"],
    "core.admin_changed": [
        "argus_plugins.audit.services.record_admin_change",
        "marketplace.stats.admin_changed",  # admin edits bypass the services that keep its figures
    ],
    # installations → marketplace: a paid plugin installs and runs only under an entitlement.
    "installations.authorization_policies": ["marketplace.entitlements.entitlement_refusal"],
    # installations → execution: revoking a grant cancels the runs that need it, in the same commit.
    "installations.grant_revoked": ["execution.services.cancel_runs_needing"],
    # installations, execution → triggers: platform events that subscriptions and webhooks react to.
    "installations.plugin_installed": [
        "triggers.events.plugin_installed",
        "marketplace.stats.installation_changed",
    ],
    # registry, installations → marketplace: the catalogue's figures change in the same commit.
    "installations.plugin_uninstalled": ["marketplace.stats.installation_changed"],
    "registry.plugins_changed": ["marketplace.stats.plugins_changed"],
    "execution.evidence_uploaded": ["triggers.events.evidence_uploaded"],
    "execution.run_finished": ["triggers.events.execution_finished"],
    # ledger → execution: a run's end is announced to waitForExecution once its entry is in the chain.
    "ledger.entries_linked": ["execution.wakeups.announce_runs_of_linked_entries"],
}

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
    "argus_plugins.staff.apps.ArgusAdminConfig",  # django.contrib.admin with the review queue first
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
    "argus_plugins.staff.apps.StaffConfig",
    "argus_plugins.platform.apps.PlatformConfig",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "argus_plugins.core.middleware.RequestIdMiddleware",
    "argus_plugins.core.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "argus_plugins.tenancy.middleware.BearerTokenMiddleware",  # API tokens, on views that accept them
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "argus_plugins.urls"
WSGI_APPLICATION = "argus_plugins.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # templates/ overrides third-party templates (graphene/graphiql.html: GraphiQL from our static files).
        "DIRS": [BASE_DIR / "templates"],
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
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's default random_page_cost (4) models a spinning disk, where reading a table in order beats
    # jumping through an index; on the SSD or network storage a deployment runs on, its own documentation
    # suggests about 1.1. At 4 the marketplace's page of 100 listings scans all the plugins (2.6 ms at 10 000)
    # instead of their index (1.45 ms). A session setting, so it needs no superuser; 0 keeps the server's.
    _random_page_cost = env.float("ARGUS_DB_RANDOM_PAGE_COST", default=1.1)
    if _random_page_cost > 0:
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["options"] = f"{_options.get('options', '')} -c random_page_cost={_random_page_cost}".strip()
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
#: GraphiQL and React, installed from the npm registry by scripts/lib.sh (tools/graphiql) into build/.
GRAPHIQL_ASSETS_DIR = BASE_DIR / "build" / "graphiql"
STATICFILES_DIRS = [("graphiql", GRAPHIQL_ASSETS_DIR)]
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
#: An uploaded file larger than this goes to a temporary file (FILE_UPLOAD_TEMP_DIR, the system's by default)
#: before it is streamed to the object store; reads from S3 spool to disk past the same size.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
#: Where bundles, evidence, artifacts and dependency layers live (argus_plugins/core/storage_url.py): the
#: local filesystem by default (ARGUS_MEDIA_ROOT, or media/ in the data directory), or any S3-compatible
#: server, e.g. s3://ACCESS_KEY:SECRET_KEY@seaweedfs:8333/argus?secure=false (README "Object storage").
_default_media_root = Path(env.str("ARGUS_MEDIA_ROOT", default=str(DATA_DIR / "media")))
ARGUS_STORAGE = parse_storage_url(
    env.str("ARGUS_STORAGE_URL", default="") or _default_media_root.as_uri(),
    upload_memory_bytes=FILE_UPLOAD_MAX_MEMORY_SIZE,
)
MEDIA_ROOT = ARGUS_STORAGE.media_root or _default_media_root
STORAGES = {
    "default": ARGUS_STORAGE.storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
#: Every page (admin, GraphiQL) may load scripts, styles and data from its own origin only: no CDN, no inline
#: script. GraphiQL's stylesheet embeds its fonts and icons as data: URLs; its dialogs add a <style> element,
#: allowed by the page's nonce (a nonce is in the header only of pages that use one).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- GraphQL ------------------------------------------------------------------------------------------
GRAPHENE = {
    "SCHEMA": "argus_plugins.schema.schema",
    "SCHEMA_OUTPUT": str(BASE_DIR / "schema.graphql"),
    "SCHEMA_INDENT": 2,
    "ATOMIC_MUTATIONS": True,
    # Every field's arguments are checked for unstorable text and datetimes before its resolver runs.
    "MIDDLEWARE": ["argus_plugins.core.graphql.input_cleaning.InputCleaningMiddleware"],
}
# Document limits, refused before execution (README "API"). Parse, shape and validation are cached per text.
GRAPHQL_MAX_DEPTH = env.int("GRAPHQL_MAX_DEPTH", default=12)
GRAPHQL_MAX_ALIASES = env.int("GRAPHQL_MAX_ALIASES", default=100)
GRAPHQL_MAX_OPERATIONS = env.int("GRAPHQL_MAX_OPERATIONS", default=10)
GRAPHQL_MAX_QUERY_BYTES = env.int("GRAPHQL_MAX_QUERY_BYTES", default=100_000)
GRAPHQL_MAX_TOKENS = env.int("GRAPHQL_MAX_TOKENS", default=2_000)
GRAPHQL_MAX_FIELDS = env.int("GRAPHQL_MAX_FIELDS", default=300)
GRAPHQL_MAX_PAGE_SIZE = env.int("GRAPHQL_MAX_PAGE_SIZE", default=100)
GRAPHQL_DEFAULT_PAGE_SIZE = 20
# Query cost (Saleor's model): 1 per field, what a connection selects times its page size, what another
# list selects times this factor.
GRAPHQL_MAX_COST = env.int("GRAPHQL_MAX_COST", default=100_000)
GRAPHQL_COST_LIST_MULTIPLIER = env.int("GRAPHQL_COST_LIST_MULTIPLIER", default=10)
GRAPHQL_MAX_MUTATIONS = env.int("GRAPHQL_MAX_MUTATIONS", default=10)
# Introspection and "Did you mean …?" suggestions describe the schema: authenticated callers only.
GRAPHQL_INTROSPECTION_ANONYMOUS = env.bool("GRAPHQL_INTROSPECTION_ANONYMOUS", default=False)
GRAPHQL_SUGGESTIONS_ANONYMOUS = env.bool("GRAPHQL_SUGGESTIONS_ANONYMOUS", default=False)
# Request rates per caller (API token, session user, or the IP of an anonymous caller), as rates
# ("20/s", "600/m", "50/5m") that all apply; mutation fields count against their own budget. Counted in the
# Redis of the "ratelimit" cache below (argus_plugins/core/graphql/rate_limits.py).
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_USE_CACHE = "ratelimit"
GRAPHQL_RATE_LIMIT_ANONYMOUS = env.list("GRAPHQL_RATE_LIMIT_ANONYMOUS", default=["10/s", "120/m"])
GRAPHQL_RATE_LIMIT_AUTHENTICATED = env.list("GRAPHQL_RATE_LIMIT_AUTHENTICATED", default=["100/s", "3000/m"])
GRAPHQL_RATE_LIMIT_MUTATIONS = env.list("GRAPHQL_RATE_LIMIT_MUTATIONS", default=["30/s", "600/m"])

# --- Redis and Celery ---------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Shared by every web process, so that a rate limit is one budget, not one per worker.
    "ratelimit": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("RATELIMIT_REDIS_URL", default=REDIS_URL),
        "KEY_PREFIX": "argus",
    },
}
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
# Runs on the default queue; sweeps, schedules, events and webhooks on queues of their own beside it, which a
# worker started without -Q consumes too (argus_plugins/celery.py: route_task, housekeeping_queues).
CELERY_TASK_ROUTES = ("argus_plugins.celery.route_task",)
CELERY_TASK_QUEUES = {
    name: {"exchange": name, "routing_key": name}
    for name in (
        CELERY_TASK_DEFAULT_QUEUE,
        f"{CELERY_TASK_DEFAULT_QUEUE}.housekeeping",
        f"{CELERY_TASK_DEFAULT_QUEUE}.webhooks",
    )
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Task events for monitors such as Flower or `celery events` (README, "Operations"). A worker sends its
# (received, started, succeeded, failed, retried) only while a monitor asks: Flower switches them on in every
# worker it sees (`enable_events`), as `celery -A argus_plugins control enable_events` does. Sent always, they
# cost each run 1-2 ms between its message and its start (measured: publish to task start 4.2-5.3 ms with
# them, 3.0-3.2 ms without), Celery's own default. The publisher's task-sent event leaves after the message.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=False)
CELERY_TASK_SEND_SENT_EVENT = env.bool("CELERY_TASK_SEND_SENT_EVENT", default=True)
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

# --- Tenancy ------------------------------------------------------------------------------------------
#: How long a tenant invitation waits for the invited user's answer.
ARGUS_INVITATION_TTL_SECONDS = env.int("ARGUS_INVITATION_TTL_SECONDS", default=7 * 24 * 3600)

# --- Plugins: registry and sandbox limits -------------------------------------------------------------
ARGUS_MAX_BUNDLE_BYTES = env.int("ARGUS_MAX_BUNDLE_BYTES", default=20 * 1024 * 1024)
ARGUS_MAX_BUNDLE_UNCOMPRESSED_BYTES = env.int(
    "ARGUS_MAX_BUNDLE_UNCOMPRESSED_BYTES", default=100 * 1024 * 1024
)
ARGUS_MAX_BUNDLE_MEMBERS = env.int("ARGUS_MAX_BUNDLE_MEMBERS", default=2000)
#: The review page shows at most this much of each bundle file, and this much source in all.
ARGUS_REVIEW_MAX_FILE_BYTES = env.int("ARGUS_REVIEW_MAX_FILE_BYTES", default=256 * 1024)
ARGUS_REVIEW_MAX_TOTAL_BYTES = env.int("ARGUS_REVIEW_MAX_TOTAL_BYTES", default=2 * 1024 * 1024)
#: Publisher keys: RSA of at least this many bits (4096; a FIPS deployment may allow 3072).
ARGUS_SIGNING_KEY_MIN_BITS = env.int("ARGUS_SIGNING_KEY_MIN_BITS", default=4096)
#: Hard ceilings on what any manifest may ask for, whatever the grants (argus_plugins/runtimes.py).
ARGUS_RESOURCE_MAXIMA = dict(runtimes.RESOURCE_MAXIMA)
#: What a tenant's executions get at most without the compute:extended capability.
ARGUS_TENANT_DEFAULT_LIMITS = dict(runtimes.TENANT_DEFAULT_LIMITS)
#: Runtime name (as in manifests) -> the locally built image that runs it (build_runtime_images).
ARGUS_RUNTIME_IMAGES = runtimes.runtime_images(python_launch=env.str("ARGUS_PYTHON_LAUNCH", default="fork"))
#: Where plugin dependencies (hash-pinned lock files) are fetched from when a version is submitted:
#: PyPI, or an agency's internal mirror in an air-gapped network (any PEP 503 simple index).
ARGUS_PACKAGE_INDEX_URL = env.str("ARGUS_PACKAGE_INDEX_URL", default="https://pypi.org/simple")
#: The same for node runtimes' npm lock files (any registry serving npm's tarball URLs).
ARGUS_NPM_REGISTRY_URL = env.str("ARGUS_NPM_REGISTRY_URL", default="https://registry.npmjs.org")
#: A layer still PENDING after this long had its task lost (broker down): the sweep publishes it again.
ARGUS_LAYER_STALE_SECONDS = env.int("ARGUS_LAYER_STALE_SECONDS", default=600)

# --- Execution engine ---------------------------------------------------------------------------------
ARGUS_MAX_EVIDENCE_BYTES = env.int("ARGUS_MAX_EVIDENCE_BYTES", default=512 * 1024 * 1024)
ARGUS_MAX_INPUT_BYTES = env.int("ARGUS_MAX_INPUT_BYTES", default=1024 * 1024)
ARGUS_STDOUT_MAX_BYTES = env.int("ARGUS_STDOUT_MAX_BYTES", default=1024 * 1024)
ARGUS_STDERR_MAX_BYTES = env.int("ARGUS_STDERR_MAX_BYTES", default=1024 * 1024)
#: The largest output.json a plugin may write (a larger one fails the run): the worker holds it in memory.
ARGUS_OUTPUT_MAX_BYTES = env.int("ARGUS_OUTPUT_MAX_BYTES", default=4 * 1024 * 1024)
#: An output.json larger than this is kept as an object in the store (outputs/<tenant>/<run>.json), not in
#: the run's database row; GraphQL's `output` reads it back (execution/stored_output.py).
ARGUS_OUTPUT_INLINE_MAX_BYTES = env.int("ARGUS_OUTPUT_INLINE_MAX_BYTES", default=64 * 1024)
#: Executions of one tenant running at once (a TenantPolicy may override it).
ARGUS_TENANT_MAX_CONCURRENCY = env.int("ARGUS_TENANT_MAX_CONCURRENCY", default=4)
ARGUS_CAPACITY_RETRY_SECONDS = 1
ARGUS_DOCKER_MAX_RETRIES = env.int("ARGUS_DOCKER_MAX_RETRIES", default=5)
#: The host's shared warm pool (README, "Warm pool"): warm, single-use containers kept at least per container
#: shape used in the last ARGUS_SANDBOX_POOL_IDLE_SECONDS (0 disables the pool); more while demand needs them,
#: within a cap per shape, a cap per host and a budget for the memory the idle containers hold.
ARGUS_SANDBOX_POOL_SIZE = env.int("ARGUS_SANDBOX_POOL_SIZE", default=1)
ARGUS_SANDBOX_POOL_MAX_PER_SHAPE = env.int("ARGUS_SANDBOX_POOL_MAX_PER_SHAPE", default=32)
ARGUS_SANDBOX_POOL_MAX_TOTAL = env.int("ARGUS_SANDBOX_POOL_MAX_TOTAL", default=48)
ARGUS_SANDBOX_POOL_MEMORY_MB = env.int("ARGUS_SANDBOX_POOL_MEMORY_MB", default=512)
ARGUS_SANDBOX_POOL_PARALLEL_STARTS = env.int("ARGUS_SANDBOX_POOL_PARALLEL_STARTS", default=4)
ARGUS_SANDBOX_POOL_IDLE_SECONDS = env.int("ARGUS_SANDBOX_POOL_IDLE_SECONDS", default=300)
#: A shape keeps the deepest depth it needed lately (and one more per miss) this long, then halves it.
ARGUS_SANDBOX_POOL_BURST_SECONDS = env.int("ARGUS_SANDBOX_POOL_BURST_SECONDS", default=120)
#: Each worker process claims its next warm container of the shape it just ran ahead of the run (README, Warm
#: pool); off, it takes one when the run starts.
ARGUS_SANDBOX_POOL_PRECLAIM = env.bool("ARGUS_SANDBOX_POOL_PRECLAIM", default=True)
#: A worker process removes its used containers at a pause in its runs (execution/sandbox/pool.py,
#: RemovalDeferral): a removal costs the engine about as much CPU as a run, so runs back to back do not
#: pay for their predecessors' removals. Off: each is removed at once, in the background.
ARGUS_SANDBOX_DEFER_REMOVALS = env.bool("ARGUS_SANDBOX_DEFER_REMOVALS", default=True)
#: A stronger OCI runtime (e.g. gVisor's "runsc") where installed; empty uses the engine's default.
ARGUS_SANDBOX_OCI_RUNTIME = env.str("ARGUS_SANDBOX_OCI_RUNTIME", default="")
#: The Docker runtime name of gVisor, for tenants whose policy requires it (scripts/lib.sh: ensure_runsc).
ARGUS_SANDBOX_GVISOR_RUNTIME = env.str("ARGUS_SANDBOX_GVISOR_RUNTIME", default="runsc")
#: Host directory for per-run scratch space bind-mounted read-only into sandboxes.
ARGUS_SANDBOX_WORK_DIR = env.str("ARGUS_SANDBOX_WORK_DIR", default=str(DATA_DIR / "work"))
ARGUS_CANCEL_POLL_SECONDS = 0.25
#: While a run is RUNNING, what its plugin printed and reported (progress) so far is sent by the sandbox
#: and written to the run at most this often, and only when something changed (0 turns it off).
ARGUS_LIVE_OUTPUT_INTERVAL_SECONDS = 0.5
ARGUS_HEARTBEAT_SECONDS = 5
#: A RUNNING run whose heartbeat (sent every ARGUS_HEARTBEAT_SECONDS) is older than this is lost (its worker
#: died or hangs); on the worker's own host a dead worker process is noticed at the next sweep at once.
ARGUS_HEARTBEAT_TIMEOUT_SECONDS = env.int("ARGUS_HEARTBEAT_TIMEOUT_SECONDS", default=30)
#: A QUEUED run not picked up for this long is published again (its message may have been lost while the
#: broker was down); a duplicate message is harmless (the claim is a conditional UPDATE). See README.
ARGUS_QUEUED_STALE_SECONDS = env.int("ARGUS_QUEUED_STALE_SECONDS", default=30)
ARGUS_SWEEP_INTERVAL_SECONDS = env.float("ARGUS_SWEEP_INTERVAL_SECONDS", default=10.0)
#: Runs released to the broker at once, over all tenants: set it to the total concurrency of the Celery
#: workers. Queued runs beyond it wait in the database and are released round-robin across tenants.
ARGUS_DISPATCH_SLOTS = env.int("ARGUS_DISPATCH_SLOTS", default=4)
#: Runs one tenant may have QUEUED at once (a TenantPolicy may override it); runPlugin answers QUEUE_FULL.
ARGUS_TENANT_MAX_QUEUED = env.int("ARGUS_TENANT_MAX_QUEUED", default=1000)
CELERY_BEAT_SCHEDULE = {
    "sweep-executions": {"task": "execution.sweep", "schedule": ARGUS_SWEEP_INTERVAL_SECONDS},
    "sweep-dependency-layers": {"task": "registry.sweep_dependency_layers", "schedule": 300.0},
    "marketplace-billing-cycle": {"task": "marketplace.billing_cycle", "schedule": 300.0},
    "marketplace-refresh-listing-stats": {"task": "marketplace.refresh_listing_stats", "schedule": 3600.0},
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
#: How often the beat task links ledger entries left pending by a process that died between its commit
#: and linking them (linking normally happens right after each commit).
ARGUS_LEDGER_LINK_INTERVAL_SECONDS = env.int("ARGUS_LEDGER_LINK_INTERVAL_SECONDS", default=30)
CELERY_BEAT_SCHEDULE["ledger-link-pending"] = {
    "task": "ledger.link_pending_entries",
    "schedule": float(ARGUS_LEDGER_LINK_INTERVAL_SECONDS),
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

# --- Web tier (nginx in front of gunicorn; see argus_plugins/core/web_tier.py) --------------------------
#: Largest request body accepted from an authenticated client: the largest upload plus multipart framing.
ARGUS_WEB_MAX_BODY_BYTES = env.int(
    "ARGUS_WEB_MAX_BODY_BYTES", default=max(ARGUS_MAX_EVIDENCE_BYTES, ARGUS_MAX_BUNDLE_BYTES) + 1024 * 1024
)
#: Largest request body from a client that sends neither a bearer token nor a session cookie: refused
#: from its Content-Length before the body is read (by nginx, and by RequestBodyLimitMiddleware).
ARGUS_WEB_ANONYMOUS_MAX_BODY_BYTES = env.int("ARGUS_WEB_ANONYMOUS_MAX_BODY_BYTES", default=256 * 1024)
#: nginx closes a connection that sends nothing (headers or body) or reads nothing for this long.
ARGUS_WEB_CLIENT_TIMEOUT_SECONDS = env.int("ARGUS_WEB_CLIENT_TIMEOUT_SECONDS", default=10)
#: nginx gives gunicorn this long to answer a (fully buffered) request.
ARGUS_WEB_UPSTREAM_TIMEOUT_SECONDS = env.int("ARGUS_WEB_UPSTREAM_TIMEOUT_SECONDS", default=60)
#: Threads per gunicorn worker process (gthread worker class; argus_plugins/core/gunicorn_conf.py).
ARGUS_WEB_THREADS = env.int("ARGUS_WEB_THREADS", default=8)
#: How many waitForExecution requests one web process holds at once; the other threads stay free for
#: everything else. Beyond it a wait answers WAIT_UNAVAILABLE (poll instead).
ARGUS_WEB_WAIT_SLOTS = env.int("ARGUS_WEB_WAIT_SLOTS", default=max(ARGUS_WEB_THREADS - 2, 0))
