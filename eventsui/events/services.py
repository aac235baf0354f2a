"""Writes to the event store: every event enters through `ingest_events`.

It de-duplicates by id, stores a whole batch in one transaction (the events and one row per
resource), and only after the commit publishes the stored events to the live feed. Views and
consumers call it; they hold no storage logic of their own.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from django.db import IntegrityError, connection, transaction

from eventsui.events import schemas, serialization
from eventsui.events.live import publish as live
from eventsui.events.models import Event, EventBatch, EventResource

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Row:
    """One event, serialized once (by eventsui.events.serialization): the JSON pieces feed
    both the database and the feed.

    NaN and infinities (which pydantic accepts, as Python's json module writes them) are
    stored as null: PostgreSQL's jsonb has no such numbers."""

    id: UUID
    occurred: datetime
    received: datetime
    event: str
    resource_id: str
    resource_json: str
    related_jsons: list[str]
    related_json: str
    payload_json: str
    follows: UUID | None
    source: schemas.Event

    def received_json(self) -> str:
        """The event as Prefect's ReceivedEvent JSON, assembled from the stored pieces."""
        return serialization.received_event_json(
            occurred=self.occurred,
            event=self.event,
            resource_json=self.resource_json,
            related_json=self.related_json,
            payload_json=self.payload_json,
            id=self.id,
            follows=self.follows,
            received=self.received,
        )


def _rows(events: Sequence[schemas.Event], received: datetime) -> list[_Row]:
    seen: set[UUID] = set()
    rows = []
    for event in events:
        if event.id in seen:  # a batch may repeat an id: the first one wins
            continue
        seen.add(event.id)
        related_jsons = [serialization.json_value(r.root) for r in event.related]
        rows.append(
            _Row(
                id=event.id,
                occurred=event.occurred,
                received=received,
                event=event.event,
                resource_id=event.resource.id,
                resource_json=serialization.json_value(event.resource.root),
                related_jsons=related_jsons,
                related_json=serialization.json_list(related_jsons),
                payload_json=serialization.json_value(event.payload),
                follows=event.follows,
                source=event,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class IngestResult:
    received: int
    stored: int
    # The stored events as ReceivedEvent JSON, for callers that publish them themselves.
    payloads: list[str]

    @property
    def duplicates(self) -> int:
        return self.received - self.stored


def ingest_events(
    events: Sequence[schemas.Event], *, received: datetime | None = None, publish: bool = True
) -> IngestResult:
    """Store validated events; ignore ones already stored; publish the new ones on commit.

    Async callers pass publish=False and `await live.apublish(result.payloads)` once this
    returns (the transaction has committed by then): publishing from a worker thread would
    have to wait for their busy event loop.
    """
    if not events:
        return IngestResult(received=0, stored=0, payloads=[])
    rows = _rows(events, received or schemas.now_utc())
    with transaction.atomic():
        if connection.vendor == "postgresql":
            stored = _store_postgresql(rows)
        else:
            stored = _store_portable(rows)
        payloads = [row.received_json() for row in stored]
        if stored:  # for the automation engine, in this transaction (see EventBatch)
            EventBatch.objects.create(
                created=stored[0].received, event_ids=[str(row.id) for row in stored]
            )
        if publish and payloads:
            transaction.on_commit(lambda: live.publish(payloads))
    return IngestResult(received=len(events), stored=len(stored), payloads=payloads)


_INSERT_EVENTS = """
INSERT INTO events (id, occurred, received, event, resource_id, resource, related, payload, follows)
SELECT t.id, t.occurred, t.received, t.event, t.resource_id,
       t.resource::jsonb, t.related::jsonb, t.payload::jsonb, t.follows
FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[],
            %s::text[], %s::text[], %s::text[], %s::uuid[])
     AS t(id, occurred, received, event, resource_id, resource, related, payload, follows)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""
_COPY_EVENTS = (
    "COPY events (id, occurred, received, event, resource_id, resource, related, payload, follows) "
    "FROM STDIN"
)
_COPY_RESOURCES = (
    "COPY event_resources (event_id, position, occurred, resource_id, role, labels) FROM STDIN"
)


_COPY_ATTEMPTS = 3


def _store_postgresql(rows: list[_Row]) -> list[_Row]:
    """COPY the events and their resource rows; skip the ids already stored.

    COPY is several times faster than INSERT for these wide JSON rows, and most batches hold
    only new events, so the batch is copied without looking first. An id already stored (a
    client resending after a reconnect, or another transaction storing the same event at the
    same moment) makes the unique key refuse the COPY; the stored ids are then looked up and
    the rest copied again. Should other writers keep storing the same ids in between, the
    last resort is INSERT .. ON CONFLICT DO NOTHING, which is right under any concurrency.

    Rows are written in id order: two batches that share ids then wait for each other on the
    first shared one instead of each holding one the other needs (a deadlock).
    """
    ordered = sorted(rows, key=lambda r: r.id)
    with connection.cursor() as cursor:
        for _attempt in range(_COPY_ATTEMPTS):
            try:
                with transaction.atomic():  # a savepoint: a refused COPY leaves the batch usable
                    with cursor.cursor.copy(_COPY_EVENTS) as copy:
                        copy.write(_event_copy_text(ordered))
                break
            except (IntegrityError, psycopg.errors.UniqueViolation):
                stored = _existing_ids(cursor, ordered)
                ordered = [r for r in ordered if r.id not in stored]
                if not ordered:
                    return []
        else:
            inserted = _insert_on_conflict(cursor, ordered)
            ordered = [r for r in ordered if r.id in inserted]
            if not ordered:
                return []
        with cursor.cursor.copy(_COPY_RESOURCES) as copy:
            copy.write(_resource_copy_text(ordered))
    if len(ordered) == len(rows):
        return rows
    new = {r.id for r in ordered}
    return [r for r in rows if r.id in new]  # in the order they came, for the live feed


def _existing_ids(cursor, rows: list[_Row]) -> set[UUID]:
    # One array literal: binding a list makes psycopg quote every element in Python.
    ids = "{" + ",".join(str(r.id) for r in rows) + "}"
    cursor.execute("SELECT id FROM events WHERE id = ANY(%s::uuid[])", [ids])
    return {row[0] for row in cursor.fetchall()}


def _insert_on_conflict(cursor, rows: list[_Row]) -> set[UUID]:
    """Insert the events not stored yet; the ids of those inserted."""
    cursor.execute(
        _INSERT_EVENTS,
        [
            [r.id for r in rows],
            [r.occurred for r in rows],
            [r.received for r in rows],
            [r.event for r in rows],
            [r.resource_id for r in rows],
            [r.resource_json for r in rows],
            [r.related_json for r in rows],
            [r.payload_json for r in rows],
            [r.follows for r in rows],
        ],
    )
    return {row[0] for row in cursor.fetchall()}


_NULL = "\\N"  # COPY's text-format NULL


def _event_copy_text(rows: list[_Row]) -> str:
    out = io.StringIO()
    write = out.write
    for r in rows:
        write(
            f"{r.id}\t{r.occurred.isoformat()}\t{r.received.isoformat()}\t{_copy_escape(r.event)}\t"
            f"{_copy_escape(r.resource_id)}\t{_copy_escape(r.resource_json)}\t"
            f"{_copy_escape(r.related_json)}\t{_copy_escape(r.payload_json)}\t"
            f"{r.follows if r.follows else _NULL}\n"
        )
    return out.getvalue()


def _copy_escape(value: str) -> str:
    # COPY text format: backslash, tab, newline and carriage return must be escaped.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def _resource_copy_text(rows: list[_Row]) -> str:
    out = io.StringIO()
    write = out.write
    for row in rows:
        occurred = row.occurred.isoformat()
        event_id = str(row.id)
        write(
            f"{event_id}\t0\t{occurred}\t{_copy_escape(row.resource_id)}\t\t"
            f"{_copy_escape(row.resource_json)}\n"
        )
        for position, (related, labels) in enumerate(
            zip(row.source.related, row.related_jsons, strict=True), start=1
        ):
            write(
                f"{event_id}\t{position}\t{occurred}\t{_copy_escape(related.id)}\t"
                f"{_copy_escape(related.role)}\t{_copy_escape(labels)}\n"
            )
    return out.getvalue()


def _store_portable(rows: list[_Row]) -> list[_Row]:
    """The ORM path (SQLite): writes are serialized there, so a lookup of existing ids inside
    the transaction is enough to skip duplicates."""
    existing = set(Event.objects.filter(id__in=[r.id for r in rows]).values_list("id", flat=True))
    stored = [r for r in rows if r.id not in existing]
    Event.objects.bulk_create(
        [
            Event(
                id=r.id,
                occurred=r.occurred,
                received=r.received,
                event=r.event,
                resource_id=r.resource_id,
                resource=r.source.resource.root,
                related=[rel.root for rel in r.source.related],
                payload=json.loads(r.payload_json),  # NaN stored as null, as on PostgreSQL
                follows=r.follows,
            )
            for r in stored
        ],
        batch_size=500,
    )
    EventResource.objects.bulk_create(
        [
            EventResource(
                event_id=r.id,
                position=position,
                occurred=r.occurred,
                resource_id=resource.id,
                role=resource.root.get(schemas.RESOURCE_ROLE, "") if position else "",
                labels=resource.root,
            )
            for r in stored
            for position, resource in enumerate(r.source.involved_resources)
        ],
        batch_size=500,
    )
    return stored


def delete_events_before(cutoff: datetime, *, batch_size: int = 5000) -> int:
    """Delete one bounded batch of events older than `cutoff`, with their resource rows.

    Returns how many events were deleted; callers loop until it returns 0.
    """
    with transaction.atomic():
        ids = list(
            Event.objects.filter(occurred__lt=cutoff)
            .order_by("occurred")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        EventResource.objects.filter(event_id__in=ids).delete()
        Event.objects.filter(id__in=ids).delete()
    return len(ids)
