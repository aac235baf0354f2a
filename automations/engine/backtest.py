"""When would a trigger have fired? The live engine's evaluator over the stored events of a past
range, in event time. Nothing is stored and no action runs.

Only candidate events are read: those whose names the trigger's event triggers expect (or
start `after`), through the store's event-name index in time order, narrowed to the primary
resource ids of `match` when every event trigger names them. The evaluator then applies the
full rules (labels, related resources) to what was read.

A metric trigger is backtested by `metrics.backtest`: its metric sampled over the range and
the live engine's `firing_for` hold, with the value series for the builder's plot.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from automations import schemas
from automations.engine import evaluator as ev
from automations.engine import metrics
from automations.engine.worker import complete_events
from eventsui.events import schemas as event_schemas
from eventsui.events.filters import EventFilter, EventOrder
from eventsui.events.models import Event

MAX_EVENTS = 200_000  # events read at most; beyond, the answer says `truncated`
MAX_FIRINGS = 1_000  # firings listed at most
READ_CHUNK = 5_000  # events per query (keyset on occurred, id)

# Backtests run in the web process's request threads; each reads up to MAX_EVENTS events, so
# only this many run at once per process (the others are told to come back: BacktestBusy).
CONCURRENT = 2
_running = threading.BoundedSemaphore(CONCURRENT)


class BacktestBusy(Exception):
    """CONCURRENT backtests are running in this process already."""


# A backtest is not an automation: its own events are those of no automation.
NO_AUTOMATION = uuid.UUID(int=0)


def candidate_filter(trigger: Any, since: datetime, until: datetime) -> EventFilter:
    names: set[str] | None = set()
    resource_ids: set[str] | None = set()
    for trig in ev.event_triggers(trigger):
        if not trig.expect:
            names = None
        elif names is not None:
            names.update(trig.expect)
            names.update(trig.after)
        ids = trig.match.root.get("prefect.resource.id") if trig.match else None
        if resource_ids is not None and ids:
            values = [ids] if isinstance(ids, str) else list(ids)
            if any(v.startswith("!") or "?" in v or "*" in v[:-1] for v in values):
                resource_ids = None  # globs and negations are left to the evaluator
            else:
                resource_ids.update(values)
        else:
            resource_ids = None
    data: dict[str, Any] = {"occurred": {"since": since, "until": until}, "order": EventOrder.ASC}
    # Exact names are read as prefixes too: a name filter and a prefix filter would both have
    # to match (Prefect's EventFilter ANDs them); the evaluator drops the extra events.
    if names:
        data["event"] = {"prefix": sorted({n.removesuffix("*") for n in names})}
    if resource_ids:
        data["resource"] = {"id_prefix": sorted({i.removesuffix("*") for i in resource_ids})}
    return EventFilter.model_validate(data)


# Candidates are read without their payloads (most are never shown; a firing's event is read
# back whole afterwards, `worker.complete_events`), except automation events, whose payload says
# how long a chain they end (`evaluator.automation_chain`).
CANDIDATE_FIELDS = ("id", "occurred", "received", "event", "resource", "related", "follows")


def read_candidates(trigger: Any, since: datetime, until: datetime, limit: int = MAX_EVENTS):
    """The candidate events of the range, oldest first, at most `limit` (+1 to tell), in one
    query streamed in chunks (a server-side cursor on PostgreSQL): one index scan and one
    sort, where keyset pages would each scan and sort the range's candidates again."""
    queryset = candidate_filter(trigger, since, until).apply()[: limit + 1]
    fields = CANDIDATE_FIELDS
    if not _reads_related(trigger):  # most of an event's JSON, and most of its decoding
        fields = tuple(f for f in fields if f != "related")
    rows = []
    previous = None
    for row in queryset.values_list(*fields).iterator(chunk_size=READ_CHUNK):
        if len(row) < len(CANDIDATE_FIELDS):
            row = (*row[:5], [], row[5])
        if row[0] != previous:  # a walk of resource rows may repeat an event in adjacent rows
            rows.append(row)
        previous = row[0]
    chained = [row[0] for row in rows if row[3].startswith("prefect.automation.")]
    payloads = (
        dict(Event.objects.filter(id__in=chained).values_list("id", "payload")) if chained else {}
    )
    return [
        event_schemas.ReceivedEvent.model_construct(
            id=id,
            occurred=occurred,
            received=received,
            event=name,
            resource=event_schemas.Resource.model_construct(resource),
            related=[event_schemas.RelatedResource.model_construct(r) for r in related],
            payload=payloads.get(id, {}),
            follows=follows,
        )
        for id, occurred, received, name, resource, related, follows in rows
    ]


def _stub_events(firings: list[ev.Firing]) -> None:
    def stub(event: dict | None) -> dict | None:
        return event and {"stub": True, "id": event["id"], "event": event.get("event", "")}

    def walk(children: list[dict]) -> None:
        for child in children:
            child["triggering_event"] = stub(child.get("triggering_event"))
            walk(child.get("child_firings") or [])

    for firing in firings:
        firing.triggering_event = stub(firing.triggering_event)
        walk(firing.child_firings)


def _reads_related(trigger: Any) -> bool:
    """Whether evaluating the trigger looks at events' related resources (`match_related`,
    or a `for_each` label of a related resource)."""
    for trig in ev.event_triggers(trigger):
        specs = trig.match_related if isinstance(trig.match_related, list) else [trig.match_related]
        if any(spec.root for spec in specs):
            return True
        if any(label.startswith("related:") for label in trig.for_each):
            return True
    return False


def backtest(
    trigger: Any,
    since: datetime,
    until: datetime,
    *,
    automation_id: UUID | None = None,
    buckets: int = 0,
) -> dict[str, Any]:
    """The firings the trigger would have produced over the range; with `buckets`, also the
    candidate events counted per equal slice of the range (the builder's histogram)."""
    metric = isinstance(trigger, schemas.MetricTrigger)
    if not metric and not any(True for _ in ev.event_triggers(trigger)):
        # Composites of metric triggers only (not evaluated) read no events at all.
        return {"histogram": [0] * buckets, "firings": [], "events_read": 0, "truncated": False}
    if not _running.acquire(blocking=False):
        raise BacktestBusy
    try:
        if metric:  # the metric over the range, through the live engine's hold
            return metrics.backtest(trigger, since, until, buckets=buckets)
        return _backtest(trigger, since, until, automation_id=automation_id, buckets=buckets)
    finally:
        _running.release()


def _backtest(trigger, since, until, *, automation_id, buckets) -> dict[str, Any]:
    events = read_candidates(trigger, since, until)
    truncated = len(events) > MAX_EVENTS
    events = events[:MAX_EVENTS]
    evaluator = ev.AutomationEvaluator(automation_id or NO_AUTOMATION, trigger)
    firings = ev.replay(evaluator, events, since, until if not truncated else events[-1].occurred)
    firings = firings[: MAX_FIRINGS + 1]
    _stub_events(firings)
    complete_events(firings)  # the events they name, read whole (payloads included)
    histogram: list[int] = []
    if buckets:
        histogram = [0] * buckets
        span = (until - since).total_seconds()
        for event in events:
            slot = int((event.occurred - since).total_seconds() / span * buckets)
            histogram[min(max(slot, 0), buckets - 1)] += 1
    return {
        "histogram": histogram,
        "firings": [
            {
                "occurred": f.occurred,
                "state": f.state,
                "trigger_id": str(f.trigger_id),
                "triggering_labels": f.triggering_labels,
                "triggering_event": f.triggering_event,
                "child_firings": f.child_firings,
            }
            for f in firings[:MAX_FIRINGS]
        ],
        "events_read": len(events),
        "truncated": truncated or len(firings) > MAX_FIRINGS,
    }
