"""Settings of a server process started by the test suite (tests/live_server.py)."""

from eventsui.settings import *  # noqa: F403

# The tests create users with a fast hash (tests/conftest.py); the server must accept it.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# Flow-control tests read when daphne paused a socket (the daphne patch logs it at DEBUG).
LOGGING["loggers"] = {  # noqa: F405
    **LOGGING.get("loggers", {}),  # noqa: F405
    "eventsui.server.daphne_pings": {"level": "DEBUG"},
}
