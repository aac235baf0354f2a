"""Live feed fan-out benchmark: N browser feed sockets, each with its own filter, while events
are POSTed to /api/events at a steady rate.

Measures, for every (event, matching subscriber) pair, the time from just before the POST
that carried the event to the moment the subscriber's socket delivered it (p50/p95/max), and
checks that subscribers receive exactly what their filter selects: non-matching subscribers
must receive nothing. Runs against any running server (daphne); the feed socket needs a session,
so the benchmark logs in through the login form.

    python bench/feed_fanout.py --url http://127.0.0.1:8000 --user admin --password PW
    python bench/feed_fanout.py --url ... --subscribers 200 --rate 500 --seconds 20

Filters are a mix (subscriber i): event name prefix, related flow by role + id, related work
pool by role + id, primary resource id prefix, and filters that match nothing. All bench
events carry a per-run marker so other traffic on the server does not disturb the counts.
Exit status 1 if p95 > --p95-budget-ms or any subscriber received an event it should not.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import websockets

FLOWS = 20
ROW_ID = re.compile(r'<li class="feed-row" data-id="([^"]+)"')
POOLS = 5
KINDS = ("a", "b", "c", "d")


def login(url: str, user: str, password: str) -> str:
    """A session cookie, obtained through the login form like a browser does."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
        page = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = client.post(
            "/login/",
            data={"username": user, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{url}/login/"},
        )
        if response.status_code != 302 or "sessionid" not in client.cookies:
            raise SystemExit(f"login failed ({response.status_code}): check --user/--password")
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


class Plan:
    """The run's events and the subscribers' filters, with the matching rule of each filter."""

    def __init__(self, run: str, subscribers: int):
        self.run = run
        self.prefix = f"prefect.bench{run}."
        self.flows = [f"prefect.flow.bench{run}-{i}" for i in range(FLOWS)]
        self.pools = [f"prefect.work-pool.bench{run}-{i}" for i in range(POOLS)]
        self.filters: list[tuple[str, callable]] = [self._filter(i) for i in range(subscribers)]

    def _filter(self, i: int):
        kind = i % 5
        if kind == 0:
            k = KINDS[i % len(KINDS)]
            return (
                f"event={self.prefix}{k}.*",
                lambda e, k=k: e["event"].startswith(f"{self.prefix}{k}."),
            )
        if kind == 1:
            flow = self.flows[i % FLOWS]
            return (f"related=flow:{flow}", lambda e, flow=flow: e["_flow"] == flow)
        if kind == 2:
            pool = self.pools[i % POOLS]
            return (f"related=work-pool:{pool}", lambda e, pool=pool: e["_pool"] == pool)
        if kind == 3:
            digit = "0123456789abcdef"[i % 16]
            rid = f"prefect.flow-run.bench{self.run}-{digit}"
            return (
                f"resource={rid}*",
                lambda e, rid=rid: e["resource"]["prefect.resource.id"].startswith(rid),
            )
        return (f"event={self.prefix}never.*", lambda e: False)

    def event(self, rng: random.Random) -> dict:
        flow = rng.choice(self.flows)
        pool = rng.choice(self.pools) if rng.random() < 0.7 else None
        state = rng.choice(("Running", "Completed", "Failed"))
        related = [
            {
                "prefect.resource.id": flow,
                "prefect.resource.role": "flow",
                "prefect.resource.name": flow.rsplit(".", 1)[-1],
            }
        ]
        if pool:
            related.append({"prefect.resource.id": pool, "prefect.resource.role": "work-pool"})
        related.append({"prefect.resource.id": "prefect.tag.bench", "prefect.resource.role": "tag"})
        return {
            "id": str(uuid.uuid4()),
            "event": f"{self.prefix}{rng.choice(KINDS)}.{state}",
            "resource": {
                "prefect.resource.id": f"prefect.flow-run.bench{self.run}-{uuid.uuid4().hex}",
                "prefect.resource.name": "bench-run",
            },
            "related": related,
            "payload": {"bench": True},
            "_flow": flow,
            "_pool": pool,
        }


async def subscriber(
    ws_url: str,
    origin: str,
    cookie: str,
    query: str,
    received: dict,
    ready: asyncio.Event,
    counters: dict,
) -> None:
    async with websockets.connect(
        f"{ws_url}/ws/feed/",
        origin=origin,
        additional_headers={"Cookie": cookie},
        max_size=None,
        open_timeout=30,
        ping_interval=None,
    ) as socket:
        await socket.send(json.dumps({"type": "filter", "query": query}))
        answer = json.loads(await socket.recv())
        if answer.get("type") != "subscribed":
            raise SystemExit(f"subscription refused for {query!r}: {answer}")
        ready.set()
        async for message in socket:
            now = time.perf_counter()
            data = json.loads(message)
            if data["type"] == "events":
                for row in data["rows"]:  # the HTML of the feed's row, one per event
                    received[ROW_ID.search(row).group(1)] = now
            elif data["type"] == "gap":
                counters["gaps"] += 1


async def main(args) -> int:
    url = args.url.rstrip("/")
    parts = urlsplit(url)
    ws_url = ("wss://" if parts.scheme == "https" else "ws://") + parts.netloc
    cookie = login(url, args.user, args.password)
    run = uuid.uuid4().hex[:8]
    plan = Plan(run, args.subscribers)
    rng = random.Random(args.seed)
    received: list[dict] = [{} for _ in plan.filters]
    counters = {"gaps": 0}

    readies = [asyncio.Event() for _ in plan.filters]
    tasks = []
    for i, (query, _) in enumerate(plan.filters):
        tasks.append(
            asyncio.create_task(
                subscriber(ws_url, url, cookie, query, received[i], readies[i], counters)
            )
        )
        if i % 20 == 19:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=60)
    print(
        f"{len(tasks)} subscribers connected; sending {args.rate} events/s for {args.seconds} s "
        f"in batches of {args.batch}"
    )

    sent_at: dict[str, float] = {}
    events: list[dict] = []
    auth = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections
    )
    post_errors = 0
    slow_posts = 0
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": auth}, limits=limits, timeout=30
    ) as client:

        async def post(batch: list[dict]) -> None:
            nonlocal post_errors
            body = json.dumps(
                [{k: v for k, v in e.items() if not k.startswith("_")} for e in batch]
            )
            response = await client.post(
                "/api/events", content=body, headers={"Content-Type": "application/json"}
            )
            if response.status_code != 204:
                post_errors += 1
                print("POST failed:", response.status_code, response.text[:200], file=sys.stderr)

        total = args.rate * args.seconds
        interval = args.batch / args.rate
        start = time.perf_counter()
        pending: set[asyncio.Task] = set()
        for n in range(0, total, args.batch):
            due = start + (n // args.batch) * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.5:
                slow_posts += 1
            batch = [plan.event(rng) for _ in range(min(args.batch, total - n))]
            now = time.perf_counter()
            for e in batch:
                e["payload"]["sent"] = datetime.now(UTC).isoformat()
                sent_at[e["id"]] = now
            events.extend(batch)
            task = asyncio.create_task(post(batch))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - start
    print(
        f"sent {len(events)} events in {elapsed:.1f} s ({len(events) / elapsed:.0f}/s); "
        f"POST errors: {post_errors}"
    )
    await asyncio.sleep(args.drain)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    latencies: list[float] = []
    expected_total = delivered = missing = wrong = 0
    nonmatching_received = 0
    for i, (_query, matches) in enumerate(plan.filters):
        expected = {e["id"] for e in events if matches(e)}
        got = received[i]
        expected_total += len(expected)
        for event_id, at in got.items():
            if event_id in expected:
                delivered += 1
                latencies.append((at - sent_at[event_id]) * 1000)
            else:
                wrong += 1
        missing += len(expected - got.keys())
        if not expected:
            nonmatching_received += len(got)
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(len(latencies) * p))]
            if latencies
            else float("nan")
        )

    print(
        f"deliveries: {delivered}/{expected_total} expected, missing {missing}, "
        f"unexpected {wrong}, gaps signalled {counters['gaps']}"
    )
    print(
        f"non-matching subscribers ({sum(1 for q, _ in plan.filters if 'never' in q)}) received: "
        f"{nonmatching_received}"
    )
    if latencies:
        print(
            f"latency ms: p50 {pct(0.50):.1f}  p95 {pct(0.95):.1f}  p99 {pct(0.99):.1f}  "
            f"max {latencies[-1]:.1f}  mean {statistics.fmean(latencies):.1f}"
        )
    ok = (
        bool(latencies)
        and pct(0.95) <= args.p95_budget_ms
        and wrong == 0
        and nonmatching_received == 0
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--rate", type=int, default=500, help="events per second (total)")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10, help="events per POST")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait after sending")
    parser.add_argument("--p95-budget-ms", type=float, default=250.0)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
