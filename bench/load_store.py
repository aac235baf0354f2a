"""Build a large PostgreSQL event store fast, for the query benchmark (bench/query.py).

Simulates a base of demo events once (Prefect's event catalog, as `manage.py demo_events`),
then writes copies of it with new event ids, shifted in time to cover the whole span, with
COPY straight into `events` and `event_resources`, in the text `services.ingest_events`
writes. The counts kept at ingest (`event_counts`, `event_resource_counts`) are then computed
from the stored rows by the statements of the migration that created them. Nothing is
ANALYZEd: the store is as a user gets it through the API (run bench/query.py --analyze to
measure it with statistics too).

    DATABASE_URL=postgresql://.../bench python bench/load_store.py --events 1000000 --span 7d
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsui.settings")


def parse_span(text: str) -> timedelta:
    units = {"m": "minutes", "h": "hours", "d": "days"}
    return timedelta(**{units[text[-1]]: float(text[:-1])})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--base", type=int, default=20_000, help="simulated events, copied")
    parser.add_argument("--span", default="7d", help="the stored events end now and cover this")
    parser.add_argument("--chunk", type=int, default=20_000, help="events per COPY")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection, transaction

    from eventsui.events import services
    from eventsui.events.demo import simulator as demo

    if connection.vendor != "postgresql":
        raise SystemExit("bench/load_store.py writes with COPY: set DATABASE_URL=postgresql://...")
    span = parse_span(args.span)
    end = datetime.now(UTC)
    copies = max(1, -(-args.events // args.base))
    window = span / copies
    started = time.perf_counter()
    base_events = list(demo.generate(args.base, end - window, end, seed=args.seed))
    rows = services._rows(base_events, end)
    print(f"simulated {len(rows)} base events in {time.perf_counter() - started:.1f}s", flush=True)
    # Each base event as COPY lines with the id and times left to fill in.
    event_lines = []
    resource_lines = []
    for row in rows:
        line = services._event_copy_text([row])
        event_lines.append(line.split("\t", 3)[3])  # after id, occurred, received
        res = services._resource_copy_text([row]).splitlines(keepends=True)
        resource_lines.append(
            [r.split("\t", 1)[1].split("\t", 2) for r in res]  # [position, occurred, rest]
        )
    stored = 0
    loading = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE events, event_resources, event_counts, event_resource_counts")
        copy = 0
        while stored < args.events:
            shift = window * copy
            n = min(len(rows), args.events - stored)
            for start in range(0, n, args.chunk):
                ev_out, res_out = [], []
                for i in range(start, min(n, start + args.chunk)):
                    row = rows[i]
                    event_id = str(uuid.uuid4())
                    occurred = (row.occurred - shift).isoformat()
                    received = (row.received - shift).isoformat()
                    ev_out.append(f"{event_id}\t{occurred}\t{received}\t{event_lines[i]}")
                    for position, _, rest in resource_lines[i]:
                        res_out.append(f"{event_id}\t{position}\t{occurred}\t{rest}")
                with transaction.atomic():
                    with cursor.cursor.copy(services._COPY_EVENTS) as c:
                        c.write("".join(ev_out))
                    with cursor.cursor.copy(services._COPY_RESOURCES) as c:
                        c.write("".join(res_out))
                stored += len(ev_out)
            copy += 1
            print(f"  {stored:,} events ({time.perf_counter() - loading:.0f}s)", flush=True)
        counting = time.perf_counter()
        migration = importlib.import_module("eventsui.events.migrations.0004_event_counts")
        for sql in migration._backfill_statements("postgresql"):
            cursor.execute(sql)
        print(f"counts computed in {time.perf_counter() - counting:.0f}s")
    print(
        f"stored {stored:,} events over {args.span} in {time.perf_counter() - started:.0f}s "
        "(not analyzed)"
    )


if __name__ == "__main__":
    main()
