"""/api/events/in flow control: daphne stops reading a socket whose frames wait unstored."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from daphne.ws_protocol import WebSocketProtocol

from eventsui.events.models import Event
from eventsui.server.daphne_pings import DaphnePingsPatch
from tests.conftest import PASSWORD, make_event
from tests.live_server import start_server, stop_server


class FakeTransport:
    def __init__(self):
        self.calls: list[str] = []

    def pauseProducing(self):  # noqa: N802 - Twisted's name
        self.calls.append("pause")

    def resumeProducing(self):  # noqa: N802 - Twisted's name
        self.calls.append("resume")


class FakeProtocol:
    """What the patched WebSocketProtocol.onMessage touches of a daphne protocol."""

    STATE_OPEN = WebSocketProtocol.STATE_OPEN
    STATE_CLOSED = WebSocketProtocol.STATE_CLOSED

    def __init__(self):
        self.muted = False
        self.client_addr = ["127.0.0.1", 1]
        self.last_ping = 0
        self.state = self.STATE_OPEN
        self.application_queue: asyncio.Queue = asyncio.Queue()
        self.transport = FakeTransport()
        self._eventsui_confirm_pings = True


@pytest.fixture
def clock(monkeypatch, settings):
    settings.EVENTS_IN_QUEUE_HIGH_WATER = 8
    scheduled = []
    monkeypatch.setattr(DaphnePingsPatch, "call_later", lambda delay, f: scheduled.append(f))
    assert DaphnePingsPatch.install()

    def tick():
        calls, scheduled[:] = list(scheduled), []
        for call in calls:
            call()

    return tick


def frame(protocol):
    WebSocketProtocol.onMessage(protocol, b'{"event": "x"}', False)


def test_reading_pauses_at_the_high_water_mark_and_resumes_once_drained(clock):
    protocol = FakeProtocol()
    for _ in range(7):
        frame(protocol)
    assert protocol.transport.calls == []
    frame(protocol)  # the 8th waiting frame
    assert protocol.transport.calls == ["pause"]
    frame(protocol)  # frames already read still reach the queue; no second pause
    assert protocol.transport.calls == ["pause"]
    assert protocol.application_queue.qsize() == 9

    for _ in range(6):  # 3 left: above a quarter of the mark (2)
        protocol.application_queue.get_nowait()
    clock()
    assert protocol.transport.calls == ["pause"]
    protocol.application_queue.get_nowait()  # 2 left
    clock()
    assert protocol.transport.calls == ["pause", "resume"]


def test_a_socket_closing_while_paused_reads_again_for_its_close_handshake(clock):
    protocol = FakeProtocol()
    for _ in range(8):
        frame(protocol)
    clock()
    assert protocol.transport.calls == ["pause"]  # still 8 waiting
    protocol.state = WebSocketProtocol.STATE_CLOSING
    clock()
    assert protocol.transport.calls == ["pause", "resume"]
    assert protocol._eventsui_paused is False


def test_other_sockets_are_never_paused(clock):
    protocol = FakeProtocol()
    protocol._eventsui_confirm_pings = False
    for _ in range(20):
        frame(protocol)
    assert protocol.transport.calls == []


@pytest.mark.django_db(transaction=True)
def test_a_client_that_never_pings_is_held_back_and_loses_nothing(django_db_blocker, viewer):
    """Against a real daphne process whose mark is low: 6,000 frames sent without waiting
    (far past the mark), then one ping: every event is stored once the pong arrives."""
    server = start_server(django_db_blocker, env={"EVENTS_IN_QUEUE_HIGH_WATER": "40"})
    events = [make_event() for _ in range(6000)]

    async def flood():
        url = f"{server.ws_url}/api/events/in"
        async with websockets.connect(url, subprotocols=["prefect"], max_size=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": f"{viewer.username}:{PASSWORD}"}))
            assert json.loads(await ws.recv()) == {"type": "auth_success"}
            for event in events:
                await ws.send(json.dumps(event))
            await asyncio.wait_for(await ws.ping(), timeout=60)

    try:
        asyncio.run(flood())
    finally:
        stop_server(server)
    assert Event.objects.filter(id__in=[e["id"] for e in events]).count() == 6000
    assert "reading paused" in server.log.read_text()  # the mark was reached, and recovered
