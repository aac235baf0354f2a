"""ReceivedEvent JSON has one writer (eventsui.events.serialization) in Prefect's format.

PostgreSQL builds API pages' JSON itself (serialization.RECEIVED_EVENT_SQL); these tests hold
it to the bytes the Python writer gives for the same stored rows, and every reading path to
Prefect's own datetime format.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from prefect.events.schemas.events import ReceivedEvent as PrefectReceivedEvent

from eventsui.events import queries, schemas, serialization, services
from eventsui.events.filters import EventFilter
from eventsui.events.models import Event
from eventsui.lib.times import prefect_datetime
from tests.conftest import make_event, related

pytestmark = pytest.mark.django_db

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

ODD_TEXT = (
    'quote " backslash \\ tab \t newline \n cr \r ctrl \x01 \x1f del \x7f sep \u2028 / é 日本 🍮'
)


def prefect_times(text: str) -> tuple[str, str]:
    """(occurred, received) as Prefect 3 itself writes them for this event."""
    written = json.loads(PrefectReceivedEvent.model_validate_json(text).model_dump_json())
    return written["occurred"], written["received"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 12, 1, 10, 55, tzinfo=UTC), "2026-12-01T10:55:00Z"),
        (datetime(2026, 12, 1, 10, 55, 0, 250000, tzinfo=UTC), "2026-12-01T10:55:00.250000Z"),
        (datetime(2026, 12, 1, 10, 55, 0, 1, tzinfo=UTC), "2026-12-01T10:55:00.000001Z"),
        (
            datetime(2026, 12, 1, 12, 55, 0, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-12-01T10:55:00.000005Z",
        ),
        (datetime(2026, 12, 1, 10, 55), "2026-12-01T10:55:00Z"),  # naive: UTC, as Prefect
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
    ],
)
def test_prefect_datetime_writes_what_prefect_writes(value, expected):
    assert prefect_datetime(value) == expected
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)  # as stored
    event = PrefectReceivedEvent(
        occurred=utc,
        received=utc,
        event="x",
        resource={"prefect.resource.id": "x"},
    )
    assert json.loads(event.model_dump_json())["occurred"] == expected


def stored_events() -> list[schemas.Event]:
    """Events that stress the writers: whole and fractional seconds, odd text, deep payloads,
    NaN, labels in an order jsonb changes, a follows link."""
    first = make_event(occurred=T0)
    data = [
        first,
        make_event(occurred=T0 + timedelta(microseconds=250000), follows=first["id"]),
        make_event(
            f"prefect.flow-run.{ODD_TEXT}",
            occurred=(T0 + timedelta(seconds=1, microseconds=1)).astimezone(
                timezone(timedelta(hours=-5))
            ),
            resource_id=f"prefect.flow-run.{ODD_TEXT}",
            related=[
                related("flow", "prefect.flow.f1", **{"prefect.resource.name": ODD_TEXT}),
                related("tag", "prefect.tag.z", zz="1", a="2", **{"b.c": "3"}),
            ],
            payload={
                "zeta": {"nested": [1, 2.5, {"c": None, "d": True, "e": False}, [], {}]},
                "a": ODD_TEXT,
                ODD_TEXT: "key",
                "int": 10**20,
                "negative": -3,
                "tenth": 0.1,
                "whole": 100.0,
                "huge": 1.5e300,
                "empty": {},
            },
        ),
        make_event(occurred=T0 + timedelta(seconds=2), payload={"nan": math.nan, "inf": math.inf}),
    ]
    return [schemas.Event.model_validate(d) for d in data]


def test_sql_and_python_writers_give_identical_bytes_for_the_same_stored_events():
    events = stored_events()
    published = services.ingest_events(events[:2], received=T0, publish=False).payloads
    published += services.ingest_events(
        events[2:], received=T0 + timedelta(microseconds=123456), publish=False
    ).payloads
    everything = EventFilter.model_validate({"occurred": {"since": T0 - timedelta(days=1)}})
    page = queries.page_events(everything, limit=50, as_json=True)
    from_page = {e.id: serialization.stored_event_json(e) for e in page.events}
    # Whole rows, read without the annotation: the Python writer on the stored columns.
    from_python = {e.id: serialization.stored_event_json(e) for e in Event.objects.all()}

    assert len(from_page) == len(events)
    assert from_page == from_python
    if connection.vendor == "postgresql":
        assert all(getattr(e, "received_json", None) for e in page.events)  # SQL really ran
    else:
        # SQLite keeps labels in their order: what ingest published is what is read back.
        assert sorted(published) == sorted(from_python.values())
    for event in events:
        text = from_python[event.id]
        parsed = json.loads(text)
        assert list(parsed) == list(PrefectReceivedEvent.model_fields)  # Prefect's key order
        assert (parsed["occurred"], parsed["received"]) == prefect_times(text)
        assert schemas.ReceivedEvent.model_validate_json(text).event == event.event
    nan_event = json.loads(from_python[events[3].id])
    assert nan_event["payload"] == {"nan": None, "inf": None}
    assert json.loads(from_python[events[1].id])["follows"] == str(events[0].id)


def test_received_event_json_is_written_in_prefects_key_order_and_jsonbs_spacing():
    event_id = uuid.UUID(int=7)
    services.ingest_events(
        [
            schemas.Event.model_validate(
                {
                    "id": str(event_id),
                    "occurred": "2026-12-01T10:55:00Z",
                    "event": "prefect.flow-run.Completed",
                    "resource": {"prefect.resource.id": "prefect.flow-run.1"},
                    "related": [
                        {"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow"}
                    ],
                    "payload": {"n": 1, "list": [1, "two"]},
                }
            )
        ],
        received=datetime(2026, 12, 1, 10, 55, 0, 250000, tzinfo=UTC),
        publish=False,
    )
    page = queries.page_events(
        EventFilter.model_validate({"occurred": {"since": "2026-12-01T00:00:00Z"}}), as_json=True
    )
    assert serialization.stored_event_json(page.events[0]) == (
        '{"occurred": "2026-12-01T10:55:00Z", "event": "prefect.flow-run.Completed", '
        '"resource": {"prefect.resource.id": "prefect.flow-run.1"}, '
        '"related": [{"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow"}], '
        '"payload": {"n": 1, "list": [1, "two"]}, '
        f'"id": "{event_id}", "follows": null, "received": "2026-12-01T10:55:00.250000Z"}}'
    )
