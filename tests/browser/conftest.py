"""Browser tests: a real daphne server (HTTP + websockets) and Debian's Chromium.

Run them in their own pytest invocation (`pytest tests/browser`): Playwright's sync API runs
an event loop in the test thread, which breaks pytest-asyncio tests run after it in the same
process (it would break the pytest-asyncio tests that follow).

Fixtures for every browser test module:
- `server`: a daphne process serving the whole ASGI app (`server.url`, `server.ws_url`),
  started once per session on the test database. Tests whose data the server must see use
  `@pytest.mark.django_db(transaction=True)` (or the `user` fixture, which implies it).
- `browser`: Chromium launched once per session; missing Chromium is a failure, not a skip.
- `page`: a fresh browser context and page per test, with `base_url` set to the server.
- `user` / `logged_in_page`: a user and a page already logged in (session cookie), so only the
  login test pays for typing into the login form.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM must still work here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery"
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/shots"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@dataclass(frozen=True)
class LiveServer:
    url: str
    ws_url: str


def _close_inherited_connections() -> None:
    """In the forked server process, forget the parent's database sockets (never reuse them)."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.connection = None
        conn.closed_in_transaction = False


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker):
    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess
    from django.conf import settings
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.db import connections

    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        name = str(settings.DATABASES["default"]["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.fail("Browser tests need a file or PostgreSQL database (set DATABASE_URL)")
    host = "127.0.0.1"
    # The server process inherits these settings when it forks: it must accept the fast
    # test password hashes that tests/conftest.py makes users with.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    with django_db_blocker.unblock():
        connections.close_all()  # the child process must not share the parent's sockets
        for conn in connections.all():
            # Nor the connections idle in psycopg's pool, which close_all() leaves open: a
            # child using one talks on the parent's socket, and both hang (seen here).
            if hasattr(conn, "close_pool"):
                conn.close_pool()
        process = DaphneProcess(
            host,
            partial(make_application, static_wrapper=ASGIStaticFilesHandler),
            setup=_close_inherited_connections,
            kwargs={  # events may be 1.5 MB; daphne's default websocket limit is 1 MiB
                "websocket_max_message_size": settings.WEBSOCKET_MAX_MESSAGE_BYTES,
                "websocket_max_frame_size": settings.WEBSOCKET_MAX_MESSAGE_BYTES,
            },
        )
        process.daemon = True
        process.start()
        while not process.ready.wait(timeout=1):
            if not process.is_alive():
                pytest.fail("The daphne test server stopped while starting")
        port = process.port.value
    yield LiveServer(url=f"http://{host}:{port}", ws_url=f"ws://{host}:{port}")
    process.terminate()
    process.join(timeout=10)


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # tests may assert there were none
    return page


@pytest.fixture
def user(transactional_db, django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def login_cookie(user, server: LiveServer) -> dict:
    """A session cookie for `user`, created the way Django's test client logs in."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": server.url,
    }


@pytest.fixture
def logged_in_page(page, context, user, server):
    context.add_cookies([login_cookie(user, server)])
    return page


def login(page, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form, as a person does."""
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
