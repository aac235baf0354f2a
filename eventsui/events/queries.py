"""Reads of the event store: keyset pages, totals and count-by.

Pages are keyset (cursor) based on (occurred, id) in the filter's order, never OFFSET, with a
hard page cap. Totals are exact up to TOTAL_EXACT_LIMIT matches and the planner's estimate
beyond, so a page never pays for a COUNT(*) over millions of rows. The API, the feed page
and the live feed's gap fill all read through here.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.core import signing
from django.db import connection
from django.db.models import Count, DateTimeField, FloatField, Max, Min, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT

from eventsui.events import serialization
from eventsui.events.filters import EventFilter, EventOrder
from eventsui.events.models import Event
from eventsui.lib.times import prefect_datetime

PAGE_SIZE = 50
PAGE_MAX = 200
TOTAL_EXACT_LIMIT = 1000
MAX_BUCKETS = 1000
# All time is cut into buckets counted from this instant (as Prefect does), so the same
# bucket has the same index in every query.
PIVOT = datetime(2024, 4, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cursor:
    """A position in a result list: the (occurred, id) of the last event already seen."""

    occurred: datetime
    id: UUID

    def encode(self) -> str:
        raw = f"{self.occurred.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Raises ValueError on anything that is not a cursor we made."""
        try:
            padded = value + "=" * (-len(value) % 4)
            occurred, _, id_ = base64.urlsafe_b64decode(padded).decode().partition("|")
            parsed = datetime.fromisoformat(occurred)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return cls(parsed, UUID(id_))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError("not a valid cursor") from exc

    @classmethod
    def of(cls, event: Event) -> Cursor:
        return cls(event.occurred, event.id)


@dataclass
class Page:
    events: list[Event]
    next: Cursor | None


# Prefect's ReceivedEvent JSON, built by PostgreSQL from the stored columns (the one writer's
# SQL form, see serialization): an API page is then passed through as text instead of parsing
# and re-serializing every payload.
_RECEIVED_JSON = RawSQL(serialization.RECEIVED_EVENT_SQL, [])


def page_events(
    filter: EventFilter,
    limit: int = PAGE_SIZE,
    after: Cursor | None = None,
    *,
    as_json: bool = False,
) -> Page:
    """One page of matching events in the filter's order, after `after` if given.

    With as_json, each event carries `received_json` (its ReceivedEvent JSON text) and only
    the columns the cursor needs are loaded, where the database can build the JSON itself;
    read an event's JSON with `serialization.stored_event_json` either way.
    """
    limit = max(0, min(limit, PAGE_MAX))
    # The page's keys first: (id, occurred) of the next limit + 1 distinct events. A
    # related-filter join returns an event once per matching related resource (an event
    # with three tags, for `role=tag`), so keep reading after the last row until enough
    # distinct events are found; the keyset skips the rest of an event's rows.
    keys: list[tuple[UUID, datetime]] = []
    seen: set[UUID] = set()
    position = (after.occurred, after.id) if after is not None else None
    while len(keys) <= limit:
        chunk = list(filter.apply(after=position).values_list("id", "occurred")[: limit + 1])
        for id_, occurred in chunk:
            if id_ not in seen:
                seen.add(id_)
                keys.append((id_, occurred))
        if len(chunk) < limit + 1:
            break
        position = (chunk[-1][1], chunk[-1][0])
    more = len(keys) > limit
    keys = keys[:limit]
    rows = Event.objects.filter(id__in=[k[0] for k in keys])
    if as_json and connection.vendor == "postgresql":
        # PostgreSQL builds the JSON of just the page's events (in the page query it would
        # build it for every candidate row before sorting them).
        rows = rows.only("id", "occurred").annotate(received_json=_RECEIVED_JSON)
    found = {e.id: e for e in rows}
    events = [found[k[0]] for k in keys if k[0] in found]
    return Page(events=events, next=Cursor.of(events[-1]) if more and events else None)


def total(filter: EventFilter, first_page: Page, limit: int) -> tuple[int, bool]:
    """(count, is_estimate) of the events matching `filter`, given its first page.

    A first page with no next page is the whole answer. Otherwise, on PostgreSQL, the
    planner estimates the count (a millisecond, whatever the size of the store) and only
    an estimate under TOTAL_EXACT_LIMIT is replaced by counting distinct ids over a bounded
    number of rows. A page never pays for a COUNT(*) over millions of rows; a large total
    is an estimate and says so.
    """
    if first_page.next is None and limit > 0:
        return len(first_page.events), False
    ordered = filter.apply()
    estimate = None
    if connection.vendor == "postgresql":
        estimate = _planner_estimate(ordered.order_by().values("id"))
        if estimate > TOTAL_EXACT_LIMIT:
            return estimate, True
    # Rows, not events: a related-filter join may list an event several times.
    row_cap = TOTAL_EXACT_LIMIT * 10
    sql, params = ordered.order_by().values("id")[:row_cap].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), count(DISTINCT id) FROM ({sql}) AS capped", params)
        rows, distinct = cursor.fetchone()
    if rows < row_cap and distinct <= TOTAL_EXACT_LIMIT:
        return distinct, False
    return max(estimate or 0, distinct), True


def _planner_estimate(queryset: QuerySet) -> int:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


# -- page tokens (GET /api/events/filter/next) ---------------------------------------------

_TOKEN_SALT = "eventsui.events.page"
TOKEN_MAX_AGE = 60 * 60


def make_page_token(
    filter: EventFilter, limit: int, cursor: Cursor, total_: int, estimate: bool
) -> str:
    return signing.dumps(
        {
            "f": filter.model_dump(mode="json", exclude_defaults=False),
            "l": limit,
            "c": cursor.encode(),
            "t": total_,
            "e": estimate,
        },
        salt=_TOKEN_SALT,
        compress=True,
    )


def read_page_token(token: str) -> tuple[EventFilter, int, Cursor, int, bool]:
    """Raises signing.BadSignature (tampered or expired) or ValueError."""
    data = signing.loads(token, salt=_TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    return (
        EventFilter.model_validate(data["f"]),
        int(data["l"]),
        Cursor.decode(data["c"]),
        int(data["t"]),
        bool(data.get("e", False)),
    )


# -- count-by ----------------------------------------------------------------------------


class TimeUnit(StrEnum):
    week = "week"
    day = "day"
    hour = "hour"
    minute = "minute"
    second = "second"

    def delta(self, interval: float) -> timedelta:
        seconds = {"week": 604800, "day": 86400, "hour": 3600, "minute": 60, "second": 1}[
            self.value
        ]
        try:
            return timedelta(seconds=seconds * interval)
        except OverflowError:
            raise InvalidCountParameters("The interval is too long") from None


class Countable(StrEnum):
    day = "day"
    time = "time"
    event = "event"
    resource = "resource"


class InvalidCountParameters(ValueError):
    pass


def _window(filter: EventFilter) -> tuple[datetime, datetime]:
    since = filter.occurred.since
    until = filter.occurred.until or datetime.now(UTC)
    return since, until


def bucket_count(since: datetime, until: datetime, unit: TimeUnit, interval: float) -> int:
    delta = unit.delta(interval)
    first = math.floor((since - PIVOT) / delta)
    last = math.floor((until - PIVOT) / delta)
    return last - first + 1


def validate_buckets(filter: EventFilter, unit: TimeUnit, interval: float) -> None:
    if interval < 0.01:
        raise InvalidCountParameters("The minimum interval is 0.01")
    since, until = _window(filter)
    if until < since:
        raise InvalidCountParameters("occurred.until must not be before occurred.since")
    buckets = bucket_count(since, until, unit, interval)
    if buckets > MAX_BUCKETS:
        raise InvalidCountParameters(
            f"The given interval would create {buckets} buckets, which is too many. Please "
            f"increase the interval or reduce the time range to produce {MAX_BUCKETS} "
            "buckets or fewer."
        )


def choose_time_unit(since: datetime, until: datetime, target: int = 60) -> tuple[TimeUnit, float]:
    """A readable (unit, interval) giving roughly `target` buckets (never more than 120)."""
    span = max((until - since).total_seconds(), 1.0)
    steps = [
        (TimeUnit.second, 1),
        (TimeUnit.second, 5),
        (TimeUnit.second, 15),
        (TimeUnit.second, 30),
        (TimeUnit.minute, 1),
        (TimeUnit.minute, 5),
        (TimeUnit.minute, 15),
        (TimeUnit.minute, 30),
        (TimeUnit.hour, 1),
        (TimeUnit.hour, 3),
        (TimeUnit.hour, 6),
        (TimeUnit.hour, 12),
        (TimeUnit.day, 1),
        (TimeUnit.week, 1),
        (TimeUnit.week, 4),
        (TimeUnit.week, 13),
    ]
    for unit, interval in steps:
        if span / unit.delta(interval).total_seconds() <= target * 2:
            return unit, float(interval)
    return TimeUnit.week, float(math.ceil(span / (604800 * target)))


def _bucket_expression(delta: timedelta) -> RawSQL:
    """Each event's bucket: its start time (PostgreSQL's date_bin, several times faster than
    epoch arithmetic, which runs on numerics), or a fractional bucket index (SQLite)."""
    if connection.vendor == "postgresql":
        return RawSQL(
            "date_bin(%s::interval, events.occurred, %s::timestamptz)",
            [delta, PIVOT],
            output_field=DateTimeField(),
        )
    return RawSQL(
        "((julianday(events.occurred) - 2440587.5) * 86400.0 - %s) / %s",
        [PIVOT.timestamp(), delta.total_seconds()],
        output_field=FloatField(),
    )


def _bucket_index(bucket: datetime | float, delta: timedelta) -> int:
    if isinstance(bucket, datetime):
        return round((bucket - PIVOT) / delta)
    return math.floor(bucket)


def count_by_time(
    filter: EventFilter, time_unit: TimeUnit | str, time_interval: float = 1.0
) -> list[dict[str, Any]]:
    """Event counts per time bucket over the filter's range, zero-filled."""
    unit = TimeUnit(time_unit)
    validate_buckets(filter, unit, time_interval)
    delta = unit.delta(time_interval)
    since, until = _window(filter)
    rows = (
        filter.matching()
        .annotate(bucket=_bucket_expression(delta))
        .values("bucket")
        .annotate(n=Count("*"))
    )
    counts: dict[int, int] = {}
    for row in rows:
        index = _bucket_index(row["bucket"], delta)
        counts[index] = counts.get(index, 0) + row["n"]
    first = math.floor((since - PIVOT) / delta)
    last = math.floor((until - PIVOT) / delta)
    out = []
    for index in range(first, last + 1):
        start = PIVOT + delta * index
        out.append(
            {
                "value": str(index),
                "label": prefect_datetime(start),
                "count": counts.get(index, 0),
                "start_time": start,
                "end_time": start + delta - timedelta(microseconds=1),
            }
        )
    return out


def count_by_value(
    filter: EventFilter, countable: Countable, limit: int = 1000
) -> list[dict[str, Any]]:
    """Counts per event name or per primary resource, most frequent first."""
    field = "event" if countable == Countable.event else "resource_id"
    rows = (
        filter.matching()
        .values(field)
        .annotate(
            count=Count("*"),
            start_time=Min("occurred"),
            end_time=Max("occurred"),
            label=Max(KT("resource__prefect.resource.name"))
            if field == "resource_id"
            else Max("event"),
        )
        .order_by("-count", field)[:limit]
    )
    return [
        {
            "value": row[field],
            "label": row["label"] or row[field],
            "count": row["count"],
            "start_time": row["start_time"],
            "end_time": row["end_time"],
        }
        for row in rows
    ]


def count_by(
    filter: EventFilter,
    countable: Countable | str,
    time_unit: TimeUnit | str = TimeUnit.day,
    time_interval: float = 1.0,
) -> list[dict[str, Any]]:
    countable = Countable(countable)
    if countable == Countable.day:
        return count_by_time(filter, TimeUnit.day, 1.0)
    if countable == Countable.time:
        return count_by_time(filter, time_unit, time_interval)
    return count_by_value(filter, countable)


__all__ = [
    "Cursor",
    "Page",
    "page_events",
    "total",
    "make_page_token",
    "read_page_token",
    "TimeUnit",
    "Countable",
    "InvalidCountParameters",
    "count_by",
    "count_by_time",
    "choose_time_unit",
    "EventOrder",
    "PAGE_SIZE",
    "PAGE_MAX",
]
