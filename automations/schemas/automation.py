"""The automation: a trigger, the actions it runs, and the rules about the whole."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from automations.schemas.actions import Action, ActionTypes, RunDeployment
from automations.schemas.rules import Schema, rule
from automations.schemas.triggers import EventTrigger, Posture, TriggerTypes
from eventsui.events.schemas import ResourceSpecification

# The bound of the stored column (automations.models.Automation.name is varchar(300)): refused
# here with a message, on every path (API, builder, import), not by the database.
NAME_MAX_LENGTH = 300


def _name(value: str) -> str:
    if not value.strip():
        raise rule("name_blank")
    return value


def _matches_every_resource_of_kind(spec: ResourceSpecification, prefix: str) -> bool:
    if spec.matches_every_resource():
        return True
    if len(spec.root) == 1:
        values = spec.root.get("prefect.resource.id")
        if values:
            values = [values] if isinstance(values, str) else values
            return any(value == f"{prefix}.*" for value in values)
    return False


# Events of a flow run starting: a deployment run on them starts another flow run, and so on.
_FLOW_RUN_STARTING_EVENTS = {
    "prefect.flow-run.Scheduled",
    "prefect.flow-run.Pending",
    "prefect.flow-run.Running",
    "prefect.flow-run.*",
}


class AutomationCore(Schema):
    """When these events do (or don't) happen to these resources, do these actions."""

    name: Annotated[str, Field(max_length=NAME_MAX_LENGTH), AfterValidator(_name)]
    description: str = ""
    enabled: bool = True
    trigger: TriggerTypes
    actions: list[ActionTypes]
    actions_on_trigger: list[ActionTypes] = Field(default_factory=list)
    actions_on_resolve: list[ActionTypes] = Field(default_factory=list)
    owner_resource: str | None = None

    @model_validator(mode="after")
    def prevent_run_deployment_loops(self) -> AutomationCore:
        """Prefect's server refuses automations that would run deployments forever."""
        trigger = self.trigger
        if not self.enabled or not isinstance(trigger, EventTrigger):
            return self
        if trigger.posture != Posture.Reactive:
            return self
        if not _FLOW_RUN_STARTING_EVENTS.intersection(trigger.expect):
            return self
        for action in self.actions:
            if not isinstance(action, RunDeployment):
                continue
            if action.source == "inferred":
                raise rule("run_deployment_loop_inferred")
            relateds = trigger.match_related
            relateds = relateds if isinstance(relateds, list) else [relateds]
            if _matches_every_resource_of_kind(trigger.match, "prefect.flow-run") and any(
                _matches_every_resource_of_kind(spec, "prefect.flow-run") for spec in relateds
            ):
                raise rule("run_deployment_loop_selected")
        return self

    def all_actions(self) -> list[Action]:
        return [*self.actions, *self.actions_on_trigger, *self.actions_on_resolve]
