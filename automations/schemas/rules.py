"""Every custom rule of the automation schema: its error type and its message for people.

Each rule is raised as `rule(type_)`, a `PydanticCustomError` whose message comes from `RULES`,
so a test can prove that every error type a person can cause has a human message. When a rule
is about one field but is checked on the whole model, `rule(..., field=...)` names the field so
the form can show the message beside it (`automations.errors.schema_errors` reads it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

RULES: dict[str, str] = {
    "duration_negative": "Durations cannot be negative.",
    "duration_too_long": "Durations can be at most 365 days.",
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


def rule(type_: str, *, field: str | None = None, **ctx: Any) -> PydanticCustomError:
    """A rule broken: its type, its human message, and (for model-level checks) its field."""
    if field is not None:
        ctx["field"] = field
    return PydanticCustomError(type_, RULES[type_], ctx)


class Schema(BaseModel):
    """The base of every automation model: like Prefect's, unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)
