"""The automation schema: the one place that holds every rule of an automation.

Forms, the REST API, JSON import and `Automation.clean()` all validate through `AutomationCore`
(via `automations.validation.parse_automation`) and translate errors with
`automations.errors.schema_errors`; none of them restates a bound. Rules come from Prefect 3's
API reference for `prefect.events` (triggers, actions) and, where it is silent, Prefect 3's
server (`prefect.server.events.actions`, `prefect.server.events.schemas.automations`).

| module | what it holds |
| --- | --- |
| `rules` | `RULES`: every custom error type with its message; `rule()` raises one |
| `durations` | "30s" / "5m" / "1h30m" in, float seconds out (`Duration`) |
| `templating` | the Jinja sandbox and the template checks of Prefect's server |
| `triggers` | event, metric, compound and sequence triggers (`TRIGGER_TYPES`) |
| `actions` | the 16 action types (`ACTION_TYPES`), the objects they select (`SELECTED_KINDS`) |
| `automation` | `AutomationCore`, and the rules about a whole automation |
| `describe` | one-line descriptions of triggers and actions |

JSON is Prefect's wire format: durations are float seconds, triggers and actions carry their
`type` discriminator, ids are UUIDs. It is written in one place, `automations.prefect_json`.
Callers import from here (`from automations import schemas; schemas.AutomationCore`).
"""

from automations.schemas.actions import (
    ACTION_TYPES,
    SELECTED_KINDS,
    Action,
    ActionTypes,
    AutomationAction,
    BlockAction,
    CallWebhook,
    CancelFlowRun,
    ChangeFlowRunState,
    DeclareIncident,
    DeploymentAction,
    DoNothing,
    PauseAutomation,
    PauseDeployment,
    PauseWorkPool,
    PauseWorkQueue,
    ResumeAutomation,
    ResumeDeployment,
    ResumeWorkPool,
    ResumeWorkQueue,
    RunDeployment,
    SendNotification,
    SourcedAction,
    SuspendFlowRun,
    WorkPoolAction,
    WorkQueueAction,
)
from automations.schemas.automation import AutomationCore
from automations.schemas.describe import describe_action, describe_trigger
from automations.schemas.durations import Duration, format_duration, parse_duration
from automations.schemas.rules import RULES, Schema, rule
from automations.schemas.templating import (
    MAX_LOOP_COUNT,
    MAX_NESTED_LOOP_DEPTH,
    TemplateSecurityError,
    validate_user_template,
)
from automations.schemas.triggers import (
    METRIC_MINIMUM_RANGE,
    PROACTIVE_MINIMUM_WITHIN,
    TRIGGER_TYPES,
    CompositeTrigger,
    CompoundTrigger,
    EventTrigger,
    MetricTrigger,
    MetricTriggerOperator,
    MetricTriggerQuery,
    Posture,
    PrefectMetric,
    ResourceTrigger,
    SequenceTrigger,
    Trigger,
    TriggerTypes,
)

__all__ = [
    "ACTION_TYPES",
    "MAX_LOOP_COUNT",
    "MAX_NESTED_LOOP_DEPTH",
    "METRIC_MINIMUM_RANGE",
    "PROACTIVE_MINIMUM_WITHIN",
    "RULES",
    "SELECTED_KINDS",
    "TRIGGER_TYPES",
    "Action",
    "ActionTypes",
    "AutomationAction",
    "AutomationCore",
    "BlockAction",
    "CallWebhook",
    "CancelFlowRun",
    "ChangeFlowRunState",
    "CompositeTrigger",
    "CompoundTrigger",
    "DeclareIncident",
    "DeploymentAction",
    "DoNothing",
    "Duration",
    "EventTrigger",
    "MetricTrigger",
    "MetricTriggerOperator",
    "MetricTriggerQuery",
    "PauseAutomation",
    "PauseDeployment",
    "PauseWorkPool",
    "PauseWorkQueue",
    "Posture",
    "PrefectMetric",
    "ResourceTrigger",
    "ResumeAutomation",
    "ResumeDeployment",
    "ResumeWorkPool",
    "ResumeWorkQueue",
    "RunDeployment",
    "Schema",
    "SendNotification",
    "SequenceTrigger",
    "SourcedAction",
    "SuspendFlowRun",
    "TemplateSecurityError",
    "Trigger",
    "TriggerTypes",
    "WorkPoolAction",
    "WorkQueueAction",
    "describe_action",
    "describe_trigger",
    "format_duration",
    "parse_duration",
    "rule",
    "validate_user_template",
]
