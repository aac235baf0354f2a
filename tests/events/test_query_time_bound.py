"""A read that runs past EVENTS_QUERY_TIMEOUT_MS is stopped and the request says so."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from eventsui.events import schemas, services
from eventsui.lib.query_time import QueryTimeout, time_bound
from tests.conftest import make_event

pytestmark = pytest.mark.django_db

_LONG_SQL = {
    "postgresql": "SELECT pg_sleep(5)",
    # about a hundred million steps of SQLite's virtual machine: seconds
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 100000000) SELECT count(*) FROM c",
}


def _setting() -> str | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def test_a_long_query_is_stopped_and_the_connection_stays_usable():
    before = _setting()
    with pytest.raises(QueryTimeout, match="took longer than 0.2 s"):
        with time_bound(200), connection.cursor() as cursor:
            cursor.execute(_LONG_SQL[connection.vendor])
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone()[0] == 1
    assert _setting() == before  # the bound ends with the reads it bounds


def test_bounds_nest_and_a_quick_query_passes():
    with time_bound(5000), time_bound(5000), connection.cursor() as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchone()[0] == 2


@pytest.fixture
def many_events():
    events = [
        schemas.Event.model_validate(make_event(payload={"text": f"line {i} " * 40}))
        for i in range(1500)
    ]
    services.ingest_events(events, publish=False)


@override_settings(EVENTS_QUERY_TIMEOUT_MS=1)
def test_the_api_answers_503_with_a_message_when_a_filter_runs_too_long(api, many_events):
    response = api.post(
        "/api/events/filter",
        {"filter": {"text": {"query": "nowhere-to-be-found"}}, "limit": 50},
        format="json",
    )
    assert response.status_code == 503
    assert "took longer than" in response.json()["detail"]
    assert response["Retry-After"]


@override_settings(EVENTS_QUERY_TIMEOUT_MS=1)
def test_the_feed_page_says_the_query_took_too_long(client, viewer, many_events):
    client.force_login(viewer)
    response = client.get("/?q=nowhere-to-be-found")
    assert response.status_code == 503
    assert b"This query took too long" in response.content
    histogram = client.get("/events/histogram?q=nowhere-to-be-found")
    assert histogram.status_code == 503
    assert "took longer than" in histogram.json()["errors"][0]
