"""Starting points for the builder: common automations, and "automate this event"."""

from __future__ import annotations

import copy
from typing import Any

# What a template does when it fires: a notification (Prefect's `send-notification`), whose
# block is the first notification block stored, or left to choose beside the field.
NOTIFY_BODY = "{{ event.event }} on {{ event.resource.id }} at {{ event.occurred }}"

PRESETS: dict[str, dict[str, Any]] = {
    "flow-run-state": {
        "title": "Flow run enters a state",
        "summary": "React when any flow run fails, crashes or reaches another state.",
        "automation": {
            "name": "Flow run failed",
            "trigger": {
                "type": "event",
                "posture": "Reactive",
                "threshold": 1,
                "within": 0,
                "expect": ["prefect.flow-run.Failed"],
                "match": {"prefect.resource.id": "prefect.flow-run.*"},
                "for_each": ["prefect.resource.id"],
            },
        },
    },
    "flow-run-stuck": {
        "title": "Flow run stays in a state too long",
        "summary": "Proactive: a running flow run hasn't finished within an hour.",
        "automation": {
            "name": "Flow run running too long",
            "trigger": {
                "type": "event",
                "posture": "Proactive",
                "threshold": 1,
                "within": 3600,
                "after": ["prefect.flow-run.Running"],
                "expect": ["prefect.flow-run.*"],
                "match": {"prefect.resource.id": "prefect.flow-run.*"},
                "for_each": ["prefect.resource.id"],
            },
        },
    },
    "worker-silent": {
        "title": "A worker stopped sending events",
        "summary": "Proactive: no event from a worker for 10 minutes.",
        "automation": {
            "name": "Worker went quiet",
            "trigger": {
                "type": "event",
                "posture": "Proactive",
                "threshold": 1,
                "within": 600,
                "expect": ["prefect.worker.*"],
                "match": {"prefect.resource.id": "prefect.worker.*"},
                "for_each": ["prefect.resource.id"],
            },
        },
    },
    "task-run-failures": {
        "title": "Task runs failed N times",
        "summary": "Three task run failures within an hour.",
        "automation": {
            "name": "Repeated task run failures",
            "trigger": {
                "type": "event",
                "posture": "Reactive",
                "threshold": 3,
                "within": 3600,
                "expect": ["prefect.task-run.Failed"],
                "match": {"prefect.resource.id": "prefect.task-run.*"},
            },
        },
    },
    "work-pool-status": {
        "title": "Work pool not ready",
        "summary": "A work pool changes its status to not ready.",
        "automation": {
            "name": "Work pool not ready",
            "trigger": {
                "type": "event",
                "posture": "Reactive",
                "threshold": 1,
                "within": 0,
                "expect": ["prefect.work-pool.not-ready"],
                "match": {"prefect.resource.id": "prefect.work-pool.*"},
                "for_each": ["prefect.resource.id"],
            },
        },
    },
    "work-queue-status": {
        "title": "Work queue not ready",
        "summary": "A work queue changes its status to not ready.",
        "automation": {
            "name": "Work queue not ready",
            "trigger": {
                "type": "event",
                "posture": "Reactive",
                "threshold": 1,
                "within": 0,
                "expect": ["prefect.work-queue.not-ready"],
                "match": {"prefect.resource.id": "prefect.work-queue.*"},
                "for_each": ["prefect.resource.id"],
            },
        },
    },
    "custom": {
        "title": "Custom",
        "summary": "Start from an empty trigger.",
        "automation": {"name": "", "trigger": {"type": "event", "posture": "Reactive"}},
    },
}


def notify_action(subject: str) -> dict[str, Any]:
    """A notification through the first notification block (chosen beside the field if none)."""
    from automations.models import NotificationBlock

    block = NotificationBlock.objects.order_by("name", "id").values_list("id", flat=True).first()
    action: dict[str, Any] = {"type": "send-notification", "subject": subject, "body": NOTIFY_BODY}
    if block is not None:
        action["block_document_id"] = str(block)
    return action


def preset(key: str) -> dict[str, Any]:
    base = copy.deepcopy(PRESETS.get(key, PRESETS["custom"])["automation"])
    actions = [notify_action(base["name"])] if key in PRESETS and key != "custom" else []
    return {"enabled": True, "actions": actions, **base}


# Resources that exist once and are gone (a run): an automation on one of them can never fire
# again, so "automate this event" proposes the general case.
_ONE_OFF_KINDS = ("prefect.flow-run.", "prefect.task-run.")
# The related resource that says which runs are meant, most specific first.
_SCOPE_ROLES = ("deployment", "flow")


def _resource_kind(resource_id: str) -> str:
    """`prefect.flow-run.<uuid>` -> `prefect.flow-run`."""
    return resource_id.rsplit(".", 1)[0] if resource_id.count(".") >= 2 else resource_id


def is_one_off(event) -> bool:
    return event.resource_id.startswith(_ONE_OFF_KINDS)


def from_event(event, *, specific: bool = False) -> dict[str, Any]:
    """A trigger for events like this one.

    A run's event: the general case, runs of its deployment (or flow) entering this state, one
    bucket per run (Prefect's `for_each` on the resource id); `specific=True` matches only this
    run. Any other resource (a worker, a work pool) lives on, so matching it is the case.
    """
    name = event.resource.get("prefect.resource.name") or event.resource_id
    trigger: dict[str, Any] = {
        "type": "event",
        "posture": "Reactive",
        "threshold": 1,
        "within": 0,
        "expect": [event.event],
        "match": {"prefect.resource.id": event.resource_id},
    }
    title = f"When {event.event} on {name}"
    if is_one_off(event) and not specific:
        kind = _resource_kind(event.resource_id)
        trigger["match"] = {"prefect.resource.id": f"{kind}.*"}
        trigger["for_each"] = ["prefect.resource.id"]
        related = {r.get("prefect.resource.role"): r for r in event.related or []}
        scope = next((related[role] for role in _SCOPE_ROLES if role in related), None)
        what = kind.removeprefix("prefect.").replace("-", " ")
        if scope is not None:
            trigger["match_related"] = {
                "prefect.resource.role": scope["prefect.resource.role"],
                "prefect.resource.id": scope["prefect.resource.id"],
            }
            scope_name = scope.get("prefect.resource.name") or scope["prefect.resource.id"]
            title = f"When a {what} of {scope_name} emits {event.event}"
        else:
            title = f"When a {what} emits {event.event}"
    return {
        "name": title,
        "enabled": True,
        "actions": [notify_action(title)],
        "trigger": trigger,
    }
