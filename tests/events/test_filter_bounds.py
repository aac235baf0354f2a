"""The work an event filter may ask for is bounded by the schema: too many values, related
filters or wildcards answer 422 naming the rule, before any query runs."""

from __future__ import annotations

import pytest

from eventsui.events.filters import MAX_FILTER_VALUES, MAX_RESOURCE_FILTERS
from eventsui.events.schemas import MAX_GLOB_WILDCARDS, MAX_SPEC_LABELS, MAX_SPEC_VALUES

pytestmark = pytest.mark.django_db

SINCE = {"since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"}


def query(api, event_filter: dict):
    return api.post(
        "/api/events/filter", {"filter": {"occurred": SINCE, **event_filter}}, format="json"
    )


def types(response) -> set[str]:
    return {error["type"] for error in response.json()["errors"]}


@pytest.mark.parametrize(
    ("event_filter", "rule"),
    [
        ({"related": [{"role": ["flow"]}] * (MAX_RESOURCE_FILTERS + 1)}, "too_many_values"),
        ({"any_resource": [{"id": ["a"]}] * (MAX_RESOURCE_FILTERS + 1)}, "too_many_values"),
        ({"resource": {"id": ["a"] * (MAX_FILTER_VALUES + 1)}}, "too_many_values"),
        ({"event": {"prefix": ["a"] * (MAX_FILTER_VALUES + 1)}}, "too_many_values"),
        ({"resource": {"labels": {"x": "*" * 1000}}}, "glob_too_complex"),
        ({"related": {"labels": {"x": "a?" * (MAX_GLOB_WILDCARDS + 1)}}}, "glob_too_complex"),
        ({"resource": {"labels": {"x": ["a"] * (MAX_SPEC_VALUES + 1)}}}, "too_many_values"),
        (
            {"resource": {"labels": {f"l{i}": "a" for i in range(MAX_SPEC_LABELS + 1)}}},
            "too_many_labels",
        ),
    ],
    ids=[
        "related filters",
        "any-resource filters",
        "resource ids",
        "name prefixes",
        "1000 stars",
        "question marks",
        "label values",
        "labels",
    ],
)
def test_a_filter_asking_for_unbounded_work_is_refused_with_422(api, event_filter, rule):
    response = query(api, event_filter)
    assert response.status_code == 422, response.content[:300]
    assert rule in types(response)


def test_a_filter_at_every_bound_is_answered(api):
    response = query(
        api,
        {
            "related": [{"role": ["flow"], "labels": {"x": "a*" * 5}}] * MAX_RESOURCE_FILTERS,
            "resource": {"id": ["a"] * MAX_FILTER_VALUES},
            "event": {"prefix": ["a"] * MAX_FILTER_VALUES},
        },
    )
    assert response.status_code == 200, response.content[:300]
    assert response.json()["events"] == []
