"""The live engine against the database: stored events in, firings and Prefect's events out."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from automations.engine.models import AutomationState, EngineBucket, Firing, HeldEvent
from automations.engine.worker import CLOSE_GRACE, AutomationIndex, Engine, Loaded
from eventsui.events.models import Event, EventBatch
from tests.automations.engine.conftest import drain, event_at, ingest, store_automation

pytestmark = pytest.mark.django_db

FAILED = {"type": "event", "expect": ["prefect.flow-run.Failed"], "threshold": 2, "within": 600}


def test_a_reactive_automation_fires_on_stored_events_and_emits_prefects_event(engine, clock):
    automation = store_automation(FAILED, name="Two failures")
    drain(engine)
    first = event_at(clock, "prefect.flow-run.Failed", 1, resource_id="prefect.flow-run.a")
    second = event_at(clock, "prefect.flow-run.Failed", 2, resource_id="prefect.flow-run.b")
    ingest(first, second)
    drain(engine)

    firing = Firing.objects.get()
    assert (firing.automation_id, firing.state) == (automation.id, "Triggered")
    assert str(firing.triggering_event_id) == second["id"]
    emitted = Event.objects.get(event="prefect.automation.triggered")
    assert emitted.id == firing.event_id
    assert emitted.resource == {
        "prefect.resource.id": f"prefect.automation.{automation.id}",
        "prefect.resource.name": "Two failures",
        "prefect.trigger-type": "event",
        "prefect.posture": "Reactive",
    }
    assert emitted.related == [
        {
            "prefect.resource.id": f"prefect.event.{second['id']}",
            "prefect.resource.role": "triggering-event",
        }
    ]
    assert emitted.payload["triggering_labels"] == {}
    assert emitted.payload["triggering_event"]["id"] == second["id"]
    assert not EventBatch.objects.exists(), "every batch evaluated and deleted"


def test_each_stored_event_is_evaluated_once(engine, clock):
    store_automation({**FAILED, "threshold": 1, "within": 0})
    drain(engine)
    ingest(event_at(clock, "prefect.flow-run.Failed", 1))
    drain(engine)
    drain(engine)  # nothing left: no second evaluation
    assert Firing.objects.count() == 1


def test_a_resent_event_counts_once(engine, clock):
    store_automation(FAILED)
    drain(engine)
    failed = event_at(clock, "prefect.flow-run.Failed", 1)
    ingest(failed)
    ingest(failed)  # the client resent it: the store ignores the duplicate id
    drain(engine)
    assert not Firing.objects.exists()


def test_an_automation_never_counts_its_own_events_but_others_may(engine, clock):
    watcher = store_automation(
        {"type": "event", "expect": ["prefect.automation.triggered"], "within": 0}, name="self"
    )
    store_automation({**FAILED, "threshold": 1, "within": 0}, name="failures")
    drain(engine)
    ingest(event_at(clock, "prefect.flow-run.Failed", 1))
    drain(engine)
    # "failures" fired once; "self" saw that event and fired once; it ignored its own event.
    assert Firing.objects.filter(automation__name="failures").count() == 1
    assert Firing.objects.filter(automation=watcher).count() == 1


def test_proactive_windows_fire_on_the_engines_clock(engine, clock):
    store_automation(
        {
            "type": "event",
            "expect": ["prefect.worker.heartbeat"],
            "posture": "Proactive",
            "threshold": 1,
            "within": 30,
        }
    )
    drain(engine)
    window = EngineBucket.objects.get()
    assert window.expires == clock() + timedelta(seconds=30)
    clock.advance(seconds=30)  # the window ends; it closes after CLOSE_GRACE
    drain(engine)
    assert not Firing.objects.exists()
    clock.advance(seconds=CLOSE_GRACE.total_seconds())
    drain(engine)
    firing = Firing.objects.get()
    assert firing.occurred == window.expires  # at the window's end, not on a polling tick
    assert Event.objects.filter(event="prefect.automation.triggered").count() == 1
    ingest(event_at(clock, "prefect.worker.heartbeat", 5))
    drain(engine)
    assert list(Firing.objects.order_by("occurred").values_list("state", flat=True)) == [
        "Triggered",
        "Resolved",
    ]
    assert Event.objects.filter(event="prefect.automation.resolved").count() == 1


def test_saving_disabling_and_deleting_take_effect_without_a_restart(engine, clock):
    automation = store_automation({**FAILED, "threshold": 1, "within": 0})
    drain(engine)
    automation.enabled = False
    automation.save()
    drain(engine)
    ingest(event_at(clock, "prefect.flow-run.Failed", 1))
    drain(engine)
    assert not Firing.objects.exists()
    assert not AutomationState.objects.exists(), "a disabled automation is forgotten"

    automation.enabled = True
    automation.save()
    drain(engine)
    ingest(event_at(clock, "prefect.flow-run.Failed", 2))
    drain(engine)
    assert Firing.objects.count() == 1

    automation.trigger = {**automation.trigger, "expect": ["prefect.flow-run.Crashed"]}
    automation.save()
    drain(engine)
    ingest(event_at(clock, "prefect.flow-run.Failed", 3))
    ingest(event_at(clock, "prefect.flow-run.Crashed", 4))
    drain(engine)
    assert Firing.objects.count() == 2
    assert Firing.objects.order_by("-occurred").first().triggering_event["event"] == (
        "prefect.flow-run.Crashed"
    )


def test_a_follower_waits_for_its_leader(engine, clock):
    """Prefect's causal ordering: `b` (which follows `a`) arrives first and waits until `a` has
    been evaluated; then both are, in order, and the sequence fires."""
    store_automation(
        {
            "type": "sequence",
            "within": 600,
            "triggers": [
                {"type": "event", "expect": ["x.a"], "within": 0},
                {"type": "event", "expect": ["x.b"], "within": 0},
            ],
        }
    )
    drain(engine)
    leader = event_at(clock, "x.a", 1)
    follower = event_at(clock, "x.b", 2, follows=leader["id"])
    ingest(follower)
    drain(engine)
    assert HeldEvent.objects.filter(event_id=follower["id"]).exists()
    ingest(leader)
    drain(engine)
    assert not HeldEvent.objects.exists()
    assert Firing.objects.count() == 1


def test_a_follower_whose_leader_never_comes_is_evaluated_after_fifteen_minutes(engine, clock):
    store_automation({"type": "event", "expect": ["x.b"], "within": 0})
    drain(engine)
    ingest(event_at(clock, "x.b", 1, follows=str(uuid.uuid4())))
    drain(engine)
    assert not Firing.objects.exists()
    clock.advance(minutes=15)
    drain(engine)
    assert Firing.objects.count() == 1


def test_an_event_costs_only_the_automations_that_could_cover_it():
    def loaded(expect):
        from automations import schemas

        trig = schemas.EventTrigger.model_validate({"type": "event", "expect": expect})
        return Loaded(id=uuid.uuid4(), name="a", trigger=trig, hash="", core=None)

    exact, prefix, anything, other = (
        loaded(["prefect.flow-run.Failed"]),
        loaded(["prefect.flow-run.*"]),
        loaded([]),
        loaded(["prefect.worker.*"]),
    )
    index = AutomationIndex([exact, prefix, anything, other])
    assert index.candidates("prefect.flow-run.Failed") == {exact.id, prefix.id, anything.id}
    assert index.candidates("prefect.worker.started") == {other.id, anything.id}
    assert index.candidates("hello") == {anything.id}


def test_a_failing_automation_row_does_not_stop_the_others(engine, clock):
    store_automation({**FAILED, "threshold": 1, "within": 0})
    broken = store_automation({**FAILED, "threshold": 1, "within": 0}, name="broken")
    from automations.models import Automation

    Automation.objects.filter(id=broken.id).update(trigger={"type": "nonsense"})
    drain(engine)
    ingest(event_at(clock, "prefect.flow-run.Failed", 1))
    drain(engine)
    assert Firing.objects.count() == 1


def test_engine_lag_holds_back_the_clock_while_batches_wait(clock):
    engine = Engine(now=clock)
    assert engine.lag().total_seconds() == 0
    ingest(event_at(clock, "x.y", 0), received=clock())
    clock.advance(seconds=5)
    assert engine.lag().total_seconds() == 5
    assert engine.clock() == clock() - engine.lag() - CLOSE_GRACE


def test_the_triggering_event_is_embedded_in_prefects_format(engine, clock):
    store_automation({**FAILED, "threshold": 1, "within": 0})
    drain(engine)
    failed = event_at(clock, "prefect.flow-run.Failed", 1)
    ingest(failed)
    drain(engine)
    embedded = Event.objects.get(event="prefect.automation.triggered").payload["triggering_event"]
    # (Key order is the writer's; PostgreSQL's jsonb keeps its own order once stored.)
    assert set(embedded) == {
        "occurred",
        "event",
        "resource",
        "related",
        "payload",
        "id",
        "follows",
        "received",
    }
    assert embedded["occurred"].endswith("Z")
    assert embedded["id"] == failed["id"]


def test_one_failing_automation_does_not_stop_the_others(engine, clock, monkeypatch):
    from automations.engine import evaluator

    store_automation({**FAILED, "threshold": 1, "within": 0}, name="fine")
    broken = store_automation({**FAILED, "threshold": 1, "within": 0}, name="breaks")
    real = evaluator.AutomationEvaluator.on_event

    def on_event(self, event):
        if self.automation_id == broken.id:
            raise RuntimeError("boom")
        return real(self, event)

    monkeypatch.setattr(evaluator.AutomationEvaluator, "on_event", on_event)
    drain(engine)
    ingest(event_at(clock, "prefect.flow-run.Failed", 1))
    drain(engine)
    assert list(Firing.objects.values_list("automation__name", flat=True)) == ["fine"]
    assert not EventBatch.objects.exists(), "the batch was evaluated, not retried forever"


def test_an_engine_whose_index_is_stale_reloads_and_loses_no_event(clock):
    first, second = Engine(now=clock), Engine(now=clock)
    automation = store_automation({**FAILED, "threshold": 1, "within": 0})
    drain(first)
    automation.trigger = {**automation.trigger, "expect": ["prefect.flow-run.Crashed"]}
    automation.save()
    second.refresh(force=True)  # arms the new version; `first` still holds the old one
    ingest(event_at(clock, "prefect.flow-run.Crashed", 1))
    for _ in range(5):
        if not first.run_once():
            break
    assert Firing.objects.count() == 1
    assert Firing.objects.get().triggering_event["event"] == "prefect.flow-run.Crashed"


def test_a_huge_window_is_refused_by_the_schema():
    from pydantic import ValidationError

    from automations import schemas

    with pytest.raises(ValidationError, match="at most 365 days"):
        schemas.EventTrigger.model_validate({"type": "event", "within": "99999999d"})


def test_stored_state_keeps_event_ids_and_firings_get_the_whole_event(engine, clock):
    store_automation(
        {
            "type": "event",
            "after": ["prefect.flow-run.Running"],
            "expect": ["prefect.flow-run.Completed"],
            "for_each": ["prefect.resource.id"],
            "posture": "Proactive",
            "within": 30,
        }
    )
    drain(engine)
    running = event_at(
        clock,
        "prefect.flow-run.Running",
        0,
        resource_id="prefect.flow-run.a",
        payload={"big": "x" * 5000},
    )
    ingest(running)
    drain(engine)
    bucket = EngineBucket.objects.get().data
    assert bucket["last_event"] == {
        "stub": True,
        "id": running["id"],
        "event": "prefect.flow-run.Running",
    }
    clock.advance(seconds=31 + CLOSE_GRACE.total_seconds())
    drain(engine)
    firing = Firing.objects.get()
    assert firing.triggering_event["payload"] == {"big": "x" * 5000}
    assert firing.triggering_event["resource"]["prefect.resource.id"] == "prefect.flow-run.a"


def test_a_step_reads_and_writes_only_the_buckets_its_events_fall_in(engine, clock):
    """Each for_each key is a row: an event for one key among many costs that row, not the
    automation's whole state."""
    store_automation({**FAILED, "threshold": 3, "for_each": ["prefect.resource.id"]})
    drain(engine)
    for i in range(40):
        ingest(event_at(clock, "prefect.flow-run.Failed", 1, resource_id=f"prefect.flow-run.{i}"))
    drain(engine)
    assert EngineBucket.objects.count() == 40
    before = dict(EngineBucket.objects.values_list("key", "data"))
    read, written = engine.stats["buckets_read"], engine.stats["buckets_written"]

    ingest(event_at(clock, "prefect.flow-run.Failed", 2, resource_id="prefect.flow-run.7"))
    drain(engine)

    assert engine.stats["buckets_read"] - read == 1
    assert engine.stats["buckets_written"] - written == 1
    after = dict(EngineBucket.objects.values_list("key", "data"))
    changed = [key for key in after if after[key] != before[key]]
    assert changed == ['["prefect.flow-run.7"]']
    assert after['["prefect.flow-run.7"]']["count"] == 2
    assert not Firing.objects.exists()


def test_automations_that_fire_on_each_others_events_stop_after_a_chain_of_eight(engine, clock):
    from automations.engine.evaluator import MAX_AUTOMATION_CHAIN

    store_automation({**FAILED, "threshold": 1, "within": 0}, name="starts it")
    relay = {"type": "event", "expect": ["prefect.automation.triggered"], "within": 0}
    store_automation(relay, name="ping")
    store_automation(relay, name="pong")
    drain(engine)
    ingest(event_at(clock, "prefect.flow-run.Failed", 1))
    drain(engine)  # raises if the engine never goes idle

    # "starts it" fires (chain 1); each relay fires on every other automation's event until
    # the chain is MAX_AUTOMATION_CHAIN long: ping and pong both fire on "starts it", then
    # on each other's, one firing per automation per link.
    names = list(Firing.objects.values_list("automation__name", flat=True))
    assert names.count("starts it") == 1
    assert names.count("ping") == names.count("pong") == MAX_AUTOMATION_CHAIN - 1
    deepest = max(
        Event.objects.filter(event="prefect.automation.triggered"),
        key=lambda e: len(str(e.payload)),
    )
    from automations.engine.evaluator import automation_chain

    assert automation_chain(deepest.to_schema()) == MAX_AUTOMATION_CHAIN
