"""The live engine: every stored event evaluated once against the enabled automations that
could cover it, windows closed on time, firings stored, Prefect's events emitted.

Work arrives as `EventBatch` rows, written by ingest in the transaction that stores the
events. One step (`Engine.run_once`) claims the oldest batches, locks the state rows of the
automations their events could concern, evaluates, stores the new state, the firings and the
`prefect.automation.triggered` / `.resolved` events (through `ingest_events`, so they reach
the feed and other automations), and deletes the batches, all in one transaction. Killed at
any point, the transaction rolls back and the batches are claimed again: no event is missed,
none is evaluated twice.

Several engines share the work on PostgreSQL: batches are claimed with `FOR UPDATE SKIP
LOCKED` (each engine takes different ones), and an automation's state row is locked
(`FOR UPDATE`, in id order, so two engines never deadlock) while it is evaluated, so two
engines never evaluate one automation at once. On SQLite one engine runs (its writes are
serialized by the database anyway).

State: each open window (one bucket of one event trigger for one `for_each` key) is its own
`EngineBucket` row, found by a hash of automation, trigger and key; a step loads only the
buckets its events fall in (`AutomationEvaluator.bucket_keys`) and writes back only those that
changed, so its cost follows the events, not the size of the automations' state. The rest of
an automation's state (child firings of composites) is small and stays on its state row.

The timer: each bucket row keeps `expires`, when its window closes. A step also closes every
window due by the engine's clock: the wall clock minus the engine's lag (the age of the oldest
batch still waiting), so a busy engine does not fire a Proactive trigger whose expected event
is already stored but not yet evaluated.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Count, Max, Q

from automations.actions.enqueue import enqueue_actions
from automations.engine import evaluator as ev
from automations.engine import metric_engine
from automations.engine.models import AutomationState, EngineBucket, Firing, HeldEvent
from automations.models import Automation
from eventsui.events import schemas as event_schemas
from eventsui.events import serialization
from eventsui.events import services as event_services
from eventsui.events.models import Event, EventBatch

logger = logging.getLogger(__name__)

BATCHES_PER_STEP = 20  # at most this many ingest batches per transaction...
EVENTS_PER_STEP = 5000  # ...and about this many events
DUE_PER_STEP = 200  # automations whose windows close, per step...
DUE_BUCKETS_PER_STEP = 5000  # ...and at most this many of their buckets
HASHES_PER_QUERY = 2000  # bucket rows looked up per query
IDLE_SLEEP_SECONDS = 0.1
# Windows close this long after their end: an ingest transaction still open (its batch not
# visible yet, so not counted in the lag) may hold the event that satisfies one.
CLOSE_GRACE = timedelta(seconds=1)


def trigger_hash(trigger: dict) -> str:
    return hashlib.sha256(json.dumps(trigger, sort_keys=True).encode()).hexdigest()


def bucket_hash(automation_id: UUID, trigger_id: str, key: str) -> str:
    return hashlib.sha256(f"{automation_id}|{trigger_id}|{key}".encode()).hexdigest()


class BucketStore:
    """The bucket rows of one step: loaded by key before evaluating, written back after
    (inserted, updated where changed, deleted where the evaluator dropped them)."""

    def __init__(self, stats: dict[str, int]) -> None:
        self.loaded: dict[UUID, dict[str, EngineBucket]] = {}
        self.stats = stats

    def load(self, wanted: dict[UUID, set[tuple[str, str]]]) -> None:
        hashes = sorted({bucket_hash(a, t, k) for a, keys in wanted.items() for t, k in keys})
        for start in range(0, len(hashes), HASHES_PER_QUERY):
            chunk = hashes[start : start + HASHES_PER_QUERY]
            self.add(EngineBucket.objects.filter(key_hash__in=chunk))

    def add(self, rows) -> None:
        for row in rows:
            self.loaded.setdefault(row.automation_id, {})[row.key_hash] = row
            self.stats["buckets_read"] += 1

    def buckets(self, automation_id: UUID) -> dict[str, dict[str, dict]]:
        out: dict[str, dict[str, dict]] = {}
        for row in self.loaded.get(automation_id, {}).values():
            # A copy: the evaluator changes its buckets in place, and `save` compares them
            # with what was read.
            out.setdefault(str(row.trigger_id), {})[row.key] = copy.deepcopy(row.data)
        return out

    def save(self, evaluators: dict[UUID, ev.AutomationEvaluator]) -> None:
        upserts: list[EngineBucket] = []
        gone: list[int] = []
        for automation_id, evaluator in evaluators.items():
            before = self.loaded.get(automation_id, {})
            present = set()
            for trigger_id, keys in evaluator.buckets.items():
                for key, bucket in keys.items():
                    digest = bucket_hash(automation_id, trigger_id, key)
                    present.add(digest)
                    data = evaluator.dump_bucket(bucket)
                    expires = evaluator.expires(trigger_id, bucket)
                    old = before.get(digest)
                    if old is not None and old.data == data and old.expires == expires:
                        continue
                    upserts.append(
                        EngineBucket(
                            automation_id=automation_id,
                            trigger_id=trigger_id,
                            key_hash=digest,
                            key=key,
                            data=data,
                            expires=expires,
                        )
                    )
            gone += [row.id for digest, row in before.items() if digest not in present]
        self.stats["buckets_written"] += len(upserts) + len(gone)
        if gone:
            EngineBucket.objects.filter(id__in=gone).delete()
        if upserts:
            EngineBucket.objects.bulk_create(
                upserts,
                update_conflicts=True,
                unique_fields=["key_hash"],
                update_fields=["data", "expires"],
            )


@dataclass
class Loaded:
    """One enabled automation, as the engine holds it."""

    id: UUID
    name: str
    trigger: object
    hash: str
    core: object
    names: list[str] = field(default_factory=list)  # expect + after; empty: any event

    def evaluator(self, state: dict | None) -> ev.AutomationEvaluator:
        return ev.AutomationEvaluator(self.id, self.trigger, state)


class AutomationIndex:
    """Enabled automations by the event names they could cover, so that an event costs only
    the automations that could match it (Prefect's `_triggers_by_expect`). Exact names are a
    dict lookup and prefixes (`prefect.flow-run.*`) one lookup per prefix of the event name,
    so the cost does not grow with the number of automations that cannot match."""

    def __init__(self, automations: list[Loaded]) -> None:
        self.by_id = {a.id: a for a in automations}
        self.exact: dict[str, set[UUID]] = {}
        self.prefixes: dict[str, set[UUID]] = {}
        self.any: set[UUID] = set()
        self.prefix_lengths: set[int] = set()
        for automation in automations:
            names = set()
            for trig in ev.event_triggers(automation.trigger):
                if not trig.expect:
                    names = None
                    break
                names.update(trig.expect)
                names.update(trig.after)
            if names is None:
                self.any.add(automation.id)
                continue
            for name in names:
                if name.endswith("*"):
                    prefix = name[:-1]
                    self.prefixes.setdefault(prefix, set()).add(automation.id)
                    self.prefix_lengths.add(len(prefix))
                else:
                    self.exact.setdefault(name, set()).add(automation.id)

    def candidates(self, event_name: str) -> set[UUID]:
        found = set(self.any)
        found |= self.exact.get(event_name, set())
        for length in self.prefix_lengths:
            if length <= len(event_name):
                found |= self.prefixes.get(event_name[:length], set())
        return found


def state_change_event(
    automation: Loaded, firing: ev.Firing, trigger: object
) -> event_schemas.Event:
    """Prefect's `create_automation_state_change_event`: `prefect.automation.triggered` or
    `.resolved`, about the automation, related to the triggering event."""
    resource = {
        "prefect.resource.id": ev.automation_resource_id(automation.id),
        "prefect.resource.name": automation.name,
        "prefect.trigger-type": getattr(trigger, "type", ""),
    }
    posture = getattr(trigger, "posture", None)
    if posture:
        resource["prefect.posture"] = posture
    triggering = firing.triggering_event
    related = (
        [
            {
                "prefect.resource.id": f"prefect.event.{triggering['id']}",
                "prefect.resource.role": "triggering-event",
            }
        ]
        if triggering
        else []
    )
    return event_schemas.Event.model_validate(
        {
            "id": str(uuid.uuid4()),
            "occurred": firing.occurred,
            "event": f"prefect.automation.{firing.state.lower()}",
            "resource": resource,
            "related": related,
            "payload": {
                "triggering_labels": firing.triggering_labels,
                "triggering_event": triggering,
            },
        }
    )


class StaleIndex(Exception):
    """Another engine armed a version of an automation this engine has not loaded: the step
    rolls back, the engine reloads, and the batches are taken again."""


class Engine:
    """One engine worker. `run_once()` does one step and says whether it found work."""

    def __init__(self, *, now: Callable[[], datetime] = event_schemas.now_utc) -> None:
        self.now = now
        self.index = AutomationIndex([])
        self._signature: tuple | None = None
        self.stats = {
            "events": 0,
            "firings": 0,
            "batches": 0,
            "buckets_read": 0,
            "buckets_written": 0,
        }

    # -- automations ---------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Reload the enabled automations when any was saved, enabled, disabled or deleted.
        Looked at before every step (one small aggregate query), so a change takes effect
        at the next step, and an engine never evaluates with an index older than one step."""
        signature = tuple(
            Automation.objects.aggregate(
                count=Count("id"),
                enabled=Count("id", filter=Q(enabled=True)),
                updated=Max("updated"),
            ).values()
        )
        if signature == self._signature and not force:
            return
        loaded = []
        for automation in Automation.objects.filter(enabled=True):
            try:
                core = automation.to_schema()
            except Exception:  # a row the schema no longer accepts: skip it, loudly
                logger.exception("automation %s cannot be loaded", automation.id)
                continue
            loaded.append(
                Loaded(
                    id=automation.id,
                    name=automation.name,
                    trigger=core.trigger,
                    hash=trigger_hash(automation.trigger),
                    core=core,
                )
            )
        loaded = self._arm_new(loaded)
        self.index = AutomationIndex(loaded)
        self._signature = signature  # only once armed: a failed arming is tried again

    def _arm_new(self, loaded: list[Loaded]) -> list[Loaded]:
        """Give every enabled automation a state row (armed now), reset rows whose trigger
        changed, and forget disabled or deleted ones (Prefect's `forget_automation`).
        Returns the automations that have their state (one that cannot be armed is left
        out, loudly, rather than holding up the others)."""
        now = self.now()
        with transaction.atomic():
            # State rows first (their row locks wait for an engine evaluating them), then
            # their buckets, so that no step still running writes buckets back afterwards.
            AutomationState.objects.exclude(automation_id__in=[a.id for a in loaded]).delete()
            EngineBucket.objects.exclude(automation_id__in=[a.id for a in loaded]).delete()
            existing = dict(
                AutomationState.objects.filter(
                    automation_id__in=[a.id for a in loaded]
                ).values_list("automation_id", "trigger_hash")
            )
            stale = [a for a in loaded if existing.get(a.id) != a.hash]
            if not stale:
                return loaded
            rows = []
            failed: set[UUID] = set()
            armed: dict[UUID, ev.AutomationEvaluator] = {}
            for automation in stale:
                evaluator = automation.evaluator(None)
                try:
                    evaluator.arm(now)
                except Exception:  # one automation never stops the others
                    logger.exception("automation %s cannot be armed", automation.id)
                    failed.add(automation.id)
                    continue
                armed[automation.id] = evaluator
                rows.append(
                    AutomationState(
                        automation_id=automation.id,
                        trigger_hash=automation.hash,
                        state=evaluator.dump_core(),
                    )
                )
            ids = [r.automation_id for r in rows]
            AutomationState.objects.filter(automation_id__in=ids).delete()
            EngineBucket.objects.filter(automation_id__in=ids).delete()
            AutomationState.objects.bulk_create(rows, ignore_conflicts=True)
            BucketStore(self.stats).save(armed)
        return [a for a in loaded if a.id not in failed]

    # -- one step ------------------------------------------------------------------------------

    def run_once(self) -> bool:
        self.refresh()
        try:
            did = self.process_batches()
        except StaleIndex:
            self.refresh(force=True)
            return True
        did = self.process_due() or did
        did = self.process_metrics() or did
        return did

    def process_metrics(self) -> bool:
        """Evaluate the metric triggers whose time has come (`metric_engine.process`)."""
        return metric_engine.process(self)

    def lag(self) -> timedelta:
        """How far behind the engine is: the age of the oldest batch still waiting."""
        oldest = EventBatch.objects.order_by("id").values_list("created", flat=True).first()
        if oldest is None:
            return timedelta(0)
        return max(timedelta(0), self.now() - oldest)

    def clock(self) -> datetime:
        """The time up to which windows may close: wall clock, minus the engine's lag, minus
        CLOSE_GRACE for transactions that have not committed yet."""
        return self.now() - self.lag() - CLOSE_GRACE

    def sleep_seconds(self) -> float:
        """How long an idle engine may sleep: until the next window closes, at most
        IDLE_SLEEP_SECONDS (new batches are found by looking)."""
        due = EngineBucket.objects.order_by("expires").values_list("expires", flat=True).first()
        if due is None:
            return IDLE_SLEEP_SECONDS
        wait = (due + CLOSE_GRACE - self.now()).total_seconds()
        return max(0.0, min(IDLE_SLEEP_SECONDS, wait))

    def _claim(self, queryset):
        if connection.features.has_select_for_update_skip_locked:
            return queryset.select_for_update(skip_locked=True)
        return queryset

    def process_batches(self) -> bool:
        with transaction.atomic():
            batches = []
            total = 0
            for batch in self._claim(EventBatch.objects.order_by("id"))[:BATCHES_PER_STEP]:
                batches.append(batch)
                total += len(batch.event_ids)
                if total >= EVENTS_PER_STEP:
                    break
            if not batches:
                return False
            ids = [UUID(i) for batch in batches for i in batch.event_ids]
            # Names first: only events some enabled automation could cover are read whole
            # (with no automation at all, a batch costs two small queries).
            wanted = [
                event_id
                for event_id, name in Event.objects.filter(id__in=ids).values_list("id", "event")
                if self.index.candidates(name)
            ]
            events = [e.to_schema() for e in Event.objects.filter(id__in=wanted)] if wanted else []
            events.sort(key=lambda e: (e.occurred, str(e.id)))
            ready = self._hold_followers(events, newest=max(b.created for b in batches))
            ready += self._released_followers(ids)
            self._evaluate(ready)
            self.stats["events"] += len(ids) - len(events)
            EventBatch.objects.filter(id__in=[b.id for b in batches]).delete()
            self.stats["batches"] += len(batches)
        return True

    def process_due(self) -> bool:
        """Close the windows due by the engine's clock; release followers that waited long
        enough for their leader (Prefect's `get_lost_followers`)."""
        clock = self.clock()
        did = False
        with transaction.atomic():
            held = list(
                self._claim(
                    HeldEvent.objects.filter(release_at__lte=self.now()).order_by("release_at")
                )[:1000]
            )
            if held:
                did = True
                HeldEvent.objects.filter(event_id__in=[h.event_id for h in held]).delete()
                events = [
                    e.to_schema() for e in Event.objects.filter(id__in=[h.event_id for h in held])
                ]
                events.sort(key=lambda e: e.occurred)
                self._evaluate(events + self._released_followers([e.id for e in events]))
        with transaction.atomic():
            due_ids = list(
                EngineBucket.objects.filter(
                    expires__lte=clock, automation_id__in=list(self.index.by_id)
                )
                .values_list("automation_id", flat=True)
                .distinct()[:DUE_PER_STEP]
            )
            if not due_ids:
                return did
            states = list(
                self._claim(
                    AutomationState.objects.filter(automation_id__in=due_ids).order_by(
                        "automation_id"
                    )
                )
            )
            store = BucketStore(self.stats)
            store.add(
                EngineBucket.objects.filter(
                    automation_id__in=[s.automation_id for s in states], expires__lte=clock
                ).order_by("expires")[:DUE_BUCKETS_PER_STEP]
            )
            firings: list[tuple[Loaded, ev.Firing]] = []
            evaluators: dict[UUID, ev.AutomationEvaluator] = {}
            changed = []
            for state in states:
                automation = self.index.by_id.get(state.automation_id)
                if automation is None or state.trigger_hash != automation.hash:
                    continue  # changed meanwhile: the next refresh() deals with it
                evaluator = automation.evaluator(
                    {**state.state, "buckets": store.buckets(automation.id)}
                )
                try:
                    found = ev.advance(evaluator, clock)
                except Exception:  # one automation never stops the others
                    logger.exception("automation %s: closing its windows failed", automation.id)
                    # Its due buckets go, so they are not retried every step; it waits
                    # for its next event.
                    evaluator.buckets = {}
                    evaluators[automation.id] = evaluator
                    continue
                firings += [(automation, firing) for firing in found]
                evaluators[automation.id] = evaluator
                core = evaluator.dump_core()
                if core != state.state:
                    state.state = core
                    changed.append(state)
            store.save(evaluators)
            AutomationState.objects.bulk_update(changed, ["state", "updated"])
            self._store_firings(firings)
        return True

    # -- evaluation ----------------------------------------------------------------------------

    def _evaluate(self, events: list[event_schemas.ReceivedEvent]) -> None:
        """Evaluate events (in order) against the automations that could cover them."""
        if not events:
            return
        plan: list[tuple[event_schemas.ReceivedEvent, list[UUID]]] = []
        touched: set[UUID] = set()
        for event in events:
            ids = sorted(self.index.candidates(event.event))
            if ids:
                plan.append((event, ids))
                touched.update(ids)
        self.stats["events"] += len(events)
        if not touched:
            return
        states = {
            s.automation_id: s
            for s in AutomationState.objects.select_for_update()
            .filter(automation_id__in=sorted(touched))
            .order_by("automation_id")
        }
        evaluators: dict[UUID, ev.AutomationEvaluator] = {}
        broken: set[UUID] = set()
        for automation_id in touched:
            automation = self.index.by_id[automation_id]
            state = states.get(automation_id)
            if state is None or state.trigger_hash != automation.hash:
                # Another engine armed a newer version (or this one's arming failed):
                # evaluating without it would lose this event for it.
                raise StaleIndex(automation_id)
            evaluators[automation_id] = automation.evaluator(state.state)
        # The buckets these events fall in, read in a few queries before evaluating.
        wanted: dict[UUID, set[tuple[str, str]]] = {}
        for event, ids in plan:
            for automation_id in ids:
                if automation_id in broken:
                    continue
                try:
                    keys = evaluators[automation_id].bucket_keys(event)
                except Exception:  # one automation never stops the others
                    logger.exception("automation %s: keying %s failed", automation_id, event.id)
                    broken.add(automation_id)
                    continue
                wanted.setdefault(automation_id, set()).update(keys)
        for automation_id in broken:
            evaluators.pop(automation_id, None)
        store = BucketStore(self.stats)
        store.load(wanted)
        for automation_id, evaluator in evaluators.items():
            evaluator.buckets = store.buckets(automation_id)
        firings: list[tuple[Loaded, ev.Firing]] = []
        for event, ids in plan:
            for automation_id in ids:
                automation = self.index.by_id[automation_id]
                if automation_id in broken:
                    continue
                evaluator = evaluators[automation_id]
                try:
                    found = evaluator.on_event(event)
                except Exception:  # one automation never stops the others
                    logger.exception("automation %s: evaluating %s failed", automation_id, event.id)
                    broken.add(automation_id)
                    evaluators.pop(automation_id, None)
                    continue
                firings += [(automation, firing) for firing in found]
        changed = []
        for automation_id, evaluator in evaluators.items():
            state = states[automation_id]
            core = evaluator.dump_core()
            if core != state.state:
                state.state = core
                changed.append(state)
        store.save(evaluators)
        AutomationState.objects.bulk_update(changed, ["state", "updated"])
        self._store_firings(firings)

    def _store_firings(self, firings: list[tuple[Loaded, ev.Firing]]) -> None:
        if not firings:
            return
        complete_events([firing for _, firing in firings])
        rows, emitted = [], []
        for automation, firing in firings:
            trigger = _find_trigger(automation.trigger, firing.trigger_id) or automation.trigger
            change = state_change_event(automation, firing, trigger)
            emitted.append(change)
            triggering = firing.triggering_event
            rows.append(
                Firing(
                    id=firing.id,
                    automation_id=automation.id,
                    trigger_id=firing.trigger_id,
                    state=firing.state,
                    occurred=firing.occurred,
                    bucket=firing.bucket,
                    triggering_labels=firing.triggering_labels,
                    triggering_event_id=UUID(triggering["id"]) if triggering else None,
                    triggering_event=triggering,
                    child_firings=firing.child_firings,
                    event_id=change.id,
                )
            )
            logger.info(
                "automation %s (%s) %s at %s%s",
                automation.id,
                automation.name,
                firing.state.lower(),
                firing.occurred.isoformat(),
                f" for {firing.triggering_labels}" if firing.triggering_labels else "",
            )
        Firing.objects.bulk_create(rows)
        enqueue_actions(rows)  # their actions' jobs, in this transaction (automations/actions)
        event_services.ingest_events(emitted)
        self.stats["firings"] += len(rows)

    # -- causal ordering -----------------------------------------------------------------------

    def _hold_followers(
        self, events: list[event_schemas.ReceivedEvent], newest: datetime
    ) -> list[event_schemas.ReceivedEvent]:
        """Prefect's causal ordering: an event whose `follows` names an event not evaluated
        yet waits for it (up to PRECEDING_EVENT_LOOKBACK). Leaders in the same step are
        simply evaluated first."""
        followers = [e for e in events if e.follows is not None]
        if not followers:
            return events
        here = {e.id for e in events}
        by_id = {e.id: e for e in events}
        leaders = {e.follows for e in followers if e.follows not in here}
        unseen: set[UUID] = set()
        if leaders:
            # A stored leader received after the newest batch of this step sits in a batch
            # still waiting (batches are taken oldest first): not evaluated yet. Comparing
            # times avoids reading the waiting batches' ids, which a backlog makes large.
            received = dict(Event.objects.filter(id__in=leaders).values_list("id", "received"))
            unseen = leaders - received.keys()
            unseen |= {leader for leader, at in received.items() if at > newest}
            unseen |= set(
                HeldEvent.objects.filter(event_id__in=received).values_list("event_id", flat=True)
            )
        ordered: list[event_schemas.ReceivedEvent] = []
        placed: set[UUID] = set()
        held: list[event_schemas.ReceivedEvent] = []

        def place(event, chain=()):
            if event.id in placed or event.id in chain:
                return
            leader = event.follows
            if leader is not None and leader in by_id and leader not in placed:
                place(by_id[leader], (*chain, event.id))
            if leader is not None and (leader in unseen or leader in {h.id for h in held}):
                held.append(event)
            else:
                ordered.append(event)
            placed.add(event.id)

        for event in events:
            place(event)
        if held:
            release_at = self.now() + ev.PRECEDING_EVENT_LOOKBACK
            HeldEvent.objects.bulk_create(
                [
                    HeldEvent(event_id=e.id, leader_id=e.follows, release_at=release_at)
                    for e in held
                ],
                ignore_conflicts=True,
            )
        return ordered

    def _released_followers(self, leaders: list[UUID]) -> list[event_schemas.ReceivedEvent]:
        """Held events whose leader has now been evaluated (and theirs, in turn)."""
        released: list[event_schemas.ReceivedEvent] = []
        frontier = list(leaders)
        while frontier:
            held = list(self._claim(HeldEvent.objects.filter(leader_id__in=frontier)))
            if not held:
                break
            HeldEvent.objects.filter(event_id__in=[h.event_id for h in held]).delete()
            events = [
                e.to_schema() for e in Event.objects.filter(id__in=[h.event_id for h in held])
            ]
            events.sort(key=lambda e: e.occurred)
            released += events
            frontier = [e.id for e in events]
        return released


def complete_events(firings: list[ev.Firing]) -> None:
    """Replace the stubs the stored state keeps of last events (`evaluator.is_stub`) by the
    stored events, for the firings (and their child firings) about to be stored (or shown by
    the backtest, which reads events without their payloads)."""
    holders: list[tuple[dict, str]] = []

    def collect(owner: dict, key: str) -> None:
        if ev.is_stub(owner.get(key)):
            holders.append((owner, key))

    def walk_children(children: list[dict]) -> None:
        for child in children:
            collect(child, "triggering_event")
            walk_children(child.get("child_firings") or [])

    wrappers = []
    for firing in firings:
        wrapper = {"triggering_event": firing.triggering_event}
        wrappers.append((firing, wrapper))
        collect(wrapper, "triggering_event")
        walk_children(firing.child_firings)
    if not holders:
        return
    ids = {UUID(owner[key]["id"]) for owner, key in holders}
    stored = {
        str(e.id): json.loads(serialization.stored_event_json(e))
        for e in Event.objects.filter(id__in=ids)
    }
    for owner, key in holders:
        # An event trimmed by retention meanwhile stays a stub (its id and name).
        owner[key] = stored.get(owner[key]["id"], owner[key])
    for firing, wrapper in wrappers:
        firing.triggering_event = wrapper["triggering_event"]


def _find_trigger(trigger, trigger_id: UUID):
    if trigger.id == trigger_id:
        return trigger
    for child in getattr(trigger, "triggers", []) or []:
        found = _find_trigger(child, trigger_id)
        if found is not None:
            return found
    return None
