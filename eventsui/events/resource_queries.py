"""What the resource page reads about one resource (a flow run, a deployment, a work pool...).

Every read starts from an index: `event_resources_id` (resource_id, occurred, event) walks the
events that involve the resource in any role newest first and stops at the limit (one read of
200 events gives the page its labels, its events and its neighbours);
`events_resource_occurred` (resource_id, occurred, id) reads a run's own state events. Both are
`queries.page_events` walks, whose plans tests/events/test_query_plans.py checks. Nothing here
scans the events table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventsui.events import queries, schemas, states
from eventsui.events.filters import (
    EventAnyResourceFilter,
    EventFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from eventsui.events.models import Event

RECENT_EVENTS = 50
RELATED_FROM_EVENTS = 200
TIMELINE_EVENTS = queries.PAGE_MAX  # a run has a few states; 200 events is plenty
_RUN_STATE = re.compile(r"^prefect\.(flow-run|task-run)\.([A-Za-z]+)$")
RUN_KINDS = ("prefect.flow-run.", "prefect.task-run.")


def resource_kind(resource_id: str) -> str:
    """`prefect.flow-run.<id>` -> `flow-run`; a resource without a kind -> ''."""
    parts = resource_id.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "prefect" else ""


def involving(resource_id: str, limit: int = RELATED_FROM_EVENTS) -> list[Event]:
    """The newest events that involve the resource in any role, newest first: the store's
    own walk of `event_resources_id` for one any-resource id (`queries.page_events`, whose
    plans tests/events/test_query_plans.py checks), over the whole retention period."""
    event_filter = EventFilter(
        any_resource=EventAnyResourceFilter(id=[resource_id]),
        occurred=EventOccurredFilter(since=datetime(2000, 1, 1, tzinfo=UTC), until=None),
    )
    return list(queries.page_events(event_filter, limit).events)


def run_events(resource_id: str, limit: int = TIMELINE_EVENTS) -> list[Event]:
    """A run's own events (it is their primary resource), newest first: the store's walk of
    index `events_resource_occurred` for one resource id (`queries.page_events`)."""
    event_filter = EventFilter(
        resource=EventResourceFilter(id=[resource_id]),
        occurred=EventOccurredFilter(since=datetime(2000, 1, 1, tzinfo=UTC), until=None),
    )
    return list(queries.page_events(event_filter, limit).events)


def latest_labels(resource_id: str, events: list[Event]) -> dict[str, str] | None:
    """The resource's labels as the newest of `events` gives them: as the primary resource if
    one of them is about it (those carry every label), else as a related one; None if none
    names it."""
    as_related = None
    for event in events:
        if event.resource_id == resource_id:
            return dict(event.resource)
        if as_related is None:
            as_related = next(
                (dict(r) for r in event.related if r.get(schemas.RESOURCE_ID) == resource_id),
                None,
            )
    return as_related


@dataclass
class Segment:
    """One state of a run on its timeline: from `start` until `end` (None: still in it)."""

    state: str
    state_type: str
    tone: str
    start: datetime
    end: datetime | None
    event_id: Any
    message: str = ""


def state_timeline(resource_id: str, limit: int = TIMELINE_EVENTS) -> list[Segment]:
    """A run's states in order, from its own state events (`prefect.flow-run.<State>`)."""
    if not resource_id.startswith(RUN_KINDS):
        return []
    newest = run_events(resource_id, limit)
    segments: list[Segment] = []
    for event in reversed(newest):
        match = _RUN_STATE.match(event.event)
        if not match:
            continue
        state = match.group(2)
        state_type = event.resource.get("prefect.state-type") or states.STATE_TYPES.get(state, "")
        if segments:
            segments[-1].end = event.occurred
        segments.append(
            Segment(
                state=event.resource.get("prefect.state-name") or state,
                state_type=state_type,
                tone=states.TONES.get(state_type, "neutral"),
                start=event.occurred,
                end=None,
                event_id=event.id,
                message=event.resource.get("prefect.state-message") or "",
            )
        )
    return segments


@dataclass
class Neighbour:
    """A resource that appears beside this one in its events."""

    id: str
    name: str = ""
    roles: set[str] = field(default_factory=set)
    count: int = 0
    last: datetime | None = None


def related_resources(resource_id: str, events: list[Event]) -> list[Neighbour]:
    """The other resources of these events (the primary one and the related ones), most
    frequent first."""
    found: dict[str, Neighbour] = {}
    for event in events:
        others = [(event.resource, "primary")] + [
            (r, r.get(schemas.RESOURCE_ROLE, "")) for r in event.related
        ]
        for labels, role in others:
            rid = labels.get(schemas.RESOURCE_ID, "")
            if not rid or rid == resource_id:
                continue
            item = found.setdefault(rid, Neighbour(id=rid))
            item.name = item.name or labels.get(schemas.RESOURCE_NAME) or ""
            item.roles.add(role)
            item.count += 1
            item.last = max(item.last or event.occurred, event.occurred)
    return sorted(found.values(), key=lambda n: (-n.count, n.id))


def automations_pointing_at(resource_id: str) -> list[dict[str, Any]]:
    """Automations that name the resource: as their owner or an action's target (their related
    resources, an index lookup), or in their trigger's match (automations are few; their JSON
    is read whole)."""
    from automations.models import Automation, AutomationRelatedResource

    named = {
        row.automation_id: ("owner" if row.owned_by_resource else "an action acts on it")
        for row in AutomationRelatedResource.objects.filter(resource_id=resource_id)
    }
    out = []
    for automation in Automation.objects.order_by("name", "id").only(
        "id", "name", "enabled", "trigger"
    )[:2000]:
        how = named.get(automation.id)
        if how is None and _mentions(automation.trigger, resource_id):
            how = "its trigger matches it"
        if how is not None:
            out.append({"automation": automation, "how": how})
    return out


def _mentions(value: Any, text: str) -> bool:
    if isinstance(value, str):
        return value == text or value == f"!{text}"
    if isinstance(value, dict):
        return any(_mentions(v, text) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, text) for v in value)
    return False
