"""ReceivedEvent JSON: the one writer of the events' wire format.

Every path that sends an event as Prefect's ReceivedEvent writes it here: ingest (what the
live feed publishes and `/api/events/out` streams), the API's pages (`POST /api/events/filter`,
`GET /api/events/filter/next`) and the `/api/events/out` backfill and gap refills.

The format:
- keys in the order of the fields of Prefect's `ReceivedEvent` (`prefect.events.schemas.events`):
  occurred, event, resource, related, payload, id, follows, received;
- times as Prefect writes them (`eventsui.lib.times.prefect_datetime`: UTC, `Z`, six
  fractional digits or none);
- NaN and infinities as null (they are stored as null: jsonb has no such numbers);
- the spacing PostgreSQL prints jsonb with: `", "` between items and `": "` after a key.

That spacing lets PostgreSQL build an API page's JSON itself (`RECEIVED_EVENT_SQL`, from the
stored jsonb text, no payload parsed in Python), byte for byte what `stored_event_json` writes
in Python for the same stored row (tests/events/test_serialization.py holds both to it).

Byte-identity is per stored row. jsonb keeps an object's keys in its own order (shorter keys
first) and prints a number from its decimal value, so on PostgreSQL the JSON read back can
differ from the JSON written at ingest (from the event as it came) in key order, and a float
below 1e-4 reads back as `0.0000001` where Python writes `1e-7`; both parse to the same event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic_core import to_json

from eventsui.lib.times import prefect_datetime


def json_value(value: Any) -> str:
    """A JSON value (labels, a payload) in jsonb's spacing, NaN and infinities as null.

    pydantic-core writes it (several times faster than the json module): indented by 0, its
    only raw newlines are the ones between items (inside strings a newline is always escaped),
    so dropping them leaves jsonb's `", "` and `": "`.
    """
    return (
        to_json(value, indent=0, inf_nan_mode="null")
        .replace(b",\n", b", ")
        .replace(b"\n", b"")
        .decode()
    )


def json_list(items_json: Sequence[str]) -> str:
    """A JSON array of values already written by json_value."""
    return "[" + ", ".join(items_json) + "]"


def received_event_json(
    *,
    occurred: datetime,
    event: str,
    resource_json: str,
    related_json: str,
    payload_json: str,
    id: UUID,
    follows: UUID | None,
    received: datetime,
) -> str:
    """The ReceivedEvent JSON of an event whose labels and payload are already JSON text
    (from json_value: ingest writes them once, for the store and for this)."""
    follows_json = f'"{follows}"' if follows is not None else "null"
    return (
        f'{{"occurred": "{prefect_datetime(occurred)}", "event": {to_json(event).decode()}, '
        f'"resource": {resource_json}, "related": {related_json}, "payload": {payload_json}, '
        f'"id": "{id}", "follows": {follows_json}, "received": "{prefect_datetime(received)}"}}'
    )


def stored_event_json(event) -> str:
    """A stored event (models.Event) as ReceivedEvent JSON.

    Rows read by `queries.page_events(as_json=True)` on PostgreSQL carry it already, built by
    RECEIVED_EVENT_SQL; others are written here from their columns.
    """
    prepared = getattr(event, "received_json", None)
    if prepared is not None:
        return prepared
    return received_event_json(
        occurred=event.occurred,
        event=event.event,
        resource_json=json_value(event.resource),
        related_json=json_value(event.related),
        payload_json=json_value(event.payload),
        id=event.id,
        follows=event.follows,
        received=event.received,
    )


def received_event_data(event) -> dict[str, Any]:
    """A ReceivedEvent (the schema) as JSON-ready data in this format: what the automation
    engine embeds in its firings and in `prefect.automation.*` payloads."""
    return json.loads(
        received_event_json(
            occurred=event.occurred,
            event=event.event,
            resource_json=json_value(event.resource.root),
            related_json=json_list([json_value(r.root) for r in event.related]),
            payload_json=json_value(event.payload),
            id=event.id,
            follows=event.follows,
            received=event.received,
        )
    )


def _sql_prefect_datetime(column: str) -> str:
    """prefect_datetime in SQL: the fraction only when there are microseconds."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN date_trunc('second', {utc}) = {utc} THEN '' ELSE to_char({utc}, '.US') END"
        " || 'Z'"
    )


# received_event_json in PostgreSQL, for a row of the `events` table: the same keys, order,
# spacing and times. jsonb::text and to_json(text) escape strings as pydantic-core does.
RECEIVED_EVENT_SQL = (
    """'{"occurred": "' || """
    + _sql_prefect_datetime("events.occurred")
    + """ || '", "event": ' || to_json(events.event)::text"""
    + """ || ', "resource": ' || events.resource::text"""
    + """ || ', "related": ' || events.related::text"""
    + """ || ', "payload": ' || events.payload::text"""
    + """ || ', "id": "' || events.id::text"""
    + """ || '", "follows": ' || COALESCE('"' || events.follows::text || '"', 'null')"""
    + """ || ', "received": "' || """
    + _sql_prefect_datetime("events.received")
    + """ || '"}'"""
)
