"""The event catalog: what Prefect's worker, runner and task-run events mean.

Transcribed from Prefect 3's event reference (worker and runner events, task-run state
events). The event page shows an event's entry (its description, the meaning of its labels
and of its related resources by role); `/catalog/` lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eventsui.events import states

WORKER = "Worker events track the lifecycle of worker processes and the flow runs they execute."
RUNNER = "Runner events cover flow run cancellation by locally-served deployments."
TASK_RUN = (
    "Task run events track the lifecycle of every task run within a flow. They are emitted "
    "on every state transition, mirroring the structure of flow run state events."
)


@dataclass(frozen=True)
class Related:
    role: str
    id_pattern: str
    when: str


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Entry:
    name: str  # an event name, or a pattern such as "prefect.task-run.{state}"
    group: str
    description: str
    labels: dict[str, str]
    related: list[Related] = field(default_factory=list)
    payload: list[Field] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    related_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> labels
    state_type: str | None = None

    @property
    def slug(self) -> str:
        return self.name.replace("{", "").replace("}", "").replace(".", "-")

    def label_meaning(self, label: str) -> str | None:
        return self.labels.get(label)

    def role_meaning(self, role: str) -> Related | None:
        return next((r for r in self.related if r.role == role), None)


WORKER_LABELS = {
    "prefect.resource.id": "prefect.worker.{type}.{name-slug}",
    "prefect.resource.name": "Worker name",
    "prefect.version": "Prefect SDK version",
    "prefect.worker-type": "Worker type (for example, kubernetes, process, docker)",
}
WORKER_POOL = [
    Related("work-pool", "prefect.work-pool.{uuid}", "When the worker is attached to a work pool")
]
FLOW_RUN_RELATED = [
    Related("flow-run", "prefect.flow-run.{uuid}", "Always"),
    Related("flow", "prefect.flow.{uuid}", "Always"),
    Related("deployment", "prefect.deployment.{uuid}", "When triggered by a deployment"),
    Related("work-pool", "prefect.work-pool.{uuid}", "When attached to a work pool"),
    Related("tag", "prefect.tag.{tag}", "One entry per tag"),
]
NO_PAYLOAD = "This event has no payload."

# What each of the 14 task run states (eventsui.events.states) means, from Prefect's task-run
# event reference; a state missing here fails at import.
TASK_RUN_STATE_MEANINGS: dict[str, str] = {
    "Scheduled": "Task is scheduled for execution",
    "Late": "Scheduled task was not started on time",
    "AwaitingConcurrencySlot": "Waiting for a concurrency slot",
    "AwaitingRetry": "Waiting before a retry attempt",
    "Pending": "Task is ready to execute",
    "Running": "Task is actively executing",
    "Retrying": "Task is retrying after a failure",
    "Completed": "Task finished successfully",
    "Failed": "Task finished with an error",
    "Crashed": "Task terminated unexpectedly",
    "Cancelled": "Task was cancelled",
    "Cancelling": "Cancellation was requested but not yet confirmed",
    "Paused": "Task is paused",
    "Suspended": "Task is suspended",
}

TASK_RUN_LABELS = {
    "prefect.resource.id": "prefect.task-run.{uuid}",
    "prefect.resource.name": "Task run name",
    "prefect.run-count": "Number of times this task run has been attempted",
    "prefect.state-message": (
        "Message associated with the state transition (truncated to 100,000 characters)"
    ),
    "prefect.state-name": "State name (for example, Running)",
    "prefect.state-timestamp": "ISO 8601 timestamp of the state transition",
    "prefect.state-type": "State type enum value (for example, RUNNING, COMPLETED)",
    "prefect.orchestration": "Always client (task state transitions are managed locally)",
}
TASK_RUN_PAYLOAD = [
    Field(
        "intended.from",
        "string or null",
        "State type of the initial state (null for the first transition)",
    ),
    Field("intended.to", "string", "State type of the validated (new) state"),
    Field("initial_state", "object or null", "Previous state: type, name, message, state_details"),
    Field(
        "validated_state",
        "object",
        "New state: type, name, message, state_details, and data (result metadata when "
        "result persistence is enabled)",
    ),
    Field(
        "task_run",
        "object",
        "Task run metadata including name, task_key, dynamic_key, flow_run_id, tags, and "
        "task_inputs",
    ),
]
TASK_RUN_NOTES = [
    "Task state transitions are managed locally by the task engine, not proposed to the "
    "server like flow run states. The task engine emits these events and delivers them via "
    "the events system.",
    "The task engine itself relates only the task run's tags; Prefect's events worker then "
    "adds the run context it was emitted in (EventsWorker.attach_related_resources_from_context"
    " in Prefect's source): inside a flow run, the flow run, its flow, its deployment, work "
    "queue and work pool, and their tags. A task run outside any flow run has only its tags. "
    "The payload's task_run object carries the parent flow run id too.",
]
# Related resources of a task-run event (the run context the events worker adds, when there).
TASK_RUN_RELATED = [
    Related("tag", "prefect.tag.{tag}", "One entry per tag on the task run (and its flow run)"),
    Related("flow-run", "prefect.flow-run.{uuid}", "When the task runs inside a flow run"),
    Related("flow", "prefect.flow.{uuid}", "When the task runs inside a flow run"),
    Related("deployment", "prefect.deployment.{uuid}", "When that flow run came from a deployment"),
    Related("work-queue", "prefect.work-queue.{uuid}", "When the deployment has a work queue"),
    Related("work-pool", "prefect.work-pool.{uuid}", "When the deployment has a work pool"),
]


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:]


ENTRIES: list[Entry] = [
    Entry(
        name="prefect.worker.started",
        group="Worker events",
        description="Emitted when a worker process starts polling for work.",
        labels=WORKER_LABELS,
        related=WORKER_POOL,
        notes=[NO_PAYLOAD],
    ),
    Entry(
        name="prefect.worker.stopped",
        group="Worker events",
        description=(
            "Emitted when a worker process shuts down. Uses the follows field to link back to "
            "the corresponding started event."
        ),
        labels=WORKER_LABELS,
        related=WORKER_POOL,
        notes=[NO_PAYLOAD],
    ),
    Entry(
        name="prefect.worker.submitted-flow-run",
        group="Worker events",
        description="Emitted when a worker submits a flow run for execution on infrastructure.",
        labels=WORKER_LABELS,
        related=FLOW_RUN_RELATED,
        notes=[NO_PAYLOAD],
    ),
    Entry(
        name="prefect.worker.executed-flow-run",
        group="Worker events",
        description=(
            "Emitted when a worker finishes executing a flow run (regardless of outcome). Uses "
            "the follows field to link back to the corresponding submitted-flow-run event."
        ),
        labels=WORKER_LABELS,
        related=FLOW_RUN_RELATED,
        related_labels={
            "flow-run": {
                "prefect.infrastructure.identifier": (
                    "Infrastructure-specific identifier for the execution (for example, process PID)"
                ),
                "prefect.infrastructure.status-code": "Exit status code of the infrastructure process",
            }
        },
        notes=[NO_PAYLOAD],
    ),
    Entry(
        name="prefect.runner.cancelled-flow-run",
        group="Runner events",
        description=(
            "Emitted when a runner cancels a flow run that was being served locally via "
            "flow.serve() or the Runner API."
        ),
        labels={
            "prefect.resource.id": "prefect.runner.{name-slug}",
            "prefect.resource.name": "Runner name",
            "prefect.version": "Prefect SDK version",
        },
        related=[
            Related(
                "deployment",
                "prefect.deployment.{uuid}",
                "When the flow run was triggered by a deployment",
            ),
            Related("flow", "prefect.flow.{uuid}", "When the flow is known"),
            Related("flow-run", "prefect.flow-run.{uuid}", "Always"),
            Related(
                "tag", "prefect.tag.{tag}", "One entry per tag from the flow run and deployment"
            ),
        ],
        notes=[NO_PAYLOAD],
    ),
    *[
        Entry(
            name=f"prefect.task-run.{state}",
            group="Task run events",
            description=(
                f"Emitted each time a task run transitions to the {state} state "
                f"({state_type}): {_lower_first(TASK_RUN_STATE_MEANINGS[state])}."
            ),
            labels=TASK_RUN_LABELS,
            related=TASK_RUN_RELATED,
            payload=TASK_RUN_PAYLOAD,
            notes=TASK_RUN_NOTES,
            state_type=state_type.value,
        )
        for state, state_type in states.STATE_TYPES.items()
    ],
]

GROUPS = {"Worker events": WORKER, "Runner events": RUNNER, "Task run events": TASK_RUN}
_BY_NAME = {entry.name: entry for entry in ENTRIES}


def lookup(event_name: str) -> Entry | None:
    """The catalog entry of an event name, or None if the catalog does not describe it."""
    return _BY_NAME.get(event_name)


def grouped() -> list[tuple[str, str, list[Entry]]]:
    """(group, group description, entries) in catalog order, for the catalog page."""
    return [
        (group, text, [entry for entry in ENTRIES if entry.group == group])
        for group, text in GROUPS.items()
    ]
