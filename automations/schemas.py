"""The automation schema: the one place that holds every rule of an automation.

Forms, the REST API, JSON import and `Automation.clean()` all validate through
`AutomationCore` (via `automations.services.parse_automation`) and translate errors with
`automations.errors.schema_errors`; none of them restates a bound. Rules come from Prefect 3's API
reference for `prefect.events` (triggers, actions) and, where it is silent, Prefect 3's server
(`prefect/server/events/actions.py`, `prefect/server/events/schemas/automations.py`).

Every rule we add raises `PydanticCustomError` through `_rule(...)` with a message meant for
people; `RULES` lists those error types so a test can prove each has a message. When a rule is
about one field but is checked on the whole model, `_rule(field=...)` names the field so the
form can show the message beside it.

JSON is Prefect's wire format: durations are float seconds, triggers and actions carry their
`type` discriminator, ids are UUIDs.
"""

from __future__ import annotations

import json
import re
import textwrap
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID, uuid4

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from eventsui.events.schemas import ResourceSpecification

SchemaValidationError = ValidationError

# -- rules: every custom error type this module raises, with its message ------------------------

RULES: dict[str, str] = {
    "duration_negative": "Durations cannot be negative.",
    "within_null": "`within` should be a valid timedelta",
    "proactive_within_too_short": (
        "`within` for Proactive triggers must be greater than or equal to 10 seconds"
    ),
    "require_invalid": "require must be any, all or a whole number",
    "require_too_small": "require must be at least 1",
    "require_too_large": "require must be less than or equal to the number of triggers",
    "metric_range_too_short": "The minimum range is 300 seconds (5 minutes)",
    "source_id_required": "{id_field} is required",
    "source_id_not_allowed": "{id_field} is not allowed",
    "invalid_template": "'{field_name}' is not a valid template: {error}",
    "run_deployment_loop_inferred": (
        "Running an inferred deployment from a flow run state change event will lead to an "
        "infinite loop of flow runs.  Please choose a specific deployment and add additional "
        "filtering labels to the match or match_related for this automation's trigger."
    ),
    "run_deployment_loop_selected": (
        "Running a selected deployment from a flow run state change event may lead to an "
        "infinite loop of flow runs.  Please include additional filtering labels on either "
        "match or match_related to narrow down which flow runs will trigger this automation "
        "to exclude flow runs from the deployment you've selected."
    ),
    "block_not_found": "No {kind} block with id {block_id} exists.",
    "name_blank": "Give the automation a name.",
}

# The minimums of Prefect's schema, named once.
PROACTIVE_MINIMUM_WITHIN = timedelta(seconds=10)
METRIC_MINIMUM_RANGE = timedelta(seconds=300)


def _rule(type_: str, *, field: str | None = None, **ctx: Any) -> PydanticCustomError:
    """A rule broken: its type, its human message, and (for model-level checks) its field."""
    if field is not None:
        ctx["field"] = field
    return PydanticCustomError(type_, RULES[type_], ctx)


# -- durations -----------------------------------------------------------------------------------

_DURATION = re.compile(
    r"^\s*(?:(?P<d>\d+(?:\.\d+)?)\s*d)?\s*(?:(?P<h>\d+(?:\.\d+)?)\s*h)?\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*m)?\s*(?:(?P<s>\d+(?:\.\d+)?)\s*s?)?\s*$",
    re.IGNORECASE,
)


def parse_duration(value: Any) -> Any:
    """People write durations as "30s", "5m", "1h30m" or "90" (seconds); JSON has seconds.

    Anything we don't recognise goes on to pydantic, which also accepts ISO 8601 ("PT5M")
    and reports a readable error otherwise.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        negative = text.startswith("-")
        if negative:
            text = text[1:]
        match = _DURATION.match(text)
        if text and match and any(match.groupdict().values()):
            parts = {k: float(v) for k, v in match.groupdict().items() if v}
            delta = timedelta(
                days=parts.get("d", 0),
                hours=parts.get("h", 0),
                minutes=parts.get("m", 0),
                seconds=parts.get("s", 0),
            )
            return -delta if negative else delta
    return value


def format_duration(value: timedelta | None) -> str:
    """The way people write it: 30s, 5m, 1h30m, 1d2h."""
    if value is None:
        return ""
    total = value.total_seconds()
    if total < 0:
        return "-" + format_duration(-value)
    if total != int(total):
        return f"{total:g}s"
    seconds = int(total)
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


def _non_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise _rule("duration_negative")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_non_negative),
    PlainSerializer(lambda v: v.total_seconds(), return_type=float, when_used="json"),
]


def _unique(values: list[str]) -> list[str]:
    """Prefect's sets, kept in the order people typed them; blanks dropped."""
    seen: dict[str, None] = {}
    for value in values:
        value = value.strip()
        if value:
            seen[value] = None
    return list(seen)


EventNames = Annotated[list[str], AfterValidator(_unique)]


# -- templates (Prefect's user_templates.validate_user_template) --------------------------------

MAX_LOOP_COUNT = 10
MAX_NESTED_LOOP_DEPTH = 2

_template_environment = ImmutableSandboxedEnvironment(undefined=jinja2.ChainableUndefined)


class TemplateSecurityError(Exception):
    def __init__(self, message: str, line_number: int = 0) -> None:
        self.lineno = line_number
        self.message = message
        super().__init__(message)


def _nested_loop_depth(node: nodes.Node, depth: int = 0) -> int:
    if isinstance(node, nodes.For):
        depth += 1
    children = list(node.iter_child_nodes())
    if not children:
        return depth
    return max(_nested_loop_depth(child, depth) for child in children)


def validate_user_template(template: str) -> None:
    """Parse a template in the sandbox; raise TemplateSyntaxError or TemplateSecurityError."""
    root = _template_environment.parse(template)
    loops = list(root.find_all(nodes.For))
    if not loops:
        return
    if len(loops) > MAX_LOOP_COUNT:
        raise TemplateSecurityError(
            f"Contains {len(loops)} for loops. Templates can contain no more than "
            f"{MAX_LOOP_COUNT} for loops."
        )
    depth = max(_nested_loop_depth(loop) for loop in loops)
    if depth > MAX_NESTED_LOOP_DEPTH:
        raise TemplateSecurityError(
            f"Contains nested for loops at a depth of {depth}. Templates can nest for loops "
            f"no more than {MAX_NESTED_LOOP_DEPTH} loops deep."
        )


def _check_template(value: str, field_name: str) -> str:
    try:
        validate_user_template(value)
    except (jinja2.TemplateSyntaxError, TemplateSecurityError) as exc:
        raise _rule("invalid_template", field_name=field_name, error=exc.message) from None
    return value


def maybe_template(value: str) -> bool:
    return "{{" in value or "{%" in value


# -- enums ---------------------------------------------------------------------------------------


class Posture(StrEnum):
    Reactive = "Reactive"
    Proactive = "Proactive"
    Metric = "Metric"


class PrefectMetric(StrEnum):
    lateness = "lateness"
    duration = "duration"
    successes = "successes"


class MetricTriggerOperator(StrEnum):
    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


class Schema(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=False)


# -- triggers ------------------------------------------------------------------------------------


def _empty_spec() -> ResourceSpecification:
    return ResourceSpecification.model_validate({})


def _matches_every_resource_of_kind(spec: ResourceSpecification, prefix: str) -> bool:
    if spec.matches_every_resource():
        return True
    if len(spec.root) == 1:
        values = spec.root.get("prefect.resource.id")
        if values:
            values = [values] if isinstance(values, str) else values
            return any(value == f"{prefix}.*" for value in values)
    return False


def _names(values: list[str]) -> str:
    return ", ".join(values) if values else "any event"


class Trigger(Schema):
    """Criteria that must be satisfied for an automation to trigger."""

    type: str
    id: UUID = Field(default_factory=uuid4, description="The unique ID of this trigger")

    def describe(self, indent: int = 0) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class ResourceTrigger(Trigger):
    match: ResourceSpecification = Field(
        default_factory=_empty_spec,
        description="Labels for resources which this trigger will match.",
    )
    match_related: ResourceSpecification = Field(
        default_factory=_empty_spec,
        description="Labels for related resources which this trigger will match.",
    )


class EventTrigger(ResourceTrigger):
    """Fires on the presence (Reactive) or absence (Proactive) of events within a period."""

    type: Literal["event"] = "event"
    after: EventNames = Field(default_factory=list)
    expect: EventNames = Field(default_factory=list)
    for_each: EventNames = Field(default_factory=list)
    posture: Literal["Reactive", "Proactive"] = "Reactive"
    threshold: int = 1
    within: Duration = timedelta(0)

    @field_validator("within", mode="before")
    @classmethod
    def within_is_never_null(cls, value: Any) -> Any:
        if value is None:
            raise _rule("within_null")
        return value

    @model_validator(mode="after")
    def enforce_minimum_within_for_proactive_triggers(self) -> EventTrigger:
        if self.posture == Posture.Proactive:
            if self.within == timedelta(0):
                self.within = PROACTIVE_MINIMUM_WITHIN
            elif self.within < PROACTIVE_MINIMUM_WITHIN:
                raise _rule("proactive_within_too_short", field="within")
        return self

    def describe(self, indent: int = 0) -> str:
        if self.posture == Posture.Reactive:
            text = f"Reactive: expecting {self.threshold} of {_names(self.expect)}"
        else:
            text = (
                f"Proactive: expecting {self.threshold} {_names(self.expect)} event "
                f"within {format_duration(self.within)}"
            )
        return textwrap.indent(text, "  " * indent)


class MetricTriggerQuery(Schema):
    name: PrefectMetric
    threshold: float
    operator: MetricTriggerOperator
    range: Duration = METRIC_MINIMUM_RANGE
    firing_for: Duration = METRIC_MINIMUM_RANGE

    @field_validator("range", "firing_for")
    @classmethod
    def enforce_minimum_range(cls, value: timedelta) -> timedelta:
        if value < METRIC_MINIMUM_RANGE:
            raise _rule("metric_range_too_short")
        return value


class MetricTrigger(ResourceTrigger):
    """Fires on the results of a metric query, evaluated periodically."""

    type: Literal["metric"] = "metric"
    posture: Literal["Metric"] = "Metric"
    metric: MetricTriggerQuery

    def describe(self, indent: int = 0) -> str:
        m = self.metric
        return textwrap.indent(
            f"Metric: {m.name.value} {m.operator.value} {m.threshold:g} for "
            f"{format_duration(m.range)}",
            "  " * indent,
        )


def _require(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("any", "all"):
            return text
        if text.isdigit():
            return int(text)
        raise _rule("require_invalid")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _rule("require_invalid")
    return value


class CompositeTrigger(Trigger):
    triggers: list[TriggerTypes]
    within: Duration | None = None

    def _describe(self, heading: str, indent: int) -> str:
        lines = [heading, *(t.describe(indent=1) for t in self.triggers)]
        return textwrap.indent("\n".join(lines), "  " * indent)


class CompoundTrigger(CompositeTrigger):
    """Some number (any, all, or n) of the child triggers fire within the period."""

    type: Literal["compound"] = "compound"
    require: Annotated[int | Literal["any", "all"], BeforeValidator(_require)]

    @model_validator(mode="after")
    def validate_require(self) -> CompoundTrigger:
        if isinstance(self.require, int):
            if self.require < 1:
                raise _rule("require_too_small", field="require")
            if self.require > len(self.triggers):
                raise _rule("require_too_large", field="require")
        return self

    def describe(self, indent: int = 0) -> str:
        return self._describe(f"{str(self.require).capitalize()} of:", indent)


class SequenceTrigger(CompositeTrigger):
    """All child triggers fire within the period, in order."""

    type: Literal["sequence"] = "sequence"

    def describe(self, indent: int = 0) -> str:
        return self._describe("In this order:", indent)


TriggerTypes = Annotated[
    EventTrigger | MetricTrigger | CompoundTrigger | SequenceTrigger,
    Field(discriminator="type"),
]
TRIGGER_TYPES: dict[str, type[Trigger]] = {
    "event": EventTrigger,
    "metric": MetricTrigger,
    "compound": CompoundTrigger,
    "sequence": SequenceTrigger,
}
CompositeTrigger.model_rebuild()
CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()


# -- actions -------------------------------------------------------------------------------------


class Action(Schema):
    """Something done when an automation triggers (or resolves)."""

    type: str

    def describe(self) -> str:
        return self.type.replace("-", " ").capitalize()


def _blocks(info: ValidationInfo, kind: str, block_id: UUID) -> None:
    """Refuse an id that names no block, when the caller says how to look blocks up."""
    exists = (info.context or {}).get("block_exists")
    if exists is not None and not exists(kind, block_id):
        raise _rule("block_not_found", kind=kind, block_id=str(block_id))


class DoNothing(Action):
    """Do nothing when an Automation is triggered."""

    type: Literal["do-nothing"] = "do-nothing"


class SourcedAction(Action):
    """An action on an object that is either selected (by id) or inferred from the event."""

    source: Literal["selected", "inferred"] = "selected"
    # The name of the id field; each subclass declares that field.
    id_field: ClassVar[str] = ""

    @model_validator(mode="after")
    def selected_requires_id(self):
        id_field = self.id_field
        wants_selected = self.source == "selected"
        has_id = bool(getattr(self, id_field))
        if wants_selected != has_id:
            raise _rule(
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
                _check_template(item, "parameters")

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
    """An action that sends through a stored block of `block_kind`."""

    block_kind: ClassVar[str] = ""
    block_document_id: UUID

    @field_validator("block_document_id")
    @classmethod
    def block_exists(cls, value: UUID, info: ValidationInfo) -> UUID:
        _blocks(info, cls.block_kind, value)
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
        return _check_template(value, "payload") if value else value


class SendNotification(BlockAction):
    """Sends a notification through a notification block."""

    type: Literal["send-notification"] = "send-notification"
    block_kind: ClassVar[str] = "notification"
    subject: str = "Prefect automated notification"
    body: str

    @field_validator("subject", "body")
    @classmethod
    def is_valid_template(cls, value: str, info: ValidationInfo) -> str:
        return _check_template(value, info.field_name or "")


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


ACTION_TYPES: dict[str, type[Action]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        DoNothing,
        RunDeployment,
        PauseDeployment,
        ResumeDeployment,
        ChangeFlowRunState,
        CancelFlowRun,
        SuspendFlowRun,
        CallWebhook,
        SendNotification,
        PauseWorkPool,
        ResumeWorkPool,
        PauseWorkQueue,
        ResumeWorkQueue,
        PauseAutomation,
        ResumeAutomation,
        DeclareIncident,
    )
}

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


# -- the automation ------------------------------------------------------------------------------


def _name(value: str) -> str:
    if not value.strip():
        raise _rule("name_blank")
    return value


class AutomationCore(Schema):
    """When these events do (or don't) happen to these resources, do these actions."""

    name: Annotated[str, AfterValidator(_name)]
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
        problematic = {
            "prefect.flow-run.Scheduled",
            "prefect.flow-run.Pending",
            "prefect.flow-run.Running",
            "prefect.flow-run.*",
        }
        if not problematic.intersection(trigger.expect):
            return self
        for action in self.actions:
            if not isinstance(action, RunDeployment):
                continue
            if action.source == "inferred":
                raise _rule("run_deployment_loop_inferred")
            if _matches_every_resource_of_kind(
                trigger.match, "prefect.flow-run"
            ) and _matches_every_resource_of_kind(trigger.match_related, "prefect.flow-run"):
                raise _rule("run_deployment_loop_selected")
        return self

    def describe(self) -> str:
        return self.trigger.describe()

    def all_actions(self) -> list[Action]:
        return [*self.actions, *self.actions_on_trigger, *self.actions_on_resolve]

    def to_json(self) -> dict[str, Any]:
        """Prefect's wire format (JSON-ready)."""
        return self.model_dump(mode="json")
