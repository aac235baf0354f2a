"""Every path that sends an event as ReceivedEvent JSON writes the same thing, in Prefect's
datetime format: the live publish, `/api/events/out` (backfill and live), the API's pages
(`/api/events/filter` and `/filter/next`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from prefect.events.schemas.events import ReceivedEvent as PrefectReceivedEvent

from eventsui.asgi import application
from eventsui.events import schemas, services
from eventsui.events.live import dispatcher as feed
from eventsui.events.live import publish
from tests.conftest import PASSWORD, make_event

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

EVENT_PREFIX = '{"type": "event", "event": '


def prefect_written(event: dict) -> dict:
    """The event as Prefect 3 itself writes it (its datetimes are what we must match)."""
    return json.loads(PrefectReceivedEvent.model_validate(event).model_dump_json())


async def next_event_text(communicator: WebsocketCommunicator) -> str:
    text = await communicator.receive_from(timeout=5)
    assert text.startswith(EVENT_PREFIX) and text.endswith("}"), text
    return text[len(EVENT_PREFIX) : -1]


async def test_every_path_writes_received_event_json_in_prefects_datetime_format(
    viewer, monkeypatch
):
    monkeypatch.setattr(feed, "IDLE_STOP_SECONDS", 0)
    published: list[str] = []
    original_publish = publish.publish

    def recording_publish(payloads):
        published.extend(payloads)
        original_publish(payloads)

    monkeypatch.setattr(publish, "publish", recording_publish)
    now = datetime.now(UTC).replace(microsecond=0)
    stored_before = [  # whole seconds and a fraction, received on a whole second
        make_event(occurred=now - timedelta(minutes=2)),
        make_event(occurred=now - timedelta(minutes=1, microseconds=-250000)),
    ]
    arriving_live = [  # received with microseconds
        make_event(occurred=now - timedelta(seconds=30, microseconds=-1)),
        make_event(occurred=now - timedelta(seconds=20)),
    ]
    ingest = database_sync_to_async(services.ingest_events)
    await ingest(
        [schemas.Event.model_validate(e) for e in stored_before],
        received=now - timedelta(seconds=5),
    )

    communicator = WebsocketCommunicator(application, "/api/events/out", subprotocols=["prefect"])
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"type": "auth", "token": f"viewer:{PASSWORD}"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "auth_success"}
    await communicator.send_json_to({"type": "filter", "filter": {}, "backfill": True})
    texts: dict[str, dict[str, str]] = {}  # path -> event id -> JSON text
    texts["/api/events/out backfill"] = {}
    for _ in stored_before:
        text = await next_event_text(communicator)
        texts["/api/events/out backfill"][json.loads(text)["id"]] = text
    await ingest(
        [schemas.Event.model_validate(e) for e in arriving_live],
        received=now + timedelta(microseconds=123456),
    )
    texts["/api/events/out live"] = {}
    for _ in arriving_live:
        text = await next_event_text(communicator)
        texts["/api/events/out live"][json.loads(text)["id"]] = text
    await communicator.disconnect()
    texts["live publish"] = {json.loads(t)["id"]: t for t in published}

    def read_api_pages() -> list[dict]:
        client = Client()
        client.force_login(viewer)
        first = client.post(
            "/api/events/filter", {"limit": 2}, content_type="application/json"
        ).json()
        second = client.get(first["next_page"]).json()
        return [first, second]

    first, second = await database_sync_to_async(read_api_pages)()
    api_events = {
        "/api/events/filter": first["events"],
        "/api/events/filter/next": second["events"],
    }

    everything = stored_before + arriving_live
    expected = {}
    for event, received in [(e, now - timedelta(seconds=5)) for e in stored_before] + [
        (e, now + timedelta(microseconds=123456)) for e in arriving_live
    ]:
        written = prefect_written(event | {"received": received.isoformat()})
        expected[event["id"]] = written
    # Both shapes of time occur: whole seconds (no fraction) and six fractional digits.
    assert {len(w["occurred"]) for w in expected.values()} == {20, 27}
    assert {len(w["received"]) for w in expected.values()} == {20, 27}

    for path, by_id in texts.items():
        assert by_id, path
        for event_id, text in by_id.items():
            parsed = json.loads(text)
            assert parsed == expected[event_id], path
            assert list(parsed) == list(PrefectReceivedEvent.model_fields), path
    for path, events in api_events.items():
        assert events, path
        for event in events:
            assert event == expected[event["id"]], path
    assert {e["id"] for events in api_events.values() for e in events} == {
        e["id"] for e in everything
    }
    # The live JSON is byte for byte what /api/events/out sends, and the stored events'
    # backfill reads the same bytes as the page writer (labels here are in jsonb's order).
    assert texts["/api/events/out live"] == {
        i: t for i, t in texts["live publish"].items() if i in texts["/api/events/out live"]
    }
    assert len(texts["live publish"]) == len(everything)
    for event_id, text in texts["/api/events/out backfill"].items():
        assert text == texts["live publish"][event_id]
