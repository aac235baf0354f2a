"""Metric triggers: Prefect Cloud's `successes`, `duration` and `lateness`, computed from the
flow-run state events we store, and the `firing_for` hold that turns the metric into
Triggered and Resolved firings.

Prefect's open-source server refuses metric triggers (a Prefect Cloud feature); the
definitions follow Prefect's "Custom triggers" documentation (section "Metric triggers") and
its `MetricTriggerQuery` schema. At a time `at`, over the trigger's `range` ending at `at`, for
the flow runs whose state events match the trigger's `match` / `match_related`:

- **successes**: a *share* from 0 to 1. Prefect's definition reads "the number of flow runs
  that went Pending and then the latest state we saw was not a failure", but its own examples
  compare it with 0.9 and 0.95 ("success rate below 90%"), so it is the share: of the runs that
  went Pending in the range, those whose latest state by `at` is not Failed or Crashed. A run
  that went Pending and is still going (Running, Retrying, AwaitingRetry ...) counts as a
  success so far; retried runs count by their latest state.
- **duration**: the mean seconds runs spent Running (a RUNNING-type state: Running or
  Retrying) before a terminal state (Completed, Failed, Crashed, Cancelled), over the runs
  that started Running in the range. A run **still running** at `at` counts with its time so
  far (`at` minus its start), so a hung run raises the mean while it hangs. A stretch that ends
  in a non-terminal state (AwaitingRetry, Paused) is not counted.
- **lateness**: the mean seconds runs spent Late before Running or Crashed, over the runs
  that went Late in the range (only runs marked Late are included). A run **still late** at
  `at` (no Running or Crashed yet; Pending does not end lateness) counts with its time so far.
  A Late run that ends otherwise (Cancelled without running) is not counted.

Runs belong to a range by the time they *entered* the measured state (Pending, Running, Late),
so one query over the range reads all that is needed. With no such run, the metric has no
value, and no value is "not breaching" (a breach resolves when the runs stop).

The hold (`Hold`): the condition `value <operator> threshold` must hold at every evaluation
for `firing_for` before the trigger goes Triggered, and fail at every evaluation for
`firing_for` before it goes Resolved (then `actions_on_resolve` run). Evaluations are
`INTERVAL` apart (see there for why); an engine that was stopped makes up the evaluations it
missed (`ticks`); a gap longer than `MAX_GAP` all the same breaks the continuity: the hold
starts again at the next evaluation.

Pure where it can be: `metric_value` / `Series` take the runs and a time; `Hold` takes a time
and a value. The database reads: `read_rows`, one trigger's flow-run state events of a time
range, by exact event name through the store's `(event, occurred)` index (the related filters
through `EventFilter`'s SQL), as `(run id, state name, occurred)` only; and `prefetch`, the
same for many triggers that each select runs by one related id, in one query. The engine's
pass that drives them is `metric_engine.py`.
"""

from __future__ import annotations

import bisect
import json
import operator as op
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from automations import schemas
from eventsui.events.states import STATE_TYPES, StateType

# How often the live engine evaluates each metric trigger. `firing_for` is at least 5
# minutes (METRIC_MINIMUM_RANGE), so 15 s keeps the hold within 5% of its length; one pass of
# 100 triggers over a 1,000,000-event store costs about 0.3 s of CPU (bench/metrics.py), so a
# pass every 15 s costs a few percent of one core. Prefect asks for at least once a minute.
INTERVAL = timedelta(seconds=15)
# Evaluations further apart than this do not prove the condition held in between.
MAX_GAP = 4 * INTERVAL
# The backtest samples at INTERVAL, or coarser so that a range has at most this many samples.
MAX_SAMPLES = 2000

FLOW_RUN_PREFIX = "prefect.flow-run."
TERMINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
FAILURES = {StateType.FAILED, StateType.CRASHED}

OPERATORS = {"<": op.lt, "<=": op.le, ">": op.gt, ">=": op.ge}

# The state events a metric reads: every flow-run state (the state after a stretch decides
# whether it counts), by exact name (one range scan of the `(event, occurred)` index each).
NAMES = [FLOW_RUN_PREFIX + name for name in STATE_TYPES]

# What each metric is and how it counts a run not finished, in words (the builder's panel).
IN_PROGRESS = {
    "successes": (
        "the share (0 to 1) of runs that went Pending in the range whose latest state is not "
        "Failed or Crashed; a run still in progress counts as a success so far"
    ),
    "duration": (
        "the mean seconds in Running before a terminal state, for runs that started Running in "
        "the range; a run still running counts with its time so far"
    ),
    "lateness": (
        "the mean seconds in Late before Running or Crashed, for runs that went Late in the "
        "range; a run still late counts with its time so far"
    ),
}


def state_of(event_name: str) -> str | None:
    """`prefect.flow-run.Running` -> `Running` (None for other events)."""
    if not event_name.startswith(FLOW_RUN_PREFIX):
        return None
    name = event_name[len(FLOW_RUN_PREFIX) :]
    return name if name in STATE_TYPES else None


# -- the runs ---------------------------------------------------------------------------------


@dataclass
class Run:
    """One flow run's state events, oldest first: (occurred, state name)."""

    states: list[tuple[datetime, str]] = field(default_factory=list)


def runs_from_rows(rows: Iterable[tuple[str, str, datetime]]) -> dict[str, Run]:
    """(run resource id, event name, occurred) rows to runs, each in time order."""
    runs: dict[str, Run] = {}
    for run_id, event_name, occurred in rows:
        state = state_of(event_name)
        if state is None:
            continue
        runs.setdefault(run_id, Run()).states.append((occurred, state))
    for run in runs.values():
        run.states.sort()
    return runs


@dataclass
class Sample:
    """One stretch of a run that a metric counts: counted at a time `at` when `start` is in
    `(at - range, at]`, with the value `contribution(at)` (None: not counted)."""

    start: datetime
    end: datetime | None  # when its measured stretch ended (None: not yet, or never)
    counted: bool = True  # duration/lateness: False when the stretch ends uncounted

    def contribution(self, metric: str, at: datetime) -> float | None:
        if self.end is not None and self.end <= at:
            return (self.end - self.start).total_seconds() if self.counted else None
        return (at - self.start).total_seconds()  # still running / still late: so far


def samples(metric: str, run: Run) -> list[Sample]:
    """The stretches of one run that the metric counts (see the module's definitions). For
    successes, `end` is when the run's latest state became a failure (None: it never did)."""
    states = run.states
    out: list[Sample] = []
    if metric == "successes":
        pendings = [t for t, s in states if s == "Pending"]
        if not pendings:
            return out
        # The run counts once, from its first Pending; it is a failure from a failure state
        # on, until a later state (a retry) replaces it. Sampled at `at`, the latest state by
        # `at` decides, so the spans of time its latest state was a failure are kept.
        start = pendings[0]
        failed_from: datetime | None = None
        spans: list[tuple[datetime, datetime | None]] = []
        for t, s in states:
            if t < start:
                continue
            failure = STATE_TYPES[s] in FAILURES
            if failure and failed_from is None:
                failed_from = t
            elif not failure and failed_from is not None:
                spans.append((failed_from, t))
                failed_from = None
        if failed_from is not None:
            spans.append((failed_from, None))
        return [_SuccessSample(start=start, end=None, spans=spans)]
    if metric == "duration":
        running_from: datetime | None = None
        for t, s in states:
            kind = STATE_TYPES[s]
            if kind is StateType.RUNNING:
                if running_from is None:
                    running_from = t
            elif running_from is not None:
                out.append(Sample(start=running_from, end=t, counted=kind in TERMINAL))
                running_from = None
        if running_from is not None:
            out.append(Sample(start=running_from, end=None))
        return out
    # lateness
    late_from: datetime | None = None
    for t, s in states:
        kind = STATE_TYPES[s]
        if s == "Late":
            if late_from is None:
                late_from = t
        elif late_from is not None and (kind is StateType.RUNNING or kind is StateType.CRASHED):
            out.append(Sample(start=late_from, end=t))
            late_from = None
        elif late_from is not None and kind in TERMINAL:
            out.append(Sample(start=late_from, end=t, counted=False))
            late_from = None
    if late_from is not None:
        out.append(Sample(start=late_from, end=None))
    return out


@dataclass
class _SuccessSample(Sample):
    spans: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    def contribution(self, metric: str, at: datetime) -> float | None:
        for begin, until in self.spans:
            if begin <= at and (until is None or at < until):
                return 0.0
        return 1.0


class Series:
    """A metric over a set of runs, evaluated at any time: the live engine asks for one time,
    the backtest for many (the samples are sorted by start once)."""

    def __init__(self, metric: str, range_: timedelta, runs: dict[str, Run]) -> None:
        self.metric = metric
        self.range = range_
        found = [s for run in runs.values() for s in samples(metric, run)]
        found.sort(key=lambda s: s.start)
        self.samples = found
        self.starts = [s.start for s in found]

    def value(self, at: datetime) -> float | None:
        lo = bisect.bisect_right(self.starts, at - self.range)
        hi = bisect.bisect_right(self.starts, at)
        values = [
            v for s in self.samples[lo:hi] if (v := s.contribution(self.metric, at)) is not None
        ]
        if not values:
            return None
        return sum(values) / len(values)


def metric_value(
    metric: str, range_: timedelta, runs: dict[str, Run], at: datetime
) -> float | None:
    """The metric at `at` over `(at - range, at]` (None: no run counted)."""
    return Series(metric, range_, runs).value(at)


def breaching(trigger: schemas.MetricTrigger, value: float | None) -> bool:
    m = trigger.metric
    return value is not None and OPERATORS[m.operator.value](value, m.threshold)


# -- the hold ---------------------------------------------------------------------------------

TRIGGERED = "Triggered"
RESOLVED = "Resolved"


class Hold:
    """The `firing_for` state machine. State (JSON): `triggered`, `since` (ISO: when the
    condition began to hold, or to fail while triggered; the clock of the next change),
    `last` (ISO: the last evaluation), `value` (the last value)."""

    def __init__(
        self, firing_for: timedelta, state: dict | None = None, *, max_gap: timedelta = MAX_GAP
    ) -> None:
        self.firing_for = firing_for
        self.max_gap = max_gap
        state = state or {}
        self.triggered: bool = state.get("triggered", False)
        self.since: datetime | None = _time(state.get("since"))
        self.last: datetime | None = _time(state.get("last"))
        self.value: float | None = state.get("value")

    def dump(self) -> dict:
        return {
            "triggered": self.triggered,
            "since": self.since.isoformat() if self.since else None,
            "last": self.last.isoformat() if self.last else None,
            "value": self.value,
        }

    def observe(self, at: datetime, breach: bool, value: float | None = None) -> str | None:
        """One evaluation at `at`: the state change it makes, if any."""
        if self.last is not None and at <= self.last:
            return None  # an evaluation no newer than the last one changes nothing
        if self.last is not None and at - self.last > self.max_gap:
            self.since = None  # not evaluated for a while: continuity unknown, start again
        self.last = at
        self.value = value
        # While not triggered we wait for a breach to last; while triggered, for its end.
        changing = breach != self.triggered
        if not changing:
            self.since = None
            return None
        if self.since is None:
            self.since = at
        if at - self.since < self.firing_for:
            return None
        self.triggered = breach
        self.since = None
        return TRIGGERED if breach else RESOLVED


def replay(
    trigger: schemas.MetricTrigger,
    runs: dict[str, Run],
    since: datetime,
    until: datetime,
    step: timedelta = INTERVAL,
) -> tuple[list[tuple[datetime, str, float | None]], list[tuple[datetime, float | None]]]:
    """The metric evaluated every `step` from `since` to `until` (the backtest and the scenario
    tests; the live engine does the same one pass at a time): its state changes (time, state,
    value) and its value series (time, value)."""
    m = trigger.metric
    series = Series(m.name.value, m.range, runs)
    hold = Hold(m.firing_for, max_gap=max(MAX_GAP, 2 * step))
    changes, values = [], []
    at = since
    while at <= until:
        value = series.value(at)
        values.append((at, value))
        change = hold.observe(at, breaching(trigger, value), value)
        if change:
            changes.append((at, change, value))
        at += step
    return changes, values


def backtest_step(since: datetime, until: datetime) -> timedelta:
    """The backtest's sampling step: the live engine's INTERVAL, or coarser for long ranges
    (at most MAX_SAMPLES samples; a hold is then judged on those samples)."""
    span = until - since
    return max(INTERVAL, span / MAX_SAMPLES)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value)


# -- the database read ------------------------------------------------------------------------


def event_filter(trigger: schemas.MetricTrigger, since: datetime, until: datetime):
    """The trigger's flow-run state events of `[since, until]` as an `EventFilter`: exact
    names (the `(event, occurred)` index), `match` on the primary resource and each
    `match_related` on some related resource (their SQL, shared with the feed and the API)."""
    from eventsui.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventOrder,
        EventResourceFilter,
    )

    related = [_related_filter(spec) for spec in _specs_of(trigger) if len(spec)]
    in_sql = len(trigger.match) and not _match_on_id_only(trigger)
    return EventFilter(
        occurred=EventOccurredFilter(since=since, until=until),
        event=EventNameFilter(name=NAMES),
        resource=EventResourceFilter(labels=trigger.match) if in_sql else None,
        related=related or None,
        order=EventOrder.ASC,
    )


def _specs_of(trigger: schemas.MetricTrigger) -> list:
    specs = trigger.match_related
    return specs if isinstance(specs, list) else [specs]


def _specs(trigger: schemas.MetricTrigger) -> list[dict]:
    return [spec.model_dump() for spec in _specs_of(trigger)]


def _match_on_id_only(trigger: schemas.MetricTrigger) -> bool:
    """Does `match` name only the primary resource's id (the usual `prefect.flow-run.*`)? Then
    it is checked on the ids read, not in SQL: in SQL it offers the planner the resource-id
    index, a walk over every flow run of the range, where the event names or the related
    resource select far fewer rows (a store without statistics takes it: 1.8 s, not 5 ms)."""
    from eventsui.events.schemas import RESOURCE_ID

    return [label for label, _ in trigger.match.items()] == [RESOURCE_ID]


def _related_filter(spec):
    """A related-resource specification as a related filter: plain ids and roles as columns
    (so the query can walk `event_resources` by id), the rest as labels."""
    from eventsui.events.filters import EventRelatedFilter
    from eventsui.events.matching import parse_pattern
    from eventsui.events.schemas import RESOURCE_ID, RESOURCE_ROLE, ResourceSpecification

    plain: dict[str, list[str]] = {}
    rest: dict[str, list[str]] = {}
    for label, values in spec.items():
        simple = bool(values) and all(parse_pattern(v).is_plain for v in values)
        if label in (RESOURCE_ID, RESOURCE_ROLE) and simple:
            plain[label] = list(values)
        else:
            rest[label] = list(values)
    return EventRelatedFilter(
        id=plain.get(RESOURCE_ID),
        role=plain.get(RESOURCE_ROLE),
        labels=ResourceSpecification.model_validate(rest) if rest else None,
    )


def read_rows(
    trigger: schemas.MetricTrigger, since: datetime, until: datetime, limit: int | None = None
) -> list[tuple[str, str, datetime]]:
    """(run id, event name, occurred) of the trigger's flow-run state events in the range.
    (A query driven by a related resource returns an event twice when it lists that resource
    twice: the ids tell.)"""
    from eventsui.events.schemas import RESOURCE_ID

    queryset = (
        event_filter(trigger, since, until)
        .apply()
        .values_list("id", "resource_id", "event", "occurred")
    )
    if limit is not None:
        queryset = queryset[:limit]  # the earliest: the backtest says it was truncated
    else:
        queryset = queryset.order_by()  # any order (runs are sorted in memory): no sort
    check_id = trigger.match.matches if _match_on_id_only(trigger) else None
    seen: set = set()
    rows = []
    for event_id, run_id, name, occurred in queryset:
        if event_id in seen:
            continue
        seen.add(event_id)
        if check_id is not None and not check_id({RESOURCE_ID: run_id}):
            continue
        rows.append((run_id, name, occurred))
    return rows


# -- one live evaluation -----------------------------------------------------------------


def ticks(last: datetime | None, at: datetime, firing_for: timedelta) -> list[datetime]:
    """The evaluation times of a pass at `at`: `at`, and after a pause (an engine stopped, a
    backlog) the missed times since `last` every INTERVAL, so that a restart does not break
    a condition that held all along. At most twice `firing_for` back: after a longer pause the
    hold starts again (the read would grow with the pause)."""
    if last is None or at - last <= INTERVAL:
        return [at]
    missed = -((last - at) // INTERVAL) - 1  # evaluation times strictly between
    first = max(1, missed - (2 * firing_for + 2 * INTERVAL) // INTERVAL + 1)
    return [last + INTERVAL * k for k in range(first, missed + 1)] + [at]


def _read_key(trigger: schemas.MetricTrigger, since: datetime, at: datetime) -> tuple:
    return (
        json.dumps(trigger.match.model_dump(), sort_keys=True),
        json.dumps(_specs(trigger), sort_keys=True),
        since,
        at,
    )


def _by_related_id(trigger: schemas.MetricTrigger) -> tuple[str, str] | None:
    """(role, id) when the trigger selects runs by one related resource named by a plain id
    and role (`match_related: {prefect.resource.id: ..., prefect.resource.role: ...}`) and
    `match` names at most the primary id: such triggers are read together (`prefetch`)."""
    from eventsui.events.matching import parse_pattern
    from eventsui.events.schemas import RESOURCE_ID, RESOURCE_ROLE

    specs = [spec for spec in _specs_of(trigger) if len(spec)]
    if len(specs) != 1 or (len(trigger.match) and not _match_on_id_only(trigger)):
        return None
    spec = dict(specs[0].items())
    if set(spec) != {RESOURCE_ID, RESOURCE_ROLE}:
        return None
    ids, roles = spec[RESOURCE_ID], spec[RESOURCE_ROLE]
    if len(ids) != 1 or len(roles) != 1:
        return None
    if not (parse_pattern(ids[0]).is_plain and parse_pattern(roles[0]).is_plain):
        return None
    return roles[0], ids[0]


def prefetch(due: list[tuple[schemas.MetricTrigger, Hold]], at: datetime, reads: dict) -> None:
    """Read, in one query per (role, time range), the runs of every due trigger that selects
    them by one related resource id (`_by_related_id`: the common "this deployment's runs"):
    100 such triggers cost one walk of `event_resources` by id, not 100 queries."""
    from eventsui.events.models import EventResource
    from eventsui.events.schemas import RESOURCE_ID

    groups: dict[tuple[str, datetime], list[tuple[schemas.MetricTrigger, str]]] = {}
    for trigger, hold in due:
        found = _by_related_id(trigger)
        if found is None:
            continue
        m = trigger.metric
        since = ticks(hold.last, at, m.firing_for)[0] - m.range
        groups.setdefault((found[0], since), []).append((trigger, found[1]))
    for (role, since), members in groups.items():
        if len(members) < 2:
            continue  # one trigger: its own query (evaluate) is as good
        ids = sorted({rid for _, rid in members})
        rows: dict[str, list[tuple[str, str, datetime]]] = {rid: [] for rid in ids}
        seen: set = set()
        query = EventResource.objects.filter(
            resource_id__in=ids,
            role=role,
            position__gt=0,
            occurred__gte=since,
            occurred__lte=at,
            event__event__in=NAMES,
        ).values_list("resource_id", "event_id", "event__resource_id", "event__event", "occurred")
        for rid, event_id, run_id, name, occurred in query:
            if (rid, event_id) not in seen:
                seen.add((rid, event_id))
                rows[rid].append((run_id, name, occurred))
        for trigger, rid in members:
            key = _read_key(trigger, since, at)
            if key in reads:
                continue
            mine = rows[rid]
            if len(trigger.match):
                mine = [r for r in mine if trigger.match.matches({RESOURCE_ID: r[0]})]
            reads[key] = runs_from_rows(mine)


def evaluate(
    trigger: schemas.MetricTrigger, hold: Hold, at: datetime, reads: dict | None = None
) -> list[tuple]:
    """One pass for one trigger at `at` (reads the store): the (time, state, value) changes.
    `reads` shares the runs read between the triggers of one pass that select the same runs
    over the same times (the successes, duration and lateness of one set of runs: one read),
    and holds what `prefetch` read for several triggers at once."""
    m = trigger.metric
    times = ticks(hold.last, at, m.firing_for)
    since = times[0] - m.range
    key = _read_key(trigger, since, at)
    reads = {} if reads is None else reads
    if key not in reads:
        from django.db import transaction

        with transaction.atomic():  # a failed read leaves the engine's transaction usable
            reads[key] = runs_from_rows(read_rows(trigger, since, at))
    series = reads.get((key, m.name.value))
    if series is None:
        series = reads[(key, m.name.value)] = Series(m.name.value, m.range, reads[key])
    changes = []
    for tick in times:
        value = series.value(tick)
        change = hold.observe(tick, breaching(trigger, value), value)
        if change:
            changes.append((tick, change, value))
    return changes


# -- the backtest -----------------------------------------------------------------------------

MAX_ROWS = 1_000_000  # state events a metric backtest reads at most (3 short fields each)


def backtest(
    trigger: schemas.MetricTrigger, since: datetime, until: datetime, *, buckets: int = 0
) -> dict[str, Any]:
    """When the metric trigger would have breached and resolved over `[since, until]`: the
    same metric and hold as the live engine, sampled every `backtest_step` in event time (the
    first range before `since` is read too, so the first sample is whole). Also the value
    series (at most MAX_SAMPLES points) for the builder's plot, and with `buckets` the state
    events per slice (the histogram)."""
    m = trigger.metric
    rows = read_rows(trigger, since - m.range, until, limit=MAX_ROWS + 1)
    truncated = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    end = max((r[2] for r in rows), default=until) if truncated else until
    step = backtest_step(since, until)
    changes, values = replay(trigger, runs_from_rows(rows), since, end, step)
    histogram: list[int] = []
    if buckets:
        histogram = [0] * buckets
        span = (until - since).total_seconds()
        for _, _, occurred in rows:
            if occurred >= since:
                slot = int((occurred - since).total_seconds() / span * buckets)
                histogram[min(slot, buckets - 1)] += 1
    return {
        "histogram": histogram,
        "firings": [
            {
                "occurred": tick,
                "state": state,
                "trigger_id": str(trigger.id),
                "triggering_labels": {},
                "triggering_event": None,
                "child_firings": [],
                "value": value,
            }
            for tick, state, value in changes
        ],
        "events_read": len(rows),
        "truncated": truncated,
        "metric": {
            "name": m.name.value,
            "operator": m.operator.value,
            "threshold": m.threshold,
            "range": m.range.total_seconds(),
            "firing_for": m.firing_for.total_seconds(),
            "step": step.total_seconds(),
            "series": [{"occurred": t, "value": v} for t, v in values],
        },
    }
