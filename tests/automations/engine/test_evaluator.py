"""The pure evaluator, scenario by scenario: timed events in, firings out (event time).

Each scenario is a trigger, events at minutes after T0, and the firings expected as
(state, minute, labels). Where the behaviour is Prefect's, the scenario names the Prefect test
it follows (`tests/events/server/triggers/` in Prefect's repository); where we differ, the
docstring says how.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from automations import schemas
from automations.engine.evaluator import (
    RESOLVED,
    TRIGGERED,
    AutomationEvaluator,
    replay,
    resolution_rule,
)
from eventsui.events import schemas as event_schemas

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AUTOMATION = uuid.UUID("00000000-0000-4000-8000-00000000a001")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(name: str, minute: float, resource: str = "prefect.flow-run.1", **kw):
    related = kw.pop("related", [])
    follows = kw.pop("follows", None)
    data = {
        "id": str(kw.pop("id", uuid.uuid4())),
        "occurred": at(minute).isoformat(),
        "received": at(minute).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": resource, **kw},
        "related": related,
        "payload": {},
        "follows": follows,
    }
    return event_schemas.ReceivedEvent.model_validate(data)


def trigger(**fields):
    return schemas.TRIGGER_TYPES[fields.get("type", "event")].model_validate(
        {"type": "event", **fields}
    )


def run(trig, events, until: float = 600, since: float = 0):
    evaluator = AutomationEvaluator(AUTOMATION, trig)
    firings = replay(evaluator, sorted(events, key=lambda e: e.occurred), at(since), at(until))
    return [
        (f.state, round((f.occurred - T0).total_seconds() / 60, 3), f.triggering_labels)
        for f in firings
    ]


# -- Reactive ----------------------------------------------------------------------------------


def test_reactive_fires_as_soon_as_the_threshold_is_reached():
    trig = trigger(expect=["prefect.flow-run.Failed"], threshold=3, within=3600)
    events = [event("prefect.flow-run.Failed", m) for m in (1, 2, 3, 4)]
    # The 4th event falls in the cooldown (the next window starts at the first one's end).
    assert run(trig, events, until=30) == [(TRIGGERED, 3, {})]


def test_reactive_below_the_threshold_never_fires():
    trig = trigger(expect=["prefect.flow-run.Failed"], threshold=3, within=600)
    events = [event("prefect.flow-run.Failed", m) for m in (1, 20, 40)]
    assert run(trig, events, until=120) == []


def test_reactive_within_zero_fires_on_every_event_and_never_resolves():
    trig = trigger(expect=["prefect.flow-run.*"], threshold=1, within=0)
    events = [event("prefect.flow-run.Failed", m) for m in (1, 1.5, 2)]
    assert run(trig, events) == [(TRIGGERED, 1, {}), (TRIGGERED, 1.5, {}), (TRIGGERED, 2, {})]
    assert "Never resolves" in resolution_rule(trig)


def test_reactive_resolves_when_a_whole_window_passes_below_the_threshold():
    trig = trigger(expect=["prefect.flow-run.Failed"], threshold=2, within=600)
    events = [event("prefect.flow-run.Failed", m) for m in (1, 2)]
    # First window [-14, 11): fires at 2. Next window [11, 21) passes quietly: resolved at 21.
    assert run(trig, events, until=60) == [(TRIGGERED, 2, {}), (RESOLVED, 21, {})]
    assert "whole window of 10m" in resolution_rule(trig)


def test_reactive_fires_again_in_a_later_window_that_meets_the_threshold():
    trig = trigger(expect=["x.failed"], threshold=2, within=600)
    events = [event("x.failed", m) for m in (1, 2, 12, 13)]
    assert run(trig, events, until=25) == [(TRIGGERED, 2, {}), (TRIGGERED, 13, {})]


def test_an_expect_only_window_reaches_back_fifteen_minutes_for_late_events():
    """Prefect's PRECEDING_EVENT_LOOKBACK: the first window starts 15 minutes before the event
    that opened it, so an earlier event arriving out of order still counts."""
    trig = trigger(expect=["x.failed"], threshold=2, within=60)
    evaluator = AutomationEvaluator(AUTOMATION, trig)
    evaluator.arm(at(0))
    assert evaluator.on_event(event("x.failed", 20)) == []
    late = evaluator.on_event(event("x.failed", 10))  # occurred earlier, processed later
    assert [(f.state, f.occurred) for f in late] == [(TRIGGERED, at(10))]


def test_after_opens_the_window_and_expect_counts_in_it():
    trig = trigger(after=["x.started"], expect=["x.failed"], threshold=1, within=300)
    events = [
        event("x.failed", 1),  # before any `after`: not counted
        event("x.started", 10),
        event("x.failed", 12),
        event("x.failed", 30),  # the window closed at 15 and needs another `after`
    ]
    assert run(trig, events, until=60)[0] == (TRIGGERED, 12, {})
    assert [f for f in run(trig, events, until=60) if f[0] == TRIGGERED] == [(TRIGGERED, 12, {})]


def test_same_event_in_expect_and_after_never_reacts_immediately():
    """Prefect: test_same_event_in_expect_and_after_never_reacts_immediately."""
    trig = trigger(after=["x.beat"], expect=["x.beat"], threshold=1, within=600)
    assert run(trig, [event("x.beat", 1)], until=5) == []


def test_same_event_in_expect_and_after_reacts_after_threshold_is_met():
    """Prefect: test_same_event_in_expect_and_after_reacts_after_threshold_is_met."""
    trig = trigger(after=["x.beat"], expect=["x.beat"], threshold=2, within=600)
    events = [event("x.beat", m) for m in (1, 2, 3)]
    assert [f for f in run(trig, events, until=5) if f[0] == TRIGGERED] == [(TRIGGERED, 3, {})]


def test_match_and_match_related_select_the_events_counted():
    trig = trigger(
        expect=["x.failed"],
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.id": "prefect.flow.etl"},
        threshold=1,
        within=0,
    )
    flow = {"prefect.resource.id": "prefect.flow.etl", "prefect.resource.role": "flow"}
    other = {"prefect.resource.id": "prefect.flow.other", "prefect.resource.role": "flow"}
    events = [
        event("x.failed", 1, related=[flow]),
        event("x.failed", 2, related=[other]),
        event("x.failed", 3, resource="prefect.task-run.1", related=[flow]),
    ]
    assert run(trig, events) == [(TRIGGERED, 1, {})]


def test_for_each_counts_each_key_in_its_own_bucket():
    trig = trigger(
        expect=["x.failed"],
        for_each=["prefect.resource.id", "related:flow:prefect.resource.name"],
        threshold=2,
        within=600,
    )
    flow = {"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow"}
    named = {**flow, "prefect.resource.name": "etl"}
    events = [
        event("x.failed", 1, resource="r.a", related=[named]),
        event("x.failed", 2, resource="r.b", related=[named]),
        event("x.failed", 3, resource="r.a", related=[named]),
        event("x.failed", 4, resource="r.c", related=[flow]),  # missing label: ""
        event("x.failed", 5, resource="r.c", related=[flow]),
    ]
    labels_a = {"prefect.resource.id": "r.a", "related:flow:prefect.resource.name": "etl"}
    labels_c = {"prefect.resource.id": "r.c", "related:flow:prefect.resource.name": ""}
    assert [f for f in run(trig, events, until=8) if f[0] == TRIGGERED] == [
        (TRIGGERED, 3, labels_a),
        (TRIGGERED, 5, labels_c),
    ]


def test_an_automation_never_counts_the_events_of_its_own_firings():
    trig = trigger(expect=["prefect.automation.*"], threshold=1, within=0)
    own = event("prefect.automation.triggered", 1, resource=f"prefect.automation.{AUTOMATION}")
    other = event("prefect.automation.triggered", 2, resource="prefect.automation.other")
    assert run(trig, [own, other]) == [(TRIGGERED, 2, {})]
    assert not AutomationEvaluator(AUTOMATION, trig).covers(own)


# -- Proactive ---------------------------------------------------------------------------------


def test_proactive_without_for_each_is_armed_and_fires_at_the_window_end():
    trig = trigger(expect=["x.heartbeat"], posture="Proactive", threshold=1, within=600)
    # No event at all: the armed window [0, 10) ends empty and fires exactly at 10.
    assert run(trig, [], until=15) == [(TRIGGERED, 10, {})]


def test_proactive_fires_once_while_silent_and_resolves_when_events_return():
    """We differ from Prefect, which fires every window while the events stay away."""
    trig = trigger(expect=["x.heartbeat"], posture="Proactive", threshold=1, within=600)
    events = [event("x.heartbeat", m) for m in (5, 14)] + [event("x.heartbeat", 60)]
    # Windows [0,10) and [10,20) see beats; [20,30) is silent: fires at 30, then waits (no
    # firing at 40, 50); the beat at 60 resolves it and opens a window [60, 70).
    assert run(trig, events, until=69) == [(TRIGGERED, 30, {}), (RESOLVED, 60, {})]


def test_proactive_with_enough_events_never_fires():
    trig = trigger(expect=["x.heartbeat"], posture="Proactive", threshold=2, within=600)
    events = [event("x.heartbeat", m) for m in (1, 2, 11, 12, 21, 22)]
    assert run(trig, events, until=30) == []


def test_proactive_without_for_each_honours_after():
    """Prefect arms such a trigger without an `after` event and fires every window."""
    trig = trigger(
        after=["x.started"], expect=["x.finished"], posture="Proactive", threshold=1, within=300
    )
    assert run(trig, [], until=60) == []
    assert run(trig, [event("x.started", 10)], until=60) == [(TRIGGERED, 15, {})]
    assert run(trig, [event("x.started", 10), event("x.finished", 12)], until=60) == []


def test_proactive_after_with_for_each_fires_for_the_run_that_never_finished():
    trig = trigger(
        after=["prefect.flow-run.Running"],
        expect=["prefect.flow-run.Completed", "prefect.flow-run.Failed"],
        for_each=["prefect.resource.id"],
        posture="Proactive",
        threshold=1,
        within=600,
    )
    events = [
        event("prefect.flow-run.Running", 1, resource="prefect.flow-run.a"),
        event("prefect.flow-run.Running", 2, resource="prefect.flow-run.b"),
        event("prefect.flow-run.Completed", 8, resource="prefect.flow-run.b"),
        event("prefect.flow-run.Completed", 30, resource="prefect.flow-run.a"),
    ]
    assert run(trig, events, until=60) == [
        (TRIGGERED, 11, {"prefect.resource.id": "prefect.flow-run.a"}),
        (RESOLVED, 30, {"prefect.resource.id": "prefect.flow-run.a"}),
    ]


def test_proactive_for_each_without_after_alerts_for_a_key_that_goes_silent():
    """Prefect drops the bucket of a key that met its threshold without evaluating it, so a
    worker that stops sending heartbeats is never reported. Here it is, at its window's end."""
    trig = trigger(
        expect=["prefect.worker.heartbeat"],
        for_each=["prefect.resource.id"],
        posture="Proactive",
        threshold=1,
        within=300,
    )
    events = [event("prefect.worker.heartbeat", m, resource="w.a") for m in (1, 4, 8, 12)]
    events += [event("prefect.worker.heartbeat", m, resource="w.b") for m in (1, 4)]
    # Both first windows run [-14, 6). w.b's next window [6, 11) is silent: fires at 11.
    # w.a keeps beating ([6,11): 8; [11,16): 12) until [16, 21) is silent: fires at 21.
    assert run(trig, events, until=30) == [
        (TRIGGERED, 11, {"prefect.resource.id": "w.b"}),
        (TRIGGERED, 21, {"prefect.resource.id": "w.a"}),
    ]


def test_proactive_heartbeat_that_is_both_after_and_expect_restarts_its_window():
    """Prefect: test_same_event_in_expect_and_after_proactively_does_not_fire / _fires."""
    trig = trigger(
        after=["x.beat"], expect=["x.beat"], posture="Proactive", threshold=1, within=300
    )
    steady = [event("x.beat", m) for m in (0, 3, 6, 9)]
    assert run(trig, steady, until=12) == []
    stopped = [event("x.beat", m) for m in (0, 3)]
    assert run(trig, stopped, until=12) == [(TRIGGERED, 8, {})]


# -- Compound and sequence ---------------------------------------------------------------------


def _child(name: str, **fields):
    return {"type": "event", "expect": [name], "threshold": 1, "within": 0, **fields}


def test_compound_all_fires_when_every_child_fired_within_the_period():
    trig = schemas.CompoundTrigger.model_validate(
        {
            "type": "compound",
            "require": "all",
            "within": 3600,
            "triggers": [_child("a.done"), _child("b.done")],
        }
    )
    assert run(trig, [event("a.done", 1), event("b.done", 30)]) == [(TRIGGERED, 30, {})]


def test_compound_within_is_judged_in_event_time():
    """Prefect prunes child firings by the wall-clock time the server processed them (its
    own within-expiry tests are xfail for that reason); here the events' times decide."""
    trig = schemas.CompoundTrigger.model_validate(
        {
            "type": "compound",
            "require": "all",
            "within": 600,
            "triggers": [_child("a.done"), _child("b.done")],
        }
    )
    assert run(trig, [event("a.done", 1), event("b.done", 30)]) == []
    assert run(trig, [event("a.done", 25), event("b.done", 30)]) == [(TRIGGERED, 30, {})]


def test_compound_require_n_and_any():
    children = [_child("a.done"), _child("b.done"), _child("c.done")]
    two = schemas.CompoundTrigger.model_validate(
        {"type": "compound", "require": 2, "within": 3600, "triggers": children}
    )
    events = [event("a.done", 1), event("a.done", 2), event("c.done", 3), event("b.done", 4)]
    assert run(two, events) == [(TRIGGERED, 3, {})]
    anyone = schemas.CompoundTrigger.model_validate(
        {"type": "compound", "require": "any", "within": 3600, "triggers": children}
    )
    assert run(anyone, [event("b.done", 5)]) == [(TRIGGERED, 5, {})]


def test_sequence_fires_only_in_the_declared_order():
    trig = schemas.SequenceTrigger.model_validate(
        {"type": "sequence", "within": 3600, "triggers": [_child("a.done"), _child("b.done")]}
    )
    assert run(trig, [event("b.done", 1), event("a.done", 2)]) == []
    assert run(trig, [event("a.done", 1), event("b.done", 2)]) == [(TRIGGERED, 2, {})]


def test_composites_nest_and_record_their_child_firings():
    inner = {"type": "sequence", "within": 3600, "triggers": [_child("a.done"), _child("b.done")]}
    trig = schemas.CompoundTrigger.model_validate(
        {
            "type": "compound",
            "require": "all",
            "within": 3600,
            "triggers": [inner, _child("c.done")],
        }
    )
    evaluator = AutomationEvaluator(AUTOMATION, trig)
    events = [event("c.done", 1), event("a.done", 2), event("b.done", 3)]
    firings = replay(evaluator, events, at(0), at(60))
    assert [(f.state, f.occurred) for f in firings] == [(TRIGGERED, at(3))]
    children = firings[0].child_firings
    assert len(children) == 2
    nested = next(c for c in children if c["child_firings"])
    assert len(nested["child_firings"]) == 2


def test_a_proactive_child_fires_its_compound_at_the_window_end():
    trig = schemas.CompoundTrigger.model_validate(
        {
            "type": "compound",
            "require": "all",
            "within": 3600,
            "triggers": [
                _child("a.done"),
                {"type": "event", "expect": ["x.beat"], "posture": "Proactive", "within": 600},
            ],
        }
    )
    assert run(trig, [event("a.done", 5)], until=30) == [(TRIGGERED, 10, {})]


# -- State -------------------------------------------------------------------------------------


def test_state_round_trips_through_json_mid_window():
    import json

    trig = trigger(expect=["x.failed"], threshold=2, within=600)
    first = AutomationEvaluator(AUTOMATION, trig)
    first.arm(at(0))
    assert first.on_event(event("x.failed", 1)) == []
    restored = AutomationEvaluator(AUTOMATION, trig, json.loads(json.dumps(first.dump_state())))
    assert [f.state for f in restored.on_event(event("x.failed", 2))] == [TRIGGERED]


def test_next_due_is_the_earliest_window_end():
    trig = trigger(expect=["x.beat"], posture="Proactive", within=600)
    evaluator = AutomationEvaluator(AUTOMATION, trig)
    assert evaluator.next_due() is None
    evaluator.arm(at(0))
    assert evaluator.next_due() == at(10)


@pytest.mark.parametrize("posture", ["Reactive", "Proactive"])
def test_firings_carry_the_triggering_event(posture):
    trig = trigger(expect=["x.beat"], posture=posture, threshold=1, within=600)
    beat = event("x.beat", 1)
    evaluator = AutomationEvaluator(AUTOMATION, trig)
    firings = replay(evaluator, [beat], at(0), at(60))
    assert firings
    if posture == "Reactive":
        assert firings[0].triggering_event["id"] == str(beat.id)


def test_idle_reactive_buckets_are_dropped_so_state_stays_bounded():
    trig = trigger(expect=["x.failed"], for_each=["prefect.resource.id"], threshold=5, within=10)
    evaluator = AutomationEvaluator(AUTOMATION, trig)
    events = [event("x.failed", 1, resource=f"r.{n}") for n in range(100)]
    replay(evaluator, events, at(0), at(60))
    assert evaluator.dump_state()["buckets"] == {}
    assert evaluator.next_due() is None


# -- found in review ----------------------------------------------------------------------------


def test_a_window_of_zero_adds_up_to_its_threshold_within_prefects_sweep():
    """Prefect keeps a window-of-0 bucket (its count adds up) until its sweeper drops it,
    60 seconds after it opened."""
    trig = trigger(expect=["x.failed"], threshold=2, within=0)
    assert run(trig, [event("x.failed", 1), event("x.failed", 1.5)]) == [(TRIGGERED, 1.5, {})]
    assert run(trig, [event("x.failed", 1), event("x.failed", 3)]) == []


def test_buckets_of_an_after_window_of_zero_are_swept():
    trig = trigger(
        after=["x.started"], expect=["x.done"], for_each=["prefect.resource.id"], within=0
    )
    evaluator = AutomationEvaluator(AUTOMATION, trig)
    starts = [event("x.started", 1, resource=f"r.{n}") for n in range(50)]
    replay(evaluator, starts, at(0), at(5))
    assert evaluator.dump_state()["buckets"] == {}


def test_compound_within_holds_in_both_directions_of_event_time():
    trig = schemas.CompoundTrigger.model_validate(
        {
            "type": "compound",
            "require": "all",
            "within": 60,
            "triggers": [_child("a.done"), _child("b.done")],
        }
    )
    evaluator = AutomationEvaluator(AUTOMATION, trig)
    evaluator.arm(at(0))
    assert evaluator.on_event(event("a.done", 100)) == []
    assert evaluator.on_event(event("b.done", 10)) == [], "a late b from 90 minutes earlier"


def test_one_event_is_never_two_steps_of_a_sequence():
    """Prefect's xfail test_sequence_with_two_identical_steps, passing here."""
    trig = schemas.SequenceTrigger.model_validate(
        {"type": "sequence", "within": 3600, "triggers": [_child("x.buy"), _child("x.buy")]}
    )
    assert run(trig, [event("x.buy", 1)]) == []
    assert run(trig, [event("x.buy", 1), event("x.buy", 2)]) == [(TRIGGERED, 2, {})]
