"""Query edge cases: pages with many related rows, hostile globs and label names, odd times and intervals."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from eventsui.events import matching, schemas, services
from tests.conftest import make_event, related

pytestmark = pytest.mark.django_db


def test_related_role_with_several_matches_per_event_still_fills_pages(api):
    now = datetime.now(UTC)
    events = [
        make_event(
            occurred=now - timedelta(seconds=i),
            related=[related("tag", f"prefect.tag.{t}") for t in ("a", "b", "c")],
        )
        for i in range(12)
    ]
    services.ingest_events([schemas.Event.model_validate(e) for e in events], publish=False)
    body = api.post(
        "/api/events/filter", {"filter": {"related": {"role": ["tag"]}}, "limit": 5}, format="json"
    ).json()
    seen = [e["id"] for e in body["events"]]
    assert len(seen) == 5 and body["total"] == 12 and not body["total_is_estimate"]
    while body["next_page"]:
        body = api.get(body["next_page"]).json()
        seen += [e["id"] for e in body["events"]]
    assert sorted(seen) == sorted(e["id"] for e in events)


def test_limit_zero_does_not_claim_an_exact_total_of_zero(api):
    services.ingest_events([schemas.Event.model_validate(make_event())], publish=False)
    body = api.post("/api/events/filter", {"limit": 0}, format="json").json()
    assert body["events"] == [] and body["total"] == 1


def test_glob_patterns_cannot_make_matching_backtrack():
    started = time.perf_counter()
    assert not matching.label_matches("*a*a*a*a*a*a*a*a*b", "a" * 200)
    assert time.perf_counter() - started < 1.0
    assert matching.label_matches("*a*a*b", "xaxaxb")
    assert matching.label_matches("a*?c", "abc") and not matching.label_matches("a*?c", "ac")
    assert not matching.label_matches("a*a", "a")


def test_occurred_beyond_year_9999_in_utc_is_refused(api):
    event = make_event() | {"occurred": "9999-12-31T23:00:00-05:00"}
    response = api.post("/api/events", [event], format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "datetime_out_of_range"


def test_offsets_are_converted_to_utc():
    event = schemas.Event.model_validate(make_event() | {"occurred": "2024-05-01T12:00:00+02:00"})
    assert event.occurred == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert event.occurred.tzinfo == UTC


@pytest.mark.parametrize("label", ["isnull", "contains", "a__b", "foo__startswith"])
def test_label_names_are_never_read_as_lookups(api, label):
    event = make_event()
    event["resource"][label] = "yes"
    services.ingest_events([schemas.Event.model_validate(event)], publish=False)
    response = api.post(
        "/api/events/filter", {"filter": {"resource": {"labels": {label: "yes"}}}}, format="json"
    )
    assert response.status_code == 200
    assert [e["id"] for e in response.json()["events"]] == [event["id"]]
    response = api.post(
        "/api/events/filter",
        {"filter": {"any_resource": {"labels": {label: "!no"}}}},
        format="json",
    )
    assert [e["id"] for e in response.json()["events"]] == [event["id"]]


def test_a_huge_count_interval_is_a_422(api):
    body = {"filter": {}, "time_unit": "week", "time_interval": 1e20}
    assert api.post("/api/events/count-by/time", body, format="json").status_code == 422


def test_nul_in_a_filter_is_a_422(api):
    for flt in ({"event": {"name": ["a\u0000"]}}, {"text": {"query": "a\u0000"}}):
        response = api.post("/api/events/filter", {"filter": flt}, format="json")
        assert response.status_code == 422
        assert response.json()["errors"][0]["type"] == "nul_character"
