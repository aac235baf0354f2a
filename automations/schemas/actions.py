"""Actions: what an automation does when it triggers or resolves (Prefect 3's 16 action types).

Rules follow Prefect 3's API reference for `prefect.events.actions` and, where it is silent,
Prefect's server (`prefect.server.events.actions`). Block actions name a stored block; whether
it exists is asked through the validation context (`automations.validation`), so the schema
itself never touches the database.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal, get_args
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator, model_validator

from automations.schemas.durations import Duration
from automations.schemas.rules import Schema, rule
from automations.schemas.templating import check_template, maybe_template
from eventsui.events.states import StateType

# The Prefect objects an action can select, by the name of its id field: the resource id
# prefix of each kind (Prefect's `prefect.deployment.<id>`, ...).
SELECTED_KINDS: dict[str, str] = {
    "deployment_id": "prefect.deployment",
    "work_pool_id": "prefect.work-pool",
    "work_queue_id": "prefect.work-queue",
    "automation_id": "prefect.automation",
}


class Action(Schema):
    """Something done when an automation triggers (or resolves)."""

    type: str


class DoNothing(Action):
    """Do nothing when an Automation is triggered."""

    type: Literal["do-nothing"] = "do-nothing"


class SourcedAction(Action):
    """An action on an object that is either selected (by id) or inferred from the event."""

    source: Literal["selected", "inferred"] = "selected"
    # The name of the id field (a key of SELECTED_KINDS); each subclass declares that field.
    id_field: ClassVar[str] = ""

    @model_validator(mode="after")
    def selected_requires_id(self):
        id_field = self.id_field
        wants_selected = self.source == "selected"
        has_id = bool(getattr(self, id_field))
        if wants_selected != has_id:
            raise rule(
                "source_id_not_allowed" if has_id else "source_id_required",
                field=id_field,
                id_field=id_field,
            )
        return self


class DeploymentAction(SourcedAction):
    deployment_id: UUID | None = None
    id_field: ClassVar[str] = "deployment_id"


class RunDeployment(DeploymentAction):
    """Runs the given deployment with the given parameters."""

    type: Literal["run-deployment"] = "run-deployment"
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: Duration = timedelta(0)

    @field_validator("parameters")
    @classmethod
    def validate_parameter_templates(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        def walk(item: Any) -> None:
            if isinstance(item, dict):
                for nested in item.values():
                    walk(nested)
            elif isinstance(item, list):
                for nested in item:
                    walk(nested)
            elif isinstance(item, str) and maybe_template(item):
                check_template(item, "parameters")

        walk(value)
        return value


class PauseDeployment(DeploymentAction):
    type: Literal["pause-deployment"] = "pause-deployment"


class ResumeDeployment(DeploymentAction):
    type: Literal["resume-deployment"] = "resume-deployment"


class ChangeFlowRunState(Action):
    """Changes the state of the flow run associated with the trigger."""

    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    name: str | None = None
    state: StateType
    message: str | None = None
    force: bool = False


class CancelFlowRun(Action):
    type: Literal["cancel-flow-run"] = "cancel-flow-run"


class SuspendFlowRun(Action):
    type: Literal["suspend-flow-run"] = "suspend-flow-run"


class BlockAction(Action):
    """An action that sends through a stored block of `block_kind` (a key of BLOCK_MODELS)."""

    block_kind: ClassVar[str] = ""
    block_document_id: UUID

    @field_validator("block_document_id")
    @classmethod
    def block_exists(cls, value: UUID, info: ValidationInfo) -> UUID:
        # Refuse an id that names no block, when the caller says how to look blocks up.
        exists = (info.context or {}).get("block_exists")
        if exists is not None and not exists(cls.block_kind, value):
            raise rule("block_not_found", kind=cls.block_kind, block_id=str(value))
        return value


class CallWebhook(BlockAction):
    """Calls a webhook block, with an optional templated payload."""

    type: Literal["call-webhook"] = "call-webhook"
    block_kind: ClassVar[str] = "webhook"
    payload: str = ""

    @field_validator("payload", mode="before")
    @classmethod
    def payload_is_a_string(cls, value: Any) -> Any:
        # Older Prefect UIs send a JSON object; Prefect stores it as indented JSON text.
        if value is None:
            return ""
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2)
        return value

    @field_validator("payload")
    @classmethod
    def validate_payload_template(cls, value: str) -> str:
        return check_template(value, "payload") if value else value


class SendNotification(BlockAction):
    """Sends a notification through a notification block."""

    type: Literal["send-notification"] = "send-notification"
    block_kind: ClassVar[str] = "notification"
    subject: str = "Prefect automated notification"
    body: str

    @field_validator("subject", "body")
    @classmethod
    def is_valid_template(cls, value: str, info: ValidationInfo) -> str:
        return check_template(value, info.field_name or "")


class WorkPoolAction(SourcedAction):
    work_pool_id: UUID | None = None
    id_field: ClassVar[str] = "work_pool_id"


class PauseWorkPool(WorkPoolAction):
    type: Literal["pause-work-pool"] = "pause-work-pool"


class ResumeWorkPool(WorkPoolAction):
    type: Literal["resume-work-pool"] = "resume-work-pool"


class WorkQueueAction(SourcedAction):
    work_queue_id: UUID | None = None
    id_field: ClassVar[str] = "work_queue_id"


class PauseWorkQueue(WorkQueueAction):
    type: Literal["pause-work-queue"] = "pause-work-queue"


class ResumeWorkQueue(WorkQueueAction):
    type: Literal["resume-work-queue"] = "resume-work-queue"


class AutomationAction(SourcedAction):
    automation_id: UUID | None = None
    id_field: ClassVar[str] = "automation_id"


class PauseAutomation(AutomationAction):
    type: Literal["pause-automation"] = "pause-automation"


class ResumeAutomation(AutomationAction):
    type: Literal["resume-automation"] = "resume-automation"


class DeclareIncident(Action):
    """Declares an incident for the triggering event (Prefect Cloud only)."""

    type: Literal["declare-incident"] = "declare-incident"


ActionTypes = Annotated[
    DoNothing
    | RunDeployment
    | PauseDeployment
    | ResumeDeployment
    | ChangeFlowRunState
    | CancelFlowRun
    | SuspendFlowRun
    | CallWebhook
    | SendNotification
    | PauseWorkPool
    | ResumeWorkPool
    | PauseWorkQueue
    | ResumeWorkQueue
    | PauseAutomation
    | ResumeAutomation
    | DeclareIncident,
    Field(discriminator="type"),
]
# Action type ("run-deployment") -> its model, read from the union above.
ACTION_TYPES: dict[str, type[Action]] = {
    model.model_fields["type"].default: model for model in get_args(get_args(ActionTypes)[0])
}
