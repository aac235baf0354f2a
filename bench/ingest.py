"""Ingest benchmark: events/s from the first byte sent to every event queryable, zero lost.

Runs against any server URL (start one with daphne first). Events come from the demo
simulator (Prefect's event catalog, ~1.6 KB and ~7 related resources each), are serialized before
the clock starts, and are sent either as POST /api/events batches over several keep-alive
connections, or over one /api/events/in websocket with Prefect's protocol. After sending,
the benchmark waits until the last event is queryable through POST /api/events/filter (that
instant ends the clock), then checks every id through the filter API: lost = sent - found.

    python bench/ingest.py --url http://127.0.0.1:8000 --user admin --password PW --mode http --events 200000
    python bench/ingest.py --url http://127.0.0.1:8000 --user admin --password PW --mode ws --events 200000

With --copy-limit DATABASE_URL (the server's PostgreSQL database) the same run also measures
the raw COPY limit: the same events, already in COPY's text form, copied by as many
connections in batches of the same size into empty tables made like the store's (same
columns and indexes, `CREATE TABLE ... (LIKE ... INCLUDING ALL)`, dropped after), and prints
the HTTP rate as a share of it. The store itself is not analyzed or otherwise touched.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsui.settings")


def make_events(count: int, seed: int) -> list[dict]:
    import django

    django.setup()
    from eventsui.events.demo import simulator as demo

    end = datetime.now(UTC)
    start = end - timedelta(minutes=30)
    events = [e.model_dump(mode="json") for e in demo.generate(count, start, end, seed=seed)]
    return events


class Http:
    def __init__(self, url: str, auth: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.headers = {"Authorization": auth, "Content-Type": "application/json"}
        self.local = threading.local()

    def conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        return conn

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        for attempt in range(3):
            try:
                conn = self.conn()
                conn.request("POST", path, body=body, headers=self.headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def queryable(client: Http, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 50):  # the API's page limit (Prefect's) is 50
        chunk = ids[i : i + 50]
        body = json.dumps(
            {
                "filter": {
                    "id": {"id": chunk},
                    "occurred": {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
                },
                "limit": 50,
            }
        ).encode()
        status, data = client.post("/api/events/filter", body)
        if status != 200:
            raise RuntimeError(f"filter answered {status}: {data[:300]!r}")
        found.update(e["id"] for e in json.loads(data)["events"])
    return found


def send_http(client: Http, batches: list[bytes], concurrency: int) -> None:
    def post(body: bytes) -> None:
        status, data = client.post("/api/events", body)
        if status != 204:
            raise RuntimeError(f"POST /api/events answered {status}: {data[:300]!r}")

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, batches))


async def send_ws(url: str, user: str, password: str, frames: list[str]) -> None:
    import websockets

    ws_url = url.replace("http://", "ws://").replace("https://", "wss://") + "/api/events/in"
    async with websockets.connect(
        ws_url,
        subprotocols=["prefect"],
        max_size=None,
        ping_interval=None,
        max_queue=None,
        write_limit=2**20,
    ) as ws:
        await ws.send(json.dumps({"type": "auth", "token": f"{user}:{password}"}))
        reply = json.loads(await ws.recv())
        if reply.get("type") != "auth_success":
            raise RuntimeError(f"auth failed: {reply}")
        for i, frame in enumerate(frames, start=1):
            await ws.send(frame)
            if i % 700 == 0:  # what Prefect's client does: a ping every 700 events
                await (await ws.ping())
        await (await ws.ping())
        # Keep the socket open until the server has stored the tail of the stream.
        await asyncio.sleep(0.2)


def copy_limit(database_url: str, events: list[dict], batch: int, concurrency: int) -> float:
    """events/s of a raw COPY of these events (and their resource rows), in batches of
    `batch` over `concurrency` connections, into empty tables shaped like the store's."""
    import psycopg

    from eventsui.events import schemas, services

    validated = [schemas.Event.model_validate(e) for e in events]
    rows = services._rows(validated, datetime.now(UTC))
    chunks = [
        (
            services._event_copy_text(rows[i : i + batch]),
            services._resource_copy_text(rows[i : i + batch]),
        )
        for i in range(0, len(rows), batch)
    ]
    suffix = f"_copy_limit_{os.getpid()}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE events{suffix} (LIKE events INCLUDING ALL)")
        conn.execute(f"CREATE TABLE event_resources{suffix} (LIKE event_resources INCLUDING ALL)")
    copy_events = services._COPY_EVENTS.replace("COPY events ", f"COPY events{suffix} ")
    copy_resources = services._COPY_RESOURCES.replace(
        "COPY event_resources ", f"COPY event_resources{suffix} "
    )
    local = threading.local()
    connections = []

    def copy(chunk: tuple[str, str]) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(database_url)
            connections.append(conn)
        with conn.transaction(), conn.cursor() as cursor:
            with cursor.copy(copy_events) as c:
                c.write(chunk[0])
            with cursor.copy(copy_resources) as c:
                c.write(chunk[1])

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(copy, chunks))
        elapsed = time.perf_counter() - started
    finally:
        for conn in connections:
            conn.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS events{suffix}, event_resources{suffix}")
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--mode", choices=["http", "ws"], default="http")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500, help="events per POST (http mode)")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel POSTs (http mode)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--copy-limit",
        metavar="DATABASE_URL",
        help="also measure a raw COPY of the same events into this PostgreSQL database",
    )
    args = parser.parse_args()

    seed = args.seed if args.seed is not None else int(time.time())
    print(f"generating {args.events} demo events (seed {seed})...", flush=True)
    events = make_events(args.events, seed)
    sizes = [len(json.dumps(e)) for e in events]
    related = sum(len(e["related"]) for e in events) / len(events)
    print(f"average event {sum(sizes) / len(sizes) / 1024:.2f} KB, {related:.1f} related resources")
    ids = [e["id"] for e in events]
    auth = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    client = Http(args.url, auth)
    status, _ = client.post("/api/events/filter", b'{"limit": 1}')
    if status != 200:
        raise SystemExit(f"cannot query {args.url} as {args.user}: HTTP {status}")

    if args.mode == "http":
        batches = [
            json.dumps(events[i : i + args.batch]).encode()
            for i in range(0, len(events), args.batch)
        ]
        started = time.perf_counter()
        send_http(client, batches, args.concurrency)
    else:
        frames = [json.dumps(e) for e in events]
        started = time.perf_counter()
        asyncio.run(send_ws(args.url, args.user, args.password, frames))
    sent = time.perf_counter()
    tail = ids[-200:]
    while len(queryable(client, tail)) < len(tail):
        if time.perf_counter() - sent > 120:
            break
        time.sleep(0.02)
    done = time.perf_counter()
    found = queryable(client, ids)
    lost = len(set(ids) - found)
    elapsed = done - started
    print(
        f"mode={args.mode} events={len(ids)} sent_in={sent - started:.2f}s "
        f"all_queryable_after={elapsed:.2f}s rate={len(ids) / elapsed:,.0f} events/s lost={lost}"
    )
    if args.copy_limit:
        rate = len(ids) / elapsed
        limit = copy_limit(args.copy_limit, events, args.batch, args.concurrency)
        print(
            f"raw COPY of the same events ({args.concurrency} connections, batches of "
            f"{args.batch}): {limit:,.0f} events/s; HTTP ingest is {rate / limit:.0%} of it"
        )
    if lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
