"""How an event looks in the feed: one row shape and one template for every row.

`row()` decides what a row says (title, badge, chips, preview); `templates/eventsui/_rows.html`
writes it as HTML, through Django's autoescaping. The page's first rows, the rows fetched by
cursor ("older", gap fill: `/events/rows`) and the live rows pushed over `/ws/feed/` are all
rendered by `render_rows()`, so the browser's script only inserts server-rendered HTML and
never builds a row itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from django.template.loader import render_to_string

from eventsui.events import schemas, states
from eventsui.events.queries import Cursor
from eventsui.lib.times import exact_time, prefect_datetime

ROWS_TEMPLATE = "eventsui/_rows.html"
PREVIEW_CHARS = 160
MAX_CHIPS = 5
# Related resources shown first in a row (then the rest, tags last).
ROLE_ORDER = {
    "flow-run": 0,
    "flow": 1,
    "deployment": 2,
    "work-pool": 3,
    "work-queue": 4,
    "worker": 5,
}

# Prefect state types -> badge tone, and state names -> state types (eventsui.events.states).
STATE_TONES = states.TONES
STATE_TYPES = states.STATE_TYPES
_RUN_STATE = re.compile(r"^prefect\.(flow-run|task-run)\.([A-Za-z]+)$")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_UUID_TAIL = re.compile(r"([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def humanize(text: str) -> str:
    """`submitted-flow-run` -> `submitted flow run`, `AwaitingRetry` -> `awaiting retry`."""
    return _CAMEL.sub(" ", text).replace("-", " ").replace("_", " ").lower()


def short_id(resource_id: str) -> str:
    """A readable short form of a resource id: no `prefect.` prefix, UUIDs cut to 8 digits."""
    text = resource_id.removeprefix("prefect.")
    return _UUID_TAIL.sub(r"\1…", text)


def title(event_name: str) -> str:
    """A readable label for an event name: `prefect.worker.submitted-flow-run` -> `Worker
    submitted flow run`; run state events name the kind only (`Task run`): the state is the
    row's badge."""
    match = _RUN_STATE.match(event_name)
    if match:
        return humanize(match.group(1)).capitalize()
    name = event_name.removeprefix("prefect-cloud.").removeprefix("prefect.")
    kind, _, action = name.partition(".")
    if not action:
        return humanize(kind).capitalize()
    return f"{humanize(kind).capitalize()} {humanize(action)}"


def badge(
    event_name: str, resource: Mapping[str, str], related: Sequence[Mapping[str, str]]
) -> dict[str, str] | None:
    """The colored state badge of a row, if the event says something about a state."""
    match = _RUN_STATE.match(event_name)
    if match:
        state = match.group(2)
        state_type = resource.get("prefect.state-type") or STATE_TYPES.get(state, "")
        return {
            "text": humanize(state).capitalize(),
            "tone": STATE_TONES.get(state_type, "neutral"),
        }
    if event_name == "prefect.worker.started":
        return {"text": "Started", "tone": "ok"}
    if event_name == "prefect.worker.stopped":
        return {"text": "Stopped", "tone": "neutral"}
    if event_name == "prefect.worker.submitted-flow-run":
        return {"text": "Submitted", "tone": "info"}
    if event_name == "prefect.worker.executed-flow-run":
        code = next(
            (
                r.get("prefect.infrastructure.status-code")
                for r in related
                if r.get(schemas.RESOURCE_ROLE) == "flow-run"
            ),
            None,
        )
        if code is None:
            return {"text": "Executed", "tone": "neutral"}
        return {"text": f"Exit {code}", "tone": "ok" if code == "0" else "bad"}
    if event_name == "prefect.runner.cancelled-flow-run":
        return {"text": "Cancelled", "tone": "neutral"}
    return None


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)


def preview(resource: Mapping[str, str], payload: Mapping[str, Any]) -> str:
    """A one-line hint of what happened: a state transition and its message, else the payload,
    else the primary resource's other labels."""
    message = resource.get("prefect.state-message")
    intended = payload.get("intended") if isinstance(payload, Mapping) else None
    if isinstance(intended, Mapping) and intended.get("to"):
        text = f"{intended.get('from') or 'start'} → {intended['to']}"
        if message:
            text += f" · {message}"
    elif message:
        text = message
    elif payload:
        text = _compact(payload)
    else:
        extra = {
            k: v
            for k, v in resource.items()
            if k not in (schemas.RESOURCE_ID, schemas.RESOURCE_NAME)
        }
        text = " · ".join(f"{k.removeprefix('prefect.')}={v}" for k, v in extra.items())
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


# The feed and its JSON endpoints write times as Prefect does; people read exact_time.
iso = prefect_datetime


def row(
    *,
    id: UUID,
    occurred: datetime,
    event: str,
    resource: Mapping[str, str],
    related: Sequence[Mapping[str, str]],
    payload: Mapping[str, Any],
) -> dict[str, Any]:
    """The feed row of one event, JSON-ready."""
    chips = []
    ordered = sorted(
        related,
        key=lambda r: ROLE_ORDER.get(
            r.get(schemas.RESOURCE_ROLE, ""), 50 if r.get(schemas.RESOURCE_ROLE) != "tag" else 99
        ),
    )
    for rel in ordered[:MAX_CHIPS]:
        rid = rel.get(schemas.RESOURCE_ID, "")
        role = rel.get(schemas.RESOURCE_ROLE, "")
        name = rel.get(schemas.RESOURCE_NAME)
        text = name or (rid.removeprefix("prefect.tag.") if role == "tag" else short_id(rid))
        chips.append({"role": role, "id": rid, "text": text, "filter": f"{role}:{rid}"})
    resource_id = resource.get(schemas.RESOURCE_ID, "")
    return {
        "id": str(id),
        "url": f"/events/{id}/",
        "occurred": iso(occurred),
        "exact": exact_time(occurred),
        "event": event,
        "title": title(event),
        "badge": badge(event, resource, related),
        "resource": {
            "id": resource_id,
            "name": resource.get(schemas.RESOURCE_NAME) or "",
            "short": short_id(resource_id),
        },
        "related": chips,
        "more_related": max(0, len(related) - MAX_CHIPS),
        "preview": preview(resource, payload),
        "cursor": Cursor(occurred, id).encode(),
    }


def row_for_model(event) -> dict[str, Any]:
    """The row of a stored event (models.Event) or a parsed one (schemas.Event)."""
    return row(
        id=event.id,
        occurred=event.occurred,
        event=event.event,
        resource=event.resource,
        related=event.related,
        payload=event.payload,
    )


def render_rows(rows: Sequence[Mapping[str, Any]], querystring: str = "") -> str:
    """The rows as the feed's `<li>` elements, every event value escaped by the template engine.

    The rows' "only this resource" links add to `querystring`, the page's filter. A live row is
    rendered once per event for every page it goes to, so it is rendered without one and the
    page's script prefixes its own filter to those links.
    """
    return render_to_string(ROWS_TEMPLATE, {"rows": rows, "querystring": querystring})
