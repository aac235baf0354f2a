"""When would a trigger have fired? The live engine's evaluator over the stored events of a past
range, in event time. Nothing is stored and no action runs.

Only candidate events are read: those whose names the trigger's event triggers expect (or
start `after`), through the store's event-name index in time order, narrowed to the primary
resource ids of `match` when every event trigger names them. The evaluator then applies the
full rules (labels, related resources) to what was read.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from automations.engine import evaluator as ev
from eventsui.events.filters import EventFilter, EventOrder

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


def read_candidates(trigger: Any, since: datetime, until: datetime, limit: int = MAX_EVENTS):
    """The candidate events of the range, oldest first, at most `limit` (+1 to tell)."""
    event_filter = candidate_filter(trigger, since, until)
    events = []
    position = None
    while len(events) <= limit:
        rows = list(event_filter.apply(after=position)[:READ_CHUNK])
        events += [row.to_schema() for row in rows]
        if len(rows) < READ_CHUNK:
            break
        position = (rows[-1].occurred, rows[-1].id)
    return events


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
    if not any(True for _ in ev.event_triggers(trigger)):
        # Metric triggers (not evaluated yet) read no events at all.
        return {"histogram": [0] * buckets, "firings": [], "events_read": 0, "truncated": False}
    if not _running.acquire(blocking=False):
        raise BacktestBusy
    try:
        return _backtest(trigger, since, until, automation_id=automation_id, buckets=buckets)
    finally:
        _running.release()


def _backtest(trigger, since, until, *, automation_id, buckets) -> dict[str, Any]:
    events = read_candidates(trigger, since, until)
    truncated = len(events) > MAX_EVENTS
    events = events[:MAX_EVENTS]
    evaluator = ev.AutomationEvaluator(automation_id or NO_AUTOMATION, trigger)
    firings = ev.replay(evaluator, events, since, until if not truncated else events[-1].occurred)
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
