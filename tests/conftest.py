"""Shared fixtures: a few fixed personas and authenticated API clients."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A new channel layer object per test. Each async test runs its own event loop, and a
    channels-redis layer keeps per-loop receive state (a lock, a count) that a previous
    test's loop can leave behind; the next loop's receive() then waits on it forever."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _postgresql_marker_needs_postgresql(request):
    """A test marked `postgresql` checks PostgreSQL-only code: on another database it would
    pass without running that code, so it fails instead (tests/run.sh deselects it there)."""
    if request.node.get_closest_marker("postgresql") is None:
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail(
            f"{request.node.name} checks PostgreSQL-only code but the database is "
            f"{connection.vendor}: set DATABASE_URL=postgresql://..., or deselect these tests "
            'with -m "not postgresql" (as tests/run.sh does without PostgreSQL).',
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("viewer", password=PASSWORD)


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)


def basic_header(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def api(viewer) -> APIClient:
    """An API client sending HTTP Basic credentials, as PREFECT_API_AUTH_STRING does."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic_header(viewer.username))
    return client


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


def make_event(
    name: str = "prefect.worker.started",
    *,
    resource_id: str | None = None,
    related: list[dict] | None = None,
    occurred: datetime | None = None,
    payload: dict | None = None,
    **extra,
) -> dict:
    """A valid event as a client would send it (JSON-ready)."""
    event = {
        "id": str(uuid.uuid4()),
        "occurred": (occurred or datetime.now(UTC)).isoformat(),
        "event": name,
        "resource": {
            "prefect.resource.id": resource_id or "prefect.worker.process.alpha",
            "prefect.resource.name": "alpha",
        },
        "related": related if related is not None else [],
        "payload": payload or {},
    }
    event.update(extra)
    return event


def related(role: str, resource_id: str, **labels) -> dict:
    return {"prefect.resource.id": resource_id, "prefect.resource.role": role, **labels}


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def minutes_ago(now):
    return lambda n: now - timedelta(minutes=n)


def pytest_collection_modifyitems(session, config, items):
    """Start the real Prefect server of the differential test as soon as that test is
    collected: its start (a minute of migrations on a busy machine) overlaps other tests."""
    if any(item.nodeid.startswith("tests/events/test_prefect_differential.py") for item in items):
        from tests import prefect_server

        prefect_server.start_early()


def pytest_sessionfinish(session, exitstatus):
    from tests import prefect_server

    prefect_server.stop()
