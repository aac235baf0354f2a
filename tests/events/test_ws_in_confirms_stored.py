"""Against a real daphne process: a pong on /api/events/in confirms storage.

A Prefect client forgets every event sent before a ping once the pong arrives, so the pong
must only come once those events are stored (eventsui.daphne_pings).
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from eventsui.events.models import Event
from tests.conftest import PASSWORD, make_event
from tests.live_server import start_server, stop_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(django_db_blocker):
    server = start_server(django_db_blocker)
    yield server
    stop_server(server)


async def send_then_ping(url: str, token: str, events: list[dict]) -> None:
    async with websockets.connect(url, subprotocols=["prefect"], max_size=None) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv()) == {"type": "auth_success"}
        for event in events:
            await ws.send(json.dumps(event))
        pong = await ws.ping()
        await asyncio.wait_for(pong, timeout=30)


def test_pong_arrives_only_after_every_earlier_event_is_stored(live, viewer):
    events = [make_event() for _ in range(1500)]
    asyncio.run(
        send_then_ping(f"{live.ws_url}/api/events/in", f"{viewer.username}:{PASSWORD}", events)
    )
    # No waiting here: the pong itself is the promise.
    assert Event.objects.filter(id__in=[e["id"] for e in events]).count() == 1500


def test_prefect_subscribers_pings_are_still_answered_on_other_sockets(live, viewer):
    async def ping_out():
        async with websockets.connect(
            f"{live.ws_url}/api/events/out", subprotocols=["prefect"]
        ) as ws:
            await ws.send(json.dumps({"type": "auth", "token": f"{viewer.username}:{PASSWORD}"}))
            assert json.loads(await ws.recv()) == {"type": "auth_success"}
            await asyncio.wait_for(await ws.ping(), timeout=5)

    asyncio.run(ping_out())
