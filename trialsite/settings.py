"""TrialSite settings: one module, driven by environment variables (django-environ).

Development defaults are safe to run on a laptop with nothing installed: SQLite and a
filesystem Celery broker under ``var/``, email written to ``var/outbox``. Production is
``DEBUG=false``; then ``SECRET_KEY`` must be set and ``manage.py check --deploy`` is clean.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import django_stubs_ext
import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from trialsite.client_ip import parse_networks

# Lets `ModelAdmin[Model]`, `QuerySet[Model]` etc. be written at run time (django-stubs generics).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TRIALSITE_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()

# Like healthchecks, development is the default and production is opted into with DEBUG=false,
# because a newcomer's first command must work without a hand-written .env file.
DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production mode (DEBUG=false) needs a long random SECRET_KEY in the environment."
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not a known IANA time zone.") from exc
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "trialsite",
    "randomization",
    "dosing",
    "schedules",
    "reminders",
    "exports",
    "adverse_events",
]

# django-simple-history's admin pages are read-only (trialsite/admin_guard.py): no "Revert", no
# editing of history; the package's revert would save the posted form around the services.
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_EDIT = False
# A history row's reason holds a signature's full manifestation (signer, time, meaning) beside a
# typed reason: text, not the package's 100 characters.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything looks a path, header or cookie up in the database (PostgreSQL refuses NUL).
    "trialsite.middleware.RefuseNulMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Signs out idle and too-old sessions before anything reads request.user.
    "trialsite.middleware.SessionTimeoutMiddleware",
    "trialsite.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A record that fails its integrity check is a 500 page naming the check, never shown.
    "trialsite.middleware.IntegrityFailureMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks, so that it sees the outcome of every login attempt.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "trialsite.urls"
WSGI_APPLICATION = "trialsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'trialsite.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# The role that owns the tables. `manage.py migrate` and `grant_app_role` connect with it
# (trialsite/db.py); everything else connects with DATABASE_URL, the application role that can
# only read and write rows, so it can neither disable nor drop the audit triggers (README
# "Database roles"). Empty: DATABASE_URL's role does both (development, tests).
DATABASE_OWNER_URL = env.str("DATABASE_OWNER_URL", default="")
if DATABASE_OWNER_URL:
    _owner = env.db_url_config(DATABASE_OWNER_URL)
    if (_owner["ENGINE"], _owner["NAME"]) != (DATABASES["default"]["ENGINE"], DATABASES["default"]["NAME"]):
        raise ImproperlyConfigured("DATABASE_OWNER_URL must name the same PostgreSQL database as DATABASE_URL.")
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# A kept connection (CONN_MAX_AGE) is checked before its first use in each request and each
# Celery task: after a database restart or failover it is dead, and without the check the next
# request of every gunicorn worker (and the next task of every Celery process) was a 500.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; a generous timeout keeps `make run`'s web and worker from
    # failing with "database is locked" when both write at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing directory

# --- Email -------------------------------------------------------------------------------
# EMAIL_URL follows django-environ: smtp://user:pass@host:25, smtp+tls://…, consolemail://,
# filemail:// (default: files in var/outbox, so a newcomer can read what would have been sent).
_email = env.email_url("EMAIL_URL", default="filemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or str(VAR_DIR / "outbox")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="TrialSite <trialsite@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- SMS -------------------------------------------------------------------------------
# SMS_BACKEND: "file" (development default: JSON lines in var/sms-outbox.jsonl), "console", or
# "http" (a gateway that takes a JSON POST; SMS_GATEWAY_URL and SMS_GATEWAY_TOKEN).
SMS_BACKEND = env.str("SMS_BACKEND", default="file")
if SMS_BACKEND not in ("file", "console", "http"):
    raise ImproperlyConfigured(f"SMS_BACKEND={SMS_BACKEND!r}: use file, console or http.")
SMS_GATEWAY_URL = env.str("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_TOKEN = env.str("SMS_GATEWAY_TOKEN", default="")
SMS_GATEWAY_TIMEOUT = env.float("SMS_GATEWAY_TIMEOUT", default=10.0)
SMS_FILE_PATH = str(VAR_DIR / "sms-outbox.jsonl")
if SMS_BACKEND == "http" and not SMS_GATEWAY_URL:
    raise ImproperlyConfigured("SMS_BACKEND=http needs SMS_GATEWAY_URL.")

# --- Cache -------------------------------------------------------------------------------
# Per-process memory by default. In production the gunicorn workers share one Redis cache (the
# rendered dose-sheet PDFs); give it a Redis database of its own, not the broker's. The cache
# is an optimisation only: when it is down, pages are computed as if it were empty.
CACHE_URL = env.str("CACHE_URL", default="")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "trialsite",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
elif CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL or empty (per-process memory), not {CACHE_URL!r}.")
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "trialsite"}}

# --- Calendar feeds ------------------------------------------------------------------------
# The staff feed (/api/v1/calendar-feeds/<key>.ics) covers the events planned from
# FEED_PAST_DAYS ago to FEED_FUTURE_DAYS ahead: a bound on its size whatever the trial's length.
# A rendered feed is kept in the cache for FEED_CACHE_SECONDS under a key that changes whenever
# its events do (so a change is never served stale), and answered 304 to a matching If-None-Match.
FEED_PAST_DAYS = env.int("FEED_PAST_DAYS", default=31)
FEED_FUTURE_DAYS = env.int("FEED_FUTURE_DAYS", default=183)
if not (0 <= FEED_PAST_DAYS <= 3660 and 0 <= FEED_FUTURE_DAYS <= 3660):
    raise ImproperlyConfigured("FEED_PAST_DAYS and FEED_FUTURE_DAYS must each be between 0 and 3660 (days).")
# And at most FEED_MAX_EVENTS events (whole days, nearest first): about 0.6 KB each in iCalendar,
# so the default keeps a feed near 1.2 MB whatever the number of participants.
FEED_MAX_EVENTS = env.int("FEED_MAX_EVENTS", default=2000)
if not 1 <= FEED_MAX_EVENTS <= 100_000:
    raise ImproperlyConfigured("FEED_MAX_EVENTS must be between 1 and 100000.")
FEED_CACHE_SECONDS = env.int("FEED_CACHE_SECONDS", default=86400)
if FEED_CACHE_SECONDS < 0:
    raise ImproperlyConfigured("FEED_CACHE_SECONDS must be 0 (no caching) or more.")

# --- Celery ------------------------------------------------------------------------------
# With no broker configured, kombu's filesystem transport under var/ needs no server.
_FS_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = (
    env.str("CELERY_BROKER_URL", default="") or env.str("REDIS_URL", default="") or "filesystem://localhost//"
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("in", "processed", "control"):
        (_FS_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_FS_BROKER_DIR / "in"),
        "data_folder_out": str(_FS_BROKER_DIR / "in"),
        "processed_folder": str(_FS_BROKER_DIR / "processed"),
        # Exchange metadata; kombu's default is ./control, i.e. wherever the process started.
        "control_folder": str(_FS_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # A dead broker must not hang a web request: connection attempts give up quickly and the
    # database rows (the source of truth) are picked up by the dispatcher later.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
# A task is acknowledged after it ran, so a worker killed mid-task leaves it for another worker;
# tasks are therefore written to be idempotent (they claim rows in the database).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"reminders.tasks.reminder_*": {"queue": "reminders"}}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The periodic schedule, in one place. Feature apps add their entries here, each with a
# comment saying when it runs (times are in TIME_ZONE).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Every 5 minutes: prove the worker and beat are alive (healthz reads the timestamp).
    "heartbeat": {"task": "trialsite.tasks.heartbeat", "schedule": 300.0},
    # Daily at 06:30 and 13:30: prepare the dose sheets of cycles whose day 1 is within the
    # protocol's lead time (7 days), so the pharmacists' queue is full before the morning and
    # again after visits were moved in the morning. Idempotent.
    "dosing-prepare-due-sheets": {
        "task": "dosing.tasks.prepare_due_dose_sheets",
        "schedule": crontab(hour="6,13", minute=30),
    },
    # Every minute: expire late reminders, claim the due ones (and any whose lease ran out) and
    # enqueue send tasks of REMINDER_SEND_BATCH reminders each on the `reminders` queue.
    # Expires before the next tick so a backlog of dispatcher messages never piles up while the
    # workers are down.
    "reminder-dispatch": {
        "task": "reminders.tasks.reminder_dispatch",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Every 15 minutes: each site's staff morning digests (nurses, pharmacists), sent once per
    # person and local day at the first tick after 07:00 in the site's time zone (a missed tick
    # is caught up by the next one).
    "reminder-digests": {
        "task": "reminders.tasks.reminder_digests",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 600},
    },
    # Every 5 minutes: send the SAE alerts a dead broker or worker left pending (an SAE's own
    # alerts are enqueued at once, after its commit).
    "sae-alerts-sweep": {
        "task": "adverse_events.tasks.sae_alerts_sweep",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
}
CELERY_TASK_ALWAYS_EAGER = False
# Reminder ids per send task: the task claims them in one statement and sends their emails over
# one SMTP session. Smaller batches spread a backlog over more worker processes sooner; larger
# ones amortise more. A batch stops starting sends after 60 s (well inside the time limits).
REMINDER_SEND_BATCH = env.int("REMINDER_SEND_BATCH", default=50)
if not 1 <= REMINDER_SEND_BATCH <= 500:
    raise ImproperlyConfigured(f"REMINDER_SEND_BATCH={REMINDER_SEND_BATCH}: use 1 to 500.")
_ = crontab  # imported for feature apps' beat entries below

# --- REST API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "trialsite.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "trialsite.api.permissions.HasRole"],
    "DEFAULT_PAGINATION_CLASS": "trialsite.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "trialsite.api.errors.exception_handler",
    # DRF's JSON parser with a nesting limit and no NUL characters (trialsite/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "trialsite.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# /api/schema/ and /api/docs/ without signing in: the development default; in production
# (DEBUG=false) they are for signed-in callers unless this says otherwise.
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=DEBUG)
SPECTACULAR_SETTINGS = {
    "TITLE": "TrialSite API",
    "DESCRIPTION": (
        "Randomization, treatment calendars, bookings and dose sheets for NCT06850103. "
        "Authenticate with `Authorization: Token <key>`. Errors have the shape "
        '`{"code": ..., "detail": ..., "errors": {field: [...]}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from drf-spectacular-sidecar: the machines have no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "trialsite.api.schema.add_error_responses",
    ],
}

# --- Security ----------------------------------------------------------------------------
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
# One user mistyping, or an attacker trying names, locks only that name from that address: behind
# the proxy every user may share one address, and a lock on the address alone (or on a name from
# anywhere) would let five requests lock out every member of staff.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "trialsite.client_ip.client_ip"
# The client's address is taken from CLIENT_IP_HEADER only on requests whose REMOTE_ADDR is one of
# TRUSTED_PROXIES (addresses or CIDR networks, comma-separated; trialsite/client_ip.py). Empty:
# the header is never believed, REMOTE_ADDR is the client.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
CLIENT_IP_HEADER = env.str("CLIENT_IP_HEADER", default="X-Forwarded-For").strip()
if CLIENT_IP_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", CLIENT_IP_HEADER):
    raise ImproperlyConfigured(f"CLIENT_IP_HEADER={CLIENT_IP_HEADER!r} is not an HTTP header name.")
TRUSTED_PROXY_NETWORKS = parse_networks(TRUSTED_PROXIES)
SESSION_COOKIE_HTTPONLY = True
# 21 CFR 11.300: a session ends after this long without a request, and this long after signing
# in whatever happens (trialsite.middleware.SessionTimeoutMiddleware); the cookie itself expires
# at the maximum age too.
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=30)
SESSION_MAX_AGE_HOURS = env.int("SESSION_MAX_AGE_HOURS", default=12)
if not 1 <= SESSION_IDLE_TIMEOUT_MINUTES <= 24 * 60:
    raise ImproperlyConfigured(f"SESSION_IDLE_TIMEOUT_MINUTES={SESSION_IDLE_TIMEOUT_MINUTES}: use 1 to 1440.")
if not 1 <= SESSION_MAX_AGE_HOURS <= 7 * 24:
    raise ImproperlyConfigured(f"SESSION_MAX_AGE_HOURS={SESSION_MAX_AGE_HOURS}: use 1 to 168.")
SESSION_COOKIE_AGE = SESSION_MAX_AGE_HOURS * 3600
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The load balancer's and compose's health checks speak plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"

# LOG_LEVEL is the console's threshold for every logger, Django's included (django.request logs
# each 4xx as a warning; a record propagating to the root handler skips the root logger's level).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact_secrets": {"()": "trialsite.logging.RedactSecretsFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
            "level": LOG_LEVEL,
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own default gives "django" an unfiltered console when DEBUG is on; naming the
        # logger here drops that handler, so its records reach the redacting root handler alone.
        "django": {"level": LOG_LEVEL},
        "django.db.backends": {"level": "WARNING"},
        # At DEBUG Django's template engine logs every failed variable lookup with the object it
        # looked in: a participant's name and birth date, a dose sheet. Never below INFO.
        "django.template": {"level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL},
        "axes": {"level": "WARNING"},
    },
}

# --- Keys kept outside the database --------------------------------------------------------
# README "Keys, backup and restore". A key is "<id>:<32 random bytes, base64url>" (`manage.py
# generate_key --id ID` prints one). The current key hashes (chain) or encrypts (seeds) new
# records, which store its id; the comma-separated *_OLD_KEYS are only read, so records made
# under a retired key still verify. The development keys below are public: production refuses them.
KEY_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}"
_DEV_KEYS = {
    "ALLOCATION_CHAIN_KEY": "dev:ZGV2LW9ubHktYWxsb2NhdGlvbi1jaGFpbi1rZXktMDA",
    "SEED_ENCRYPTION_KEY": "dev:ZGV2LW9ubHktc2VlZC1lbmNyeXB0aW9uLWtleS0wMDA",
}


def _key(variable: str, text: str) -> tuple[str, bytes]:
    key_id, _sep, encoded = text.strip().partition(":")
    try:
        secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        secret = b""
    if not re.fullmatch(KEY_ID_PATTERN, key_id) or len(secret) != 32:
        raise ImproperlyConfigured(
            f"{variable}: each key is '<id>:<32 bytes in base64url>' (id: letters, digits, . _ -); "
            "`manage.py generate_key --id ID` prints one."
        )
    return key_id, secret


def _key_ring(variable: str) -> tuple[str, dict[str, bytes]]:
    """The current key's id and every usable key by id (current and old)."""
    current = env.str(variable, default="")
    if not current:
        if not DEBUG:
            raise ImproperlyConfigured(
                f"{variable} is not set. Production mode (DEBUG=false) needs it in the environment "
                "(README: Keys, backup and restore)."
            )
        current = _DEV_KEYS[variable]
    elif not DEBUG and current.strip() == _DEV_KEYS[variable]:
        raise ImproperlyConfigured(f"{variable} is the public development key; production needs its own.")
    old_variable = variable.removesuffix("_KEY") + "_OLD_KEYS"
    current_id, current_secret = _key(variable, current)
    ring = {current_id: current_secret}
    for text in env.list(old_variable, default=[]):
        key_id, secret = _key(old_variable, text)
        if ring.setdefault(key_id, secret) != secret:
            raise ImproperlyConfigured(f"{old_variable}: key id {key_id!r} is given twice with different secrets.")
    return current_id, ring


# HMAC-SHA-256 key of the allocation record's hash chain (randomization/keyring.py).
ALLOCATION_CHAIN_KEY_ID, ALLOCATION_CHAIN_KEYS = _key_ring("ALLOCATION_CHAIN_KEY")
# AES-256-GCM key of the randomization schemes' secret seeds.
SEED_ENCRYPTION_KEY_ID, SEED_ENCRYPTION_KEYS = _key_ring("SEED_ENCRYPTION_KEY")
# Where every new chain head (randomization number and entry hash) is appended, one JSON line per
# allocation, after commit and fsync'd: a copy outside the database (README "Published chain heads").
ALLOCATION_HEAD_FILE = Path(env.str("ALLOCATION_HEAD_FILE", default=str(VAR_DIR / "allocation-heads.jsonl")))

# --- TrialSite ---------------------------------------------------------------------------
# The protocol definitions loaded by `seed_demo` (and `load_protocol`).
PROTOCOL_DIR = BASE_DIR / "trialsite" / "protocols"
