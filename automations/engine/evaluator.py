"""The pure core of the automation engine: one automation's trigger, fed events in order and a
clock, yields firings. No database, no wall clock, no channel layer: the live engine
(`worker.py`) feeds it stored events and the wall clock, the backtest (`backtest.py`) stored
events of a past range and their own times. Its whole state is a JSON-ready dict
(`dump_state()`), stored after every step so that a restart loses nothing.

Event triggers follow Prefect 3's open-source evaluation (`prefect.server.events.triggers`,
functions `reactive_evaluation` and `evaluate`), bucket by bucket:

- An event is *covered* when its name matches `expect` or `after` (a trailing `*` is a
  prefix wildcard; an empty `expect` matches every name) and its resources match `match` and
  every `match_related` specification. Buckets are keyed by the `for_each` labels' values
  (`related:<role>:<label>` reads the first related resource in that role; missing is "").
- An `after` event opens a window `[occurred, occurred + within)` for its bucket (counting
  from -1 when the event is also expected, so it does not count itself). An expected event
  with no `after` opens `[occurred - 15 min, occurred + within)`, so that earlier events
  arriving late still count. `within: 0` (Reactive) counts every event on its own.
- Reactive fires as soon as a window's count reaches `threshold`; Proactive fires when a
  window ends with fewer than `threshold` events. After a firing, or when a window ends, the
  next window starts at `max(previous end, now)` (Prefect's cooldown), unless the trigger
  needs an `after` event to open one.

Where this differs from Prefect (each documented in docs/architecture.md):
- Proactive buckets are never deleted unevaluated: with `for_each` and no `after`, a key that
  goes silent fires when its window ends (Prefect's `remove_buckets_exceeding_threshold`
  drops the bucket of a key that met its threshold, so that key never alerts).
- A Proactive trigger without `for_each` is armed without an event only when it has no
  `after` (Prefect's `proactive_evaluation` arms it regardless, and so fires every window).
- Windows close at their end time (`next_due()` is exact), not on a 5-second polling tick.
- Composite triggers are judged in event time: a child firing carries the time of the event
  (or window end) that made it fire, and `within` prunes by that time, not by when the
  server processed it.
- Firings resolve (see `RESOLUTION`).
"""

from __future__ import annotations

import heapq
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from automations import schemas
from automations.engine import metrics
from eventsui.events import schemas as event_schemas
from eventsui.events import serialization

# Prefect's PRECEDING_EVENT_LOOKBACK: how far back the first window of an `expect`-only
# trigger reaches, and how long an event waits for the event it follows.
PRECEDING_EVENT_LOOKBACK = timedelta(minutes=15)

# How long a Proactive key that fired waits for its events before it is forgotten (for_each
# keys) or reminded about (a trigger without for_each).
FORGET_AFTER = timedelta(days=7)

# Firings kept per step of a sequence (a step that fires again before the next step does).
SEQUENCE_HISTORY = 10

# Automations that fire on each other's `prefect.automation.*` events would fire forever (each
# event embedding the one before, so growing too): an automation event that is the end of a
# chain this long (this many state-change events, each triggered by the one before) counts for
# no automation. Prefect has no such guard (its users have looped: PrefectHQ/prefect#11470).
MAX_AUTOMATION_CHAIN = 8


def automation_chain(event: Any) -> int:
    """How many `prefect.automation.triggered` / `.resolved` events, each triggered by the next,
    end in this event (0 for any other event), read from their embedded triggering events."""
    depth = 0
    name = event.event
    payload = event.payload
    while name.startswith("prefect.automation.") and isinstance(payload, dict):
        depth += 1
        triggering = payload.get("triggering_event")
        if not isinstance(triggering, dict) or depth >= MAX_AUTOMATION_CHAIN:
            break
        name, payload = str(triggering.get("event", "")), triggering.get("payload")
    return depth


# Prefect's PREFECT_EVENTS_EXPIRED_BUCKET_BUFFER: how long a bucket of a window of 0 lives.
SWEEP_AFTER = timedelta(seconds=60)

TRIGGERED = "Triggered"
RESOLVED = "Resolved"

# The rule for when a firing resolves, in one place (the builder shows it in these words).
RESOLUTION = {
    "Proactive": (
        "Fires once when a window ends with fewer than {threshold} events; resolves when the "
        "expected events arrive again for the same bucket."
    ),
    "Reactive": "Resolves when a whole window of {within} passes with fewer than {threshold} events.",
    "immediate": "Never resolves: with a window of 0 every event fires on its own.",
    "composite": "Never resolves: compound and sequence triggers only fire.",
    "metric": (
        "Fires when the metric stays {operator} {threshold} for {firing_for} (evaluated "
        "every {interval} s over the last {range}); resolves when it stays otherwise, or has "
        "no runs, for as long. A run still running (duration) or still late (lateness) counts "
        "with its time so far; a run still in progress counts as a success so far. Inside a "
        "compound or sequence, a metric trigger is not evaluated."
    ),
}


def resolution_rules() -> list[tuple[str, str]]:
    """Every resolution rule, for the builder (which cannot know the final trigger)."""
    return [
        ("Reactive", RESOLUTION["Reactive"].format(within="the window", threshold="the threshold")),
        ("Proactive", RESOLUTION["Proactive"].format(threshold="the threshold")),
        ("Window of 0", RESOLUTION["immediate"]),
        ("Compound and sequence", RESOLUTION["composite"]),
        (
            "Metric",
            RESOLUTION["metric"].format(
                operator="past",
                threshold="its threshold",
                firing_for="firing for",
                range="range",
                interval=metrics.INTERVAL.seconds,
            ),
        ),
    ]


def resolution_rule(trigger: Any) -> str:
    """How a trigger's firings resolve, in words (the builder and the automation page)."""
    if isinstance(trigger, schemas.CompositeTrigger):
        return RESOLUTION["composite"]
    if isinstance(trigger, schemas.MetricTrigger):
        m = trigger.metric
        return RESOLUTION["metric"].format(
            operator=m.operator.value,
            threshold=f"{m.threshold:g}",
            firing_for=schemas.format_duration(m.firing_for),
            range=schemas.format_duration(m.range),
            interval=metrics.INTERVAL.seconds,
        )
    if trigger.posture == "Proactive":
        return RESOLUTION["Proactive"].format(threshold=trigger.threshold)
    if trigger.within == timedelta(0):
        return RESOLUTION["immediate"]
    return RESOLUTION["Reactive"].format(
        within=schemas.format_duration(trigger.within), threshold=trigger.threshold
    )


@dataclass
class Firing:
    """A trigger's state change for one bucket, at `occurred` (event time)."""

    trigger_id: UUID
    state: str
    occurred: datetime
    bucket: str = ""
    triggering_labels: dict[str, str] = field(default_factory=dict)
    triggering_event: dict | None = None  # ReceivedEvent, JSON-ready
    child_firings: list[dict] = field(default_factory=list)
    id: UUID = field(default_factory=uuid.uuid4)

    def as_child(self) -> dict:
        return {
            "id": str(self.id),
            "trigger_id": str(self.trigger_id),
            "occurred": self.occurred.isoformat(),
            "bucket": self.bucket,
            "triggering_labels": self.triggering_labels,
            "triggering_event": self.triggering_event,
            "child_firings": self.child_firings,
        }

    @classmethod
    def from_child(cls, data: dict) -> Firing:
        return cls(
            id=UUID(data["id"]),
            trigger_id=UUID(data["trigger_id"]),
            state=TRIGGERED,
            occurred=datetime.fromisoformat(data["occurred"]),
            bucket=data["bucket"],
            triggering_labels=data["triggering_labels"],
            triggering_event=data["triggering_event"],
            child_firings=data["child_firings"],
        )


def name_matches(pattern: str, name: str) -> bool:
    """Prefect's event-name match: exact, or a prefix when the pattern ends with `*`."""
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern


def find_resource_label(event: event_schemas.ReceivedEvent, label: str) -> str | None:
    """Prefect's `Event.find_resource_label`: `related:<role>:<label>` reads the first related
    resource in that role, any other label the primary resource."""
    directive, _, related_label = label.rpartition(":")
    directive, _, role = directive.partition(":")
    if directive == "related":
        for related in event.related:
            if related.root.get("prefect.resource.role") == role:
                return related.root.get(related_label)
    return event.resource.root.get(label)


def automation_resource_id(automation_id: UUID) -> str:
    return f"prefect.automation.{automation_id}"


def event_triggers(trigger: Any) -> Iterator[schemas.EventTrigger]:
    """Every event trigger in a trigger tree, depth first."""
    if isinstance(trigger, schemas.EventTrigger):
        yield trigger
    elif isinstance(trigger, schemas.CompositeTrigger):
        for child in trigger.triggers:
            yield from event_triggers(child)


def _event_stub(event: Any) -> dict | None:
    """What the stored state keeps of a bucket's last event: its id (and, for people, its
    name). A full event is up to 1.5 MB and a for_each trigger keeps a bucket per key; the
    live engine reads the whole event back from the store when a firing needs it
    (`is_stub`)."""
    if event is None:
        return None
    if isinstance(event, dict):
        if event.get("stub"):
            return event
        return {"stub": True, "id": event["id"], "event": event.get("event", "")}
    return {"stub": True, "id": str(event.id), "event": event.event}


def is_stub(event: dict | None) -> bool:
    return bool(event and event.get("stub"))


def _event_json(event: Any) -> dict | None:
    """A ReceivedEvent as JSON-ready data (events are kept as objects until needed)."""
    if event is None or isinstance(event, dict):
        return event
    return serialization.received_event_data(event)


def _iso(value: datetime) -> str:
    return value.isoformat()


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


class _EventTriggerRules:
    """One event trigger's matching rules, precomputed."""

    def __init__(self, trigger: schemas.EventTrigger) -> None:
        self.trigger = trigger
        self.id = trigger.id
        self.after = list(trigger.after)
        self.expect = list(trigger.expect)
        self.for_each = sorted(trigger.for_each)
        self.reactive = trigger.posture == "Reactive"
        self.within = trigger.within
        self.threshold = trigger.threshold
        self.immediate = self.reactive and self.within == timedelta(0)
        related = trigger.match_related
        self.match_related = related if isinstance(related, list) else [related]

    def starts_after(self, name: str) -> bool:
        return any(name_matches(p, name) for p in self.after)

    def expects(self, name: str) -> bool:
        return not self.expect or any(name_matches(p, name) for p in self.expect)

    def covers(self, event: event_schemas.ReceivedEvent) -> bool:
        name = event.event
        if self.expect and not (self.expects(name) or self.starts_after(name)):
            return False
        if not self.trigger.match.matches(event.resource):
            return False
        return all(spec.includes(event.related) for spec in self.match_related)

    def meets_threshold(self, count: int) -> bool:
        if self.reactive:
            return count >= self.threshold
        return count < self.threshold

    def key(self, event: event_schemas.ReceivedEvent) -> tuple[str, dict[str, str]]:
        labels = {label: find_resource_label(event, label) or "" for label in self.for_each}
        return json.dumps([labels[label] for label in self.for_each]), labels


class AutomationEvaluator:
    """Evaluates one automation's trigger. State layout (JSON):

    {"buckets": {trigger_id: {key: bucket}}, "children": {composite_id: [child firing]},
     "armed": bool}

    A bucket is {"start", "end", "count", "labels", "last_event", "triggered", "counting"}:
    `triggered` marks a key whose last firing has not resolved yet; a bucket with
    `counting: false` only waits to resolve (it counts no events).
    """

    def __init__(self, automation_id: UUID, trigger: Any, state: dict | None = None) -> None:
        self.automation_id = automation_id
        self.own_resource = automation_resource_id(automation_id)
        self.trigger = trigger
        self.rules = {t.id: _EventTriggerRules(t) for t in event_triggers(trigger)}
        self.parents: dict[UUID, Any] = {}
        self._index_parents(trigger, None)
        state = state or {}
        self.buckets: dict[str, dict[str, dict]] = state.get("buckets", {})
        self.children: dict[str, list[dict]] = state.get("children", {})
        self.armed: bool = state.get("armed", False)
        # The buckets by expiry, a heap built at the first `next_due()` and kept up to date by
        # every step after it (an entry whose bucket changed since is skipped when met), so
        # that replaying many events over many keys does not rescan every bucket per event.
        self._heap: list[tuple[datetime, int, str, str]] | None = None
        self._order = {str(t): i for i, t in enumerate(self.rules)}  # ties: trigger order

    def _index_parents(self, trigger: Any, parent: Any) -> None:
        self.parents[trigger.id] = parent
        if isinstance(trigger, schemas.CompositeTrigger):
            for child in trigger.triggers:
                self._index_parents(child, trigger)

    # -- the public steps ----------------------------------------------------------------------

    def dump_state(self) -> dict:
        for keys in self.buckets.values():
            for bucket in keys.values():
                bucket["last_event"] = _event_stub(bucket["last_event"])
        buckets = {tid: keys for tid, keys in self.buckets.items() if keys}
        children = {cid: firings for cid, firings in self.children.items() if firings}
        return {"buckets": buckets, "children": children, "armed": self.armed}

    def _ignores(self, event: event_schemas.ReceivedEvent) -> bool:
        """An automation never counts the events of its own firings (no self-loop), nor the
        end of a chain of automation events MAX_AUTOMATION_CHAIN long (no loop of several)."""
        if event.resource.root.get("prefect.resource.id") == self.own_resource:
            return True
        if event.event.startswith("prefect.automation.") and (
            automation_chain(event) >= MAX_AUTOMATION_CHAIN
        ):
            return True
        return False

    def dump_core(self) -> dict:
        """The state apart from the buckets (the live engine stores each bucket in its own
        row: `bucket_keys`, `dump_bucket`, `expires`)."""
        children = {cid: firings for cid, firings in self.children.items() if firings}
        return {"children": children, "armed": self.armed}

    def bucket_keys(self, event: event_schemas.ReceivedEvent) -> list[tuple[str, str]]:
        """The (trigger id, key) of every bucket that `on_event(event)` may read or write:
        only these need loading before it."""
        if self._ignores(event):
            return []
        return [
            (str(rules.id), rules.key(event)[0])
            for rules in self.rules.values()
            if rules.covers(event)
        ]

    @staticmethod
    def dump_bucket(bucket: dict) -> dict:
        bucket["last_event"] = _event_stub(bucket["last_event"])
        return bucket

    def expires(self, trigger_id: str, bucket: dict) -> datetime:
        """When the bucket must be looked at again without an event (the live timer)."""
        rules = self.rules.get(UUID(trigger_id))
        if rules is None:  # a trigger that no longer exists: sweep it at once
            return _time(bucket["end"])
        return self._expires(rules, bucket)

    def arm(self, now: datetime) -> None:
        """Open the windows that need no event: a Proactive trigger without `for_each` and
        without `after` expects its events from the moment it is armed."""
        if self.armed:
            return
        self.armed = True
        for rules in self.rules.values():
            if not rules.reactive and not rules.for_each and not rules.after:
                key, labels = json.dumps([]), {}
                self._buckets(rules).setdefault(
                    key, self._bucket(now, now + rules.within, 0, labels, None)
                )
                self._track(str(rules.id), key, None)

    def covers(self, event: event_schemas.ReceivedEvent) -> bool:
        if self._ignores(event):
            return False  # an automation never counts the events of its own firings
        return any(rules.covers(event) for rules in self.rules.values())

    def on_event(self, event: event_schemas.ReceivedEvent) -> list[Firing]:
        """Evaluate one event at its own time (Prefect's `reactive_evaluation`)."""
        if self._ignores(event):
            return []
        firings: list[Firing] = []
        for rules in self.rules.values():
            if rules.covers(event):
                tid, key = str(rules.id), rules.key(event)[0]
                before = self._expiry(tid, key)
                # The event object itself is kept (as a bucket's last event); it is turned
                # into JSON only when stored or fired (most counted events are neither).
                firings += self._react(rules, event, event)
                self._track(tid, key, before)
        return self._propagate(firings)

    def on_time(self, now: datetime) -> list[Firing]:
        """Close every window that ended by `now` (Prefect's proactive evaluation)."""
        firings: list[Firing] = []
        heap = self._due_heap()
        due: list[tuple[datetime, int, str, str]] = []
        seen: set[tuple[datetime, int, str, str]] = set()
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._expiry(entry[2], entry[3]) == entry[0] and entry not in seen:
                seen.add(entry)
                due.append(entry)
        # In order of expiry, then of the triggers, then of the windows' ends.
        due.sort(key=lambda e: (e[0], e[1], self.buckets[e[2]][e[3]]["end"]))
        for _, _, tid, key in due:
            rules = self.rules[UUID(tid)]
            buckets = self._buckets(rules)
            bucket = buckets[key]
            end = _time(bucket["end"])
            if rules.reactive:
                # A Reactive window that ends without an event is over: it resolves a
                # firing if it was the quiet window after one, and goes (an event opens the
                # next; Prefect sweeps such buckets too), so idle keys cost nothing.
                if bucket["triggered"] and not (
                    bucket["counting"] and rules.meets_threshold(bucket["count"])
                ):
                    firings.append(self._firing(rules, key, bucket, RESOLVED, end, None))
                del buckets[key]
                continue
            firings += self._evaluate(rules, key, bucket, end, None, None)
            self._track(tid, key, None)
        return self._propagate(firings)

    def next_due(self) -> datetime | None:
        """When `on_time` has something to do next: the earliest window end."""
        heap = self._due_heap()
        while heap:
            at, _, tid, key = heap[0]
            if self._expiry(tid, key) == at:
                return at
            heapq.heappop(heap)  # its bucket changed or went since
        return None

    def _expiry(self, tid: str, key: str) -> datetime | None:
        """When the bucket of trigger `tid` and `key` expires (None: no such bucket, or one
        of a trigger that no longer exists, which never closes)."""
        bucket = self.buckets.get(tid, {}).get(key)
        rules = self.rules.get(UUID(tid)) if bucket is not None else None
        return None if rules is None else self._expires(rules, bucket)

    def _due_heap(self) -> list[tuple[datetime, int, str, str]]:
        if self._heap is None:
            self._heap = []
            for tid, keys in self.buckets.items():
                for key in keys:
                    self._track(tid, key, None)
        return self._heap

    def _track(self, tid: str, key: str, before: datetime | None) -> None:
        """Note the bucket's expiry in the heap, if the heap exists and it changed."""
        if self._heap is None:
            return
        at = self._expiry(tid, key)
        if at is not None and at != before:
            heapq.heappush(self._heap, (at, self._order.get(tid, 0), tid, key))

    @staticmethod
    def _expires(rules: _EventTriggerRules, bucket: dict) -> datetime:
        """When a bucket is closed: at its end, or for a window of 0 (whose count still adds
        up to the threshold, as Prefect's does) SWEEP_AFTER later, when Prefect's sweeper
        would drop it."""
        end = _time(bucket["end"])
        return end + SWEEP_AFTER if rules.within == timedelta(0) else end

    def open_buckets(self) -> list[dict]:
        """The open windows, for the automation page."""
        out = []
        for tid, keys in self.buckets.items():
            for bucket in keys.values():
                out.append({"trigger_id": tid, **bucket})
        return sorted(out, key=lambda b: b["end"])

    # -- event triggers ------------------------------------------------------------------------

    def _buckets(self, rules: _EventTriggerRules) -> dict[str, dict]:
        return self.buckets.setdefault(str(rules.id), {})

    def _bucket(
        self, start, end, count, labels, last_event, *, triggered=False, counting=True
    ) -> dict:
        return {
            "start": _iso(start),
            "end": _iso(end),
            "count": count,
            "labels": labels,
            "last_event": last_event,
            "triggered": triggered,
            "counting": counting,
        }

    def _react(self, rules: _EventTriggerRules, event, event_json: dict) -> list[Firing]:
        key, labels = rules.key(event)
        buckets = self._buckets(rules)
        occurred = event.occurred
        bucket = None
        firings: list[Firing] = []
        if rules.after and rules.starts_after(event.event):
            existing = buckets.get(key)
            if existing is None or not existing["counting"]:
                # A bucket that only waits to resolve gives way to a counting one; the key
                # stays triggered until that one resolves it.
                initial = -1 if rules.expects(event.event) else 0
                triggered = bool(existing and existing["triggered"])
                buckets[key] = self._bucket(
                    occurred,
                    occurred + rules.within,
                    initial,
                    labels,
                    event_json,
                    triggered=triggered,
                )
            else:
                existing["last_event"] = event_json
            bucket = buckets[key]
        if bucket is None and not rules.after and rules.expects(event.event):
            if key not in buckets:
                buckets[key] = self._bucket(
                    occurred - PRECEDING_EVENT_LOOKBACK,
                    occurred + rules.within,
                    0,
                    labels,
                    event_json,
                )
            bucket = buckets[key]
        if not rules.expects(event.event):
            return firings
        if bucket is None:
            bucket = buckets.get(key)
            if bucket is None:
                return firings
        if not bucket["counting"]:
            if rules.reactive:
                return firings  # an `after` trigger counts nothing until an `after` event
            # Proactive: the key fired and waits; its expected events arrived again.
            firings.append(self._firing(rules, key, bucket, RESOLVED, occurred, event_json))
            if rules.after:
                del buckets[key]  # the next window needs an `after` event
                return firings
            bucket = buckets[key] = self._bucket(
                occurred, occurred + rules.within, 0, bucket["labels"], event_json
            )
        return firings + self._evaluate(rules, key, bucket, occurred, event, event_json)

    def _evaluate(
        self, rules: _EventTriggerRules, key: str, bucket: dict, now: datetime, event, event_json
    ) -> list[Firing]:
        """Prefect's `evaluate`, on one bucket, plus resolution."""
        buckets = self._buckets(rules)
        firings: list[Firing] = []
        count = 1 if event is not None else 0
        start, end = _time(bucket["start"]), _time(bucket["end"])
        if now < start:
            return firings  # a late event for a window already spent: ignored, as Prefect does
        if not bucket["counting"]:
            if end <= now:
                del buckets[key]
                if rules.reactive:  # a quiet window after a Reactive firing: resolved
                    firings.append(self._firing(rules, key, bucket, RESOLVED, end, None))
                elif not rules.after and not rules.for_each:
                    # Proactive, silent for FORGET_AFTER: remind, one window later.
                    buckets[key] = self._bucket(end, end + rules.within, 0, bucket["labels"], None)
                # (A silent for_each key is forgotten: its resource is most likely gone.)
            return firings
        if count and (rules.immediate or start <= now < end):
            bucket["count"] += count
            bucket["last_event"] = event_json
            count = 0
        meets = rules.meets_threshold(bucket["count"])
        ready = rules.reactive or end <= now
        fired = False
        if ready and meets:
            at = now if rules.reactive else end
            firings.append(
                self._firing(rules, key, bucket, TRIGGERED, at, event_json or bucket["last_event"])
            )
            fired = True
        elif now < end:
            if (
                event is not None
                and not rules.reactive
                and not meets
                and rules.starts_after(event.event)
                and rules.expects(event.event)
            ):
                # Prefect's special case (heartbeats): the proactive threshold is reached, so
                # the window restarts from this event.
                buckets[key] = self._bucket(
                    event.occurred,
                    event.occurred + rules.within,
                    0,
                    bucket["labels"],
                    event_json,
                    triggered=False,
                )
                if bucket["triggered"]:
                    firings.append(
                        self._firing(rules, key, bucket, RESOLVED, event.occurred, event_json)
                    )
                return firings
            if not rules.reactive and not meets and bucket["triggered"]:
                # Proactive: the expected events arrived again.
                firings.append(self._firing(rules, key, bucket, RESOLVED, now, event_json))
                bucket["triggered"] = False
            return firings
        elif bucket["triggered"] and rules.reactive:
            # Reactive: a whole window passed below the threshold.
            firings.append(self._firing(rules, key, bucket, RESOLVED, end, None))
            bucket["triggered"] = False

        if fired and not rules.reactive:
            # Proactive: alert once, then wait for the expected events to resolve it rather
            # than firing again every window (Prefect fires every window while silent).
            buckets[key] = self._bucket(
                end, end + FORGET_AFTER, 0, bucket["labels"], None, triggered=True, counting=False
            )
            return firings
        # Outside the window, or fired: the next window.
        triggered = (fired or bucket["triggered"]) and not rules.immediate
        if rules.after:
            del buckets[key]
            if fired and rules.within > timedelta(0):
                # Reactive: wait one window; if no `after` event opens another, it resolves.
                wait_from = max(end, now)
                buckets[key] = self._bucket(
                    wait_from,
                    wait_from + rules.within,
                    0,
                    bucket["labels"],
                    None,
                    triggered=True,
                    counting=False,
                )
            return firings
        if rules.within == timedelta(0):
            if fired:  # a window of 0 counts from scratch after each firing
                buckets.pop(key, None)
            return firings
        next_start = max(end, now)
        next_end = next_start + rules.within
        if rules.reactive and count > 0:
            buckets[key] = self._bucket(
                next_start, next_end, 0, bucket["labels"], None, triggered=triggered
            )
            return firings + self._evaluate(rules, key, buckets[key], now, event, event_json)
        buckets[key] = self._bucket(
            next_start, next_end, count, bucket["labels"], None, triggered=triggered
        )
        return firings

    def _firing(self, rules, key, bucket, state, occurred, event_json) -> Firing:
        return Firing(
            trigger_id=rules.id,
            state=state,
            occurred=occurred,
            bucket=key,
            triggering_labels=dict(bucket["labels"]),
            triggering_event=_event_json(event_json),
        )

    # -- composites ----------------------------------------------------------------------------

    def _propagate(self, firings: list[Firing]) -> list[Firing]:
        """Pass each child firing up its composite parents; return the automation's own."""
        out: list[Firing] = []
        for firing in firings:
            out += self._up(firing)
        return out

    def _up(self, firing: Firing) -> list[Firing]:
        parent = self.parents.get(firing.trigger_id)
        if parent is None:
            return [firing]  # the automation's trigger itself
        if firing.state != TRIGGERED:
            return []  # composites never resolve: a child's resolution changes nothing
        if isinstance(parent, schemas.CompoundTrigger):
            needed = {"any": 1, "all": len(parent.triggers)}.get(parent.require, parent.require)
        else:
            needed = len(parent.triggers)
        if needed == 1:
            return self._up(self._composite_firing(parent, firing, [firing]))
        stored = self.children.setdefault(str(parent.id), [])
        if parent.within is not None:
            # Event time, both ways: a late child firing from long ago does not pair with a
            # recent one either.
            stored[:] = [
                c for c in stored if abs(_time(c["occurred"]) - firing.occurred) <= parent.within
            ]
        if isinstance(parent, schemas.CompoundTrigger):
            # Prefect's upsert: the latest firing of each child counts.
            stored[:] = [c for c in stored if c["trigger_id"] != str(firing.trigger_id)]
            stored.append(firing.as_child())
            child_firings = [Firing.from_child(c) for c in stored]
            ready = len(child_firings) >= needed
        else:
            # A sequence keeps a few recent firings per step and fires when one of each, in
            # the declared order of event time, comes from distinct events: one event is one
            # step (Prefect's xfail test_sequence_with_two_identical_steps passes here).
            same = [c for c in stored if c["trigger_id"] == str(firing.trigger_id)]
            if len(same) >= SEQUENCE_HISTORY:
                stored.remove(same[0])
            stored.append(firing.as_child())
            child_firings = _sequence_chain(parent, [Firing.from_child(c) for c in stored])
            ready = child_firings is not None
        if not ready:
            return []
        stored.clear()
        return self._up(self._composite_firing(parent, firing, child_firings))

    @staticmethod
    def _composite_firing(parent, firing: Firing, child_firings: list[Firing]) -> Firing:
        return Firing(
            trigger_id=parent.id,
            state=TRIGGERED,
            occurred=firing.occurred,
            bucket=firing.bucket,
            triggering_labels=dict(firing.triggering_labels),
            triggering_event=firing.triggering_event,
            child_firings=[c.as_child() for c in child_firings],
        )


def _sequence_chain(parent: Any, firings: list[Firing]) -> list[Firing] | None:
    """One firing per step, in step order, each no earlier than the one before and from an
    event none of the others used (the earliest such chain), or None."""
    chain: list[Firing] = []
    used: set[str] = set()
    after: datetime | None = None
    for step in parent.triggers:
        candidates = sorted(
            (
                f
                for f in firings
                if f.trigger_id == step.id
                and (after is None or f.occurred >= after)
                and (f.triggering_event or {}).get("id") not in used
            ),
            key=lambda f: f.occurred,
        )
        if not candidates:
            return None
        chosen = candidates[0]
        chain.append(chosen)
        if chosen.triggering_event:
            used.add(chosen.triggering_event["id"])
        after = chosen.occurred
    return chain


def advance(evaluator: AutomationEvaluator, now: datetime) -> list[Firing]:
    """Close, in time order, every window that ends by `now` (windows that a closing window
    opens included): what a perfectly punctual timer would have done up to `now`."""
    firings: list[Firing] = []
    while True:
        due = evaluator.next_due()  # the top of a heap: no scan of the buckets
        if due is None or due > now:
            return firings
        firings += evaluator.on_time(due)
        if evaluator.next_due() == due:  # pragma: no cover - a window never reopens at its end
            return firings


def replay(
    evaluator: AutomationEvaluator,
    events: list[event_schemas.ReceivedEvent],
    since: datetime,
    until: datetime,
) -> list[Firing]:
    """The evaluator over events in event time (the backtest and the scenario tests): windows
    close at their end times between events; windows still open at `until` do not fire."""
    evaluator.arm(since)
    firings: list[Firing] = []
    for event in events:
        firings += advance(evaluator, event.occurred)
        firings += evaluator.on_event(event)
    firings += advance(evaluator, until)
    return firings
