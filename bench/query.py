"""Query benchmark: POST /api/events/filter and count-by latency against a server's store.

Measures client-side latency (HTTP round trip included) of the queries people run all day,
each repeated with varying ids taken from the store itself, and prints p50/p95/max:

- newest 50 events (no filter)
- event name prefix (a common and a rare prefix)
- primary resource id
- related resource by role + id
- related role alone
- count-by time over the last 24 hours

    python bench/query.py --url http://127.0.0.1:8000 --user admin --password PW
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    auth = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    client = Client(args.url, auth)

    _, sample = client.post("/api/events/filter", {"limit": 200})
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
    print(f"{'query':45} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, make in queries.items():
        for _ in range(5):  # warm up
            client.post("/api/events/filter", make())
        times = [client.post("/api/events/filter", make())[0] * 1000 for _ in range(args.repeat)]
        print(
            f"{name:45} {statistics.median(times):8.1f} {percentile(times, 95):8.1f} {max(times):8.1f}"
        )
    count_body = {"filter": {"occurred": day}, "time_unit": "minute", "time_interval": 15}
    for _ in range(3):
        client.post("/api/events/count-by/time", count_body)
    times = [
        client.post("/api/events/count-by/time", count_body)[0] * 1000
        for _ in range(max(20, args.repeat // 5))
    ]
    _, counts = client.post("/api/events/count-by/time", count_body)
    print(
        f"{'count-by time, 24 h in 15 min buckets':45} {statistics.median(times):8.1f} "
        f"{percentile(times, 95):8.1f} {max(times):8.1f}   ({sum(c['count'] for c in counts):,} events counted)"
    )


if __name__ == "__main__":
    main()
