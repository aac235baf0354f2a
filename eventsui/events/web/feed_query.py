"""The feed's query string: one mapping from URL parameters to an `EventFilter`.

The feed page, its JSON rows and histogram endpoints, and the live socket (the page sends its
query string) all build their filter here, so a bookmarked URL, a refill after a reconnect and
the live stream select exactly the same events.

Parameters (each may repeat; repeats of one parameter are alternatives unless noted):
- `event`: an event name; `prefix.*` for a prefix; a leading `!` excludes.
- `resource`: the primary resource: an id, an id prefix `prefect.flow-run.*`, or
  `label=value` (globs `*` `?` and a leading `!` as in the API's label filters; labels given
  for different names must all match).
- `related`: a related resource: `role` (any resource in that role), `role:id` (that resource
  in that role; the id may be a glob), or `*:id` (that resource in any role). Repeats must all
  match (every event related to flow X *and* to some work pool).
- `any`: a resource in any position, primary or related, by id or id prefix (`...*`).
- `range`: `15m`, `1h`, `24h` (default) or `7d` back from now; or `since` / `until` (ISO 8601,
  UTC unless an offset is given) for a fixed window.
- `q`: free text: words (any), `+word` (required), `-word` (excluded), "quoted phrases".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.http import QueryDict
from pydantic import ValidationError

from eventsui.events import schemas
from eventsui.events.filters import (
    EventAnyResourceFilter,
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventRelatedFilter,
    EventResourceFilter,
    EventTextFilter,
)
from eventsui.events.matching import parse_pattern
from eventsui.lib.errors import error_list

RANGES: dict[str, tuple[str, timedelta]] = {
    "15m": ("Last 15 minutes", timedelta(minutes=15)),
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
}
DEFAULT_RANGE = "24h"
MAX_VALUES = 50  # per parameter: a URL is not a bulk query


class InvalidFeedQuery(ValueError):
    """The query string does not describe a filter; `messages` say why, for the page."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass
class FeedQuery:
    """The parsed parameters, kept as the user typed them (for the form and the chips)."""

    events: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    any: list[str] = field(default_factory=list)
    range: str = DEFAULT_RANGE
    since: str = ""
    until: str = ""
    q: str = ""

    @classmethod
    def parse(cls, query: QueryDict) -> FeedQuery:
        def values(name: str) -> list[str]:
            cleaned = [v.strip() for v in query.getlist(name) if v.strip()]
            return list(dict.fromkeys(cleaned))[:MAX_VALUES]

        return cls(
            events=values("event"),
            resources=values("resource"),
            related=values("related"),
            any=values("any"),
            range=(query.get("range") or DEFAULT_RANGE).strip(),
            since=(query.get("since") or "").strip(),
            until=(query.get("until") or "").strip(),
            q=(query.get("q") or "").strip(),
        )

    # -- the window ---------------------------------------------------------------------

    @property
    def is_fixed_window(self) -> bool:
        return bool(self.since or self.until)

    @property
    def is_live(self) -> bool:
        """A window that ends now (or later) can follow new events; a past window cannot."""
        return not self.until

    def window(self, now: datetime | None = None) -> tuple[datetime, datetime | None]:
        now = now or schemas.now_utc()
        errors = []
        since = until = None
        if self.is_fixed_window:
            since = _parse_time(self.since, "From", errors) if self.since else None
            until = _parse_time(self.until, "To", errors) if self.until else None
            if since is None and not errors:
                since = (until or now) - RANGES[DEFAULT_RANGE][1]
        else:
            if self.range not in RANGES:
                errors.append(f"Unknown time range {self.range!r}: use one of {', '.join(RANGES)}.")
            else:
                since = now - RANGES[self.range][1]
        if since is not None and until is not None and until < since:
            errors.append("The end of the time range is before its start.")
        if errors:
            raise InvalidFeedQuery(errors)
        return since, until

    # -- the filter ---------------------------------------------------------------------

    def to_filter(self, now: datetime | None = None) -> EventFilter:
        errors: list[str] = []
        try:
            since, until = self.window(now)
        except InvalidFeedQuery as exc:
            errors.extend(exc.messages)
            since, until = schemas.now_utc(), None
        parts: dict = {"occurred": EventOccurredFilter(since=since, until=until)}
        try:
            if self.events:
                parts["event"] = _event_filter(self.events)
            if self.resources:
                parts["resource"] = _resource_filter(self.resources, errors)
            if self.related:
                parts["related"] = [_related_filter(value, errors) for value in self.related]
            if self.any:
                parts["any_resource"] = _any_filter(self.any)
            if self.q:
                parts["text"] = EventTextFilter(query=self.q)
        except ValidationError as exc:
            errors.extend(f"{e['field'] or 'filter'}: {e['msg']}" for e in error_list(exc))
        if errors:
            raise InvalidFeedQuery(errors)
        return EventFilter(**parts)

    # -- URLs ---------------------------------------------------------------------------

    def params(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        pairs += [("event", v) for v in self.events]
        pairs += [("resource", v) for v in self.resources]
        pairs += [("related", v) for v in self.related]
        pairs += [("any", v) for v in self.any]
        if self.since or self.until:
            if self.since:
                pairs.append(("since", self.since))
            if self.until:
                pairs.append(("until", self.until))
        elif self.range != DEFAULT_RANGE:
            pairs.append(("range", self.range))
        if self.q:
            pairs.append(("q", self.q))
        return pairs

    def querystring(self) -> str:
        return encode(self.params())

    def active(self) -> list[dict[str, str]]:
        """The active filters as removable chips: (kind, value, the query without it)."""
        chips = []
        for kind, values in (
            ("event", self.events),
            ("resource", self.resources),
            ("related", self.related),
            ("any", self.any),
        ):
            for value in values:
                rest = [(k, v) for k, v in self.params() if not (k == kind and v == value)]
                chips.append({"kind": kind, "value": value, "without": encode(rest)})
        if self.q:
            rest = [(k, v) for k, v in self.params() if k != "q"]
            chips.append({"kind": "text", "value": self.q, "without": encode(rest)})
        return chips

    @property
    def has_filters(self) -> bool:
        return bool(self.events or self.resources or self.related or self.any or self.q)


def encode(pairs: list[tuple[str, str]]) -> str:
    """A query string that stays readable in the address bar (`*`, `:` and `!` unescaped)."""
    return urlencode(pairs, safe=":*!")


def filter_from_query(query: QueryDict, now: datetime | None = None) -> EventFilter:
    """The EventFilter a feed URL's query string describes. Raises InvalidFeedQuery."""
    return FeedQuery.parse(query).to_filter(now)


def _parse_time(value: str, what: str, errors: list[str]) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        errors.append(f"{what}: {value!r} is not a date and time (use 2024-05-01T12:00).")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_glob(value: str) -> bool:
    """Is this more than a plain value (a prefix, a glob, or negated)? As the filters read it."""
    return not parse_pattern(value).is_plain


def _event_filter(values: list[str]) -> EventNameFilter:
    names, prefixes, exclude_names, exclude_prefixes = [], [], [], []
    for value in values:
        negated = value.startswith("!")
        value = value[1:] if negated else value
        if value.endswith("*"):
            (exclude_prefixes if negated else prefixes).append(value.rstrip("*"))
        else:
            (exclude_names if negated else names).append(value)
    if names and prefixes:
        # EventNameFilter ANDs names with prefixes; a person listing both means "any of
        # these", so exact names become prefixes too.
        prefixes, names = prefixes + names, []
    return EventNameFilter(
        name=names or None,
        prefix=[p for p in prefixes if p] or None,
        exclude_name=exclude_names or None,
        exclude_prefix=[p for p in exclude_prefixes if p] or None,
    )


def _resource_filter(values: list[str], errors: list[str]) -> EventResourceFilter:
    ids, prefixes, patterns = [], [], []
    labels: dict[str, list[str]] = {}
    for value in values:
        label, sep, expected = value.partition("=")
        if sep:
            if not label.strip():
                errors.append(f"Resource filter {value!r} names no label (use label=value).")
                continue
            labels.setdefault(label.strip(), []).append(expected.strip())
        elif value.endswith("*") and not _is_glob(value[:-1]):
            prefixes.append(value[:-1])
        elif _is_glob(value):
            patterns.append(value)
        else:
            ids.append(value)
    if patterns or (ids and prefixes):
        # Ids, prefixes and globs together are alternatives: say so with one id label spec.
        labels.setdefault(schemas.RESOURCE_ID, []).extend(
            ids + [p + "*" for p in prefixes] + patterns
        )
        ids, prefixes = [], []
    return EventResourceFilter(
        id=ids or None,
        id_prefix=prefixes or None,
        labels=schemas.ResourceSpecification(labels) if labels else None,
    )


def _related_filter(value: str, errors: list[str]) -> EventRelatedFilter:
    role, sep, resource_id = value.partition(":")
    role, resource_id = role.strip(), resource_id.strip()
    if not role:
        errors.append(f"Related filter {value!r} names no role (use role, role:id or *:id).")
        return EventRelatedFilter()
    if not sep or not resource_id:
        return EventRelatedFilter(role=[role])
    if role == "*":
        if _is_glob(resource_id):
            return EventRelatedFilter(
                labels=schemas.ResourceSpecification({schemas.RESOURCE_ID: resource_id})
            )
        return EventRelatedFilter(id=[resource_id])
    if _is_glob(resource_id):
        return EventRelatedFilter(
            role=[role], labels=schemas.ResourceSpecification({schemas.RESOURCE_ID: resource_id})
        )
    return EventRelatedFilter(resources_in_roles=[(resource_id, role)])


def _any_filter(values: list[str]) -> EventAnyResourceFilter:
    ids = [v for v in values if not v.endswith("*")]
    prefixes = [v[:-1] for v in values if v.endswith("*") and v[:-1]]
    if ids and prefixes:
        return EventAnyResourceFilter(
            labels=schemas.ResourceSpecification(
                {schemas.RESOURCE_ID: ids + [p + "*" for p in prefixes]}
            )
        )
    return EventAnyResourceFilter(id=ids or None, id_prefix=prefixes or None)
