"""The engine's promises under failure and concurrency, against real processes on PostgreSQL:
killed mid-step it misses and doubles nothing, a batch committed late is still evaluated,
and two engines behind two web processes store every firing exactly once.

These only mean something on PostgreSQL (SKIP LOCKED, row locks, concurrent transactions);
on SQLite one engine runs and its writes are serialized by the database itself.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.db import connection, transaction

from automations.engine import evaluator as ev
from automations.engine.models import AutomationState, Firing
from automations.engine.worker import Engine
from automations.models import Automation
from eventsui.events import schemas as event_schemas
from eventsui.events import services
from eventsui.events.models import Event, EventBatch
from tests.automations.engine.conftest import drain, store_automation
from tests.automations.engine.processes import (
    Process,
    start_engine,
    start_web,
    wait_until,
    wait_until_serving,
)
from tests.conftest import basic_header, make_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]

HOUR = 3600  # windows that cannot close while a test runs: the results depend on events only

BURST = {
    "every alarm": {"type": "event", "expect": ["test.burst.alarm"], "within": 0},
    "five per resource": {
        "type": "event",
        "expect": ["test.burst.*"],
        "for_each": ["prefect.resource.id"],
        "threshold": 5,
        "within": HOUR,
    },
    "alarm and other": {
        "type": "compound",
        "require": "all",
        "within": HOUR,
        "triggers": [
            {"type": "event", "expect": ["test.burst.alarm"], "within": 0},
            {"type": "event", "expect": ["test.burst.other"], "within": 0},
        ],
    },
    "start then end": {
        "type": "sequence",
        "within": HOUR,
        "triggers": [
            {"type": "event", "expect": ["test.burst.start"], "within": 0},
            {"type": "event", "expect": ["test.burst.end"], "within": 0},
        ],
    },
}


def burst_events(count: int, *, seed: int = 7) -> list[event_schemas.Event]:
    """Events in strictly increasing time, so that evaluating batch after batch is the same
    order as evaluating all of them sorted (what the reference replay does)."""
    rng = random.Random(seed)
    names = ["tick"] * 14 + ["alarm"] * 2 + ["other"] * 2 + ["start", "end"]
    start = datetime.now(UTC) - timedelta(minutes=5)
    return [
        event_schemas.Event.model_validate(
            make_event(
                f"test.burst.{rng.choice(names)}",
                resource_id=f"test.resource.{rng.randrange(100)}",
                occurred=start + timedelta(milliseconds=i),
                id=str(uuid.UUID(int=rng.getrandbits(128))),
            )
        )
        for i in range(count)
    ]


def firing_key(automation_id, trigger_id, state, occurred, bucket, triggering, children) -> tuple:
    return (
        str(automation_id),
        str(trigger_id),
        state,
        occurred,
        bucket,
        triggering["id"] if triggering else None,
        tuple(sorted(c["triggering_event"]["id"] for c in children)),
    )


def stored_firings() -> Counter:
    return Counter(
        firing_key(
            f.automation_id,
            f.trigger_id,
            f.state,
            f.occurred,
            f.bucket,
            f.triggering_event,
            f.child_firings,
        )
        for f in Firing.objects.all()
    )


def replayed_firings(events: list[event_schemas.ReceivedEvent]) -> Counter:
    """What the pure evaluator fires over the same events, in order, automation by automation."""
    expected: Counter = Counter()
    for automation in Automation.objects.all():
        evaluator = ev.AutomationEvaluator(automation.id, automation.to_schema().trigger)
        since, until = events[0].occurred, events[-1].occurred
        for f in ev.replay(evaluator, events, since, until):
            expected[
                firing_key(
                    automation.id,
                    f.trigger_id,
                    f.state,
                    f.occurred,
                    f.bucket,
                    f.triggering_event,
                    f.child_firings,
                )
            ] += 1
    return expected


def assert_each_firing_emitted_one_event() -> None:
    emitted = Event.objects.filter(event__startswith="prefect.automation.")
    assert sorted(str(i) for i in emitted.values_list("id", flat=True)) == sorted(
        str(i) for i in Firing.objects.values_list("event_id", flat=True)
    )


def in_thread(target, *args) -> threading.Thread:
    """A thread with its own database connection, closed when it ends (the test database is
    flushed after the test and must have no stray sessions)."""

    def run():
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _count(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def batches_claimed_by(name: str) -> set[int]:
    """The batches a process's open transaction has claimed (`FOR UPDATE` marks each row with
    the locker's transaction id, read here without taking a lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT b.id FROM event_batches b JOIN pg_stat_activity a "
            "ON a.backend_xid = b.xmax WHERE a.application_name = %s",
            [name],
        )
        return {row[0] for row in cursor.fetchall()}


def blocked_storing_events(name: str) -> bool:
    """The process waits for a lock on `events`: in the engine's step, after the state rows
    and the firings were written, while it ingests the `prefect.automation.*` events."""
    return bool(
        _count(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND wait_event_type = 'Lock' AND query ILIKE '%%events%%'",
            [name],
        )
    )


def sessions_of(name: str) -> int:
    return _count("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name])


@pytest.fixture
def processes():
    """Started processes, stopped at the end (before the test database is flushed)."""
    started: list[Process] = []
    yield started
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def test_an_engine_killed_mid_step_and_restarted_misses_and_doubles_nothing(
    django_db_blocker, processes
):
    """3,000 events in batches of 100; the engine is killed twice in the middle of a step
    (once wherever it happens to be, once blocked after it wrote firings and state); each
    time a new one takes over. The firings are exactly the pure evaluator's over the same
    events: the killed steps rolled back whole and were evaluated once, by the next engine."""
    for name, trigger in BURST.items():
        store_automation(trigger, name=name)
    events = burst_events(3000)
    engine = start_engine(django_db_blocker, "engine-0")
    processes.append(engine)
    wait_until(lambda: AutomationState.objects.count() == len(BURST), 30, "the engine to arm")

    ingested: list[int] = []

    def ingest_burst():
        for i in range(0, len(events), 100):
            services.ingest_events(events[i : i + 100], publish=False)
            ingested.append(i)
            time.sleep(0.05)  # a burst over seconds, so that the kills land in its middle

    ingest = in_thread(ingest_burst)

    def restart(n: int) -> Process:
        # The next engine starts once the dead one's session is gone (its transaction rolled
        # back), as a process manager restarts a crashed worker.
        wait_until(lambda: sessions_of(engine.name) == 0, 10, "the killed session to end")
        processes.append(started := start_engine(django_db_blocker, f"engine-{n}"))
        return started

    # 1. Killed wherever it is, while a step holds claimed batches.
    wait_until(lambda: batches_claimed_by(engine.name), 20, "a step", process=engine)
    engine.kill()
    assert len(ingested) < 30, "killed in the middle of the burst"
    engine = restart(1)

    # 2. Killed after writing state and firings, before its step commits: it blocks on a
    # lock the test holds on `events` (the ingest thread waits on it too, meanwhile).
    locked, release = threading.Event(), threading.Event()

    def hold_events_lock():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE events IN SHARE MODE")
            locked.set()
            release.wait(30)

    holder = in_thread(hold_events_lock)
    assert locked.wait(10)
    wait_until(lambda: blocked_storing_events(engine.name), 20, "the step", process=engine)
    claimed = batches_claimed_by(engine.name)
    committed = Firing.objects.count()
    engine.kill()
    release.set()
    holder.join(10)
    assert claimed, "the killed step had claimed batches"
    assert set(EventBatch.objects.filter(id__in=claimed).values_list("id", flat=True)) == claimed
    assert Firing.objects.count() == committed, "its firings rolled back with it"
    engine = restart(2)

    ingest.join(timeout=30)
    assert len(ingested) == 30
    wait_until(lambda: not EventBatch.objects.exists(), 30, "the backlog", process=engine)

    stored = [e.to_schema() for e in Event.objects.filter(event__startswith="test.burst.")]
    stored.sort(key=lambda e: (e.occurred, str(e.id)))
    assert len(stored) == 3000
    expected = replayed_firings(stored)
    assert sum(expected.values()) > 500, "the burst makes the automations fire many times"
    assert {key[0] for key in expected} == {str(a.id) for a in Automation.objects.all()}
    actual = stored_firings()
    assert actual - expected == Counter(), "firings stored twice, or never expected"
    assert expected - actual == Counter(), "firings missed"
    assert_each_firing_emitted_one_event()
    # Each engine logs a firing as it writes it: the killed steps had written some, which
    # rolled back and were stored again (once) by the next engine.
    assert sum(len(p.firing_lines()) for p in processes) > sum(actual.values())
    assert engine.stop() == 0


def test_a_batch_that_commits_late_is_still_evaluated_once_it_commits():
    """Ingest's transaction can commit after later batches were stored and evaluated (a slow
    request, a big websocket batch): its batch is invisible until then, never skipped."""
    every = store_automation({"type": "event", "expect": ["test.late.*"], "within": 0})
    pairs = store_automation(
        {
            "type": "event",
            "expect": ["test.late.*"],
            "for_each": ["prefect.resource.id"],
            "threshold": 2,
            "within": HOUR,
        },
        name="two per resource",
    )
    engine = Engine()
    drain(engine)
    now = datetime.now(UTC)
    late = make_event("test.late.slow", resource_id="test.r", occurred=now)
    later = [
        make_event("test.late.fast", resource_id="test.r", occurred=now + timedelta(seconds=1)),
        make_event("test.late.fast", resource_id="test.s", occurred=now + timedelta(seconds=2)),
    ]
    stored, commit = threading.Event(), threading.Event()

    def slow_ingest():
        with transaction.atomic():
            services.ingest_events([event_schemas.Event.model_validate(late)], publish=False)
            stored.set()
            commit.wait(10)

    slow = in_thread(slow_ingest)
    assert stored.wait(10)
    for event in later:
        services.ingest_events([event_schemas.Event.model_validate(event)], publish=False)
    drain(engine)
    fired = {str(i) for i in Firing.objects.values_list("triggering_event_id", flat=True)}
    assert fired == {later[0]["id"], later[1]["id"]}, "the later batches were evaluated"

    commit.set()
    slow.join(10)
    assert EventBatch.objects.count() == 1
    drain(engine)
    assert not EventBatch.objects.exists()
    assert Firing.objects.filter(automation=every, triggering_event_id=late["id"]).count() == 1
    # It also counts in the window the later event opened for its resource (its time is
    # within the window's look-back): the pair is complete.
    (pair,) = Firing.objects.filter(automation=pairs)
    assert (pair.bucket, str(pair.triggering_event_id)) == ('["test.r"]', late["id"])
    assert Firing.objects.count() == 4


def test_two_engines_behind_two_web_processes_store_every_firing_exactly_once(
    django_db_blocker, processes, viewer
):
    """Events posted to two web processes, evaluated by two engines: every firing stored
    once, none missed. First both engines are made to hold work at once (each claims a batch,
    then waits for the automations' state rows the test holds), so each does part of it for
    certain; then a concurrent burst through both web processes."""
    every = store_automation(
        {"type": "event", "expect": ["test.web.ping"], "within": 0}, name="every ping"
    )
    three = store_automation(
        {
            "type": "event",
            "expect": ["test.web.*"],
            "for_each": ["prefect.resource.id"],
            "threshold": 3,
            "within": HOUR,
        },
        name="three per resource",
    )
    engines = [start_engine(django_db_blocker, f"engine-{n}") for n in "ab"]
    webs = [start_web(django_db_blocker, f"web-{n}", engine=False) for n in "ab"]
    processes += engines + webs
    for web in webs:
        wait_until_serving(web)
    wait_until(lambda: AutomationState.objects.count() == 2, 30, "the engines to arm")

    rng = random.Random(3)
    posted: list[dict] = []
    auth = {"Authorization": basic_header(viewer.username)}

    def post(web: Process, count: int) -> None:
        events = [
            make_event(
                rng.choice(["test.web.ping", "test.web.pong"]),
                resource_id=f"test.resource.{rng.randrange(20)}",
            )
            for _ in range(count)
        ]
        posted.extend(events)
        response = httpx.post(f"{web.url}/api/events", json=events, headers=auth, timeout=30)
        assert response.status_code == 204, response.text

    locked, release = threading.Event(), threading.Event()

    def hold_state_rows():
        with transaction.atomic():
            list(AutomationState.objects.select_for_update())
            locked.set()
            release.wait(30)

    holder = in_thread(hold_state_rows)
    assert locked.wait(10)
    post(webs[0], 50)
    wait_until(lambda: any(batches_claimed_by(e.name) for e in engines), 20, "a claim")
    post(webs[1], 50)  # the engine that claimed the first batch waits: the other claims this
    wait_until(lambda: all(batches_claimed_by(e.name) for e in engines), 20, "both engines")
    release.set()
    holder.join(10)

    bursts = [in_thread(lambda w=web: [post(w, 50) for _ in range(10)]) for web in webs]
    for burst in bursts:
        burst.join(30)
    assert len(posted) == 1100
    wait_until(lambda: not EventBatch.objects.exists(), 30, "the engines to catch up")

    pings = [e["id"] for e in posted if e["event"] == "test.web.ping"]
    fired = [str(i) for i in every.firings.values_list("triggering_event_id", flat=True)]
    assert sorted(fired) == sorted(pings), "one firing per ping, none twice"
    # Each resource's third event fires once (which event is third depends on the order the
    # engines evaluated the batches in; that there is exactly one does not).
    buckets = Counter(three.firings.values_list("bucket", flat=True))
    resources = {e["resource"]["prefect.resource.id"] for e in posted}
    assert buckets == Counter({f'["{r}"]': 1 for r in resources})
    assert_each_firing_emitted_one_event()

    lines = [len(engine.firing_lines()) for engine in engines]
    assert all(lines), f"both engines stored firings: {lines}"
    assert sum(lines) == Firing.objects.count()
    for process in engines + webs:
        assert process.stop() == 0, process.output()[-2000:]
    for engine in engines:
        assert "Automation engine stopped" in engine.output()
