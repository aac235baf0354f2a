"""Starting points for the builder: common automations, and "automate this event"."""

from __future__ import annotations

from typing import Any

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


def preset(key: str) -> dict[str, Any]:
    base = PRESETS.get(key, PRESETS["custom"])["automation"]
    return {"enabled": True, "actions": [], **base}


def from_event(event) -> dict[str, Any]:
    """A trigger that matches this stored event: its name, on its resource."""
    name = event.resource.get("prefect.resource.name") or event.resource_id
    return {
        "name": f"When {event.event} on {name}",
        "enabled": True,
        "actions": [],
        "trigger": {
            "type": "event",
            "posture": "Reactive",
            "threshold": 1,
            "within": 0,
            "expect": [event.event],
            "match": {"prefect.resource.id": event.resource_id},
        },
    }
