"""POST /api/events/filter, /filter/next and /count-by: every filter field, pages, counts.

Each filter test also checks that the in-memory `includes()` (used by the live feed) agrees
with the database query for the same filter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventsui.events import schemas, services
from eventsui.events.filters import EventFilter
from tests.conftest import make_event, related

pytestmark = pytest.mark.django_db

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def store():
    """A small known store: a worker, flow runs with related flow/work-pool/tag, task runs."""
    data = [
        make_event(
            "prefect.worker.started",
            occurred=at(0),
            resource_id="prefect.worker.process.w1",
            related=[
                related(
                    "work-pool", "prefect.work-pool.pool-a", **{"prefect.resource.name": "pool-a"}
                )
            ],
        ),
        make_event(
            "prefect.flow-run.Running",
            occurred=at(1),
            resource_id="prefect.flow-run.r1",
            related=[
                related("flow", "prefect.flow.f1", **{"prefect.resource.name": "etl"}),
                related("work-pool", "prefect.work-pool.pool-a"),
                related("tag", "prefect.tag.nightly"),
            ],
        ),
        make_event(
            "prefect.flow-run.Completed",
            occurred=at(2),
            resource_id="prefect.flow-run.r1",
            related=[related("flow", "prefect.flow.f1", **{"prefect.resource.name": "etl"})],
            payload={"message": "all good"},
        ),
        make_event(
            "prefect.task-run.Failed",
            occurred=at(3),
            resource_id="prefect.task-run.t1",
            related=[related("tag", "prefect.tag.nightly")],
            payload={"error": "Connection timeout while reading"},
        ),
        make_event(
            "prefect.flow-run.Failed",
            occurred=at(4),
            resource_id="prefect.flow-run.r2",
            related=[
                related("flow", "prefect.flow.f2", **{"prefect.resource.name": "reports"}),
                related("work-pool", "prefect.work-pool.pool-b"),
            ],
        ),
        make_event(
            "prefect.worker.stopped", occurred=at(5), resource_id="prefect.worker.process.w1"
        ),
    ]
    data[1]["resource"]["env"] = "prod"
    data[4]["resource"]["env"] = "dev"
    events = [schemas.Event.model_validate(d) for d in data]
    services.ingest_events(events, publish=False)
    return {e.id: e for e in events}


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [e["event"] for e in response.json()["events"]]


def query(api, filter: dict, limit: int = 50):
    return api.post("/api/events/filter", {"filter": filter, "limit": limit}, format="json")


def check_live_agrees(store, filter: dict, expected: list[str]):
    parsed = EventFilter.model_validate(filter)
    live = sorted(
        (e for e in store.values() if parsed.includes(e)), key=lambda e: e.occurred, reverse=True
    )
    assert [e.event for e in live] == expected


CASES = [
    (
        {},
        [
            "prefect.worker.stopped",
            "prefect.flow-run.Failed",
            "prefect.task-run.Failed",
            "prefect.flow-run.Completed",
            "prefect.flow-run.Running",
            "prefect.worker.started",
        ],
    ),
    (
        {"event": {"prefix": ["prefect.flow-run."]}},
        ["prefect.flow-run.Failed", "prefect.flow-run.Completed", "prefect.flow-run.Running"],
    ),
    ({"event": {"name": ["prefect.worker.started"]}}, ["prefect.worker.started"]),
    (
        {"event": {"exclude_prefix": ["prefect.flow-run.", "prefect.task-run."]}},
        ["prefect.worker.stopped", "prefect.worker.started"],
    ),
    (
        {"event": {"exclude_name": ["prefect.worker.stopped"], "prefix": ["prefect.worker."]}},
        ["prefect.worker.started"],
    ),
    (
        {"resource": {"id": ["prefect.flow-run.r1"]}},
        ["prefect.flow-run.Completed", "prefect.flow-run.Running"],
    ),
    (
        {"resource": {"id_prefix": ["prefect.worker."]}},
        ["prefect.worker.stopped", "prefect.worker.started"],
    ),
    ({"resource": {"labels": {"env": "prod"}}}, ["prefect.flow-run.Running"]),
    ({"resource": {"labels": {"env": "!prod"}}}, ["prefect.flow-run.Failed"]),
    (
        {"resource": {"labels": {"prefect.resource.id": "prefect.*-run.?1"}}},
        ["prefect.task-run.Failed", "prefect.flow-run.Completed", "prefect.flow-run.Running"],
    ),
    (
        {"related": {"role": ["work-pool"]}},
        ["prefect.flow-run.Failed", "prefect.flow-run.Running", "prefect.worker.started"],
    ),
    (
        {"related": {"id": ["prefect.flow.f1"]}},
        ["prefect.flow-run.Completed", "prefect.flow-run.Running"],
    ),
    (
        {"related": {"role": ["work-pool"], "id": ["prefect.work-pool.pool-a"]}},
        ["prefect.flow-run.Running", "prefect.worker.started"],
    ),
    (
        {"related": {"resources_in_roles": [["prefect.tag.nightly", "tag"]]}},
        ["prefect.task-run.Failed", "prefect.flow-run.Running"],
    ),
    ({"related": {"labels": {"prefect.resource.name": "rep*"}}}, ["prefect.flow-run.Failed"]),
    (
        {"related": {"labels": {"prefect.resource.role": "flow", "prefect.resource.name": "!etl"}}},
        ["prefect.flow-run.Failed"],
    ),
    # all predicates of one related filter apply to the same related resource
    ({"related": {"role": ["tag"], "id": ["prefect.flow.f1"]}}, []),
    # a list of related filters: each must match (AND)
    ({"related": [{"role": ["flow"]}, {"role": ["tag"]}]}, ["prefect.flow-run.Running"]),
    ({"any_resource": {"id": ["prefect.flow.f2"]}}, ["prefect.flow-run.Failed"]),
    (
        {"any_resource": {"id_prefix": ["prefect.worker.process"]}},
        ["prefect.worker.stopped", "prefect.worker.started"],
    ),
    ({"any_resource": {"labels": {"prefect.resource.name": "pool-a"}}}, ["prefect.worker.started"]),
    ({"text": {"query": "timeout"}}, ["prefect.task-run.Failed"]),
    ({"text": {"query": "etl -Completed"}}, ["prefect.flow-run.Running"]),
    ({"text": {"query": '"all good"'}}, ["prefect.flow-run.Completed"]),
    (
        {"occurred": {"since": at(2).isoformat(), "until": at(4).isoformat()}},
        ["prefect.flow-run.Failed", "prefect.task-run.Failed", "prefect.flow-run.Completed"],
    ),
    (
        {"order": "ASC", "event": {"prefix": ["prefect.worker."]}},
        ["prefect.worker.started", "prefect.worker.stopped"],
    ),
]


@pytest.mark.parametrize(("filter", "expected"), CASES, ids=[str(c[0])[:70] for c in CASES])
def test_filter_field(api, store, filter, expected):
    assert names(query(api, filter)) == expected
    check_live_agrees(store, filter, sorted_expected(filter, expected))


def sorted_expected(filter, expected):
    return list(reversed(expected)) if filter.get("order") == "ASC" else expected


def test_filter_by_event_id(api, store):
    some = list(store.values())[2]
    assert names(query(api, {"id": {"id": [str(some.id)]}})) == [some.event]


def test_filter_response_has_prefect_shape(api, store):
    body = query(api, {}, limit=2).json()
    assert set(body) >= {"events", "total", "next_page"}
    assert body["total"] == 6
    event = body["events"][0]
    assert set(event) >= {
        "id",
        "occurred",
        "received",
        "event",
        "resource",
        "related",
        "payload",
        "follows",
    }
    schemas.ReceivedEvent.model_validate(event)


def test_pages_follow_by_cursor_until_the_end(api, store):
    first = query(api, {}, limit=4).json()
    assert len(first["events"]) == 4 and first["next_page"]
    second = api.get(first["next_page"])
    assert second.status_code == 200
    body = second.json()
    assert [e["event"] for e in body["events"]] == [
        "prefect.flow-run.Running",
        "prefect.worker.started",
    ]
    assert body["next_page"] is None and body["total"] == 6


def test_pagination_is_stable_when_events_share_a_timestamp(api):
    same = datetime.now(UTC) - timedelta(minutes=1)
    events = [schemas.Event.model_validate(make_event(occurred=same)) for _ in range(7)]
    services.ingest_events(events, publish=False)
    seen = []
    body = query(api, {}, limit=3).json()
    while True:
        seen += [e["id"] for e in body["events"]]
        if not body["next_page"]:
            break
        body = api.get(body["next_page"]).json()
    assert sorted(seen) == sorted(str(e.id) for e in events) and len(seen) == 7


def test_tampered_page_token_is_refused(api, store):
    first = query(api, {}, limit=1).json()
    response = api.get(first["next_page"].replace("page-token=", "page-token=x"))
    assert response.status_code == 403


def test_limit_above_the_page_cap_is_refused(api):
    response = query(api, {}, limit=1000)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"


def test_unknown_filter_field_is_refused_with_its_name(api):
    response = query(api, {"evnt": {"prefix": ["x"]}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "filter.evnt"
    assert response.json()["errors"][0]["type"] == "extra_forbidden"


def test_text_query_longer_than_200_is_refused(api):
    response = query(api, {"text": {"query": "x" * 201}})
    assert (
        response.status_code == 422 and response.json()["errors"][0]["field"] == "filter.text.query"
    )


def test_count_by_time_zero_fills_buckets(api, store):
    body = {
        "filter": {"occurred": {"since": at(0).isoformat(), "until": at(9).isoformat()}},
        "time_unit": "minute",
        "time_interval": 1,
    }
    response = api.post("/api/events/count-by/time", body, format="json")
    assert response.status_code == 200
    counts = response.json()
    assert len(counts) == 10
    assert [c["count"] for c in counts] == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert counts[0]["start_time"].startswith(at(0).strftime("%Y-%m-%dT%H:%M"))


def test_count_by_time_respects_the_filter(api, store):
    body = {
        "filter": {
            "occurred": {"since": at(0).isoformat(), "until": at(5).isoformat()},
            "related": {"role": ["work-pool"]},
        },
        "time_unit": "minute",
        "time_interval": 5,
    }
    counts = api.post("/api/events/count-by/time", body, format="json").json()
    assert sum(c["count"] for c in counts) == 3


def test_count_by_day(api, store):
    counts = api.post(
        "/api/events/count-by/day",
        {"filter": {"occurred": {"since": at(0).isoformat(), "until": at(5).isoformat()}}},
        format="json",
    ).json()
    assert sum(c["count"] for c in counts) == 6


def test_count_by_event_and_resource(api, store):
    window = {"occurred": {"since": at(0).isoformat(), "until": at(5).isoformat()}}
    by_event = api.post("/api/events/count-by/event", {"filter": window}, format="json").json()
    assert {c["value"]: c["count"] for c in by_event}["prefect.flow-run.Running"] == 1
    by_resource = api.post(
        "/api/events/count-by/resource", {"filter": window}, format="json"
    ).json()
    counts = {c["value"]: c["count"] for c in by_resource}
    assert counts["prefect.flow-run.r1"] == 2 and counts["prefect.worker.process.w1"] == 2
    assert by_resource[0]["count"] == 2


def test_count_by_more_than_1000_buckets_is_a_clear_422(api):
    body = {
        "filter": {
            "occurred": {"since": (T0 - timedelta(days=2)).isoformat(), "until": T0.isoformat()}
        },
        "time_unit": "second",
        "time_interval": 1,
    }
    response = api.post("/api/events/count-by/time", body, format="json")
    assert response.status_code == 422
    assert "buckets, which is too many" in response.json()["detail"]


def test_count_by_unknown_countable_is_a_422(api):
    assert api.post("/api/events/count-by/planet", {"filter": {}}, format="json").status_code == 422


def test_query_api_requires_credentials(anonymous_api):
    assert anonymous_api.post("/api/events/filter", {}, format="json").status_code in (401, 403)


def ingest(count: int) -> list[str]:
    events = [schemas.Event.model_validate(make_event()) for _ in range(count)]
    services.ingest_events(events, publish=False)
    return [str(e.id) for e in events]


def total(api) -> tuple[int, bool]:
    body = query(api, {}, limit=1).json()  # a first page with a next page: total is counted
    return body["total"], body["total_is_estimate"]


def test_total_counts_exactly_past_the_first_page(api):
    """The total is the exact count (Prefect always counts), never an estimate."""
    ingest(3)
    assert total(api) == (3, False)
    ingest(40)
    assert total(api) == (43, False)
