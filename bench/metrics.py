"""Metric trigger benchmark (PostgreSQL; DATABASE_URL names the store).

load: fills the store with --events events over the last 7 days through `ingest_events` (the
  COPY path): flow runs of 100 deployments going Scheduled, sometimes Late, Pending, Running
  and Completed / Failed / Crashed (about 5 events a run, each with flow, deployment,
  work-pool and tag related resources), and task-run and worker events around them (a third).
  Events go in by the COPY of `ingest_events`, without its engine batches and per-minute
  counts (not needed here); `--drop-indexes` builds the indexes after the COPY; the table is
  then clustered in time order, as events that arrived live lie. No ANALYZE.

pass: stores --triggers enabled metric automations (successes, duration and lateness, each
  watching one deployment's runs through `match_related`, range 1 h; every tenth watching
  every flow run), then times --repeat evaluation passes of the engine
  (`Engine.process_metrics`, every trigger due), printing the time of each pass, the rows
  read, and the slowest triggers. `--analyze` runs ANALYZE first (the figures are asked
  both ways: a freshly loaded table has no statistics on a PostgreSQL without autovacuum).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/h_metrics_bench \\
        python bench/metrics.py load --events 1000000 --drop-indexes
    DATABASE_URL=... python bench/metrics.py pass
    DATABASE_URL=... python bench/metrics.py pass --analyze
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsui.settings")

BENCH = "bench-metrics"  # name prefix of the automations this benchmark stores
DEPLOYMENTS = 100
BATCH = 10_000


def setup_django() -> None:
    import django

    django.setup()


def _related(run: int, deployment: int) -> list[dict]:
    return [
        {
            "prefect.resource.id": f"prefect.flow.{deployment % 20}",
            "prefect.resource.role": "flow",
            "prefect.resource.name": f"flow-{deployment % 20}",
        },
        {
            "prefect.resource.id": f"prefect.deployment.d{deployment}",
            "prefect.resource.role": "deployment",
            "prefect.resource.name": f"deployment-{deployment}",
        },
        {
            "prefect.resource.id": f"prefect.work-pool.pool{deployment % 5}",
            "prefect.resource.role": "work-pool",
        },
        {"prefect.resource.id": f"prefect.tag.t{run % 7}", "prefect.resource.role": "tag"},
    ]


def generate(count: int, seed: int = 11):
    """Yield event dicts, about `count` of them, over the 7 days before now."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=7)
    span = (now - start).total_seconds()
    runs = count  # the loop stops at `count` events
    produced = 0
    for run in range(runs):
        deployment = rng.randrange(DEPLOYMENTS)
        t = start + timedelta(seconds=rng.uniform(0, span))
        related = _related(run, deployment)
        run_id = f"prefect.flow-run.{uuid.UUID(int=rng.getrandbits(128))}"
        states = [("Scheduled", 0.0)]
        at = 0.0
        if rng.random() < 0.15:
            at += rng.uniform(5, 30)
            states.append(("Late", at))
            at += rng.uniform(30, 900)
        else:
            at += rng.uniform(0, 5)
        states.append(("Pending", at))
        at += rng.uniform(1, 20)
        states.append(("Running", at))
        at += rng.expovariate(1 / 300)
        end = rng.random()
        states.append(("Completed" if end < 0.85 else "Failed" if end < 0.97 else "Crashed", at))
        for state, offset in states:
            occurred = t + timedelta(seconds=offset)
            if occurred > now:
                continue
            yield {
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
                "occurred": occurred.isoformat(),
                "event": f"prefect.flow-run.{state}",
                "resource": {"prefect.resource.id": run_id, "prefect.resource.name": f"run-{run}"},
                "related": related,
                "payload": {"intended": {"to": state.upper()}},
            }
            produced += 1
            # task runs and worker events around the flow run: a third of the store
            if rng.random() < 0.5:
                yield {
                    "id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "occurred": occurred.isoformat(),
                    "event": rng.choice(
                        [
                            "prefect.task-run.Running",
                            "prefect.task-run.Completed",
                            "prefect.worker.submitted-flow-run",
                        ]
                    ),  # fmt: skip
                    "resource": {
                        "prefect.resource.id": f"prefect.task-run.{uuid.UUID(int=rng.getrandbits(128))}"
                    },
                    "related": related[:2],
                    "payload": {},
                }
                produced += 1
        if produced >= count:
            return


def _copy(batch: list) -> int:
    """The COPY of `ingest_events` (events and their resource rows, in one transaction),
    without what a benchmark store does not need: the engine's batch rows and the per-minute
    counts (whose upserts cost more than the COPY on a busy machine)."""
    from django.db import transaction

    from eventsui.events import services

    with transaction.atomic():
        return len(services._store_postgresql(services._rows(batch, datetime.now(UTC))))


def _drop_indexes() -> list[str]:
    """Drop the secondary indexes of the store's two big tables (their definitions are
    returned): COPY into a table with seven indexes on a busy 2-core machine is several times
    slower than COPY followed by building the indexes once."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('events', 'event_resources') AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint)"
        )
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in found]


def _create_indexes(definitions: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for definition in definitions:
            started = time.perf_counter()
            cursor.execute(definition)
            print(f"  {definition[:90]}: {time.perf_counter() - started:.0f} s", flush=True)


def _cluster() -> None:
    """Put the events in time order on disk, as a live store has them (events arrive about
    in time order; this loader writes run by run, scattering an hour over the whole table)."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("CLUSTER events USING events_occurred_id")
    print(f"CLUSTER events by time: {time.perf_counter() - started:.0f} s", flush=True)


def load(args) -> None:
    from eventsui.events import schemas
    from eventsui.events.models import Event, EventBatch

    indexes = _drop_indexes() if args.drop_indexes else []
    started = time.perf_counter()
    batch: list = []
    stored = 0
    for data in generate(args.events, seed=args.seed):
        batch.append(schemas.Event.model_validate(data))
        if len(batch) >= BATCH:
            stored += _copy(batch)
            batch = []
            if stored % 100_000 < BATCH:
                rate = stored / (time.perf_counter() - started)
                print(f"{stored:,} stored ({rate:,.0f}/s)", flush=True)
    if batch:
        stored += _copy(batch)
    EventBatch.objects.all().delete()
    if indexes:
        copied = time.perf_counter() - started
        print(f"copied in {copied:.0f} s; building {len(indexes)} indexes", flush=True)
        _create_indexes(indexes)
    _cluster()
    elapsed = time.perf_counter() - started
    print(
        f"loaded {stored:,} events in {elapsed:.0f} s ({stored / elapsed:,.0f}/s); "
        f"store holds {Event.objects.count():,}",
        flush=True,
    )


def store_triggers(count: int) -> None:
    from automations import schemas
    from automations.models import Automation

    Automation.objects.filter(name__startswith=BENCH).delete()
    names = [("successes", "<", 0.9), ("duration", ">", 600), ("lateness", ">=", 300)]
    rows = []
    for i in range(count):
        name, operator, threshold = names[i % 3]
        trigger = {
            "type": "metric",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "metric": {
                "name": name,
                "operator": operator,
                "threshold": threshold,
                "range": 3600,
                "firing_for": 300,
            },
        }
        if i % 10:
            trigger["match_related"] = {
                "prefect.resource.id": f"prefect.deployment.d{i % DEPLOYMENTS}",
                "prefect.resource.role": "deployment",
            }
        core = schemas.AutomationCore.model_validate(
            {"name": f"{BENCH}-{i}", "trigger": trigger, "actions": []}
        )
        data = core.model_dump(mode="json")
        rows.append(
            Automation(name=data["name"], enabled=True, trigger=data["trigger"], actions=[])
        )
    Automation.objects.bulk_create(rows)


def one_pass(engine, timings: dict) -> float:
    from automations.engine import metric_engine, metrics
    from automations.engine.models import MetricState

    MetricState.objects.update(next_due=engine.now() - timedelta(seconds=1))
    metric_engine._looked.pop(engine, None)
    original = metrics.read_rows

    def timed(trigger, since, until, limit=None):
        t = time.perf_counter()
        rows = original(trigger, since, until, limit)
        timings.setdefault(str(trigger.id), []).append((time.perf_counter() - t, len(rows)))
        return rows

    metrics.read_rows = timed
    try:
        started, cpu = time.perf_counter(), time.process_time()
        engine.process_metrics()
        timings["cpu"] = time.process_time() - cpu
        return time.perf_counter() - started
    finally:
        metrics.read_rows = original


def pass_bench(args) -> None:
    from django.db import connection

    from automations.engine.models import MetricState
    from automations.engine.worker import Engine
    from eventsui.events.models import Event

    print(f"store: {Event.objects.count():,} events", flush=True)
    if args.analyze:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE events; ANALYZE event_resources;")
        print(f"ANALYZE: {time.perf_counter() - started:.1f} s", flush=True)
    newest = Event.objects.order_by("-occurred").values_list("occurred", flat=True).first()
    # The loader's runs start up to an hour before it ran: evaluate an hour before its newest
    # event, where the store is as dense as anywhere (a range of 1 h ending there).
    as_of = newest - timedelta(hours=1) if args.as_of is None else args.as_of
    print(f"evaluated as of {as_of.isoformat()}", flush=True)
    store_triggers(args.triggers)
    engine = Engine(now=lambda: as_of)
    engine.refresh(force=True)
    engine.process_metrics()  # creates the state rows (and a first evaluation)
    print(f"{MetricState.objects.count()} metric triggers", flush=True)
    for attempt in range(args.repeat):
        timings: dict = {}
        elapsed = one_pass(engine, timings)
        cpu = timings.pop("cpu")
        reads = [t for ts in timings.values() for t in ts]
        rows = sum(n for _, n in reads)
        slowest = sorted(reads, reverse=True)[:3]
        print(
            f"pass {attempt + 1}: {elapsed * 1000:.0f} ms for {args.triggers} metric triggers, "
            f"{cpu * 1000:.0f} ms of it this process's CPU (load average "
            f"{os.getloadavg()[0]:.1f}); {len(timings)} read on their own: {rows:,} rows in "
            f"{sum(t for t, _ in reads) * 1000:.0f} ms, slowest "
            f"{', '.join(f'{t * 1000:.1f} ms/{n} rows' for t, n in slowest)}; the others in one "
            f"query per related role (metrics.prefetch)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("load")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--drop-indexes", action="store_true", help="drop, load, then build the indexes")
    p = sub.add_parser("pass")
    p.add_argument("--triggers", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--analyze", action="store_true")
    p.add_argument("--as-of", type=datetime.fromisoformat, default=None)
    args = parser.parse_args()
    setup_django()
    {"load": load, "pass": pass_bench}[args.mode](args)


if __name__ == "__main__":
    main()
