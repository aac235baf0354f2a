"""The in-memory label matcher (live feed) and its SQL translation (pages) agree.

A table of patterns x values, stored once; for each pattern every way a filter reaches a
label (the primary resource's id column, a label in the resource's JSON, a related
resource's role column, any resource's labels) must select in SQL exactly the events that
`EventFilter.includes` selects in memory. Runs on whichever database the suite uses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventsui.events import matching, schemas, services
from eventsui.events.filters import EventFilter
from tests.conftest import make_event, related

pytestmark = pytest.mark.django_db

VALUES = [
    "abc",
    "ABC",
    "Abc",
    "ab",
    "abcd",
    "xabcx",
    "a.c",
    "axc",
    "a\nc",
    "abc\n",
    "\nabc",
    "a_c",
    "aXc",
    "50%off",
    "5000off",
    "[ab]x",
    "ax",
    "a\\b",
    "a+b",
    "aab",
    "ab*",
    "a?c",
    "é",
    "éclair",
    "ÉCLAIR",
    "日本語",
    "x y",
]

PATTERNS = [
    "abc",
    "!abc",
    "ab*",
    "!ab*",
    "AB*",
    "*",
    "!*",
    "a?c",
    "!a?c",
    "a*c",
    "*b*",
    "*c",
    "?",
    "??",
    "???",
    "a.c",
    "a.*",
    "a_c",
    "a_*",
    "50%*",
    "[ab]*",
    "[ab]x",
    "a\\b",
    "a\\*",
    "a+b",
    "a+*",
    "ab\\*",
    "a*a*b",
    "**",
    "*?",
    "a\nc",
    "a?c*",
    "é*",
    "?clair",
    "日*",
    "*語",
    "x y",
    "x ?",
    "^abc",
    "abc$",
    "(a|b)*",
    "",
    "!",
]

T0 = datetime.now(UTC) - timedelta(hours=1)
WINDOW = {"since": (T0 - timedelta(minutes=1)).isoformat(), "until": T0.isoformat()}


@pytest.fixture
def stored() -> list[schemas.Event]:
    data = [
        make_event(
            resource_id=value,
            related=[related(value, "prefect.flow.f"), related("tag", f"prefect.tag.{value}")],
            occurred=T0,
            env=value,
        )
        for value in VALUES
    ]
    for event in data:  # `env` belongs on the resource
        event["resource"]["env"] = event.pop("env")
    # Without the label: a missing label never matches, negated or not.
    data.append(make_event(resource_id="no-env", related=[related("r", "x")], occurred=T0))
    events = [schemas.Event.model_validate(d) for d in data]
    services.ingest_events(events, publish=False)
    return events


def ways_to_reach_a_label(pattern: str) -> dict[str, dict]:
    return {
        "primary id column": {"resource": {"labels": {schemas.RESOURCE_ID: pattern}}},
        "primary label JSON": {"resource": {"labels": {"env": pattern}}},
        "related role column": {"related": {"labels": {schemas.RESOURCE_ROLE: pattern}}},
        "related id column": {
            "related": {"labels": {schemas.RESOURCE_ID: f"prefect.tag.{pattern}"}}
        },
        "any resource labels": {"any_resource": {"labels": {"env": pattern}}},
        "any resource role label": {"any_resource": {"labels": {schemas.RESOURCE_ROLE: pattern}}},
    }


@pytest.mark.parametrize("pattern", PATTERNS)
def test_in_memory_and_sql_matchers_agree_on_every_pattern_and_value(stored, pattern):
    for way, parts in ways_to_reach_a_label(pattern).items():
        event_filter = EventFilter.model_validate({"occurred": WINDOW, **parts})
        in_sql = set(event_filter.apply().values_list("id", flat=True))
        in_memory = {e.id for e in stored if event_filter.includes(e)}
        assert in_sql == in_memory, (way, pattern)


def test_the_pattern_table_exercises_matches_and_misses_of_every_kind(stored):
    """A table where everything matched (or nothing did) would prove little."""
    kinds = {}
    for pattern in PATTERNS:
        parsed = matching.parse_pattern(pattern)
        hits = sum(matching.label_matches(pattern, value) for value in VALUES)
        kinds.setdefault((parsed.kind, parsed.negated), set()).add(0 < hits < len(VALUES))
    assert set(kinds) == {
        (kind, negated) for kind in matching.PatternKind for negated in (False, True)
    }
    assert all(True in found for found in kinds.values())


@pytest.mark.parametrize(
    ("value", "prefix_kind"),
    [
        ("prefect.flow-run.*", True),
        ("!prefect.flow-run.*", True),  # negated, still a prefix
        ("prefect.flow-run.1", False),
        ("*x", False),
        ("x*y*", False),
        ("a?*", False),
    ],
)
def test_a_prefix_is_one_star_at_the_end_and_nothing_else(value, prefix_kind):
    assert (matching.parse_pattern(value).kind is matching.PatternKind.PREFIX) is prefix_kind


def test_id_prefixes_match_case_sensitively_in_sql_as_in_memory(stored):
    for parts in (
        {"resource": {"id_prefix": ["AB"]}},
        {"any_resource": {"id_prefix": ["AB"]}},
        {"event": {"prefix": ["PREFECT.WORKER."]}},
    ):
        event_filter = EventFilter.model_validate({"occurred": WINDOW, **parts})
        in_sql = set(event_filter.apply().values_list("id", flat=True))
        assert in_sql == {e.id for e in stored if event_filter.includes(e)}, parts
    upper = EventFilter.model_validate({"occurred": WINDOW, "resource": {"id_prefix": ["AB"]}})
    assert {e.resource_id for e in upper.apply()} == {"ABC"}
