"""Query benchmark: POST /api/events/filter and count-by latency against a server's store.

Measures client-side latency (HTTP round trip included) of the queries people run all day,
each repeated with varying ids taken from the store itself, and prints p50/p95/max:

- newest 50 events (no filter)
- event name prefix (a common and a rare prefix)
- primary resource id
- related resource by role + id
- related role alone
- count-by time over the last 24 hours, count-by event over the last 7 days

Every answer includes the exact `total`. With --database-url (the server's own database,
PostgreSQL) it measures the store in the states asked for with --states: `as-ingested`
(the planner has no statistics: the tables were never analyzed, as a store filled through
the API on a server without autovacuum; the benchmark says whether that holds and can
forget statistics already gathered with --forget-statistics) and `analyzed` (after
`ANALYZE`), and prints each figure against its target.

    python bench/query.py --url http://127.0.0.1:8000 --user admin --password PW
    python bench/query.py --url ... --password PW --database-url postgresql://.../db \
        --states as-ingested,analyzed --forget-statistics
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit


class Client:
    def __init__(self, url: str, auth: str):
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
        self.headers = {"Authorization": auth, "Content-Type": "application/json"}

    def post(self, path: str, body: dict) -> tuple[float, dict | list]:
        data = json.dumps(body).encode()
        started = time.perf_counter()
        self.conn.request("POST", path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"{path} answered {response.status}: {raw[:300]!r}")
        return elapsed, json.loads(raw)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


TABLES = ("events", "event_resources", "event_counts", "event_resource_counts")


def statistics_state(database_url: str) -> str:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.reltuples, (SELECT count(*) FROM pg_statistic s"
            " WHERE s.starelid = c.oid) FROM pg_class c WHERE c.relname = ANY(%s)",
            [list(TABLES)],
        ).fetchall()
    analyzed = [name for name, tuples, stats in rows if tuples >= 0 or stats]
    return "analyzed: " + ", ".join(analyzed) if analyzed else "no statistics"


def forget_statistics(database_url: str) -> None:
    """Back to the state of a store never analyzed (superuser only): no column statistics
    and no row estimate. For benchmarking the planner without statistics repeatedly."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM pg_statistic WHERE starelid IN"
            " (SELECT oid FROM pg_class WHERE relname = ANY(%s))",
            [list(TABLES)],
        )
        conn.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0, relallvisible = 0"
            " WHERE relname = ANY(%s) OR oid IN (SELECT indexrelid FROM pg_index WHERE"
            " indrelid IN (SELECT oid FROM pg_class WHERE relname = ANY(%s)))",
            [list(TABLES), list(TABLES)],
        )


def analyze(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"ANALYZE {table}")


TARGET_FILTER_MS = 25.0
TARGET_COUNT_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url", help="the server's database (PostgreSQL)")
    parser.add_argument("--states", default="as-ingested", help="as-ingested,analyzed")
    parser.add_argument(
        "--forget-statistics",
        action="store_true",
        help="before measuring as-ingested, drop the statistics gathered (superuser)",
    )
    args = parser.parse_args()
    auth = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    client = Client(args.url, auth)
    states = [s.strip() for s in args.states.split(",") if s.strip()]
    if not args.database_url:
        measure(client, args)
        return
    for state in states:
        if state == "as-ingested" and args.forget_statistics:
            forget_statistics(args.database_url)
        elif state == "analyzed":
            started = time.perf_counter()
            analyze(args.database_url)
            print(f"ANALYZE took {time.perf_counter() - started:.1f}s")
        print(f"\n== {state} ({statistics_state(args.database_url)})")
        measure(client, args)


def measure(client: Client, args) -> None:

    _, sample = client.post("/api/events/filter", {"limit": 50})
    total = sample["total"]
    resources = sorted({e["resource"]["prefect.resource.id"] for e in sample["events"]})
    related = sorted(
        {
            (r["prefect.resource.role"], r["prefect.resource.id"])
            for e in sample["events"]
            for r in e["related"]
            if r["prefect.resource.role"] in {"flow", "deployment", "work-pool", "work-queue"}
        }
    )
    if not resources or not related:
        raise SystemExit("the store has no events to sample ids from; load demo events first")
    now = datetime.now(UTC)
    day = {"since": (now - timedelta(hours=24)).isoformat(), "until": now.isoformat()}
    week = {"since": (now - timedelta(days=7)).isoformat(), "until": now.isoformat()}
    queries = {
        "newest 50": lambda: {"limit": 50},
        "event prefix (common: prefect.task-run.)": lambda: {
            "filter": {"event": {"prefix": ["prefect.task-run."]}},
            "limit": 50,
        },
        "event prefix (rare: prefect.runner.)": lambda: {
            "filter": {"event": {"prefix": ["prefect.runner."]}},
            "limit": 50,
        },
        "resource id": lambda: {
            "filter": {"resource": {"id": [random.choice(resources)]}},
            "limit": 50,
        },
        "related role + id": lambda: (
            lambda r: {"filter": {"related": {"role": [r[0]], "id": [r[1]]}}, "limit": 50}
        )(random.choice(related)),
        "related role (work-pool)": lambda: {
            "filter": {"related": {"role": ["work-pool"]}},
            "limit": 50,
        },
    }
    print(
        f"store: {total:,} events{' (estimate)' if sample.get('total_is_estimate') else ''}; "
        f"{len(resources)} resource ids and {len(related)} related (role, id) pairs sampled"
    )
    print(f"{'query':45} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target   total")
    for name, make in queries.items():
        for _ in range(5):  # warm up
            client.post("/api/events/filter", make())
        times, totals = [], []
        for _ in range(args.repeat):
            elapsed, body = client.post("/api/events/filter", make())
            times.append(elapsed * 1000)
            totals.append(body["total"])
        p95 = percentile(times, 95)
        verdict = "ok" if p95 <= TARGET_FILTER_MS else "OVER"
        print(
            f"{name:45} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}"
            f"  {verdict:6} {statistics.median(totals):>9,.0f}"
        )
    counts = {
        "count-by time, 24 h in 15 min buckets": (
            "/api/events/count-by/time",
            {"filter": {"occurred": day}, "time_unit": "minute", "time_interval": 15},
        ),
        "count-by time, 24 h hourly, related role": (
            "/api/events/count-by/time",
            {
                "filter": {"occurred": day, "related": {"role": ["work-pool"]}},
                "time_unit": "hour",
                "time_interval": 1,
            },
        ),
        "count-by event, 7 days": ("/api/events/count-by/event", {"filter": {"occurred": week}}),
    }
    for name, (path, count_body) in counts.items():
        for _ in range(3):
            client.post(path, count_body)
        times = [client.post(path, count_body)[0] * 1000 for _ in range(max(20, args.repeat // 5))]
        _, answer = client.post(path, count_body)
        p95 = percentile(times, 95)
        verdict = "ok" if p95 <= TARGET_COUNT_MS else "OVER"
        print(
            f"{name:45} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}"
            f"  {verdict:6} {sum(c['count'] for c in answer):>9,}"
        )


if __name__ == "__main__":
    main()
