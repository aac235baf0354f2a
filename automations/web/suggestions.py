"""Cheap suggestions for the builder: event names and the names of the objects actions select
(seen in stored events; automations and blocks from their own tables).

The event reads take a bounded slice of the newest rows (served by the `events_occurred_id` and
`event_resources_role_id` indexes) and are cached briefly; they are hints, not a catalogue.
"""

from __future__ import annotations

from django.core.cache import cache

from automations import schemas
from automations.blocks import BLOCK_MODELS
from automations.models import Automation
from eventsui.events.models import Event, EventResource

RECENT_EVENTS = 5000
RECENT_RESOURCES = 2000
CACHE_SECONDS = 60


def datalist_id(id_field: str) -> str:
    """The datalist of the objects an id field selects: `deployment_id` -> "dl-deployments"."""
    return f"dl-{schemas.SELECTED_KINDS[id_field].removeprefix('prefect.')}s"


def event_names() -> list[str]:
    def compute() -> list[str]:
        recent = Event.objects.order_by("-occurred", "-id").values_list("event", flat=True)[
            :RECENT_EVENTS
        ]
        return sorted(set(recent))[:500]

    return cache.get_or_set("automations:event-names", compute, CACHE_SECONDS)


def resource_options() -> dict[str, list[tuple[str, str]]]:
    """For each kind of object an action selects: (uuid, name) pairs, by datalist id.

    Automations are the stored ones; the other kinds are those seen in recent events.
    """

    def seen_in_events() -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for id_field, kind in schemas.SELECTED_KINDS.items():
            if id_field == "automation_id":
                continue
            prefix = f"{kind}."
            names: dict[str, str] = {}
            rows = (
                EventResource.objects.filter(resource_id__startswith=prefix)
                .order_by("-occurred")
                .values_list("resource_id", "labels")[:RECENT_RESOURCES]
            )
            for resource_id, labels in rows:
                object_id = resource_id[len(prefix) :]
                if object_id not in names:
                    names[object_id] = (labels or {}).get("prefect.resource.name") or object_id
            out[datalist_id(id_field)] = sorted(names.items(), key=lambda kv: kv[1])
        return out

    options = dict(cache.get_or_set("automations:resource-names", seen_in_events, CACHE_SECONDS))
    options[datalist_id("automation_id")] = [
        (str(pk), name)
        for pk, name in Automation.objects.order_by("name").values_list("id", "name")[:500]
    ]
    return options


def builder_context() -> dict:
    return {
        "event_names": event_names(),
        "resource_options": resource_options(),
        "blocks": {
            kind: [(str(b.id), str(b)) for b in model.objects.all()[:500]]
            for kind, model in BLOCK_MODELS.items()
        },
    }
