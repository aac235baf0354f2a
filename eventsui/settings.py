"""Settings, read from the environment.

Every setting that may differ between a laptop and production comes from an environment
variable through the small typed helpers below, which fail loudly (naming the variable) on a
value they cannot read. With no environment at all the app runs on SQLite and the in-memory
channel layer, so a newcomer's first command just works.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def database_from_url(url: str | None) -> dict:
    """Turn DATABASE_URL into a Django DATABASES entry; no URL means the embedded SQLite."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            # A file, not memory: tests that start a real server process share it.
            "TEST": {"NAME": str(BASE_DIR / "test-db.sqlite3")},
        }
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        options: dict = dict(parse_qsl(parts.query))
        # A pool, not persistent connections: under ASGI every request runs in a thread of
        # its own, and per-thread persistent connections pile up until PostgreSQL refuses more.
        # A database that cannot be reached must answer 503 in seconds (eventsui.lib.
        # unavailable), not hang every request for psycopg_pool's default 30 s. Connections
        # the server terminated are checked before they are handed out: CONN_HEALTH_CHECKS
        # gives the pool psycopg_pool's `check_connection`.
        connect_timeout = env_int("DATABASE_CONNECT_TIMEOUT", 3, minimum=1)
        options.setdefault("connect_timeout", str(connect_timeout))
        options["pool"] = {
            "min_size": 2,
            "max_size": env_int("DATABASE_POOL_SIZE", 20, minimum=1),
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 5, minimum=1),
        }
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no database")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
            # channels' live-server tests otherwise guess a wrong test database name.
            "TEST": {"NAME": f"test_{name}"},
        }
    if parts.scheme == "sqlite":
        path = unquote(parts.path) or str(BASE_DIR / "db.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            "TEST": {"NAME": f"{path}.test"},
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL={url!r}: unsupported scheme {parts.scheme!r} (use postgresql:// or sqlite://)"
    )


def channel_layer_from_url(url: str | None) -> dict:
    if not url:
        return {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"REDIS_URL={url!r}: unsupported scheme {parts.scheme!r}")
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 defaults socket_timeout to 5 s, the same as channels-redis's blocking
            # read: idle websockets would die with 1011 after 5 s (channels-redis 4.3 with redis-py 8).
            "hosts": [{"address": url, "socket_timeout": 30}],
            "capacity": 1000,
            "expiry": 30,
        },
    }


def local_secret_key(path: Path) -> str:
    """A random key kept beside the checkout (created once, readable by its owner only), so a
    laptop's sessions survive restarts and no two checkouts share a predictable key."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(key)
    return key


DEBUG = env_bool("DEBUG", False)
LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", LOCAL_HOSTS)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Served over HTTPS (directly or behind a proxy that terminates TLS): secure cookies, HSTS and a
# redirect from http (what `manage.py check --deploy` asks for). Off by default: a laptop serves
# plain http, where secure cookies would make logging in impossible.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("SECURE_PROXY_SSL_HEADER", False):  # the proxy says which requests came over TLS
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Deployed: serving names other than this machine's, or over HTTPS. There an unset SECRET_KEY
# refuses to start (sessions, CSRF tokens and password-reset links are signed with it).
DEPLOYED = HTTPS or bool(set(ALLOWED_HOSTS) - set(LOCAL_HOSTS))
SECRET_KEY = os.environ.get("SECRET_KEY") or ""
if not SECRET_KEY:
    if DEPLOYED and not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: a deployed server (ALLOWED_HOSTS or HTTPS set) needs its "
            "own secret key (e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    SECRET_KEY = local_secret_key(BASE_DIR / ".secret_key")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "axes",  # login throttling (eventsui/lib/throttle.py)
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from static files, no CDN
    "channels",
    "eventsui.server",  # `manage.py check` fails when a patch in eventsui/server does not apply
    "eventsui.events",
    "automations",
    # The durable queue of automation actions: Django's task framework (the django-tasks
    # backport on Django 5.2) with its database backend (docs/architecture.md says why).
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "eventsui.lib.unavailable.DatabaseUnavailableMiddleware",  # 503 + Retry-After
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]
AUTHENTICATION_BACKENDS = [
    "eventsui.lib.auth_backends.ThrottledBackend",  # first: refuses a locked-out client unhashed
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "eventsui.urls"
ASGI_APPLICATION = "eventsui.asgi.application"
WSGI_APPLICATION = None

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

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"))}
CHANNEL_LAYERS = {"default": channel_layer_from_url(os.environ.get("REDIS_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
# Login throttling (django-axes): after this many failed logins from one address, that address
# is refused without a password check for the cool-off (429 with Retry-After; the websocket's
# auth message gets auth_failure). The form, HTTP Basic and websocket `auth` all count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "eventsui.lib.throttle.lockout_response"
# The client address is REMOTE_ADDR only: a client chooses its X-Forwarded-For (and would
# dodge the count). Behind a proxy, run daphne with --proxy-headers, which sets REMOTE_ADDR.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
# Its start-up banner and a line per success would print on every manage.py command.
AXES_VERBOSE = False
LOGIN_REDIRECT_URL = "feed"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Static files are served from the app directories (finders) unless `collectstatic` filled
# STATIC_ROOT; WhiteNoise's warning about the missing directory is noise in that setup.
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)

# Requests of a whole batch of events can be large; an event is at most 1.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("EVENTS_MAX_REQUEST_BYTES", 64 * 1024 * 1024, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "eventsui.events.api.auth.TokenAuthentication",
        "eventsui.events.api.auth.CachedBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [  # DRF's three, JSON refusing deep nesting with a 400
        "eventsui.lib.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "eventsui.lib.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "eventsui API",
    "DESCRIPTION": "Prefect 3 compatible events and automations API",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Request bodies are the pydantic models' own JSON Schema (drf_spectacular.contrib.pydantic),
    # which is JSON Schema 2020-12 (`"type": "null"`, `const`): OpenAPI 3.1's dialect.
    "OAS_VERSION": "3.1.0",
    # The API docs pages load their scripts from our static files (drf-spectacular-sidecar):
    # they work offline and under a strict Content-Security-Policy.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The event schema's limits (Prefect's PREFECT_EVENTS_MAXIMUM_* settings).
EVENTS_MAXIMUM_LABELS_PER_RESOURCE = env_int("EVENTS_MAXIMUM_LABELS_PER_RESOURCE", 500, minimum=1)
EVENTS_MAXIMUM_RELATED_RESOURCES = env_int("EVENTS_MAXIMUM_RELATED_RESOURCES", 100, minimum=0)
EVENTS_MAXIMUM_SIZE_BYTES = env_int("EVENTS_MAXIMUM_SIZE_BYTES", 1_500_000, minimum=1)
# daphne's websocket message and frame limit (1 MiB by default, below an event's 1.5 MB): a
# frame carries one event, whose JSON may be longer than the compact form its size is measured in.
# `manage.py serve` and the test servers pass it to daphne; a plain `daphne` command must too.
WEBSOCKET_MAX_MESSAGE_BYTES = env_int(
    "WEBSOCKET_MAX_MESSAGE_BYTES", 2 * EVENTS_MAXIMUM_SIZE_BYTES, minimum=1
)
EVENTS_RETENTION_DAYS = env_int("EVENTS_RETENTION_DAYS", 7, minimum=1)
# The longest a read of the event store may run (a page, a total, a histogram) before it is
# stopped and the request answers 503 saying so (eventsui.lib.query_time).
EVENTS_QUERY_TIMEOUT_MS = env_int("EVENTS_QUERY_TIMEOUT_MS", 10_000, minimum=100)
# /api/events/in: frames waiting for the consumer before daphne stops reading the socket.
EVENTS_IN_QUEUE_HIGH_WATER = env_int("EVENTS_IN_QUEUE_HIGH_WATER", 5_000, minimum=4)
# What GET /api/admin/version answers; a stock Prefect 3 client requires major version 3.
PREFECT_API_VERSION = env_str("PREFECT_API_VERSION", "3.8.8")

# Actions (automations/actions/): the queue, retries, and where they may send.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "actions"],
    }
}
ACTIONS_WORKER_THREADS = env_int("ACTIONS_WORKER_THREADS", 16, minimum=1)
# Webhook attempts to one host at once, per worker: a target that hangs holds this many threads.
ACTIONS_PER_HOST_CONCURRENCY = env_int("ACTIONS_PER_HOST_CONCURRENCY", 8, minimum=1)
ACTIONS_MAX_ATTEMPTS = env_int("ACTIONS_MAX_ATTEMPTS", 5, minimum=1)
ACTIONS_RETRY_BASE_SECONDS = float(env_str("ACTIONS_RETRY_BASE_SECONDS", "5"))
ACTIONS_RETRY_MAX_SECONDS = float(env_str("ACTIONS_RETRY_MAX_SECONDS", "300"))
# An attempt still `running` this long after it started lost its worker: it is taken again.
# Longer than any attempt can last (a webhook's 10 s timeout, redirects included).
ACTIONS_LEASE_SECONDS = float(env_str("ACTIONS_LEASE_SECONDS", "90"))
# Networks that webhook and notification URLs may reach although they are loopback,
# private or link-local (comma-separated CIDRs, e.g. "10.0.0.0/8,127.0.0.1/32"). Empty:
# none (eventsui/lib/outbound.py).
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS", [])
for _network in OUTBOUND_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"OUTBOUND_ALLOWED_NETWORKS: {_network!r} is not a network (e.g. 10.0.0.0/8)"
        ) from None
# The Prefect server that Prefect actions (run-deployment, pause-work-pool, ...) act on.
PREFECT_API_URL = env_str("PREFECT_API_URL", "")
PREFECT_API_KEY = env_str("PREFECT_API_KEY", "")
PREFECT_API_AUTH_STRING = env_str("PREFECT_API_AUTH_STRING", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
