"""Against a real daphne process: what Prefect's event sockets promise when something fails.

A pong on `/api/events/in` confirms storage (the client forgets what it confirmed), so a batch
the store could not take must never be followed by a pong; an event that cannot be stored must
not cost the events around it; every close a consumer asks for must really close the socket
(autobahn refuses the RFC 6455 codes an application sends, except 1000); and a valid event of
any allowed size must pass both sockets (daphne's default limit is 1 MiB).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import websockets
from django.db import connection

from eventsui.events.live.consumers import (
    AUTH_TIMEOUT_SECONDS,
    CLOSE_POLICY,
    CLOSE_PROTOCOL,
    CLOSE_UNAVAILABLE,
)
from eventsui.events.models import Event
from tests.conftest import PASSWORD, make_event
from tests.live_server import start_server, stop_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(django_db_blocker):
    server = start_server(django_db_blocker)
    yield server
    stop_server(server)


def token(user) -> str:
    return f"{user.username}:{PASSWORD}"


async def open_socket(url: str, auth_token: str | None):
    ws = await websockets.connect(url, subprotocols=["prefect"], max_size=None)
    await ws.send(json.dumps({"type": "auth", "token": auth_token}))
    return ws, json.loads(await asyncio.wait_for(ws.recv(), timeout=10))


async def send_then_ping(url: str, auth_token: str, frames: list[str]) -> None:
    ws, answer = await open_socket(url, auth_token)
    assert answer == {"type": "auth_success"}
    async with ws:
        for frame in frames:
            await ws.send(frame)
        await asyncio.wait_for(await ws.ping(), timeout=60)


def stored(events: list[dict]) -> int:
    return Event.objects.filter(id__in=[e["id"] for e in events]).count()


def test_one_event_the_schema_refuses_never_costs_its_neighbours(live, viewer):
    # The campaign's reproduction: 150 good events, one whose resource id PostgreSQL's index
    # cannot hold, 150 more, then a ping: the pong came and all 300 good events were lost.
    good = [make_event() for _ in range(300)]
    bad = make_event(resource_id="x" * 3000)
    frames = [json.dumps(e) for e in good[:150]] + [json.dumps(bad)]
    frames += [json.dumps(e) for e in good[150:]]
    asyncio.run(send_then_ping(f"{live.ws_url}/api/events/in", token(viewer), frames))
    assert stored(good) == 300
    assert not Event.objects.filter(id=bad["id"]).exists()


def _refuse_event_named(name: str) -> None:
    """Make the real database refuse one event (a constraint the schema knows nothing about)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"ALTER TABLE events ADD CONSTRAINT test_refused CHECK (event <> '{name}')"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER test_refused BEFORE INSERT ON events WHEN NEW.event = '{name}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )


def test_an_event_the_database_refuses_is_dropped_and_its_neighbours_are_stored(live, viewer):
    _refuse_event_named("test.refused")
    good = [make_event() for _ in range(300)]
    refused = make_event("test.refused")
    frames = [json.dumps(e) for e in good[:150]] + [json.dumps(refused)]
    frames += [json.dumps(e) for e in good[150:]]
    asyncio.run(send_then_ping(f"{live.ws_url}/api/events/in", token(viewer), frames))
    assert stored(good) == 300
    assert not Event.objects.filter(id=refused["id"]).exists()


@pytest.mark.postgresql
def test_no_pong_confirms_an_event_the_store_failed_to_store(live, viewer):
    """The store fails mid-batch (its connection is terminated while it writes): the socket
    closes with CLOSE_UNAVAILABLE, no pong follows, and a reconnecting client's resend stores
    everything (recovery needs nothing but the client's own retry)."""
    import psycopg

    settings = connection.settings_dict
    dsn = f"host=127.0.0.1 user={settings['USER']} dbname={settings['NAME']}"
    first = [make_event() for _ in range(150)]
    second = [make_event() for _ in range(150)]
    url = f"{live.ws_url}/api/events/in"

    async def scenario() -> tuple[int | None, bool]:
        ws, answer = await open_socket(url, token(viewer))
        assert answer == {"type": "auth_success"}
        for event in first:
            await ws.send(json.dumps(event))
        await asyncio.wait_for(await ws.ping(), timeout=30)  # stored: confirmed
        locker = await psycopg.AsyncConnection.connect(dsn)
        await locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        for event in second:
            await ws.send(json.dumps(event))
        pong = await ws.ping()
        # The server's COPY now waits on the lock, mid-batch: terminate its connection.
        deadline = time.monotonic() + 20
        while True:
            cursor = await locker.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            waiting = [row[0] for row in await cursor.fetchall()]
            if waiting or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the server never started storing the second batch"
        for pid in waiting:
            await locker.execute("SELECT pg_terminate_backend(%s)", [pid])
        confirmed = False
        try:
            await asyncio.wait_for(pong, timeout=15)
            confirmed = True
        except websockets.ConnectionClosed:
            pass
        await locker.rollback()
        await locker.close()
        try:
            await asyncio.wait_for(ws.wait_closed(), timeout=15)
        finally:
            code = ws.close_code
        return code, confirmed

    code, confirmed = asyncio.run(scenario())
    assert not confirmed, "a pong confirmed events that were not stored"
    assert code == CLOSE_UNAVAILABLE
    assert stored(first) == 150
    assert stored(second) == 0
    # A Prefect client resends what was not confirmed on its next connection.
    frames = [json.dumps(e) for e in second]
    asyncio.run(send_then_ping(url, token(viewer), frames))
    assert stored(second) == 150


async def close_code(ws) -> int | None:
    """The code the server closed `ws` with (raises TimeoutError if it stays open)."""
    await asyncio.wait_for(ws.wait_closed(), timeout=AUTH_TIMEOUT_SECONDS + 10)
    return ws.close_code


def test_a_refused_auth_message_really_closes_the_socket(live, viewer):
    async def scenario():
        codes = []
        for path in ("/api/events/in", "/api/events/out"):
            ws, answer = await open_socket(f"{live.ws_url}{path}", f"{viewer.username}:wrong")
            assert answer["type"] == "auth_failure"
            codes.append(await close_code(ws))
        return codes

    assert asyncio.run(scenario()) == [CLOSE_POLICY, CLOSE_POLICY]


def test_a_socket_that_never_authenticates_is_closed_after_the_auth_timeout(live, viewer):
    async def scenario():
        ws = await websockets.connect(f"{live.ws_url}/api/events/in", subprotocols=["prefect"])
        started = time.monotonic()
        answer = json.loads(await asyncio.wait_for(ws.recv(), timeout=AUTH_TIMEOUT_SECONDS + 5))
        return answer, await close_code(ws), time.monotonic() - started

    answer, code, waited = asyncio.run(scenario())
    assert answer["type"] == "auth_failure"
    assert code == CLOSE_POLICY
    assert AUTH_TIMEOUT_SECONDS - 1 < waited < AUTH_TIMEOUT_SECONDS + 5


def test_events_out_really_closes_on_a_message_that_is_not_a_filter(live, viewer):
    async def scenario():
        ws, answer = await open_socket(f"{live.ws_url}/api/events/out", token(viewer))
        assert answer == {"type": "auth_success"}
        await ws.send(json.dumps({"type": "hello"}))
        return await close_code(ws)

    assert asyncio.run(scenario()) == CLOSE_PROTOCOL  # daphne sends no reason text


def test_a_valid_event_over_one_mebibyte_passes_both_sockets(live, viewer):
    big = make_event(payload={"log": uuid.uuid4().hex * 37_500})  # 1.2 MB of JSON
    assert 1_200_000 < len(json.dumps(big)) < 1_500_000
    since = {"occurred": {"since": "2000-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z"}}

    async def scenario():
        out, answer = await open_socket(f"{live.ws_url}/api/events/out", token(viewer))
        assert answer == {"type": "auth_success"}
        await out.send(json.dumps({"type": "filter", "filter": since, "backfill": False}))
        await asyncio.sleep(0.5)  # subscribed (the protocol does not confirm a filter)
        await send_then_ping(f"{live.ws_url}/api/events/in", token(viewer), [json.dumps(big)])
        streamed = json.loads(await asyncio.wait_for(out.recv(), timeout=15))
        await out.close()
        later, _ = await open_socket(f"{live.ws_url}/api/events/out", token(viewer))
        await later.send(json.dumps({"type": "filter", "filter": since, "backfill": True}))
        backfilled = json.loads(await asyncio.wait_for(later.recv(), timeout=15))
        await later.close()
        return streamed, backfilled

    streamed, backfilled = asyncio.run(scenario())
    assert streamed["event"]["id"] == big["id"]
    assert backfilled["event"]["id"] == big["id"]
    assert Event.objects.filter(id=big["id"]).exists()
