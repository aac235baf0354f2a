"""Automation engine benchmarks (PostgreSQL; DATABASE_URL names the store).

live: automations are stored (reactive, proactive, for_each, compound), then demo traffic is
  sent at --rate events/s over POST /api/events for --seconds, with "marker" events mixed in
  that each must fire one known automation. A running server and engine are needed
  (`manage.py serve`, or daphne plus `manage.py run_automations`). Prints the p50/p95/max
  from a marker's ingest (its received time) to its firing being stored, the engine's lag
  sampled every half second, and expected vs stored firings.

cost: in-process, no server: the engine's cost per event with 100 and with 1,000 enabled
  automations (the same events, the extra 900 expecting other names).

backtest: in-process: one specific event trigger over the last 7 days of the store.

    DATABASE_URL=... python bench/engine.py live --url http://127.0.0.1:8000 --password PW
    DATABASE_URL=... python bench/engine.py cost --events 20000
    DATABASE_URL=... python bench/engine.py backtest
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsui.settings")

BENCH = "bench-engine"  # name prefix of the automations this benchmark stores


def setup_django() -> None:
    import django

    django.setup()


def store_automations(count: int, *, extra_unmatched: int = 0) -> list:
    """`count` automations of four kinds; every 4th is a marker automation expecting
    `bench.marker.<i>` with threshold 1 and within 0 (one firing per marker event)."""
    from automations import schemas
    from automations.models import Automation

    Automation.objects.filter(name__startswith=BENCH).delete()
    kinds = []
    rows = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            trigger = {
                "type": "event",
                "expect": [f"bench.marker.{i}"],
                "threshold": 1,
                "within": 0,
            }
        elif kind == 1:
            trigger = {
                "type": "event",
                "expect": ["prefect.task-run.Failed"],
                "for_each": ["prefect.resource.id"],
                "threshold": 3,
                "within": 600,
            }
        elif kind == 2:
            trigger = {
                "type": "event",
                "expect": ["prefect.worker.*"],
                "for_each": ["prefect.resource.id"],
                "posture": "Proactive",
                "threshold": 1,
                "within": 60,
            }
        else:
            trigger = {
                "type": "compound",
                "require": "all",
                "within": 600,
                "triggers": [
                    {"type": "event", "expect": ["prefect.task-run.Crashed"], "within": 0},
                    {"type": "event", "expect": ["prefect.worker.stopped"], "within": 0},
                ],
            }
        kinds.append(kind)
        rows.append((f"{BENCH} {i:04d} kind {kind}", trigger))
    for i in range(extra_unmatched):
        rows.append(
            (
                f"{BENCH} unmatched {i:04d}",
                {"type": "event", "expect": [f"bench.never.{i}"], "threshold": 2, "within": 60},
            )
        )
    created = []
    for name, trigger in rows:
        core = schemas.AutomationCore.model_validate(
            {"name": name, "trigger": trigger, "actions": []}
        )
        data = core.model_dump(mode="json")
        created.append(Automation(name=name, trigger=data["trigger"], actions=[]))
    Automation.objects.bulk_create(created)
    return [a for a, kind in zip(created, kinds, strict=False) if kind == 0]


def demo_events(count: int, seed: int = 7) -> list[dict]:
    from eventsui.events.demo import simulator

    end = datetime.now(UTC)
    return [
        e.model_dump(mode="json")
        for e in simulator.generate(count, end - timedelta(minutes=5), end, seed=seed)
    ]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def live(args) -> None:
    import httpx

    from automations.engine.models import Firing
    from eventsui.events.models import EventBatch

    markers = store_automations(args.automations)
    print(f"stored {args.automations} automations ({len(markers)} marker automations)")
    print("waiting 2 s for the engine to load them...", flush=True)
    time.sleep(2)
    total = args.rate * args.seconds
    events = demo_events(total)
    auth = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    marker_ids: list[str] = []
    per_post = args.rate // 10  # ten POSTs a second, spread over the connections
    batches = []
    for i in range(0, total, per_post):
        batch = events[i : i + per_post]
        automation = markers[(i // per_post) % len(markers)]
        number = automation.trigger["expect"][0].rsplit(".", 1)[1]
        now = datetime.now(UTC).isoformat()
        marker = {
            "id": str(uuid.uuid4()),
            "occurred": now,
            "event": f"bench.marker.{number}",
            "resource": {"prefect.resource.id": f"bench.resource.{number}"},
        }
        marker_ids.append(marker["id"])
        batches.append((batch, marker))
    lags: list[float] = []
    stop = threading.Event()

    def sample_lag() -> None:
        from django.db import connection

        while not stop.is_set():
            oldest = EventBatch.objects.order_by("id").values_list("created", flat=True).first()
            lags.append(0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds())
            stop.wait(0.5)
        connection.close()

    sampler = threading.Thread(target=sample_lag, daemon=True)
    sampler.start()
    clients = [httpx.Client(base_url=args.url, headers=headers, timeout=60) for _ in range(4)]
    started = time.monotonic()

    def send(index: int) -> None:
        due = started + index / 10
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        batch, marker = batches[index]
        marker["occurred"] = datetime.now(UTC).isoformat()
        body = json.dumps(batch + [marker])
        response = clients[index % 4].post("/api/events", content=body)
        if response.status_code != 204:
            raise RuntimeError(f"POST answered {response.status_code}: {response.text[:200]}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(len(batches))))
    sent_for = time.monotonic() - started
    print(
        f"sent {total + len(batches):,} events in {sent_for:.1f} s "
        f"({(total + len(batches)) / sent_for:,.0f}/s)",
        flush=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = Firing.objects.filter(triggering_event_id__in=marker_ids).count()
        if done >= len(marker_ids) and not EventBatch.objects.exists():
            break
        time.sleep(0.5)
    stop.set()
    sampler.join()
    rows = list(
        Firing.objects.filter(triggering_event_id__in=marker_ids).values_list(
            "created", "triggering_event"
        )
    )
    from eventsui.events.models import Event

    received = dict(Event.objects.filter(id__in=marker_ids).values_list("id", "received"))
    latencies = [
        (created - received[uuid.UUID(event["id"])]).total_seconds() * 1000
        for created, event in rows
    ]
    print(
        f"marker firings: expected {len(marker_ids)}, stored {len(rows)} "
        f"(missed {len(marker_ids) - len(set(e['id'] for _, e in rows))}, "
        f"doubled {len(rows) - len(set(e['id'] for _, e in rows))})"
    )
    if latencies:
        print(
            f"ingest -> firing stored, ms: p50 {pct(latencies, 0.5):.0f}  "
            f"p95 {pct(latencies, 0.95):.0f}  max {max(latencies):.0f}"
        )
    print(
        f"engine lag, s: p50 {pct(lags, 0.5):.2f}  p95 {pct(lags, 0.95):.2f}  max {max(lags):.2f}"
    )
    print(
        f"all firings in the run: {Firing.objects.filter(automation__name__startswith=BENCH).count():,}"
    )


def cost(args) -> None:
    import logging

    from django.db import connection

    from automations.engine.models import AutomationState, Firing
    from automations.engine.worker import Engine
    from eventsui.events import schemas, services
    from eventsui.events.models import EventBatch

    logging.getLogger("automations.engine.worker").setLevel(logging.WARNING)  # a line per firing
    events = [schemas.Event.model_validate(e) for e in demo_events(args.events, seed=11)]
    results: dict[int, float] = {}
    for extra in (0, 900, 0, 900):  # twice each, the best of two (the first run warms up)
        store_automations(100, extra_unmatched=extra)
        EventBatch.objects.all().delete()
        AutomationState.objects.all().delete()
        engine = Engine()
        engine.refresh(force=True)
        for i in range(0, len(events), 500):
            # Fresh ids, so each round stores (and evaluates) the same events anew.
            chunk = [e.model_copy(update={"id": uuid.uuid4()}) for e in events[i : i + 500]]
            services.ingest_events(chunk, publish=False)
        connection.queries_log.clear()
        started = time.perf_counter()
        while engine.run_once():
            pass
        elapsed = time.perf_counter() - started
        automations = 100 + extra
        per_event = elapsed / len(events) * 1e6
        results[automations] = min(results.get(automations, per_event), per_event)
        print(
            f"{automations:5d} enabled automations: {elapsed:.2f} s for {len(events):,} events, "
            f"{per_event:.0f} us/event",
            flush=True,
        )
    Firing.objects.filter(automation__name__startswith=BENCH).delete()
    print(f"1,000 vs 100: {results[1000] / results[100]:.2f}x the cost per event")


def backtest_bench(args) -> None:
    from automations import schemas
    from automations.engine.backtest import backtest

    until = datetime.now(UTC)
    since = until - timedelta(days=7)
    trigger = schemas.EventTrigger.model_validate(
        {
            "type": "event",
            "expect": [args.event],
            "for_each": ["prefect.resource.id"],
            "threshold": 2,
            "within": 3600,
        }
    )
    for attempt in range(args.repeat):
        started = time.perf_counter()
        result = backtest(trigger, since, until)
        elapsed = time.perf_counter() - started
        print(
            f"backtest of {args.event!r} over 7 days: {elapsed:.2f} s, "
            f"{result['events_read']:,} events read, {len(result['firings'])} firings, "
            f"truncated {result['truncated']} (run {attempt + 1})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("live")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--user", default="admin")
    p.add_argument("--password", required=True)
    p.add_argument("--automations", type=int, default=100)
    p.add_argument("--rate", type=int, default=2000)
    p.add_argument("--seconds", type=int, default=60)
    p = sub.add_parser("cost")
    p.add_argument("--events", type=int, default=20_000)
    p = sub.add_parser("backtest")
    p.add_argument("--event", default="prefect.task-run.Failed")
    p.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup_django()
    {"live": live, "cost": cost, "backtest": backtest_bench}[args.mode](args)


if __name__ == "__main__":
    main()
