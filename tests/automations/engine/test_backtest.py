"""POST /api/automations/backtest: the evaluator over stored events of a range, in event time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automations.engine.backtest import candidate_filter
from automations.engine.models import Firing
from tests.automations.engine.conftest import ingest, store_automation
from tests.conftest import make_event

pytestmark = pytest.mark.django_db

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
URL = "/api/automations/backtest"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def window(since=0, until=180):
    return {"since": at(since).isoformat(), "until": at(until).isoformat()}


FAILED_TWICE = {
    "type": "event",
    "expect": ["prefect.flow-run.Failed"],
    "for_each": ["prefect.resource.id"],
    "threshold": 2,
    "within": 600,
}


def test_backtest_reports_when_a_trigger_would_have_fired(api):
    ingest(
        make_event("prefect.flow-run.Failed", resource_id="prefect.flow-run.a", occurred=at(10)),
        make_event("prefect.flow-run.Failed", resource_id="prefect.flow-run.b", occurred=at(11)),
        make_event("prefect.flow-run.Failed", resource_id="prefect.flow-run.a", occurred=at(12)),
        make_event("prefect.flow-run.Completed", resource_id="prefect.flow-run.b", occurred=at(13)),
    )
    response = api.post(URL, {"trigger": FAILED_TWICE, "occurred": window()}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    triggered = [f for f in body["firings"] if f["state"] == "Triggered"]
    assert [f["triggering_labels"] for f in triggered] == [
        {"prefect.resource.id": "prefect.flow-run.a"}
    ]
    assert triggered[0]["occurred"].startswith(at(12).strftime("%Y-%m-%dT%H:%M:%S"))
    assert triggered[0]["triggering_event"]["resource"]["prefect.resource.id"] == (
        "prefect.flow-run.a"
    )
    assert body["events_read"] == 3, "only candidate events (the expected names) are read"
    assert body["truncated"] is False
    assert not Firing.objects.exists(), "a backtest stores nothing"


def test_windows_still_open_at_until_do_not_fire(api):
    proactive = {
        "type": "event",
        "after": ["x.started"],
        "expect": ["x.done"],
        "posture": "Proactive",
        "within": 3600,
    }
    ingest(make_event("x.started", occurred=at(100)))
    # The window [100, 160) ends at 160: a range to 161 sees it fire, one to 159 does not.
    ended = api.post(URL, {"trigger": proactive, "occurred": window(0, 161)}, format="json")
    assert [f["state"] for f in ended.json()["firings"]] == ["Triggered"]
    assert ended.json()["firings"][0]["occurred"].startswith(at(160).strftime("%Y-%m-%dT%H:%M"))
    still_open = api.post(URL, {"trigger": proactive, "occurred": window(0, 159)}, format="json")
    assert still_open.json()["firings"] == []


def test_backtest_of_a_stored_automation_by_id(api):
    automation = store_automation({**FAILED_TWICE, "for_each": [], "threshold": 1, "within": 0})
    ingest(make_event("prefect.flow-run.Failed", occurred=at(5)))
    response = api.post(
        URL, {"automation_id": str(automation.id), "occurred": window()}, format="json"
    )
    assert [f["state"] for f in response.json()["firings"]] == ["Triggered"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"trigger": {**FAILED_TWICE, "within": "soon"}, "occurred": window()},
            "trigger.within",
            "",
        ),
        ({"trigger": FAILED_TWICE, "occurred": window(10, 5)}, "occurred", "after since"),
        ({"occurred": window()}, "", "either a trigger or an automation_id"),
        ({"trigger": FAILED_TWICE, "occurred": {"since": "yesterday"}}, "occurred.since", ""),
        ({"trigger": FAILED_TWICE, "occurred": window(), "extra": 1}, "extra", ""),
    ],
)
def test_an_invalid_backtest_answers_422_naming_the_field(api, body, field, words):
    response = api.post(URL, body, format="json")
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert any(e["field"].startswith(field) for e in errors), errors
    assert words in " ".join(e["msg"] for e in errors)


def test_an_unknown_automation_id_is_a_422(api):
    response = api.post(
        URL,
        {"automation_id": "00000000-0000-4000-8000-000000000000", "occurred": window()},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "automation_id"


def test_backtest_needs_credentials(anonymous_api):
    response = anonymous_api.post(
        URL, {"trigger": FAILED_TWICE, "occurred": window()}, format="json"
    )
    assert response.status_code == 401


def test_candidates_are_read_by_name_prefix_and_resource_id():
    from automations import schemas

    trig = schemas.EventTrigger.model_validate(
        {
            "type": "event",
            "expect": ["a.b", "c.*"],
            "after": ["d.e"],
            "match": {"prefect.resource.id": "prefect.flow-run.1"},
        }
    )
    event_filter = candidate_filter(trig, at(0), at(1))
    assert event_filter.event.prefix == ["a.b", "c.", "d.e"]
    assert event_filter.resource.id_prefix == ["prefect.flow-run.1"]
    anything = schemas.EventTrigger.model_validate({"type": "event", "expect": []})
    assert candidate_filter(anything, at(0), at(1)).event is None


def test_too_many_backtests_at_once_answer_503_with_retry_after(api, monkeypatch):
    from automations.engine import backtest as module

    monkeypatch.setattr(module, "_running", __import__("threading").BoundedSemaphore(1))
    module._running.acquire()  # one backtest is running
    try:
        response = api.post(URL, {"trigger": FAILED_TWICE, "occurred": window()}, format="json")
    finally:
        module._running.release()
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_a_metric_trigger_reads_only_flow_run_state_events(api):
    # (Metric backtests in full: tests/automations/engine/test_metric_engine.py.)
    ingest(
        make_event("prefect.flow-run.Failed", resource_id="prefect.flow-run.a", occurred=at(5)),
        make_event("prefect.task-run.Failed", resource_id="prefect.task-run.a", occurred=at(6)),
    )
    metric = {"type": "metric", "metric": {"name": "lateness", "threshold": 1, "operator": ">"}}
    response = api.post(URL, {"trigger": metric, "occurred": window()}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["events_read"] == 1
    assert response.json()["metric"]["name"] == "lateness"


def test_a_backtest_firing_carries_its_whole_event_though_candidates_are_read_without_payloads(
    api,
):
    """Candidates are read without payloads (the backtest's cost is the events it reads);
    the firings' events are read back whole, as the live engine stores them."""
    first = make_event(
        "prefect.flow-run.Failed",
        resource_id="prefect.flow-run.a",
        occurred=at(10),
        payload={"validated_state": {"type": "FAILED", "message": "x" * 300}},
    )
    second = {**first, "id": make_event("x")["id"], "occurred": at(12).isoformat()}
    ingest(first, second)
    response = api.post(URL, {"trigger": FAILED_TWICE, "occurred": window()}, format="json")
    assert response.status_code == 200, response.content
    (firing,) = [f for f in response.json()["firings"] if f["state"] == "Triggered"]
    assert firing["triggering_event"]["id"] == second["id"]
    assert firing["triggering_event"]["payload"] == first["payload"]
    assert firing["triggering_event"]["related"] == first.get("related", [])


def test_a_backtest_reads_related_resources_when_the_trigger_looks_at_them(api):
    """Related resources are read only for triggers that need them (most of an event's
    JSON): a related for_each and a match_related still see them."""
    deployment = {
        "prefect.resource.id": "prefect.deployment.d1",
        "prefect.resource.role": "deployment",
    }
    for minute in (10, 12):
        ingest(
            make_event(
                "prefect.flow-run.Failed",
                resource_id=f"prefect.flow-run.{minute}",
                occurred=at(minute),
                related=[deployment],
            )
        )
    by_deployment = {
        **FAILED_TWICE,
        "for_each": ["related:deployment:prefect.resource.id"],
        "match_related": {"prefect.resource.role": "deployment"},
    }
    response = api.post(URL, {"trigger": by_deployment, "occurred": window()}, format="json")
    assert response.status_code == 200, response.content
    triggered = [f for f in response.json()["firings"] if f["state"] == "Triggered"]
    assert [f["triggering_labels"] for f in triggered] == [
        {"related:deployment:prefect.resource.id": "prefect.deployment.d1"}
    ]
