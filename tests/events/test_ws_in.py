"""`/api/events/in`: Prefect's ingest websocket protocol."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from eventsui.asgi import application
from eventsui.events.live.consumers import CLOSE_POLICY
from eventsui.events.models import ApiToken, Event
from tests.conftest import PASSWORD, basic_header, make_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def communicator(headers=None) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, "/api/events/in", headers=headers or [], subprotocols=["prefect"]
    )


async def connect_and_auth(comm, token):
    connected, subprotocol = await comm.connect()
    assert connected and subprotocol == "prefect"
    await comm.send_to(text_data=json.dumps({"type": "auth", "token": token}))
    return json.loads(await comm.receive_from(timeout=5))


async def stored_count(**filters) -> int:
    return await database_sync_to_async(lambda: Event.objects.filter(**filters).count())()


async def wait_for_count(n: int, timeout: float = 5.0) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        count = await stored_count()
        if count >= n or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.05)


async def test_auth_with_user_password_token_then_events_are_stored(viewer):
    comm = communicator()
    reply = await connect_and_auth(comm, f"{viewer.username}:{PASSWORD}")
    assert reply == {"type": "auth_success"}
    events = [make_event() for _ in range(3)]
    for event in events:
        await comm.send_to(text_data=json.dumps(event))
    assert await wait_for_count(3) == 3
    await comm.disconnect()


async def test_basic_header_on_upgrade_with_null_token(viewer):
    comm = communicator(headers=[(b"authorization", basic_header(viewer.username).encode())])
    assert await connect_and_auth(comm, None) == {"type": "auth_success"}
    await comm.disconnect()


async def test_api_token_in_auth_message(viewer):
    _, raw = await database_sync_to_async(ApiToken.issue)(viewer, "worker")
    comm = communicator()
    assert await connect_and_auth(comm, raw) == {"type": "auth_success"}
    await comm.disconnect()


async def test_no_credentials_are_refused(viewer):
    comm = communicator()
    reply = await connect_and_auth(comm, None)
    assert reply["type"] == "auth_failure"
    output = await comm.receive_output(timeout=5)
    assert output["type"] == "websocket.close" and output["code"] == CLOSE_POLICY


async def test_wrong_password_is_refused(viewer):
    comm = communicator()
    reply = await connect_and_auth(comm, f"{viewer.username}:nope")
    assert reply["type"] == "auth_failure"


async def test_wrong_basic_header_refuses_the_handshake(viewer):
    comm = communicator(headers=[(b"authorization", basic_header(viewer.username, "bad").encode())])
    connected, _ = await comm.connect()
    assert not connected


async def test_event_before_auth_is_refused(viewer):
    comm = communicator()
    await comm.connect()
    await comm.send_to(text_data=json.dumps(make_event()))
    reply = json.loads(await comm.receive_from(timeout=5))
    assert reply["type"] == "auth_failure"
    assert await stored_count() == 0


async def test_duplicates_are_ignored(viewer):
    comm = communicator()
    await connect_and_auth(comm, f"{viewer.username}:{PASSWORD}")
    event = make_event()
    for _ in range(3):
        await comm.send_to(text_data=json.dumps(event))
    await comm.send_to(text_data=json.dumps(make_event()))
    assert await wait_for_count(2) == 2
    await asyncio.sleep(0.2)
    assert await stored_count(id=event["id"]) == 1
    await comm.disconnect()


async def test_malformed_frame_is_dropped_and_connection_stays_open(viewer, caplog):
    comm = communicator()
    await connect_and_auth(comm, f"{viewer.username}:{PASSWORD}")
    await comm.send_to(text_data="{not json")
    await comm.send_to(text_data=json.dumps(make_event() | {"resource": {}}))
    good = make_event()
    await comm.send_to(text_data=json.dumps(good))
    assert await wait_for_count(1) == 1
    assert await stored_count(id=good["id"]) == 1
    assert await comm.receive_nothing(timeout=0.2)  # no close, no reply per event
    assert "dropped a malformed event frame" in caplog.text
    await comm.disconnect()


async def test_a_large_burst_is_stored_completely(viewer):
    comm = communicator()
    await connect_and_auth(comm, f"{viewer.username}:{PASSWORD}")
    for _ in range(1200):
        await comm.send_to(text_data=json.dumps(make_event()))
    assert await wait_for_count(1200, timeout=20) == 1200
    await comm.disconnect()


async def test_buffered_events_are_stored_on_disconnect(viewer):
    comm = communicator()
    await connect_and_auth(comm, f"{viewer.username}:{PASSWORD}")
    await comm.send_to(text_data=json.dumps(make_event()))
    await comm.disconnect()
    assert await wait_for_count(1) == 1
