"""Settings of a server process started by the test suite (tests/live_server.py)."""

from eventsui.settings import *  # noqa: F403

# The tests create users with a fast hash (tests/conftest.py); the server must accept it.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# Flow-control tests read when daphne paused a socket (eventsui.daphne_pings logs at DEBUG).
LOGGING["loggers"] = {**LOGGING.get("loggers", {}), "eventsui.daphne_pings": {"level": "DEBUG"}}  # noqa: F405
