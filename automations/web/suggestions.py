"""Cheap suggestions for the builder: event names and resource names seen in stored events.

Both read a bounded slice of the newest rows (served by the `events_occurred_id` and
`event_resources_role_id` indexes) and are cached briefly; they are hints, not a catalogue.
"""

from __future__ import annotations

from django.core.cache import cache

from automations.models import Automation, NotificationBlock, WebhookBlock
from eventsui.events.models import Event, EventResource

RECENT_EVENTS = 5000
RECENT_RESOURCES = 2000
CACHE_SECONDS = 60

# Datalist id -> the Prefect resource id prefix of that kind of object.
RESOURCE_KINDS = {
    "dl-deployments": "prefect.deployment.",
    "dl-work-pools": "prefect.work-pool.",
    "dl-work-queues": "prefect.work-queue.",
}


def event_names() -> list[str]:
    def compute() -> list[str]:
        recent = Event.objects.order_by("-occurred", "-id").values_list("event", flat=True)[
            :RECENT_EVENTS
        ]
        return sorted(set(recent))[:500]

    return cache.get_or_set("automations:event-names", compute, CACHE_SECONDS)


def resource_options() -> dict[str, list[tuple[str, str]]]:
    """For each kind: (uuid, name) pairs of objects seen in recent events."""

    def compute() -> dict[str, list[tuple[str, str]]]:
        out: dict[str, dict[str, str]] = {key: {} for key in RESOURCE_KINDS}
        for key, prefix in RESOURCE_KINDS.items():
            rows = (
                EventResource.objects.filter(resource_id__startswith=prefix)
                .order_by("-occurred")
                .values_list("resource_id", "labels")[:RECENT_RESOURCES]
            )
            for resource_id, labels in rows:
                object_id = resource_id[len(prefix) :]
                if object_id not in out[key]:
                    out[key][object_id] = (labels or {}).get("prefect.resource.name") or object_id
        return {key: sorted(values.items(), key=lambda kv: kv[1]) for key, values in out.items()}

    return cache.get_or_set("automations:resources", compute, CACHE_SECONDS)


def builder_context() -> dict:
    options = resource_options()
    options["dl-automations"] = [
        (str(pk), name)
        for pk, name in Automation.objects.order_by("name").values_list("id", "name")[:500]
    ]
    return {
        "event_names": event_names(),
        "resource_options": options,
        "blocks": {
            "webhook": [(str(b.id), b.name) for b in WebhookBlock.objects.all()[:500]],
            "notification": [(str(b.id), str(b)) for b in NotificationBlock.objects.all()[:500]],
        },
    }
