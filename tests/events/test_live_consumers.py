"""The live feed's websockets: the browser feed (`/ws/feed/`) and Prefect's `/api/events/out`.

Sockets go through the real ASGI application (Origin check, session auth, routing); events
enter through `services.ingest_events`, which publishes on commit like in production.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from eventsui.asgi import application
from eventsui.events import schemas, services
from eventsui.events.live import consumers
from eventsui.events.live import dispatcher as feed
from eventsui.events.live.consumers import CLOSE_POLICY, CLOSE_PROTOCOL
from eventsui.events.models import Event
from tests.conftest import PASSWORD, basic_header, make_event, related

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://testserver")
FLOW_X = "prefect.flow." + str(uuid.UUID(int=1))
FLOW_Y = "prefect.flow." + str(uuid.UUID(int=2))


@pytest.fixture(autouse=True)
def _stop_dispatcher_when_idle(monkeypatch):
    # Each test has its own event loop: let the dispatcher stop as soon as it is idle.
    monkeypatch.setattr(feed, "IDLE_STOP_SECONDS", 0)


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def feed_socket(user=None, query: str = "") -> WebsocketCommunicator:
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
    communicator = WebsocketCommunicator(application, "/ws/feed/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "filter", "query": query})
    assert await communicator.receive_json_from(timeout=5) == {"type": "subscribed"}
    return communicator


async def ingest(*events: dict) -> None:
    parsed = [schemas.Event.model_validate(e) for e in events]
    await database_sync_to_async(services.ingest_events)(parsed)


async def received_rows(
    communicator: WebsocketCommunicator, count: int, timeout: float = 5
) -> list[str]:
    """The next `count` rows the socket sends: the feed row template's HTML, one per event."""
    rows: list[str] = []
    while len(rows) < count:
        message = await communicator.receive_json_from(timeout=timeout)
        assert message["type"] == "events", message
        rows.extend(message["rows"])
    return rows


def ids(rows: list[str]) -> list[str]:
    found = [re.search(r'<li class="feed-row" data-id="([^"]+)"', row) for row in rows]
    return [match.group(1) for match in found if match]


def worker_event(**kwargs) -> dict:
    return make_event("prefect.worker.started", **kwargs)


def flow_run_event(flow_id: str, state: str = "Completed", **kwargs) -> dict:
    return make_event(
        f"prefect.flow-run.{state}",
        resource_id=f"prefect.flow-run.{uuid.uuid4()}",
        related=[related("flow", flow_id, **{"prefect.resource.name": "etl"})],
        **kwargs,
    )


async def test_anonymous_feed_socket_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/feed/", headers=[ORIGIN])
    connected, code = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_feed_socket_without_origin_is_refused(viewer):
    cookie = await database_sync_to_async(session_cookie)(viewer)
    communicator = WebsocketCommunicator(application, "/ws/feed/", headers=[(b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert not connected


async def test_logged_in_feed_socket_receives_new_events_as_rows(viewer):
    communicator = await feed_socket(viewer)
    event = worker_event(payload={"note": "<script>alert(1)</script>"})
    await ingest(event)
    rows = await received_rows(communicator, 1)
    assert ids(rows) == [event["id"]]
    assert f'<a class="title" href="/events/{event["id"]}/">Worker started</a>' in rows[0]
    assert '<span class="badge ok">Started</span>' in rows[0]
    # The resource links to its page (rows are the same HTML on the page and the socket).
    from eventsui.events.web.resource import resource_url

    assert f'href="{resource_url("prefect.worker.process.alpha")}"' in rows[0]
    # Event values are escaped by the template: the page inserts this HTML as it comes.
    assert "<script>" not in rows[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rows[0]
    await communicator.disconnect()


async def test_a_live_row_is_the_page_row_rendered_once_per_event(viewer, monkeypatch):
    from eventsui.events.web import rows as feed_rows

    renders = []
    render_rows = feed_rows.render_rows
    monkeypatch.setattr(
        feed_rows, "render_rows", lambda rows, *a: renders.append(rows) or render_rows(rows, *a)
    )
    sockets = [await feed_socket(viewer), await feed_socket(viewer, "event=prefect.worker.*")]
    event = worker_event()
    await ingest(event)
    sent = [(await received_rows(communicator, 1))[0] for communicator in sockets]
    assert len(renders) == 1 and sent[0] == sent[1]
    stored = await database_sync_to_async(
        lambda: feed_rows.row_for_model(Event.objects.get(id=event["id"]))
    )()
    assert sent[0] == render_rows([stored])  # what the page shows for the same event
    for communicator in sockets:
        await communicator.disconnect()


async def test_related_role_filter_receives_only_matching_events(viewer):
    by_flow = await feed_socket(viewer, f"related=flow:{FLOW_X}")
    by_role = await feed_socket(viewer, "related=flow")
    matching = flow_run_event(FLOW_X)
    other_flow = flow_run_event(FLOW_Y)
    no_related = worker_event()
    await ingest(no_related, other_flow, matching)
    rows = await received_rows(by_flow, 1)
    assert ids(rows) == [matching["id"]]
    assert f'href="?related=flow:{FLOW_X}"' in rows[0]
    assert '<span class="role">flow</span>etl</a>' in rows[0]
    assert await by_flow.receive_nothing(timeout=0.3)
    role_rows = await received_rows(by_role, 2)
    assert set(ids(role_rows)) == {matching["id"], other_flow["id"]}
    await by_flow.disconnect()
    await by_role.disconnect()


async def test_non_matching_subscriber_receives_nothing(viewer):
    communicator = await feed_socket(viewer, "event=prefect.task-run.*&related=work-pool")
    await ingest(worker_event(), flow_run_event(FLOW_X))
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_feed_filters_by_name_prefix_exclusion_labels_and_text(viewer):
    sockets = {
        "prefix": await feed_socket(
            viewer, "event=prefect.flow-run.*&event=!prefect.flow-run.Running"
        ),
        "label": await feed_socket(viewer, "resource=prefect.resource.name=al*"),
        "text": await feed_socket(viewer, "q=needle"),
    }
    running = flow_run_event(FLOW_X, "Running")
    failed = flow_run_event(FLOW_X, "Failed")
    worker = worker_event(payload={"msg": "a needle here"})
    await ingest(running, failed, worker)
    assert ids(await received_rows(sockets["prefix"], 1)) == [failed["id"]]
    assert set(ids(await received_rows(sockets["label"], 3))) == {
        running["id"],
        failed["id"],
        worker["id"],
    }
    assert ids(await received_rows(sockets["text"], 1)) == [worker["id"]]
    for communicator in sockets.values():
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()


async def test_an_invalid_filter_is_answered_with_messages(viewer):
    cookie = await database_sync_to_async(session_cookie)(viewer)
    communicator = WebsocketCommunicator(
        application, "/ws/feed/", headers=[ORIGIN, (b"cookie", cookie)]
    )
    await communicator.connect()
    await communicator.send_json_to({"type": "filter", "query": "since=yesterday-ish"})
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "error"
    assert "not a date and time" in message["messages"][0]
    await communicator.disconnect()


async def test_changing_the_filter_replaces_the_subscription(viewer):
    communicator = await feed_socket(viewer, "event=prefect.worker.*")
    await communicator.send_json_to({"type": "filter", "query": "event=prefect.flow-run.*"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "subscribed"}
    assert feed.dispatcher().subscriber_count == 1  # the first subscription was left
    flow_run = flow_run_event(FLOW_X)
    await ingest(worker_event(), flow_run)
    assert ids(await received_rows(communicator, 1)) == [flow_run["id"]]
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_subscriber_that_falls_behind_is_told_it_has_a_gap(viewer, monkeypatch):
    monkeypatch.setattr(feed, "QUEUE_SIZE", 3)
    communicator = await feed_socket(viewer)
    subscription = next(iter(feed.dispatcher().groups.values()))[1][0]
    # Offer more than the queue holds without letting the sender run.
    items = [feed.Item.parse(_received_json(worker_event())) for _ in range(5)]
    for item in items:
        subscription.offer(item)
    message = await communicator.receive_json_from(timeout=5)
    assert message == {"type": "gap"}
    assert subscription.dropped == 4
    await communicator.disconnect()


async def test_one_dispatcher_serves_every_subscriber_of_the_process(viewer):
    first = await feed_socket(viewer, "event=prefect.worker.*")
    second = await feed_socket(viewer, "event=prefect.worker.*")
    third = await feed_socket(viewer, "related=flow")
    dispatcher = feed.dispatcher()
    assert dispatcher.subscriber_count == 3
    assert len(dispatcher.groups) == 2  # the same filter is evaluated once
    for communicator in (first, second, third):
        await communicator.disconnect()
    assert dispatcher.subscriber_count == 0


def _received_json(event: dict) -> str:
    parsed = schemas.ReceivedEvent.model_validate(
        event | {"received": datetime.now(UTC).isoformat()}
    )
    return parsed.model_dump_json()


# -- /api/events/out -------------------------------------------------------------------------


async def events_out(headers=None, token=None) -> tuple[WebsocketCommunicator, dict]:
    communicator = WebsocketCommunicator(
        application, "/api/events/out", headers=headers or [], subprotocols=["prefect"]
    )
    connected, subprotocol = await communicator.connect()
    assert connected and subprotocol == "prefect"
    await communicator.send_json_to({"type": "auth", "token": token})
    return communicator, await communicator.receive_json_from(timeout=5)


async def subscribed(count: int) -> None:
    for _ in range(100):
        if feed.dispatcher().subscriber_count == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} subscribers")


def prefect_filter(**parts) -> dict:
    now = datetime.now(UTC)
    return {
        "occurred": {
            "since": (now - timedelta(minutes=5)).isoformat(),
            "until": (now + timedelta(days=365)).isoformat(),
        },
        **parts,
    }


async def test_events_out_refuses_a_socket_without_credentials():
    communicator, answer = await events_out()
    assert answer["type"] == "auth_failure"
    output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": CLOSE_POLICY}


async def test_events_out_backfills_then_streams_matching_events(viewer):
    older = flow_run_event(FLOW_X, occurred=datetime.now(UTC) - timedelta(minutes=2))
    too_old = flow_run_event(FLOW_X, occurred=datetime.now(UTC) - timedelta(hours=2))
    elsewhere = flow_run_event(FLOW_Y, occurred=datetime.now(UTC) - timedelta(minutes=1))
    await ingest(older, too_old, elsewhere)
    communicator, answer = await events_out(token=f"viewer:{PASSWORD}")
    assert answer == {"type": "auth_success"}
    flt = prefect_filter(related={"resources_in_roles": [[FLOW_X, "flow"]]})
    flt["occurred"]["since"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    await communicator.send_json_to({"type": "filter", "filter": flt, "backfill": True})
    backfilled = await communicator.receive_json_from(timeout=5)
    assert backfilled["type"] == "event"
    assert backfilled["event"]["id"] == older["id"]  # too_old is beyond the backfill window
    assert "received" in backfilled["event"]
    assert await communicator.receive_nothing(timeout=0.3)

    live = flow_run_event(FLOW_X)
    await ingest(flow_run_event(FLOW_Y), live)
    message = await communicator.receive_json_from(timeout=5)
    assert message["event"]["id"] == live["id"]
    assert message["event"]["related"][0]["prefect.resource.role"] == "flow"
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_events_out_accepts_basic_auth_on_the_upgrade(viewer):
    headers = [(b"authorization", basic_header("viewer").encode())]
    communicator, answer = await events_out(headers=headers, token=None)
    assert answer == {"type": "auth_success"}
    await communicator.send_json_to(
        {"type": "filter", "filter": prefect_filter(), "backfill": False}
    )
    await subscribed(1)  # the protocol does not confirm a filter
    event = worker_event()
    await ingest(event)
    message = await communicator.receive_json_from(timeout=5)
    assert message["event"]["id"] == event["id"]
    await communicator.disconnect()
    await subscribed(0)  # a closed socket leaves the dispatcher


async def test_events_out_closes_on_a_message_that_is_not_a_filter(viewer):
    communicator, answer = await events_out(token=f"viewer:{PASSWORD}")
    await communicator.send_json_to({"type": "hello"})
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close" and output["code"] == CLOSE_PROTOCOL
    await communicator.disconnect()


async def test_events_out_closes_on_an_invalid_filter(viewer):
    communicator, answer = await events_out(token=f"viewer:{PASSWORD}")
    await communicator.send_json_to({"type": "filter", "filter": {"nonsense": 1}})
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close" and output["code"] == CLOSE_PROTOCOL
    assert output["reason"].startswith("Invalid filter")
    await communicator.disconnect()


async def test_dispatcher_survives_an_unreadable_message(viewer):
    communicator = await feed_socket(viewer)
    feed.dispatcher().dispatch(["not json", json.dumps({"id": "x"})])
    event = worker_event()
    await ingest(event)
    assert ids(await received_rows(communicator, 1)) == [event["id"]]
    await communicator.disconnect()
    await asyncio.sleep(0)


async def test_feed_and_prefect_sockets_hold_no_channel_layer_receive_of_their_own():
    """Their events come from the process's Dispatcher: a blocking channel-layer receive per
    socket would only cost Redis round trips (and hung when cancelled mid-connect)."""
    from channels.layers import get_channel_layer

    from eventsui.events.live.consumers import EventsInConsumer

    assert get_channel_layer() is not None
    for consumer in (consumers.FeedConsumer, consumers.EventsOutConsumer, EventsInConsumer):
        assert get_channel_layer(consumer.channel_layer_alias) is None
