"""Every custom rule of the automation schema: its error type and its message for people.

Each rule is raised as `rule(type_)`, a `PydanticCustomError` whose message comes from `RULES`,
so a test can prove that every error type a person can cause has a human message. When a rule
is about one field but is checked on the whole model, `rule(..., field=...)` names the field so
the form can show the message beside it (`automations.errors.schema_errors` reads it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
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
    "nul_character": "Text cannot contain the NUL character (\\u0000).",
    "threshold_out_of_range": "The threshold must be a whole number from 0 to {limit}.",
    "triggers_nested_too_deep": (
        "Composite triggers can be nested at most {limit} levels deep (this one is {depth})."
    ),
    "name_blank": "Give the automation a name.",
}


def rule(type_: str, *, field: str | None = None, **ctx: Any) -> PydanticCustomError:
    """A rule broken: its type, its human message, and (for model-level checks) its field."""
    if field is not None:
        ctx["field"] = field
    return PydanticCustomError(type_, RULES[type_], ctx)


def nul_path(value: Any, path: tuple = ()) -> tuple | None:
    """Where the first NUL character is in JSON-like data (None if there is none)."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                return (*path, key)
            found = nul_path(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = nul_path(item, (*path, index))
            if found is not None:
                return found
    return None


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise rule("nul_character")
    return value


class Schema(BaseModel):
    """The base of every automation model: like Prefect's, unknown fields are ignored.

    No text may hold a NUL character (PostgreSQL stores none, in text or jsonb): the model
    refuses it naming the field, on every path (API, builder, import)."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        path = nul_path(data) if isinstance(data, dict) else None
        if path is not None:
            raise rule("nul_character", field=".".join(str(p) for p in path))
        return data
