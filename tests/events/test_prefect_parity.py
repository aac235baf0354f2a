"""Each behaviour where we answered differently from Prefect 3.9's server, now as Prefect does,
and each where Prefect is wrong and we stay right (docs/parity.md lists both).
tests/events/test_prefect_differential.py asks a real Prefect server the same questions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from automations import services as automation_services
from automations.schemas import EventTrigger
from eventsui.events import queries, schemas, services
from eventsui.events.filters import EventFilter, parse_text_query
from tests.conftest import make_event, related

pytestmark = pytest.mark.django_db

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)


def store(*events: dict) -> list[dict]:
    services.ingest_events([schemas.Event.model_validate(e) for e in events], publish=False)
    return list(events)


def ids(api, flt: dict, **body) -> list[str]:
    response = api.post("/api/events/filter", {"filter": flt, **body}, format="json")
    assert response.status_code == 200, response.content
    return [e["id"] for e in response.json()["events"]]


def count_by(api, countable: str, body: dict):
    return api.post(f"/api/events/count-by/{countable}", body, format="json")


def window(since: datetime, until: datetime) -> dict:
    return {"occurred": {"since": since.isoformat(), "until": until.isoformat()}}


# -- text search ------------------------------------------------------------------------------


def test_text_search_drops_a_sign_followed_by_a_space(api):
    crashed = make_event("prefect.flow-run.Crashed", occurred=DAY)
    cancelled = make_event("prefect.flow-run.Cancelled", occurred=DAY + timedelta(seconds=1))
    other = make_event("prefect.worker-run.started", occurred=DAY + timedelta(seconds=2))
    store(crashed, cancelled, other)
    assert parse_text_query("Crashed - Cancelled") == (["Crashed", "Cancelled"], [], [])
    # "-" is in every event's text: kept as a term it matched all three.
    flt = {"text": {"query": "Crashed - Cancelled"}, **window(DAY, DAY + timedelta(hours=1))}
    assert set(ids(api, flt)) == {crashed["id"], cancelled["id"]}


def test_text_search_ends_a_term_at_a_quote():
    assert parse_text_query('Crashed"Cancelled"') == (["Crashed", "Cancelled"], [], [])
    assert parse_text_query('-a"b c" +"d \\" e"') == (["b c"], ["a"], ['d " e'])
    assert parse_text_query('"unclosed phrase') == (["unclosed phrase"], [], [])
    assert parse_text_query('+ "  " !') == ([], [], [])


# -- related labels on the role ---------------------------------------------------------------


def test_related_labels_compare_the_role_literally(api):
    pool = make_event(occurred=DAY, related=[related("work-pool", "prefect.work-pool.p")])
    store(pool)
    flt = window(DAY, DAY + timedelta(hours=1))
    glob = {**flt, "related": {"labels": {"prefect.resource.role": "work-*"}}}
    negated = {**flt, "related": {"labels": {"prefect.resource.role": "!flow"}}}
    exact = {**flt, "related": {"labels": {"prefect.resource.role": "work-pool"}}}
    assert ids(api, glob) == [] and ids(api, negated) == []
    assert ids(api, exact) == [pool["id"]]
    event = schemas.Event.model_validate(pool)
    assert not EventFilter.model_validate(glob).includes(event)  # the live feed agrees
    assert EventFilter.model_validate(exact).includes(event)
    other_labels = {**flt, "related": {"labels": {"prefect.resource.id": "prefect.work-pool.*"}}}
    assert ids(api, other_labels) == [pool["id"]]  # other labels keep their globs


def test_any_resource_labels_compare_the_role_literally(api):
    pool = make_event(occurred=DAY, related=[related("work-pool", "prefect.work-pool.p")])
    store(pool)
    flt = window(DAY, DAY + timedelta(hours=1))
    glob = {**flt, "any_resource": {"labels": {"prefect.resource.role": "work-*"}}}
    exact = {**flt, "any_resource": {"labels": {"prefect.resource.role": "work-pool"}}}
    assert ids(api, glob) == [] and ids(api, exact) == [pool["id"]]
    assert not EventFilter.model_validate(glob).includes(schemas.Event.model_validate(pool))


# -- count-by time buckets --------------------------------------------------------------------


def test_count_by_time_values_are_positions_and_labels_are_isoformat(api):
    store(make_event(occurred=DAY + timedelta(hours=2, minutes=5)))
    response = count_by(
        api, "time", {"filter": window(DAY, DAY + timedelta(hours=4)), "time_unit": "hour"}
    )
    buckets = response.json()
    assert [b["value"] for b in buckets] == ["0", "1", "2", "3"]
    assert [b["count"] for b in buckets] == [0, 0, 1, 0]
    assert buckets[0]["label"] == DAY.isoformat()  # 2026-11-28T00:00:00+00:00, as Prefect
    assert buckets[0]["start_time"] == DAY.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert buckets[0]["end_time"] == DAY.strftime("%Y-%m-%dT00:59:59.999999Z")


def test_count_by_time_has_no_bucket_starting_at_an_until_on_a_boundary(api):
    response = count_by(
        api, "time", {"filter": window(DAY, DAY + timedelta(days=1)), "time_unit": "hour"}
    )
    buckets = response.json()
    assert len(buckets) == 24
    assert buckets[-1]["start_time"].endswith("T23:00:00Z")


def test_count_by_time_into_the_future_stops_at_the_end_of_the_current_unit(api):
    now = datetime.now(UTC)
    response = count_by(
        api, "time", {"filter": window(now - timedelta(hours=3), now + timedelta(days=2))}
    )
    assert response.status_code == 200
    last = response.json()[-1]
    assert last["start_time"] == now.strftime("%Y-%m-%dT00:00:00Z")  # today's bucket, not later
    hourly = count_by(
        api,
        "time",
        {
            "filter": window(now - timedelta(hours=3), now + timedelta(hours=5)),
            "time_unit": "hour",
        },
    ).json()
    assert hourly[-1]["start_time"] == now.strftime("%Y-%m-%dT%H:00:00Z")


def test_count_by_time_allows_exactly_1000_buckets(api):
    since = DAY - timedelta(minutes=1000)
    ok = count_by(api, "time", {"filter": window(since, DAY), "time_unit": "minute"})
    assert ok.status_code == 200 and len(ok.json()) == 1000
    too_many = count_by(
        api,
        "time",
        {"filter": window(since - timedelta(minutes=1), DAY), "time_unit": "minute"},
    )
    assert too_many.status_code == 422
    assert "1001 buckets" in too_many.json()["detail"]


def test_count_by_time_on_sqlite_and_postgresql_puts_a_boundary_event_in_its_own_bucket(api):
    store(make_event(occurred=DAY + timedelta(hours=1)), make_event(occurred=DAY))
    buckets = count_by(
        api, "time", {"filter": window(DAY, DAY + timedelta(hours=2)), "time_unit": "hour"}
    ).json()
    assert [b["count"] for b in buckets] == [1, 1]


# -- count-by resource labels -----------------------------------------------------------------


def test_count_by_resource_labels_by_latest_name_then_prefect_name_then_id(api):
    def ev(rid, minutes, **labels):
        event = make_event(resource_id=rid, occurred=DAY + timedelta(minutes=minutes))
        event["resource"] = {"prefect.resource.id": rid, **labels}
        return event

    store(
        ev("r.renamed", 0, **{"prefect.resource.name": "old"}),
        ev("r.renamed", 5, **{"prefect.resource.name": "new"}),
        ev("r.prefect-name", 1, **{"prefect.name": "pn"}),
        ev("r.bare", 2),
        ev("r.empty", 3, **{"prefect.resource.name": ""}),
    )
    body = count_by(api, "resource", {"filter": window(DAY, DAY + timedelta(hours=1))}).json()
    assert [(b["value"], b["label"], b["count"]) for b in body] == [
        ("r.renamed", "new", 2),
        ("r.empty", "", 1),  # ties by label; an empty name stays empty
        ("r.prefect-name", "pn", 1),
        ("r.bare", "r.bare", 1),
    ]
    assert body[0]["start_time"] == DAY.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- statuses of invalid requests -------------------------------------------------------------


def test_filter_limit_above_prefects_page_size_is_a_422(api):
    response = api.post("/api/events/filter", {"limit": 51}, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"
    assert api.post("/api/events/filter", {"limit": 50}, format="json").status_code == 200


def test_filter_ignores_unknown_top_level_keys_but_not_unknown_filter_keys(api):
    assert api.post("/api/events/filter", {"foo": 1}, format="json").status_code == 200
    response = api.post("/api/events/filter", {"filter": {"foo": 1}}, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "filter.foo"


def test_a_body_that_is_not_json_is_a_422_naming_the_body(api):
    for path in ("/api/events/filter", "/api/events/count-by/event", "/api/events"):
        response = api.generic("POST", path, "not json", content_type="application/json")
        assert response.status_code == 422, path
        assert response.json()["errors"][0]["type"] == "json_invalid"


def test_occurred_until_null_is_a_422_naming_the_field(api):
    for path in ("/api/events/filter", "/api/events/count-by/event"):
        response = api.post(path, {"filter": {"occurred": {"until": None}}}, format="json")
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "filter.occurred.until"


def test_next_page_without_a_page_token_is_a_422(api):
    response = api.get("/api/events/filter/next")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "page-token"
    assert api.get("/api/events/filter/next?page-token=zzz").status_code == 403


def test_count_by_without_a_filter_is_a_422(api):
    response = count_by(api, "event", {})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "filter"


def test_count_by_with_since_after_until_is_an_empty_answer(api):
    for countable in ("time", "day", "event", "resource"):
        response = count_by(api, countable, {"filter": window(DAY, DAY - timedelta(days=1))})
        assert response.status_code == 200 and response.json() == []


def test_posting_an_event_without_an_id_is_a_422_and_stores_nothing(api):
    event = make_event()
    del event["id"]
    response = api.post("/api/events", [make_event(), event], format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "1.id"
    assert not queries.Event.objects.exists()


# -- resource.distinct ------------------------------------------------------------------------


def test_resource_distinct_gives_each_resources_first_event_in_the_filters_order(api):
    events = store(
        *[
            make_event(resource_id=f"r.{i % 3}", occurred=DAY + timedelta(minutes=i))
            for i in range(9)
        ]
    )
    flt = {**window(DAY, DAY + timedelta(hours=1)), "resource": {"distinct": True}}
    body = api.post("/api/events/filter", {"filter": flt, "limit": 2}, format="json").json()
    assert [e["id"] for e in body["events"]] == [events[8]["id"], events[7]["id"]]
    assert body["total"] == 3
    rest = api.get(body["next_page"]).json()
    assert [e["id"] for e in rest["events"]] == [events[6]["id"]] and rest["next_page"] is None
    oldest = ids(api, {**flt, "order": "ASC"})
    assert oldest == [events[0]["id"], events[1]["id"], events[2]["id"]]


# -- datetimes in JSON ------------------------------------------------------------------------


def test_every_api_time_is_written_as_prefect_writes_it(api):
    store(make_event(occurred=DAY + timedelta(microseconds=250000)), make_event(occurred=DAY))
    flt = window(DAY, DAY + timedelta(hours=1))
    events = api.post("/api/events/filter", {"filter": flt}, format="json").json()["events"]
    assert [e["occurred"] for e in events] == [
        DAY.strftime("%Y-%m-%dT%H:%M:%S.250000Z"),
        DAY.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]
    for e in events:
        assert e["received"].endswith("Z")
        datetime.fromisoformat(e["received"].replace("Z", "+00:00"))
    counted = count_by(api, "event", {"filter": flt}).json()[0]
    assert counted["start_time"] == DAY.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert counted["end_time"] == DAY.strftime("%Y-%m-%dT%H:%M:%S.250000Z")


# -- where Prefect is wrong and we stay right -------------------------------------------------


def test_event_prefix_with_underscore_or_percent_is_literal(api):
    plain = store(make_event("a.bxc", occurred=DAY), make_event("a.b_c", occurred=DAY))[1]
    flt = {**window(DAY, DAY + timedelta(hours=1)), "event": {"prefix": ["a.b_"]}}
    assert ids(api, flt) == [plain["id"]]  # Prefect's LIKE reads `_` as any character
    flt = {**window(DAY, DAY + timedelta(hours=1)), "resource": {"id_prefix": ["%"]}}
    assert ids(api, flt) == []


def test_limit_zero_has_no_next_page(api):
    store(make_event(occurred=DAY))
    body = api.post(
        "/api/events/filter",
        {"filter": window(DAY, DAY + timedelta(hours=1)), "limit": 0},
        format="json",
    ).json()
    assert body["events"] == [] and body["next_page"] is None and body["total"] == 1


def test_event_prefix_is_case_sensitive_on_every_database(api):
    store(make_event("Prefect.Flow-Run.Failed", occurred=DAY))
    flt = {**window(DAY, DAY + timedelta(hours=1)), "event": {"prefix": ["prefect.flow"]}}
    assert ids(api, flt) == []


def test_count_by_day_counts_days_whatever_the_time_unit(api):
    store(make_event(occurred=DAY + timedelta(hours=1)), make_event(occurred=DAY))
    body = {"filter": window(DAY, DAY + timedelta(hours=1)), "time_unit": "hour"}
    response = count_by(api, "day", body)  # Prefect: 500 (an event on `until`)
    assert response.status_code == 200
    assert [(b["value"], b["count"]) for b in response.json()] == [("0", 2)]


# -- the automation API -----------------------------------------------------------------------


def _automation(**trigger) -> dict:
    return {
        "name": "related list",
        "trigger": {"type": "event", "expect": ["prefect.flow-run.Failed"], **trigger},
        "actions": [{"type": "do-nothing"}],
    }


def test_automation_match_related_may_be_a_list_every_one_must_match(api):
    specs = [
        {"prefect.resource.role": "flow", "prefect.resource.id": "prefect.flow.f"},
        {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.nightly"},
    ]
    response = api.post("/api/automations/", _automation(match_related=specs), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["trigger"]["match_related"] == specs
    trigger = EventTrigger.model_validate(_automation(match_related=specs)["trigger"])

    def event(*rels):
        return schemas.Event.model_validate(make_event(related=list(rels)))

    flow = related("flow", "prefect.flow.f")
    tag = related("tag", "prefect.tag.nightly")
    assert all(spec.includes(event(flow, tag).related) for spec in trigger.related_specs())
    assert not all(spec.includes(event(flow).related) for spec in trigger.related_specs())


def test_automation_name_longer_than_300_characters_is_a_422_with_a_message(api):
    body = _automation()
    body["name"] = "n" * 301
    for method, path in (("post", "/api/automations/"),):
        response = getattr(api, method)(path, body, format="json")
        assert response.status_code == 422
        error = response.json()["errors"][0]
        assert error["field"] == "name" and error["msg"] == "Enter at most 300 characters."
    created = api.post("/api/automations/", _automation(), format="json").json()
    patched = api.patch(f"/api/automations/{created['id']}", {"name": "n" * 301}, format="json")
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == "name"
    with pytest.raises(automation_services.ImportFailed) as info:  # and the import path
        automation_services.import_automations(json.dumps(body))
    assert [(e["field"], e["msg"]) for e in info.value.errors] == [
        ("name", "Enter at most 300 characters.")
    ]
