"""Settings, read from the environment.

Every setting that may differ between a laptop and production comes from an environment
variable through the small typed helpers below, which fail loudly (naming the variable) on a
value they cannot read. With no environment at all the app runs on SQLite and the in-memory
channel layer, so a newcomer's first command just works.
"""

from __future__ import annotations

import os
import warnings
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
        options["pool"] = {
            "min_size": 2,
            "max_size": env_int("DATABASE_POOL_SIZE", 20, minimum=1),
            "timeout": 30,
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


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or ""
if not SECRET_KEY:
    # An unset key is fine on a laptop; production sets SECRET_KEY. The fallback is stable
    # per checkout so sessions survive restarts.
    SECRET_KEY = "insecure-dev-key-" + str(BASE_DIR)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "eventsui.server",  # `manage.py check` fails when a patch in eventsui/server does not apply
    "eventsui.events",
    "automations",
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
    "EXCEPTION_HANDLER": "eventsui.lib.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "eventsui API",
    "DESCRIPTION": "Prefect 3 compatible events and automations API",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies are the pydantic models' own JSON Schema (drf_spectacular.contrib.pydantic),
    # which is JSON Schema 2020-12 (`"type": "null"`, `const`): OpenAPI 3.1's dialect.
    "OAS_VERSION": "3.1.0",
}

# The event schema's limits (Prefect's PREFECT_EVENTS_MAXIMUM_* settings).
EVENTS_MAXIMUM_LABELS_PER_RESOURCE = env_int("EVENTS_MAXIMUM_LABELS_PER_RESOURCE", 500, minimum=1)
EVENTS_MAXIMUM_RELATED_RESOURCES = env_int("EVENTS_MAXIMUM_RELATED_RESOURCES", 100, minimum=0)
EVENTS_MAXIMUM_SIZE_BYTES = env_int("EVENTS_MAXIMUM_SIZE_BYTES", 1_500_000, minimum=1)
EVENTS_RETENTION_DAYS = env_int("EVENTS_RETENTION_DAYS", 7, minimum=1)
# /api/events/in: frames waiting for the consumer before daphne stops reading the socket.
EVENTS_IN_QUEUE_HIGH_WATER = env_int("EVENTS_IN_QUEUE_HIGH_WATER", 5_000, minimum=4)
# What GET /api/admin/version answers; a stock Prefect 3 client requires major version 3.
PREFECT_API_VERSION = env_str("PREFECT_API_VERSION", "3.8.8")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
