"""What the builder calls things: trigger and action types, action fields, help texts.

Words only; which inputs an action has is read from the schema (`codec.widget`).
"""

from __future__ import annotations

TRIGGER_LABELS = {
    "event": "Event",
    "metric": "Metric",
    "compound": "Compound (any / all / n of)",
    "sequence": "Sequence (in this order)",
}

ACTION_LABELS = {
    "do-nothing": "Do nothing",
    "run-deployment": "Run a deployment",
    "pause-deployment": "Pause a deployment",
    "resume-deployment": "Resume a deployment",
    "change-flow-run-state": "Change flow run's state",
    "cancel-flow-run": "Cancel a flow run",
    "suspend-flow-run": "Suspend a flow run",
    "call-webhook": "Call a webhook",
    "send-notification": "Send a notification",
    "pause-work-pool": "Pause a work pool",
    "resume-work-pool": "Resume a work pool",
    "pause-work-queue": "Pause a work queue",
    "resume-work-queue": "Resume a work queue",
    "pause-automation": "Pause an automation",
    "resume-automation": "Resume an automation",
    "declare-incident": "Declare an incident (Prefect Cloud)",
}

# The label of a block action's block input.
BLOCK_LABELS = {"call-webhook": "Webhook", "send-notification": "Notification target"}

SOURCE_CHOICES = [
    ("selected", "A specific one (selected)"),
    ("inferred", "The one from the event (inferred)"),
]

HELP = {
    "source": "Selected: the object you pick here. Inferred: the one the triggering event is about.",
    "payload": 'Optional Jinja template sent as the request body, e.g. {"flow_run": "{{ flow_run.name }}"}.',
    "body": "Jinja template, e.g. Flow run {{ flow_run.name }} entered {{ flow_run.state.name }}.",
    "subject": "Jinja template.",
    "parameters": "A JSON object; leave blank for the deployment's defaults.",
    "job_variables": "A JSON object; leave blank for the deployment's defaults.",
    "schedule_after": "Wait this long before running, e.g. 5m.",
    "force": "Apply the state even if the transition is not normally allowed.",
}


def field_label(action_type: str, name: str, widget: str) -> str:
    """`deployment_id` -> "Deployment ID"; a block input is named after its block."""
    if widget == "block":
        return BLOCK_LABELS.get(action_type, "")
    return name.replace("_", " ").capitalize().replace(" id", " ID")
