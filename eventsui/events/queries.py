"""Reads of the event store: keyset pages, totals and count-by.

Pages are keyset (cursor) based on (occurred, id) in the filter's order, never OFFSET, with a
hard page cap. Every query has one shape whose plan does not depend on table statistics (a
store as ingested has none): the walk of one index in the page's order that stops at the
page (`EventFilter.apply`; an event-name prefix is one walk per name, merged here).

Totals are exact. The common filters (a time range, event names and prefixes, one related
role or role and id) add up the per-minute and per-hour counts kept at ingest
(`models.EventCount`, `models.EventResourceCount`) and count only the partial minutes at the
ends of the range; others count their matches through the same driving index. The count-by
time histogram and count-by event read the same counts. The API, the feed page and the live
feed's gap fill all read through here.
"""

from __future__ import annotations

import base64
import math
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.core import signing
from django.db import connection, transaction
from django.db.models import Count, DateTimeField, F, IntegerField, Max, Min, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce

from eventsui.events import serialization, services
from eventsui.events.filters import EventFilter, EventOccurredFilter, EventOrder
from eventsui.events.models import Event, EventCount, EventResourceCount
from eventsui.lib.query_time import QueryTimeout, bounded

PAGE_SIZE = 50
PAGE_MAX = 200
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


@bounded
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
    names = _name_walks(filter)
    if names is not None:
        return _page_by_names(filter, names, limit, after, as_json=as_json)
    # The page's keys first: (id, occurred) of the next limit + 1 distinct events. A
    # related-filter join returns an event once per matching related resource (an event
    # with three tags, for `role=tag`), so keep reading after the last row until enough
    # distinct events are found; the keyset skips the rest of an event's rows.
    keys: list[tuple[UUID, datetime]] = []
    seen: set[UUID] = set()
    position = (after.occurred, after.id) if after is not None else None
    while len(keys) <= limit:
        with ordered_walk(filter):
            chunk = list(filter.apply(after=position).values_list("id", "occurred")[: limit + 1])
        for id_, occurred in chunk:
            if id_ not in seen:
                seen.add(id_)
                keys.append((id_, occurred))
        if len(chunk) < limit + 1:
            break
        position = (chunk[-1][1], chunk[-1][0])
    return _page_of_keys(keys, limit, as_json=as_json)


@contextmanager
def ordered_walk(filter: EventFilter | None = None):
    """Plan the page queries inside as the walk of the index in the page's order.

    Without statistics PostgreSQL estimates a resource id's rows at about one (its defaults
    multiply to almost nothing), so reading them all through a bitmap and sorting them looks
    cheapest: on a store as ingested that read 144,000 rows of a flow for a page of 50, in
    seconds. The page's ORDER BY is always the key of the index its query walks
    (`EventFilter.apply`), so forbidding sorts and bitmap scans for these statements leaves
    the planner that one plan, with or without statistics (PostgreSQL's `enable_sort` and
    `enable_bitmapscan`, local to a transaction around them). SQLite plans an ORDER BY
    matched by an index as that index's walk by itself. A list of event ids is the
    exception: its few rows are found by the primary key and sorted."""
    if connection.vendor != "postgresql" or (filter is not None and filter.id.id):
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('enable_sort', 'off', true),"
            " set_config('enable_bitmapscan', 'off', true)"
        )
        yield


# Above this many names under a prefix, one walk per name costs more than it saves.
NAME_WALKS_MAX = 40


def _name_walks(filter: EventFilter) -> list[str] | None:
    """The event names to walk one by one, when the event-name filter drives the query.

    A prefix (or a list of names) matches rows spread over the `(event, occurred)` index;
    no single walk of it is in time order, so the planner would read every match and sort
    them, or walk the time index checking names (slow for a rare prefix). The names under
    a prefix that occurred in the range are known from the counts (a few rows); each is
    one index walk in time order that stops at the page, merged in `_page_by_names`."""
    if filter.event is None or filter._driver() is not None:
        return None
    if filter.resource is not None and filter.resource.id:
        return None  # the primary resource's index is walked instead: fewer rows
    name_filter = filter.event
    if not (name_filter.prefix or name_filter.name):
        return None
    if name_filter.name:
        names = sorted(set(name_filter.name))
    else:
        since, end = _window_bounds(filter)
        candidates = (
            EventCount.objects.filter(
                name_filter.q(),
                span=3600,
                bucket__gte=services.count_bucket(since, 3600),
                bucket__lt=end,
            )
            .values_list("event", flat=True)
            .order_by("event")
            .distinct()
        )
        names = list(candidates[: NAME_WALKS_MAX + 1])
    if len(names) > NAME_WALKS_MAX:
        return None
    return names


def _page_by_names(
    filter: EventFilter, names: list[str], limit: int, after: Cursor | None, *, as_json: bool
) -> Page:
    position = (after.occurred, after.id) if after is not None else None
    keys: list[tuple[UUID, datetime]] = []
    base = filter.apply(after=position)  # every condition of the filter stays
    with ordered_walk(filter):
        for name in names:
            keys += base.filter(event=name).values_list("id", "occurred")[: limit + 1]
    keys.sort(key=lambda k: (k[1], k[0]), reverse=filter.order == EventOrder.DESC)
    return _page_of_keys(keys[: limit + 1], limit, as_json=as_json)


def _page_of_keys(keys: list[tuple[UUID, datetime]], limit: int, *, as_json: bool) -> Page:
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


@bounded
def total(filter: EventFilter, first_page: Page, limit: int) -> tuple[int, bool]:
    """(count, is_estimate) of the events matching `filter`, given its first page: always
    exact (is_estimate is always False; the field stays for the page tokens and the API).

    A first page with no next page is the whole answer. Otherwise the count adds up the
    counts kept at ingest where the filter allows (`_counted`) and counts the rest through
    the filter's driving index."""
    if first_page.next is None and limit > 0:
        return len(first_page.events), False
    return count_matching(filter), False


def count_matching(filter: EventFilter) -> int:
    """The exact number of events matching `filter`."""
    if filter.resource is not None and filter.resource.distinct:
        # One event per resource: Prefect counts the distinct resources.
        return filter.matching().values("resource_id").distinct().count()
    counted = _counted(filter)
    if counted is None:
        return _count_rows(filter)
    since, end = _window_bounds(filter)
    hours, minutes, raw = _pieces(since, end)
    n = 0
    buckets = _count_rows_q(hours, minutes)
    if buckets is not None:
        n += counted.rows(buckets).aggregate(n=Sum("count"))["n"] or 0
    for a, b in raw:
        n += len(_edge_events(filter, counted, a, b)) if counted.model is EventCount else 0
        if counted.model is not EventCount:
            n += _count_rows(_narrowed(filter, a, b))
    return n


def _edge_events(filter: EventFilter, counted: _Counted, since: datetime, end: datetime):
    """(occurred, name) of the events matching an event-name-only filter in a partial minute
    at an end of the range: read by time alone (the time index, whatever else the planner
    might prefer for a name prefix), the names checked here."""
    rows = Event.objects.filter(occurred__gte=since, occurred__lt=end).values_list(
        "occurred", "event"
    )
    names = filter.event
    if names is None:
        return list(rows)
    return [(t, name) for t, name in rows if names.includes_name(name)]


def _count_rows(filter: EventFilter) -> int:
    if filter._driver() is not None:  # count on the driving walk: no per-event semi-join
        return filter.apply().order_by().values("id").distinct().count()
    return filter.matching().count()


@dataclass(frozen=True)
class _Counted:
    """The count rows that answer a filter: `model` rows matching `q`."""

    model: type
    q: Q

    def rows(self, buckets: Q) -> QuerySet:
        return self.model.objects.filter(self.q & buckets)


def _counted(filter: EventFilter) -> _Counted | None:
    """The count rows that answer this filter, if they do: a time range, optionally with an
    event-name filter (EventCount) or one related role, or one related role and id
    (EventResourceCount), and nothing else."""
    if filter.id.id or filter.resource is not None or filter.text is not None:
        return None
    if any(not f.is_empty() for f in filter._any_resource()):
        return None
    related = [f for f in filter._related() if not f.is_empty()]
    if not related:
        return _Counted(EventCount, filter.event.q() if filter.event else Q())
    if filter.event is not None or len(related) > 1:
        return None
    key = _role_and_id(related[0])
    if key is None:
        return None
    return _Counted(EventResourceCount, Q(role=key[0], resource_id=key[1]))


def _role_and_id(related) -> tuple[str, str] | None:
    """(role, id or '') when the related filter is one role, or one role and one id."""
    if related.labels:
        return None
    if related.resources_in_roles and len(related.resources_in_roles) > 1:
        return None
    roles = set(related.role or [])
    ids = set(related.id or [])
    for resource_id, role in related.resources_in_roles or []:
        if (related.id and resource_id not in ids) or (related.role and role not in roles):
            return None
        ids.add(resource_id)
        roles.add(role)
    if len(roles) != 1 or len(ids) > 1:
        return None
    return next(iter(roles)), next(iter(ids), "")


_FAR = datetime(9000, 1, 1, tzinfo=UTC)  # "no upper bound": later than any stored event
_TICK = timedelta(microseconds=1)


def _window_bounds(filter: EventFilter) -> tuple[datetime, datetime]:
    """The filter's range as [since, end): stored times have microseconds, so an inclusive
    `until` ends one microsecond later."""
    until = filter.occurred.until
    return filter.occurred.since, (_FAR if until is None else until + _TICK)


def _floor(t: datetime, span: int) -> datetime:
    return services.count_bucket(t, span) if t < _FAR else t


def _ceil(t: datetime, span: int) -> datetime:
    floor = _floor(t, span)
    return floor if floor == t else floor + timedelta(seconds=span)


Ranges = list[tuple[datetime, datetime]]


def _pieces(since: datetime, end: datetime, *, hours: bool = True) -> tuple[Ranges, Ranges, Ranges]:
    """[since, end) as (whole hours, whole minutes, the partial minutes at the ends)."""
    since = since.astimezone(UTC)
    end = end.astimezone(UTC)
    m0, m1 = _ceil(since, 60), _floor(end, 60)
    if m0 >= m1:
        return [], [], ([(since, end)] if since < end else [])
    raw = [(a, b) for a, b in ((since, m0), (m1, end)) if a < b]
    h0, h1 = _ceil(m0, 3600), _floor(m1, 3600)
    if not hours or h0 >= h1:
        return [], [(m0, m1)], raw
    minutes = [(a, b) for a, b in ((m0, h0), (h1, m1)) if a < b]
    return [(h0, h1)], minutes, raw


def _count_rows_q(hours: Ranges, minutes: Ranges) -> Q | None:
    parts = [Q(span=3600, bucket__gte=a, bucket__lt=b) for a, b in hours]
    parts += [Q(span=60, bucket__gte=a, bucket__lt=b) for a, b in minutes]
    if not parts:
        return None
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q


def _narrowed(filter: EventFilter, since: datetime, end: datetime) -> EventFilter:
    """The same filter over [since, end)."""
    occurred = EventOccurredFilter.model_construct(
        since=since, until=None if end >= _FAR else end - _TICK
    )
    return filter.model_copy(update={"occurred": occurred})


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
        """One bucket of `interval` units, computed as Prefect's `TimeUnit.as_timedelta`."""
        try:
            if self is TimeUnit.week:
                return timedelta(days=7 * interval)
            return timedelta(**{f"{self.value}s": interval})
        except OverflowError:
            raise InvalidCountParameters("The interval is too long") from None

    def end_of_period(self, value: datetime) -> datetime:
        """The last microsecond of the unit (second, minute, ... ISO week) holding `value`:
        where Prefect stops the buckets of a range that reaches into the future."""
        value = value.astimezone(UTC)
        if self is TimeUnit.second:
            return value.replace(microsecond=999999)
        if self is TimeUnit.minute:
            return value.replace(second=59, microsecond=999999)
        if self is TimeUnit.hour:
            return value.replace(minute=59, second=59, microsecond=999999)
        end_of_day = value.replace(hour=23, minute=59, second=59, microsecond=999999)
        if self is TimeUnit.day:
            return end_of_day
        return end_of_day + timedelta(days=6 - value.weekday())  # the Sunday


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
    """The number of buckets Prefect counts for a range (`ceil((until - since) / bucket)`),
    the figure its 1,000-bucket limit is checked against."""
    return math.ceil((until - since) / unit.delta(interval))


def validate_buckets(filter: EventFilter, unit: TimeUnit, interval: float) -> None:
    """Prefect's `TimeUnit.validate_buckets`. A range whose since is after its until is not
    refused: it has no buckets (Prefect answers `[]`)."""
    if interval < 0.01:
        raise InvalidCountParameters("The minimum interval is 0.01")
    since, until = _window(filter)
    buckets = bucket_count(since, until, unit, interval)
    if buckets > MAX_BUCKETS:
        raise InvalidCountParameters(
            f"The given interval would create {buckets} buckets, which is too many. Please "
            f"increase the interval or reduce the time range to produce {MAX_BUCKETS} "
            "buckets or fewer."
        )


def bucket_spans(
    since: datetime, until: datetime, unit: TimeUnit, interval: float, now: datetime | None = None
) -> tuple[int, list[tuple[datetime, datetime]]]:
    """(index of the first bucket since PIVOT, [(start, end)] of each bucket), as Prefect's
    `TimeUnit.get_interval_spans`: from the bucket holding `since`, every bucket that starts
    before `until` (so none starts at an `until` on a boundary); an `until` in the future
    stops at the end of the current unit."""
    delta = unit.delta(interval)
    now = now or datetime.now(UTC)
    end = unit.end_of_period(now) if until > now else until
    first = math.floor((since - PIVOT) / delta)
    spans = []
    start = PIVOT + delta * first
    while start < end:
        spans.append((start, start + delta - timedelta(microseconds=1)))
        start += delta
    return first, spans


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


def _micros(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _bucket_expression(delta: timedelta) -> RawSQL:
    """Each event's bucket: its start time (PostgreSQL's date_bin, several times faster than
    epoch arithmetic, which runs on numerics), or its bucket index since PIVOT (SQLite, in
    integer microseconds: Django stores `YYYY-MM-DD HH:MM:SS[.ffffff]`, and float julian
    days would put an event on a boundary in the bucket before)."""
    if connection.vendor == "postgresql":
        return RawSQL(
            "date_bin(%s::interval, events.occurred, %s::timestamptz)",
            [delta, PIVOT],
            output_field=DateTimeField(),
        )
    micros = (
        "(unixepoch(events.occurred) * 1000000"
        " + CAST(substr(events.occurred || '.000000', 21, 6) AS INTEGER) - %s)"
    )
    return RawSQL(
        f"({micros} / %s - CASE WHEN {micros} %% %s < 0 THEN 1 ELSE 0 END)",
        [_micros(PIVOT - datetime(1970, 1, 1, tzinfo=UTC)), _micros(delta)] * 2,
        output_field=IntegerField(),
    )


def _bucket_index(bucket: datetime | int, delta: timedelta) -> int:
    if isinstance(bucket, datetime):
        return round((bucket - PIVOT) / delta)
    return int(bucket)


def _bucket_counts(filter: EventFilter, delta: timedelta) -> dict[int, int]:
    """{bucket index since PIVOT: events} over the filter's range: from the counts kept at
    ingest where the filter and the bucket size allow (whole minutes, or whole hours), the
    partial minutes at the ends counted; otherwise counted."""
    counted = _counted(filter)
    if counted is None or delta % timedelta(minutes=1):
        return _counted_buckets(filter, delta)
    since, end = _window_bounds(filter)
    hours, minutes, raw = _pieces(since, end, hours=not delta % timedelta(hours=1))
    counts: dict[int, int] = {}
    buckets = _count_rows_q(hours, minutes)
    if buckets is not None:
        rows = counted.rows(buckets).values("bucket").annotate(n=Sum("count")).order_by()
        for row in rows:
            index = (row["bucket"] - PIVOT) // delta
            counts[index] = counts.get(index, 0) + row["n"]
    for a, b in raw:
        if counted.model is EventCount:
            for occurred, _ in _edge_events(filter, counted, a, b):
                index = (occurred - PIVOT) // delta
                counts[index] = counts.get(index, 0) + 1
            continue
        for index, n in _counted_buckets(_narrowed(filter, a, b), delta).items():
            counts[index] = counts.get(index, 0) + n
    return counts


def _counted_buckets(filter: EventFilter, delta: timedelta) -> dict[int, int]:
    """{bucket index: events} counted from the events (on the driving walk, if any: no
    semi-join per event)."""
    if filter._driver() is not None:
        matching = filter.apply().order_by()
        n = Count("id", distinct=True)
    else:
        matching = filter.matching()
        n = Count("*")
    rows = matching.annotate(bucket=_bucket_expression(delta)).values("bucket").annotate(n=n)
    counts: dict[int, int] = {}
    for row in rows:
        index = _bucket_index(row["bucket"], delta)
        counts[index] = counts.get(index, 0) + row["n"]
    return counts


@bounded
def count_by_time(
    filter: EventFilter, time_unit: TimeUnit | str, time_interval: float = 1.0
) -> list[dict[str, Any]]:
    """Event counts per time bucket over the filter's range, zero-filled, in Prefect's shape:
    `value` is the bucket's position in the answer, `label` its start (`isoformat()`, as
    Prefect labels buckets), `start_time` and `end_time` its first and last microsecond.

    An event exactly at an `until` that falls on a bucket boundary is in no bucket (Prefect
    answers 500 there: its last bucket ends a microsecond before `until`)."""
    unit = TimeUnit(time_unit)
    validate_buckets(filter, unit, time_interval)
    delta = unit.delta(time_interval)
    since, until = _window(filter)
    first, spans = bucket_spans(since, until, unit, time_interval)
    if not spans:
        return []
    counts: dict[int, int] = {}
    for index, n in _bucket_counts(filter, delta).items():
        counts[index - first] = counts.get(index - first, 0) + n
    return [
        {
            "value": str(position),
            "label": start.isoformat(),
            "count": counts.get(position, 0),
            "start_time": start,
            "end_time": end,
        }
        for position, (start, end) in enumerate(spans)
    ]


# Prefect's label of a resource: its latest name, else `prefect.name`, else its id.
_RESOURCE_LABEL = Coalesce(
    KT("resource__prefect.resource.name"), KT("resource__prefect.name"), F("resource_id")
)


def count_by_value(
    filter: EventFilter, countable: Countable, limit: int = 1000
) -> list[dict[str, Any]]:
    """Counts per event name or per primary resource, most frequent first, ties by label
    (Prefect's `Countable.get_database_query`). A resource's label is the one of its latest
    matching event (its `prefect.resource.name`, else `prefect.name`, else its id; an empty
    name stays empty): counted per (resource, label), then summed per resource."""
    field = "event" if countable == Countable.event else "resource_id"
    if field == "event":
        counted = _counted(filter)
        if counted is not None and counted.model is EventCount:
            return _count_by_event_name(filter, counted, limit)
    label = F("event") if field == "event" else _RESOURCE_LABEL
    rows = (
        filter.matching()
        .annotate(label=label)
        .values(field, "label")
        .annotate(count=Count("*"), start_time=Min("occurred"), end_time=Max("occurred"))
        .order_by()
    )
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        group = groups.get(row[field])
        if group is None:
            groups[row[field]] = {
                "value": row[field],
                "label": row["label"],
                "count": row["count"],
                "start_time": row["start_time"],
                "end_time": row["end_time"],
            }
            continue
        if row["end_time"] > group["end_time"]:
            group["label"] = row["label"]
            group["end_time"] = row["end_time"]
        group["count"] += row["count"]
        group["start_time"] = min(group["start_time"], row["start_time"])
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["label"]))
    return ordered[:limit]


def _count_by_event_name(filter: EventFilter, counted: _Counted, limit: int) -> list[dict]:
    """count-by event from the counts kept at ingest, the partial minutes counted."""
    since, end = _window_bounds(filter)
    hours, minutes, raw = _pieces(since, end)
    found: dict[str, list] = {}

    def add(name: str, n: int, first: datetime, last: datetime) -> None:
        entry = found.get(name)
        if entry is None:
            found[name] = [n, first, last]
        else:
            entry[0] += n
            entry[1] = min(entry[1], first)
            entry[2] = max(entry[2], last)

    buckets = _count_rows_q(hours, minutes)
    if buckets is not None:
        rows = (
            counted.rows(buckets)
            .values("event")
            .annotate(n=Sum("count"), first_=Min("first"), last_=Max("last"))
            .order_by()
        )
        for row in rows:
            add(row["event"], row["n"], row["first_"], row["last_"])
    for a, b in raw:
        for occurred, name in _edge_events(filter, counted, a, b):
            add(name, 1, occurred, occurred)
    ordered = sorted(found.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    return [
        {"value": name, "label": name, "count": n, "start_time": first, "end_time": last}
        for name, (n, first, last) in ordered
    ]


@bounded
def count_by(
    filter: EventFilter,
    countable: Countable | str,
    time_unit: TimeUnit | str = TimeUnit.day,
    time_interval: float = 1.0,
) -> list[dict[str, Any]]:
    """Prefect's count-by. Its bucket limit is checked with the given unit and interval
    whatever is counted, as Prefect does; `day` counts days whatever the unit (Prefect
    would mix day indexes into buckets of the given unit)."""
    countable = Countable(countable)
    validate_buckets(filter, TimeUnit(time_unit), time_interval)
    if countable == Countable.day:
        return count_by_time(filter, TimeUnit.day, 1.0)
    if countable == Countable.time:
        return count_by_time(filter, time_unit, time_interval)
    return count_by_value(filter, countable)


__all__ = [
    "QueryTimeout",
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
