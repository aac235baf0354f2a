"""Writes to the event store: every event enters through `ingest_events`.

It de-duplicates by id, stores a whole batch in one transaction (the events and one row per
resource), and only after the commit publishes the stored events to the live feed. Views and
consumers call it; they hold no storage logic of their own.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import psycopg
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import Q

from eventsui.events import schemas, serialization
from eventsui.events.live import publish as live
from eventsui.events.models import (
    Event,
    EventBatch,
    EventCount,
    EventResource,
    EventResourceCount,
)

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
            # Last: the count rows are the only ones concurrent batches share, so their row
            # locks are held from here to the commit only.
            add_counts(*_counts(stored))
        if publish and payloads:
            transaction.on_commit(lambda: live.publish(payloads))
    return IngestResult(received=len(events), stored=len(stored), payloads=payloads)


# SQLSTATE classes of errors about the rows themselves, not the database's availability: data
# exception (22), integrity constraint violation (23), program limit exceeded (54: "index row
# size exceeds btree maximum"). Everything else (connection lost, pool timeout, shutdown, out
# of resources) means the store cannot take any batch right now.
_REFUSED_ROW_CLASSES = {"22", "23", "54"}


def refused_by_rows(exc: BaseException) -> bool:
    """Whether `exc` from ingest_events means the database refused some row of the batch."""
    if isinstance(exc, (IntegrityError, DataError, psycopg.IntegrityError, psycopg.DataError)):
        return True
    # COPY goes through psycopg's own cursor: its errors arrive unwrapped.
    error = exc if isinstance(exc, psycopg.Error) else exc.__cause__
    sqlstate = getattr(error, "sqlstate", None) or ""
    return sqlstate[:2] in _REFUSED_ROW_CLASSES


def ingest_events_dropping_refused(events: Sequence[schemas.Event]) -> IngestResult:
    """ingest_events for the ingest websocket: an event the database refuses never costs its
    neighbours.

    The schema holds every bound the store has, so this should never split a batch; should the
    database still refuse a row, the batch is halved until the refused events stand alone, and
    those are logged and dropped, as a malformed frame is (Prefect's own websocket drops what it
    cannot parse). Errors that are not about a row (the store is unreachable) are raised: the
    caller closes the socket unconfirmed and the client resends.
    """
    try:
        return ingest_events(events, publish=False)
    except (DatabaseError, psycopg.Error) as exc:
        if not refused_by_rows(exc):
            raise
        if len(events) == 1:
            logger.warning("dropped event %s: the database refused it: %s", events[0].id, exc)
            return IngestResult(received=1, stored=0, payloads=[])
    middle = len(events) // 2
    first = ingest_events_dropping_refused(events[:middle])
    second = ingest_events_dropping_refused(events[middle:])
    return IngestResult(
        received=first.received + second.received,
        stored=first.stored + second.stored,
        payloads=first.payloads + second.payloads,
    )


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


_INSERT_EVENTS_PORTABLE = (
    "INSERT INTO events (id, occurred, received, event, resource_id, resource, related, payload,"
    " follows) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_RESOURCES_PORTABLE = (
    "INSERT INTO event_resources (event_id, position, occurred, resource_id, role, labels)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


def _store_portable(rows: list[_Row]) -> list[_Row]:
    """SQLite: writes are serialized there, so a lookup of existing ids inside the
    transaction is enough to skip duplicates.

    Rows go in with executemany of the JSON already written once (`_Row`), the values in the
    form Django's fields store them (`connection.ops`: UUIDs as hex, datetimes as UTC text):
    building a model instance per row and per resource row for bulk_create was most of the
    time of an ingest."""
    existing = set(Event.objects.filter(id__in=[r.id for r in rows]).values_list("id", flat=True))
    stored = [r for r in rows if r.id not in existing]
    adapt_time = connection.ops.adapt_datetimefield_value
    events, resources = [], []
    for r in stored:
        event_id = r.id.hex
        occurred = adapt_time(r.occurred)
        events.append(
            (
                event_id,
                occurred,
                adapt_time(r.received),
                r.event,
                r.resource_id,
                r.resource_json,
                r.related_json,
                r.payload_json,
                r.follows.hex if r.follows else None,
            )
        )
        resources.append((event_id, 0, occurred, r.resource_id, "", r.resource_json))
        for position, (related, labels) in enumerate(
            zip(r.source.related, r.related_jsons, strict=True), start=1
        ):
            resources.append((event_id, position, occurred, related.id, related.role, labels))
    with connection.cursor() as cursor:
        cursor.executemany(_INSERT_EVENTS_PORTABLE, events)
        cursor.executemany(_INSERT_RESOURCES_PORTABLE, resources)
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
        _take_away_counts(ids)
        EventResource.objects.filter(event_id__in=ids).delete()
        Event.objects.filter(id__in=ids).delete()
    return len(ids)


# -- per-minute and per-hour counts (models.EventCount, models.EventResourceCount) -----------

COUNT_SPANS = (60, 3600)

# (span, bucket, event) -> [count, first, last]
_EventCounts = dict[tuple[int, datetime, str], list]
# (span, bucket, role, resource id or '') -> count
_ResourceCounts = dict[tuple[int, datetime, str, str], int]


def count_bucket(occurred: datetime, span: int) -> datetime:
    """The start of the minute (span 60) or hour (3600) holding `occurred` (UTC)."""
    if span == 60:
        return occurred.replace(second=0, microsecond=0)
    return occurred.replace(minute=0, second=0, microsecond=0)


def _counts(rows: Sequence[_Row]) -> tuple[_EventCounts, _ResourceCounts]:
    """The counts of these rows per minute, then rolled up per hour from the minutes (a
    batch's events fall in a few minutes: far fewer entries than events)."""
    events: _EventCounts = {}
    resources: _ResourceCounts = {}
    for row in rows:
        occurred = row.occurred
        minute = occurred.replace(second=0, microsecond=0)
        key = (60, minute, row.event)
        entry = events.get(key)
        if entry is None:
            events[key] = [1, occurred, occurred]
        else:
            entry[0] += 1
            if occurred < entry[1]:
                entry[1] = occurred
            elif occurred > entry[2]:
                entry[2] = occurred
        pairs = {(r.role, r.id) for r in row.source.related}
        for role in {role for role, _ in pairs}:
            pairs.add((role, ""))
        for role, resource_id in pairs:
            key = (60, minute, role, resource_id)
            resources[key] = resources.get(key, 0) + 1
    for (_, minute, name), (n, first, last) in list(events.items()):
        key = (3600, minute.replace(minute=0), name)
        entry = events.get(key)
        if entry is None:
            events[key] = [n, first, last]
        else:
            entry[0] += n
            entry[1] = min(entry[1], first)
            entry[2] = max(entry[2], last)
    for (_, minute, role, resource_id), n in list(resources.items()):
        key = (3600, minute.replace(minute=0), role, resource_id)
        resources[key] = resources.get(key, 0) + n
    return events, resources


_UPSERT_EVENT_COUNTS_PG = """
INSERT INTO event_counts (span, bucket, event, count, first, last)
SELECT * FROM unnest(%s::int[], %s::timestamptz[], %s::text[], %s::bigint[],
                     %s::timestamptz[], %s::timestamptz[])
ON CONFLICT (span, bucket, event) DO UPDATE SET
    count = event_counts.count + EXCLUDED.count,
    first = LEAST(event_counts.first, EXCLUDED.first),
    last = GREATEST(event_counts.last, EXCLUDED.last)
"""
_UPSERT_RESOURCE_COUNTS_PG = """
INSERT INTO event_resource_counts (span, bucket, role, resource_id, count)
SELECT * FROM unnest(%s::int[], %s::timestamptz[], %s::text[], %s::text[], %s::bigint[])
ON CONFLICT (span, role, resource_id, bucket) DO UPDATE SET
    count = event_resource_counts.count + EXCLUDED.count
"""
_UPSERT_EVENT_COUNTS_SQLITE = """
INSERT INTO event_counts (span, bucket, event, count, first, last) VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (span, bucket, event) DO UPDATE SET
    count = count + excluded.count, first = min(first, excluded.first),
    last = max(last, excluded.last)
"""
_UPSERT_RESOURCE_COUNTS_SQLITE = """
INSERT INTO event_resource_counts (span, bucket, role, resource_id, count)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (span, role, resource_id, bucket) DO UPDATE SET count = count + excluded.count
"""


def add_counts(events: _EventCounts, resources: _ResourceCounts) -> None:
    """Add (or, with negative counts, take away) counts, in the current transaction.

    Keys are written in sorted order, so concurrent batches touching the same minutes wait
    for each other instead of deadlocking. On PostgreSQL one statement per table (unnest
    of arrays, as `_INSERT_EVENTS`)."""
    event_keys = sorted(events)
    resource_keys = sorted(resources)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if event_keys:
                cursor.execute(
                    _UPSERT_EVENT_COUNTS_PG,
                    [
                        [k[0] for k in event_keys],
                        [k[1] for k in event_keys],
                        [k[2] for k in event_keys],
                        [events[k][0] for k in event_keys],
                        [events[k][1] for k in event_keys],
                        [events[k][2] for k in event_keys],
                    ],
                )
            if resource_keys:
                cursor.execute(
                    _UPSERT_RESOURCE_COUNTS_PG,
                    [
                        [k[0] for k in resource_keys],
                        [k[1] for k in resource_keys],
                        [k[2] for k in resource_keys],
                        [k[3] for k in resource_keys],
                        [resources[k] for k in resource_keys],
                    ],
                )
            return
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            _UPSERT_EVENT_COUNTS_SQLITE,
            [
                (k[0], adapt(k[1]), k[2], v[0], adapt(v[1]), adapt(v[2]))
                for k, v in ((k, events[k]) for k in event_keys)
            ],
        )
        cursor.executemany(
            _UPSERT_RESOURCE_COUNTS_SQLITE,
            [(k[0], adapt(k[1]), k[2], k[3], resources[k]) for k in resource_keys],
        )


def _delete_empty(model, keys: list[dict], chunk: int = 200) -> None:
    for start in range(0, len(keys), chunk):
        match = Q()
        for key in keys[start : start + chunk]:
            match |= Q(**key)
        model.objects.filter(match, count__lte=0).delete()


def _take_away_counts(ids: list[UUID]) -> None:
    """Before deleting these events: subtract them from the counts, drop the rows that reach
    zero and move `first` of the rows left past the deleted events."""
    events: _EventCounts = {}
    for occurred, name in Event.objects.filter(id__in=ids).values_list("occurred", "event"):
        for span in COUNT_SPANS:
            entry = events.setdefault((span, count_bucket(occurred, span), name), [0, None, None])
            entry[0] -= 1
            entry[1] = occurred if entry[1] is None else min(entry[1], occurred)
            entry[2] = occurred if entry[2] is None else max(entry[2], occurred)
    pairs: dict[UUID, tuple[datetime, set]] = {}
    for event_id, occurred, role, resource_id in EventResource.objects.filter(
        event_id__in=ids, position__gt=0
    ).values_list("event_id", "occurred", "role", "resource_id"):
        pairs.setdefault(event_id, (occurred, set()))[1].update({(role, resource_id), (role, "")})
    resources: _ResourceCounts = {}
    for occurred, keys in pairs.values():
        for span in COUNT_SPANS:
            bucket = count_bucket(occurred, span)
            for role, resource_id in keys:
                key = (span, bucket, role, resource_id)
                resources[key] = resources.get(key, 0) - 1
    add_counts(events, resources)
    # Only the rows just decremented can have reached zero: look at those keys (through the
    # tables' unique indexes), not at every row of both tables once per batch.
    _delete_empty(
        EventCount, [dict(zip(("span", "bucket", "event"), k, strict=True)) for k in events]
    )
    _delete_empty(
        EventResourceCount,
        [dict(zip(("span", "bucket", "role", "resource_id"), k, strict=True)) for k in resources],
    )
    deleted = set(ids)
    for (span, bucket, name), (_, _, last_deleted) in events.items():
        row = EventCount.objects.filter(span=span, bucket=bucket, event=name).first()
        if row is None or row.first > last_deleted:
            continue
        remaining = (
            Event.objects.filter(
                event=name, occurred__gte=bucket, occurred__lt=bucket + timedelta(seconds=span)
            )
            .exclude(id__in=deleted)
            .order_by("occurred")
            .values_list("occurred", flat=True)
            .first()
        )
        if remaining is not None:
            EventCount.objects.filter(pk=row.pk).update(first=remaining)
