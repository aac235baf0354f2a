"""The event filter: Prefect's `EventFilter`, one implementation for every reader.

The same `EventFilter` object answers two questions:
- `includes(event)`: does this event match? (the live feed, `/api/events/out`)
- `apply(queryset)`: the matching stored events (the query API and the feed page).

Both follow Prefect 3's semantics, with one deliberate difference: every predicate of a
`related` filter is honoured in memory too (Prefect's live stream ignores them). Label values
match through `schemas.ResourceSpecification` and `eventsui.events.matching` (globs, `!`
negation); the SQL translation here reads each pattern through `matching.parse_pattern`, as the
in-memory matcher does, so the two cannot disagree on what a pattern means.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, ClassVar
from uuid import UUID

from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, TextField, Value, Window
from django.db.models.expressions import Col, RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import RowNumber
from django.db.models.lookups import Exact, In, IsNull, Regex, StartsWith
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from eventsui.events import matching, schemas
from eventsui.events.matching import PatternKind, parse_pattern
from eventsui.events.models import Event, EventResource
from eventsui.events.schemas import ResourceSpecification, UtcDatetime

# The work a filter may ask for (schemas.ResourceSpecification bounds its labels and globs):
# each value of a list is a predicate, each related or any-resource filter a semi-join. 1,000
# related filters ran for minutes in PostgreSQL. Prefect sets no such bounds.
MAX_FILTER_VALUES = 500  # values of one list (ids, names, prefixes, roles)
MAX_RESOURCE_FILTERS = 10  # `related` or `any_resource` filters in one EventFilter


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _bounded_lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                limit = MAX_RESOURCE_FILTERS if key in _RESOURCE_FILTER_LISTS else MAX_FILTER_VALUES
                if isinstance(value, list) and len(value) > limit:
                    raise PydanticCustomError(
                        "too_many_values",
                        "{key}: at most {limit} values ({count} given)",
                        {"key": key, "limit": limit, "count": len(value)},
                    )
        return data

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise PydanticCustomError(
                "nul_character", "Filter text cannot contain the NUL character (\\u0000)"
            )
        return data


_RESOURCE_FILTER_LISTS = {"related", "any_resource"}


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


# The validation context of the Prefect API's bodies (see EventOccurredFilter.until).
API_CONTEXT = "prefect_api"


def _default_since() -> datetime:
    now = schemas.now_utc()
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=180)


class EventOccurredFilter(_Filter):
    since: UtcDatetime = Field(
        default_factory=_default_since, description="Only events at or after this time"
    )
    until: UtcDatetime | None = Field(
        default_factory=schemas.now_utc,
        description="Only events at or before this time (null: no upper bound)",
    )

    @field_validator("until", mode="before")
    @classmethod
    def _until_given(cls, value: Any, info: ValidationInfo) -> Any:
        # Prefect's API refuses `until: null` (omit it for "now"); the feed's own filters
        # (built in Python, not through the API) use None for "no upper bound".
        if value is None and (info.context or {}).get(API_CONTEXT):
            raise PydanticCustomError(
                "null_not_allowed",
                "occurred.until cannot be null: give a date and time, or omit it for now",
            )
        return value

    def includes(self, event: schemas.Event) -> bool:
        if event.occurred < self.since:
            return False
        return self.until is None or event.occurred <= self.until

    def q(self, prefix: str = "") -> Q:
        q = Q(**{f"{prefix}occurred__gte": self.since})
        if self.until is not None:
            q &= Q(**{f"{prefix}occurred__lte": self.until})
        return q


class EventNameFilter(_Filter):
    prefix: list[str] | None = Field(default=None, description="Events starting with any of these")
    exclude_prefix: list[str] | None = Field(default=None, description="Not starting with these")
    name: list[str] | None = Field(default=None, description="Events named exactly any of these")
    exclude_name: list[str] | None = Field(default=None, description="Not named any of these")

    def includes(self, event: schemas.Event) -> bool:
        return self.includes_name(event.event)

    def includes_name(self, name: str) -> bool:
        if self.prefix and not any(name.startswith(p) for p in self.prefix):
            return False
        if self.exclude_prefix and any(name.startswith(p) for p in self.exclude_prefix):
            return False
        if self.name and name not in self.name:
            return False
        return not (self.exclude_name and name in self.exclude_name)

    def q(self) -> Q:
        q = Q()
        if self.prefix:
            q &= _any(_prefix_q("event", p) for p in self.prefix)
        for p in self.exclude_prefix or []:
            q &= ~_prefix_q("event", p)
        if self.name:
            q &= Q(event__in=self.name)
        if self.exclude_name:
            q &= ~Q(event__in=self.exclude_name)
        return q


def _any(qs) -> Q:
    result = Q()
    first = True
    for q in qs:
        result = q if first else result | q
        first = False
    return result if not first else Q(pk__in=[])


class _StartsWith(StartsWith):
    """`startswith`, case-sensitive on every database, as `str.startswith` in memory.

    Django's startswith is LIKE, which SQLite compares without ASCII case; there it becomes a
    comparison of the value's first characters instead. PostgreSQL keeps LIKE, which its
    `text_pattern_ops` indexes serve."""

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        prefix = self.rhs
        if isinstance(self.lhs, Col) and prefix and ord(prefix[-1]) < 0x10FFFF:
            # On a column: the range [prefix, prefix with its last character incremented),
            # which is exactly the values starting with prefix in SQLite's binary (UTF-8
            # byte) order, and which the column's index serves (substr() no index can).
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            return f"({lhs} >= %s AND {lhs} < %s)", (*lhs_params, *lhs_params, prefix, upper)
        return f"substr({lhs}, 1, %s) = %s", (*lhs_params, len(prefix), prefix)


def _unindexed(field: str) -> Func:
    """The column as an expression that no index serves (`col || ''`), to keep the planner
    from choosing that column's index when a better one drives the query."""
    return Func(
        F(field),
        Value(""),
        template="(%(expressions)s)",
        arg_joiner=" || ",
        output_field=TextField(),
    )


def _prefix_q(field: str | KeyTextTransform, prefix: str) -> Q:
    return Q(_StartsWith(F(field) if isinstance(field, str) else field, prefix))


def _glob_q(field: str | KeyTextTransform, expected: str) -> Q:
    """A Q for one expected label value: exact, prefix, or a full glob; `!` negates.

    The pattern is read by `matching.parse_pattern`, the same reading the in-memory matcher
    uses. `field` is a column name, or a JSON key as an expression (never a lookup path built
    from a label name: a label called `isnull` or `a__b` would be read as a lookup). A missing
    JSON key never matches, negated or not, hence its explicit IS NOT NULL.
    """
    pattern = parse_pattern(expected)
    target = F(field) if isinstance(field, str) else field
    if pattern.kind is PatternKind.EXACT:
        positive = Exact(target, pattern.text)
    elif pattern.kind is PatternKind.PREFIX:
        positive = _StartsWith(target, pattern.text)
    else:
        positive = Regex(target, pattern.regex())
    if not pattern.negated:
        return Q(positive)
    if isinstance(field, str):
        return ~Q(positive)
    return Q(IsNull(target, False)) & ~Q(positive)


def _labels_q(
    spec: ResourceSpecification, *, id_field: str, labels_field: str, role_field: str | None = None
) -> Q:
    """`spec` on one resource row: the id (and, on related rows, the role) from their columns,
    other labels from the JSON of the resource's labels."""
    q = Q()
    for label, values in spec.items():
        if not values:  # an empty list of values matches nothing
            return Q(pk__in=[])
        if label == schemas.RESOURCE_ID:
            q &= _any(_glob_q(id_field, v) for v in values)
        elif label == schemas.RESOURCE_ROLE and role_field is not None:
            # Prefect compares a role label with the role column literally: no glob, no `!`.
            q &= Q(**{f"{role_field}__in": values})
        else:
            key = KeyTextTransform(label, labels_field)
            q &= _any(_glob_q(key, v) for v in values)
    return q


class _ResourceMatch(_Filter):
    """The id / id prefix / labels check of one resource, in memory and as SQL: shared by
    `resource` (the primary resource) and `any_resource` (primary or related). Subclasses
    declare the fields `id`, `id_prefix` and `labels`."""

    # any_resource compares a role label literally (Prefect reads it from the role column);
    # the primary resource's labels are all globs.
    _literal_role: ClassVar[bool] = False

    def matches(self, resource: schemas.Resource, role: str | None = None) -> bool:
        rid = resource.id
        if self.id and rid not in self.id:
            return False
        if self.id_prefix and not any(rid.startswith(p) for p in self.id_prefix):
            return False
        if not self.labels:
            return True
        if self._literal_role:
            return _matches_with_literal_role(self.labels, resource, role)
        return self.labels.matches(resource)

    def resource_q(self, *, id_field: str, labels_field: str, role_field: str | None = None) -> Q:
        """The same check on a row whose resource id is `id_field` and labels `labels_field`
        (and role `role_field`, on event_resources rows)."""
        q = Q()
        if self.id:
            q &= Q(**{f"{id_field}__in": self.id})
        if self.id_prefix:
            q &= _any(_prefix_q(id_field, p) for p in self.id_prefix)
        if self.labels:
            q &= _labels_q(
                self.labels, id_field=id_field, labels_field=labels_field, role_field=role_field
            )
        return q


class EventResourceFilter(_ResourceMatch):
    id: list[str] | None = Field(default=None, description="Primary resource ids")
    id_prefix: list[str] | None = Field(default=None, description="Primary resource id prefixes")
    labels: ResourceSpecification | None = Field(
        default=None, description="Primary resource labels"
    )
    distinct: bool = Field(
        default=False,
        description=(
            "One event per primary resource: the first in the filter's order (the latest, "
            "newest first), as Prefect's `resource.distinct`"
        ),
    )

    def includes(self, event: schemas.Event) -> bool:
        return self.matches(event.resource)

    def q(self) -> Q:
        return self.resource_q(id_field="resource_id", labels_field="resource")


def _matches_with_literal_role(
    spec: ResourceSpecification, resource: schemas.Resource, role: str | None = None
) -> bool:
    """`spec.matches(resource)`, except that a `prefect.resource.role` label is compared
    literally, as Prefect's SQL does for related and any-resource filters (it takes the role
    out of the labels and compares it with the role column: `work-*` is not a glob there).
    `role` is the resource's role in the event when it is not its label (the primary
    resource's is '', as its event_resources row says)."""
    if schemas.RESOURCE_ROLE not in spec:
        return spec.matches(resource)
    for label, expected in spec.items():
        if label == schemas.RESOURCE_ROLE:
            if (resource.get(label) if role is None else role) not in expected:
                return False
        elif not any(matching.label_matches(e, resource.get(label)) for e in expected):
            return False
    return True


class EventRelatedFilter(_Filter):
    """Every predicate applies to the same related resource."""

    id: list[str] | None = Field(default=None, description="Related resource ids")
    role: list[str] | None = Field(default=None, description="Related resource roles")
    resources_in_roles: list[tuple[str, str]] | None = Field(
        default=None, description="(resource id, role) pairs"
    )
    labels: ResourceSpecification | None = Field(
        default=None, description="Related resource labels"
    )

    def is_empty(self) -> bool:
        return not (self.id or self.role or self.resources_in_roles or self.labels)

    def matches(self, related: schemas.RelatedResource) -> bool:
        rid, role = related.id, related.role
        if self.id and rid not in self.id:
            return False
        if self.role and role not in self.role:
            return False
        if self.resources_in_roles and (rid, role) not in self.resources_in_roles:
            return False
        return not (self.labels and not _matches_with_literal_role(self.labels, related))

    def includes(self, event: schemas.Event) -> bool:
        if self.is_empty():
            return True
        return any(self.matches(related) for related in event.related)

    def can_drive(self) -> bool:
        """Can this filter's resource rows drive a query in time order (an index walk on
        event_resources instead of a semi-join per event)? Label predicates cannot: a negated
        one must look at the row as a whole. Only one id or one role: the walk of one index
        key is in time order; several keys would have to be sorted whole."""
        if self.labels:
            return False
        ids = {*(self.id or []), *(i for i, _ in self.resources_in_roles or [])}
        roles = {*(self.role or []), *(r for _, r in self.resources_in_roles or [])}
        if self.resources_in_roles and len(self.resources_in_roles) > 1:
            return False
        return (len(ids) == 1 and len(roles) <= 1) or (not ids and len(roles) == 1)

    def drives_by_id(self) -> bool:
        return bool(self.id or self.resources_in_roles)

    def rows_q(self, occurred: EventOccurredFilter, prefix: str = "") -> Q:
        """The conditions on one related resource row (field names behind `prefix`).

        With an id, the role is compared through an expression no index serves
        (`_unindexed`): the walk is then by `(resource_id, occurred, event_id)`, which stops
        after the page, and the planner cannot pick the role's index instead (a scan of every
        row of the role over the range and a sort: the plan it chose on a store without
        statistics)."""
        rows = Q(**{f"{prefix}position__gt": 0}) & occurred.q(prefix)
        by_id = self.drives_by_id()
        if self.id:
            rows &= Q(**{f"{prefix}resource_id__in": self.id})
        if self.role:
            if by_id:
                rows &= Q(In(_unindexed(f"{prefix}role"), self.role))
            else:
                rows &= Q(**{f"{prefix}role__in": self.role})
        if self.resources_in_roles:
            rows &= _any(
                Q(**{f"{prefix}resource_id": i}) & Q(Exact(_unindexed(f"{prefix}role"), r))
                for i, r in self.resources_in_roles
            )
        if self.labels:
            rows &= _labels_q(
                self.labels,
                id_field=f"{prefix}resource_id",
                labels_field=f"{prefix}labels",
                role_field=f"{prefix}role",
            )
        return rows

    def q(self, occurred: EventOccurredFilter) -> Q:
        if self.is_empty():
            return Q()
        rows = self.rows_q(occurred)
        return Q(Exists(EventResource.objects.filter(rows, event_id=OuterRef("pk"))))


class EventAnyResourceFilter(_ResourceMatch):
    _literal_role: ClassVar[bool] = True

    id: list[str] | None = Field(default=None, description="Resource ids, primary or related")
    id_prefix: list[str] | None = Field(default=None, description="Resource id prefixes")
    labels: ResourceSpecification | None = Field(default=None, description="Resource labels")

    def is_empty(self) -> bool:
        return not (self.id or self.id_prefix or self.labels)

    def includes(self, event: schemas.Event) -> bool:
        if self.is_empty():
            return True
        # The primary resource's role is '' (its row's role in SQL, where Prefect reads it).
        return self.matches(event.resource, role="") or any(self.matches(r) for r in event.related)

    def can_drive(self) -> bool:
        """One exact id (primary or related) walks its rows in time order."""
        return bool(self.id) and len(set(self.id)) == 1 and not self.id_prefix and not self.labels

    def drives_by_id(self) -> bool:
        return True

    def rows_q(self, occurred: EventOccurredFilter, prefix: str = "") -> Q:
        """The conditions on one resource row of any position (field names behind `prefix`)."""
        return occurred.q(prefix) & Q(**{f"{prefix}resource_id__in": self.id})

    def q(self, occurred: EventOccurredFilter) -> Q:
        if self.is_empty():
            return Q()
        # A role label is compared with the role column literally, as Prefect does (a primary
        # resource's row has role '' there).
        rows = occurred.q() & self.resource_q(
            id_field="resource_id", labels_field="labels", role_field="role"
        )
        return Q(Exists(EventResource.objects.filter(rows, event_id=OuterRef("pk"))))


class EventIDFilter(_Filter):
    id: list[UUID] | None = Field(default=None, description="Event ids")

    def includes(self, event: schemas.Event) -> bool:
        return not self.id or event.id in self.id

    def q(self) -> Q:
        return Q(id__in=self.id) if self.id else Q()


def parse_text_query(query: str) -> tuple[list[str], list[str], list[str]]:
    """Split a search query into (any-of, none-of, all-of) terms, exactly as Prefect's
    `prefect.server.utilities.text_search_parser.parse_text_search_query` does:

    - terms are separated by whitespace and end at a quote (`a"b c"` is the term `a` and
      the phrase `b c`);
    - `-term` / `!term` exclude, `+term` is required; a sign followed by a space (or at the
      end) is dropped, it is not a term of its own;
    - `"quoted phrases"` (an unclosed quote runs to the end) with `\\"` and `\\\\` escapes;
      a blank phrase is dropped.
    """
    include: list[str] = []
    exclude: list[str] = []
    required: list[str] = []
    lists = {"-": exclude, "!": exclude, "+": required, None: include}
    i, n = 0, len(query)
    while i < n:
        if query[i].isspace():
            i += 1
            continue
        sign = None
        if query[i] in "-!+":
            if i + 1 < n and not query[i + 1].isspace():
                sign = query[i]
                i += 1
            else:  # a sign on its own is ignored
                i += 1
                continue
        if query[i] == '"':
            i += 1
            start = i
            while i < n:
                if query[i] == "\\" and i + 1 < n:
                    i += 2
                elif query[i] == '"':
                    break
                else:
                    i += 1
            phrase = _unescape_phrase(query[start:i])
            if i < n:
                i += 1  # the closing quote
            if phrase.strip():
                lists[sign].append(phrase)
            continue
        start = i
        while i < n and not query[i].isspace() and query[i] != '"':
            i += 1
        if i > start:
            lists[sign].append(query[start:i])
    return include, exclude, required


def _unescape_phrase(phrase: str) -> str:
    """`\\"` is a quote and `\\\\` a backslash; any other backslash stays (Prefect's rule)."""
    return re.sub(r'\\(["\\])', r"\1", phrase)


@lru_cache(maxsize=1024)
def _lowered_terms(query: str) -> tuple[tuple[str, ...], ...]:
    """parse_text_query, lower-cased, once per query text: the live feed asks per event."""
    return tuple(tuple(t.lower() for t in terms) for terms in parse_text_query(query))


class EventTextFilter(_Filter):
    query: str = Field(max_length=200, description='Text search, e.g. `error -debug "timed out"`')

    def _haystack(self, event: schemas.Event) -> str:
        parts = [event.event, *event.resource.root.values()]
        for related in event.related:
            parts.extend(related.root.values())
        parts.append(str(event.payload))
        return " ".join(parts).lower()

    def includes(self, event: schemas.Event) -> bool:
        include, exclude, required = _lowered_terms(self.query)
        if not (include or exclude or required):
            return True
        text = self._haystack(event)
        if include and not any(t in text for t in include):
            return False
        if any(t in text for t in exclude):
            return False
        return all(t in text for t in required)

    def q(self) -> Q:
        include, exclude, required = parse_text_query(self.query)
        fields = ("event", "resource", "related", "payload")

        def contains(term: str) -> Q:
            # JSON columns are searched as their text; icontains escapes % and _.
            return _any(Q(**{f"{f}__icontains": term}) for f in fields)

        q = Q()
        if include:
            q &= _any(contains(t) for t in include)
        for term in exclude:
            q &= ~contains(term)
        for term in required:
            q &= contains(term)
        return q


class EventOrder(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


class EventFilter(_Filter):
    """Prefect's EventFilter: every part given must match (AND)."""

    occurred: EventOccurredFilter = Field(default_factory=EventOccurredFilter)
    event: EventNameFilter | None = None
    resource: EventResourceFilter | None = None
    related: EventRelatedFilter | list[EventRelatedFilter] | None = None
    any_resource: EventAnyResourceFilter | list[EventAnyResourceFilter] | None = None
    id: EventIDFilter = Field(default_factory=EventIDFilter)
    text: EventTextFilter | None = None
    order: EventOrder = EventOrder.DESC

    def _related(self) -> list[EventRelatedFilter]:
        if self.related is None:
            return []
        return self.related if isinstance(self.related, list) else [self.related]

    def _any_resource(self) -> list[EventAnyResourceFilter]:
        if self.any_resource is None:
            return []
        return self.any_resource if isinstance(self.any_resource, list) else [self.any_resource]

    def includes(self, event: schemas.Event, *, check_time: bool = True) -> bool:
        """Does this event match? The live feed passes check_time=False: it wants what
        arrives from now on whatever the page's time window was."""
        if check_time and not self.occurred.includes(event):
            return False
        if self.event and not self.event.includes(event):
            return False
        if self.resource and not self.resource.includes(event):
            return False
        if not all(f.includes(event) for f in self._related()):
            return False
        if not all(f.includes(event) for f in self._any_resource()):
            return False
        if not self.id.includes(event):
            return False
        return not (self.text and not self.text.includes(event))

    def _driver(self) -> EventRelatedFilter | EventAnyResourceFilter | None:
        """The resource filter whose rows drive the query: one with an id first (a few rows
        per page), then one on a role alone."""
        candidates = [f for f in (*self._related(), *self._any_resource()) if f.can_drive()]
        by_id = [f for f in candidates if f.drives_by_id()]
        return (by_id or candidates or [None])[0]

    def q(self, *, skip: EventRelatedFilter | EventAnyResourceFilter | None = None) -> Q:
        q = self.occurred.q() & self.id.q()
        if self.event:
            q &= self.event.q()
        if self.resource:
            q &= self.resource.q()
        for related in self._related():
            if related is not skip:
                q &= related.q(self.occurred)
        for any_resource in self._any_resource():
            if any_resource is not skip:
                q &= any_resource.q(self.occurred)
        if self.text:
            q &= self.text.q()
        return q

    def matching(self) -> QuerySet[Event]:
        """Every matching event once, unordered: for counting."""
        return Event.objects.filter(self.q())

    def apply(
        self, queryset: QuerySet[Event] | None = None, *, after: tuple[datetime, UUID] | None = None
    ) -> QuerySet[Event]:
        """The matching events in this filter's order (newest first, or oldest with ASC),
        after the keyset position `after` = (occurred, id) when given.

        With a related filter on a role or a resource id (or an any-resource filter on an
        id), the query walks that filter's rows in event_resources in time order (an index
        scan that stops at the page size) and joins the events, instead of checking every
        recent event for such a row. The order is the resource row's own (occurred,
        event_id), the walked index's key, so no sort is needed. An event listing the same
        resource twice in a matching role then comes back twice, in adjacent rows: readers
        that page (queries.page_events) skip the repeat.
        """
        queryset = Event.objects.all() if queryset is None else queryset
        if self.resource and self.resource.distinct:
            return self._apply_distinct(queryset, after)
        driver = self._driver()
        queryset = queryset.filter(self.q(skip=driver))
        if driver is None:
            time_field = "occurred"
            if after is not None:
                queryset = queryset.filter(self._after_q("occurred", after))
        else:
            time_field = "resources__occurred"
            rows = driver.rows_q(self.occurred, prefix="resources__")
            if after is not None:
                rows &= self._after_q(time_field, after)
            queryset = queryset.filter(rows)  # one filter() call: one join, one row
        if driver is None:
            id_order = F("id")
        else:
            # The resource row's own event_id, the walked index's last key. Named as a column
            # of the join: Django reads `resources__event_id` as events.id (the same value),
            # which no index on event_resources has, and PostgreSQL would sort every row.
            id_order = RawSQL(f'"{EventResource._meta.db_table}"."event_id"', [])
        if self.order == EventOrder.ASC:
            return queryset.order_by(time_field, id_order.asc())
        return queryset.order_by(f"-{time_field}", id_order.desc())

    def distinct_ids(self) -> QuerySet[Event]:
        """`resource.distinct`: the id of each primary resource's first matching event in
        this filter's order (its latest, newest first), as Prefect's `read_events` (a
        row_number() window per resource_id)."""
        newest_first = self.order == EventOrder.DESC
        order = [F("occurred").desc(), F("id").desc()] if newest_first else ["occurred", "id"]
        return (
            Event.objects.filter(self.q())
            .annotate(rank=Window(RowNumber(), partition_by=[F("resource_id")], order_by=order))
            .filter(rank=1)
            .values("id")
        )

    def _apply_distinct(
        self, queryset: QuerySet[Event], after: tuple[datetime, UUID] | None
    ) -> QuerySet[Event]:
        # The window is computed over every matching event first; the keyset applies to its
        # answer (applied inside, it would pick each resource's first event after the cursor).
        queryset = queryset.filter(id__in=self.distinct_ids())
        if after is not None:
            queryset = queryset.filter(self._after_q("occurred", after))
        if self.order == EventOrder.ASC:
            return queryset.order_by("occurred", "id")
        return queryset.order_by("-occurred", "-id")

    def _after_q(self, time_field: str, after: tuple[datetime, UUID]) -> Q:
        occurred, id = after
        op = "gt" if self.order == EventOrder.ASC else "lt"
        id_field = "id" if time_field == "occurred" else "resources__event_id"
        return Q(**{f"{time_field}__{op}": occurred}) | Q(
            **{time_field: occurred, f"{id_field}__{op}": id}
        )
