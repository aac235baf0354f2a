"""Bad input answers 4xx, never 5xx: each request below once answered 500 (the hardening
campaign's reproductions)."""

from __future__ import annotations

import json

import pytest

from tests.automations.test_schema import automation, compound, event, metric

pytestmark = pytest.mark.django_db

SINCE = {"since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post_raw(api, path: str, body: str):
    return api.generic("POST", path, body, content_type="application/json")


def assert_4xx(response, *statuses):
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if statuses:
        assert response.status_code in statuses, response.content[:300]
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "path",
    ["/api/events/filter", "/api/automations/", "/api/automations/filter", "/api/events"],
)
def test_a_body_nested_5000_levels_is_refused(api, path):
    assert_4xx(post_raw(api, path, '{"filter": ' + nested(5000) + "}"))
    assert_4xx(post_raw(api, path, nested(5000)))


def test_count_by_over_years_1_to_9999_is_refused_or_answered(api):
    body = {
        "filter": {"occurred": {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T00:00:00Z"}}
    }
    for countable in ("day", "time", "event", "resource"):
        response = api.post(f"/api/events/count-by/{countable}", body, format="json")
        assert response.status_code < 500, (countable, response.content[:300])


@pytest.mark.parametrize(
    "body",
    [
        automation(name="a\x00b"),
        automation(description="a\x00b"),
        automation(event(expect=["a\x00b"])),
        automation(event(match={"prefect.resource.id": "a\x00b"})),
    ],
    ids=["name", "description", "expect", "match"],
)
def test_nul_in_an_automation_is_refused_with_422(api, body):
    assert_4xx(api.post("/api/automations/", body, format="json"), 422)


def test_nul_in_automation_queries_is_refused(api):
    body = {"automations": {"name": {"any_": ["a\x00b"]}}}
    assert_4xx(api.post("/api/automations/filter", body, format="json"))
    assert_4xx(api.post("/api/automations/count", body, format="json"))
    assert_4xx(api.get("/api/automations/related-to/a%00b"))


@pytest.mark.parametrize(
    "trigger",
    [
        event(within=1e308),
        event(within="999999999999d"),
        event(within=-1e308),
        metric(range=1e308),
        metric(firing_for=1e308),
        compound(event(), event(), within=1e308),
    ],
    ids=[
        "within 1e308",
        "within 999999999999d",
        "within -1e308",
        "range",
        "firing_for",
        "compound",
    ],
)
def test_durations_that_overflow_are_refused_with_422(api, trigger):
    assert_4xx(api.post("/api/automations/", automation(trigger), format="json"), 422)


def nest_compounds(depth: int) -> dict:
    trigger = event()
    for _ in range(depth):
        trigger = compound(trigger, within=60)
    return trigger


def test_compound_triggers_nested_too_deep_are_refused_with_a_message(api):
    response = api.post("/api/automations/", automation(nest_compounds(11)), format="json")
    assert_4xx(response, 422)
    assert "nested at most 10 levels" in json.dumps(response.json())
    level = '{"type": "compound", "require": "all", "within": 60, "triggers": ['
    deep = level * 1000 + json.dumps(event()) + "]}" * 1000  # json.dumps cannot nest so deep
    body = '{"name": "deep", "actions": [{"type": "do-nothing"}], "trigger": ' + deep + "}"
    assert_4xx(post_raw(api, "/api/automations/", body))  # too deep even to parse: 400
    response = api.post("/api/automations/", automation(nest_compounds(10)), format="json")
    assert response.status_code == 201, response.content[:300]


def test_automation_filter_offset_beyond_bigint_is_refused(api):
    for offset in (2**63, 2**64, -1):
        response = api.post("/api/automations/filter", {"offset": offset}, format="json")
        assert_4xx(response, 422)


@pytest.mark.parametrize(
    "template",
    [
        "{% for a in b %}" * 500 + "{% endfor %}" * 500,
        "{% if a %}" * 5000 + "{% endif %}" * 5000,
        "{{ " + "(" * 10000 + "1" + ")" * 10000 + " }}",
    ],
    ids=["500 loops", "5000 ifs", "10000 parentheses"],
)
def test_templates_nested_too_deep_are_refused(api, template):
    response = api.post("/api/templates/validate", template, format="json")
    assert_4xx(response, 422)


@pytest.mark.parametrize("threshold", [-1, 10**21])
def test_an_event_trigger_threshold_out_of_range_is_refused_with_422(api, threshold):
    response = api.post("/api/automations/", automation(event(threshold=threshold)), format="json")
    assert_4xx(response, 422)
    assert any(e["field"] == "trigger.threshold" for e in response.json()["errors"])


@pytest.mark.parametrize("threshold", [-1, 10**21])
def test_the_builder_shows_an_out_of_range_threshold_beside_the_field(client, viewer, threshold):
    from automations.models import Automation
    from automations.web import codec

    client.force_login(viewer)
    form_data = codec.to_form_data(automation(event(threshold=3)))
    body = {key: form_data.getlist(key) for key in form_data}
    body["trigger.threshold"] = [str(threshold)]
    response = client.post("/automations/new/", {**body, "save": "1"})
    assert response.status_code == 422
    assert "The threshold must be a whole number from 0 to 1000000000." in response.content.decode()
    assert not Automation.objects.exists()
