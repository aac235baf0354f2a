"""Query shapes that do not depend on statistics, and exact totals and histograms from the
counts kept at ingest.

The plan tests read EXPLAIN on a PostgreSQL store as ingested (never analyzed, as a store
receiving events through the API is): each filter walks one index in the page's order and
stops at the page, with no full scan and no sort. The count tests compare the totals,
histograms and count-by answers read from `EventCount` / `EventResourceCount` with the
events themselves, over ranges whose ends fall inside minutes and hours.
"""

from __future__ import annotations

import bisect
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from eventsui.events import queries, services
from eventsui.events.demo import simulator as demo
from eventsui.events.filters import EventFilter
from eventsui.events.models import Event, EventCount, EventResourceCount

pytestmark = pytest.mark.django_db

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START = END - timedelta(hours=6)


@pytest.fixture
def stored():
    """~1,000 demo events over 6 hours (Prefect's catalog, ~7 related resources each)."""
    events = list(demo.generate(1000, START, END, seed=7))
    for i in range(0, len(events), 500):
        services.ingest_events(events[i : i + 500], publish=False)
    return events


def _sample(events, role: str) -> str:
    return next(r.id for e in events for r in e.related if r.role == role)


def _filters(events) -> dict[str, dict]:
    flow = _sample(events, "flow")
    pool = _sample(events, "work-pool")
    return {
        "newest": {},
        "event prefix": {"event": {"prefix": ["prefect.task-run."]}},
        "event names": {"event": {"name": ["prefect.flow-run.Running", "prefect.flow-run.Failed"]}},
        "event exclude prefix": {"event": {"exclude_prefix": ["prefect.task-run."]}},
        "resource id": {"resource": {"id": [events[-1].resource.id]}},
        "related role + id": {"related": {"role": ["flow"], "id": [flow]}},
        "related resource in role": {"related": {"resources_in_roles": [[pool, "work-pool"]]}},
        "related role": {"related": {"role": ["work-pool"]}},
        "related id, any role": {"related": {"id": [flow]}},
        "any resource id": {"any_resource": {"id": [pool]}},
        "two related roles": {"related": {"role": ["work-pool", "tag"]}},
    }


def _window(since: datetime, until: datetime | None) -> dict:
    return {"since": since.isoformat(), "until": until.isoformat() if until else None}


def _filter(body: dict, since: datetime, until: datetime | None) -> EventFilter:
    return EventFilter.model_validate({**body, "occurred": _window(since, until)})


# Ends inside a minute, exactly on a minute, on an hour, and open-ended.
RANGES = [
    (START + timedelta(minutes=7, seconds=13.5), END - timedelta(minutes=51, seconds=2.25)),
    (START + timedelta(minutes=30), END - timedelta(hours=1)),
    (START + timedelta(seconds=59.999999), START + timedelta(minutes=1, seconds=1)),
    (START - timedelta(days=1), None),
]


def test_totals_are_exact_for_every_filter_and_range(stored):
    for name, body in _filters(stored).items():
        for since, until in RANGES:
            f = _filter(body, since, until)
            expected = sum(1 for e in stored if f.includes(e))
            assert queries.count_matching(f) == expected, (name, since, until)


def test_histograms_and_count_by_event_add_up_from_the_counts(stored):
    since, until = RANGES[0]
    for name, body in _filters(stored).items():
        f = _filter(body, since, until)
        matching = [e for e in stored if f.includes(e)]
        for unit, interval in (("minute", 15), ("hour", 1), ("minute", 1), ("second", 30)):
            buckets = queries.count_by_time(f, unit, interval)
            starts = [b["start_time"] for b in buckets]
            expected = [0] * len(buckets)
            for e in matching:
                i = bisect.bisect_right(starts, e.occurred) - 1
                if i >= 0 and e.occurred <= buckets[i]["end_time"]:
                    expected[i] += 1
            assert [b["count"] for b in buckets] == expected, (name, unit, interval)
    f = _filter({"event": {"prefix": ["prefect.flow-run."]}}, since, until)
    by_event = queries.count_by(f, "event")
    matching = [e for e in stored if f.includes(e)]
    names = sorted({e.event for e in matching})
    assert sorted(row["value"] for row in by_event) == names
    for row in by_event:
        times = [e.occurred for e in matching if e.event == row["value"]]
        assert (row["count"], row["start_time"], row["end_time"]) == (
            len(times),
            min(times),
            max(times),
        )


def test_counts_follow_retention_deletes(stored):
    cutoff = START + timedelta(hours=2, minutes=10, seconds=30)
    while services.delete_events_before(cutoff, batch_size=300):
        pass
    kept = [e for e in stored if e.occurred >= cutoff]
    f = _filter({}, START - timedelta(days=1), None)
    assert queries.count_matching(f) == len(kept) == Event.objects.count()
    f = _filter({"related": {"role": ["work-pool"]}}, START - timedelta(days=1), None)
    assert queries.count_matching(f) == sum(1 for e in kept if f.includes(e))
    assert not EventCount.objects.filter(count__lte=0).exists()
    assert not EventResourceCount.objects.filter(
        span=60, bucket__lt=services.count_bucket(cutoff, 60)
    ).exists()
    by_event = {
        row["value"]: row
        for row in queries.count_by(f.model_copy(update={"related": None}), "event")
    }
    for name, row in by_event.items():
        assert row["start_time"] == min(e.occurred for e in kept if e.event == name)


def test_a_duplicate_batch_adds_nothing_to_the_counts(stored):
    before = list(EventCount.objects.order_by("span", "bucket", "event").values_list("count"))
    services.ingest_events(stored[:500], publish=False)
    after = list(EventCount.objects.order_by("span", "bucket", "event").values_list("count"))
    assert before == after


def test_pages_by_name_walks_match_the_events_in_order(stored):
    """An event-name prefix pages through one walk per name, merged: the same events in the
    same order as the filter itself selects, with no gap or repeat across pages."""
    f = _filter({"event": {"prefix": ["prefect.task-run."]}}, START - timedelta(days=1), None)
    expected = sorted(((e.occurred, e.id) for e in stored if f.includes(e)), reverse=True)
    seen, after = [], None
    while True:
        page = queries.page_events(f, 37, after=after)
        seen += [(e.occurred, e.id) for e in page.events]
        if page.next is None:
            break
        after = page.next
    assert seen == expected


# -- plans on a store as ingested (no statistics) -----------------------------------------


def _plan(queryset) -> dict:
    sql, params = queryset.query.sql_with_params()
    with queries.ordered_walk(), connection.cursor() as cursor:  # as page_events runs them
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _page_query(f: EventFilter, name: str | None = None):
    qs = f.apply()
    if name is not None:
        qs = qs.filter(event=name)
    return qs.values_list("id", "occurred")[: queries.PAGE_SIZE + 1]


@pytest.mark.postgresql
def test_page_plans_walk_one_index_in_order_without_statistics(stored):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('events', 'event_resources')"
        )
        # -1: never analyzed nor vacuumed, the planner has no statistics
        assert dict(cursor.fetchall()) == {"events": -1, "event_resources": -1}
    since = END - timedelta(hours=24)
    expected_index = {
        "newest": "events_occurred_id",
        "resource id": "events_resource_occurred",
        "related role + id": "event_resources_id",
        "related resource in role": "event_resources_id",
        "related id, any role": "event_resources_id",
        "any resource id": "event_resources_id",
        "related role": "event_resources_role",
    }
    filters = _filters(stored)
    for name, index in expected_index.items():
        plan = _plan(_page_query(_filter(filters[name], since, END)))
        nodes = list(_nodes(plan))
        kinds = [n["Node Type"] for n in nodes]
        scans = [n for n in nodes if "Scan" in n["Node Type"]]
        assert "Seq Scan" not in kinds and "Bitmap Heap Scan" not in kinds, (name, kinds)
        assert "Sort" not in kinds and "Incremental Sort" not in kinds, (name, kinds)
        # the first scan (the outer side) walks the expected index, in time order
        assert scans[0].get("Index Name") == index, (name, scans[0])
    # an event-name prefix: one walk of the name index per name
    f = _filter(filters["event prefix"], since, END)
    names = queries._name_walks(f)
    assert names and all(n.startswith("prefect.task-run.") for n in names)
    nodes = list(_nodes(_plan(_page_query(f, names[0]))))
    kinds = [n["Node Type"] for n in nodes]
    assert "Seq Scan" not in kinds and "Sort" not in kinds, kinds
    assert any(n.get("Index Name") == "events_event_occurred" for n in nodes), nodes


@pytest.mark.postgresql
def test_totals_of_common_filters_read_no_event_rows_beyond_the_range_ends(stored):
    """A counted total reads the count rows, and events only in the partial minutes at the
    ends of the range (their scans are bounded to those minutes)."""
    since, until = RANGES[0]
    from django.test.utils import CaptureQueriesContext

    for name in ("newest", "event prefix", "related role + id", "related role"):
        f = _filter(_filters(stored)[name], since, until)
        with CaptureQueriesContext(connection) as captured:
            queries.count_matching(f)
        tables = [q["sql"] for q in captured.captured_queries]
        assert any("_counts" in sql for sql in tables), name
        assert len(tables) <= 3, tables


def test_sqlite_and_postgresql_use_the_same_counts(stored):
    """Sanity of the kept counts themselves: minute and hour rows each add up to the store."""
    total = Event.objects.count()
    assert sum(EventCount.objects.filter(span=60).values_list("count", flat=True)) == total
    assert sum(EventCount.objects.filter(span=3600).values_list("count", flat=True)) == total
    rng = random.Random(3)
    role = rng.choice(["work-pool", "flow", "tag"])
    events_with_role = sum(1 for e in _stored_schemas() if any(r.role == role for r in e.related))
    counted = EventResourceCount.objects.filter(span=3600, role=role, resource_id="")
    assert sum(counted.values_list("count", flat=True)) == events_with_role


def _stored_schemas():
    return [e.to_schema() for e in Event.objects.all()]
