"""Triggers: when an automation fires (Prefect 3's `prefect.events` triggers).

An event trigger watches for events (Reactive) or their absence (Proactive) on matching
resources; a metric trigger evaluates a metric query; compound and sequence triggers combine
child triggers (any, all or n of them; all of them, in order).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from automations.schemas.durations import Duration
from automations.schemas.rules import Schema, rule
from eventsui.events.schemas import ResourceSpecification

# The minimums of Prefect's schema, named once.
PROACTIVE_MINIMUM_WITHIN = timedelta(seconds=10)
METRIC_MINIMUM_RANGE = timedelta(seconds=300)
# Bounds Prefect's schema does not set. A count of events in one window never nears a billion
# (a negative threshold or 10**21 was saved, and the engine compared counts with it); composite
# triggers nested deeper than this are a mistake, and 1,000 levels exhausted Python's stack.
MAX_THRESHOLD = 1_000_000_000
MAX_TRIGGER_DEPTH = 10


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


def _unique(values: list[str]) -> list[str]:
    """Prefect's sets, kept in the order people typed them; blanks dropped."""
    seen: dict[str, None] = {}
    for value in values:
        value = value.strip()
        if value:
            seen[value] = None
    return list(seen)


EventNames = Annotated[list[str], AfterValidator(_unique)]


def _threshold(value: int) -> int:
    if not 0 <= value <= MAX_THRESHOLD:
        raise rule("threshold_out_of_range", limit=MAX_THRESHOLD)
    return value


def _empty_spec() -> ResourceSpecification:
    return ResourceSpecification.model_validate({})


class Trigger(Schema):
    """Criteria that must be satisfied for an automation to trigger."""

    type: str
    id: UUID = Field(default_factory=uuid4, description="The unique ID of this trigger")


class ResourceTrigger(Trigger):
    match: ResourceSpecification = Field(
        default_factory=_empty_spec,
        description="Labels for resources which this trigger will match.",
    )
    match_related: ResourceSpecification | list[ResourceSpecification] = Field(
        default_factory=_empty_spec,
        description=(
            "Labels for related resources which this trigger will match; a list of "
            "specifications (Prefect 3 accepts one) means every one must match."
        ),
    )

    def related_specs(self) -> list[ResourceSpecification]:
        """match_related as a list: every specification must match some related resource."""
        related = self.match_related
        return related if isinstance(related, list) else [related]


class EventTrigger(ResourceTrigger):
    """Fires on the presence (Reactive) or absence (Proactive) of events within a period."""

    type: Literal["event"] = "event"
    after: EventNames = Field(default_factory=list)
    expect: EventNames = Field(default_factory=list)
    for_each: EventNames = Field(default_factory=list)
    posture: Literal["Reactive", "Proactive"] = "Reactive"
    threshold: Annotated[int, AfterValidator(_threshold)] = 1
    within: Duration = timedelta(0)

    @field_validator("within", mode="before")
    @classmethod
    def within_is_never_null(cls, value: Any) -> Any:
        if value is None:
            raise rule("within_null")
        return value

    @model_validator(mode="after")
    def enforce_minimum_within_for_proactive_triggers(self) -> EventTrigger:
        if self.posture == Posture.Proactive:
            if self.within == timedelta(0):
                self.within = PROACTIVE_MINIMUM_WITHIN
            elif self.within < PROACTIVE_MINIMUM_WITHIN:
                raise rule("proactive_within_too_short", field="within")
        return self


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
            raise rule("metric_range_too_short")
        return value


class MetricTrigger(ResourceTrigger):
    """Fires on the results of a metric query, evaluated periodically."""

    type: Literal["metric"] = "metric"
    posture: Literal["Metric"] = "Metric"
    metric: MetricTriggerQuery


def _require(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("any", "all"):
            return text
        if text.isdigit():
            return int(text)
        raise rule("require_invalid")
    if isinstance(value, bool) or not isinstance(value, int):
        raise rule("require_invalid")
    return value


class CompositeTrigger(Trigger):
    triggers: list[TriggerTypes]
    within: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def bound_the_nesting(cls, data: Any) -> Any:
        depth = _composite_depth(data)
        if depth > MAX_TRIGGER_DEPTH:
            raise rule("triggers_nested_too_deep", limit=MAX_TRIGGER_DEPTH, depth=depth)
        return data


def _composite_depth(data: Any) -> int:
    """How many composite levels a trigger's data holds (iterative: the data may be deep)."""
    deepest = 0
    todo = [(data, 0)]
    while todo:
        node, depth = todo.pop()
        if not isinstance(node, dict) or not isinstance(node.get("triggers"), list):
            continue
        depth += 1
        deepest = max(deepest, depth)
        todo += [(child, depth) for child in node["triggers"]]
    return deepest


class CompoundTrigger(CompositeTrigger):
    """Some number (any, all, or n) of the child triggers fire within the period."""

    type: Literal["compound"] = "compound"
    require: Annotated[int | Literal["any", "all"], BeforeValidator(_require)]

    @model_validator(mode="after")
    def validate_require(self) -> CompoundTrigger:
        if isinstance(self.require, int):
            if self.require < 1:
                raise rule("require_too_small", field="require")
            if self.require > len(self.triggers):
                raise rule("require_too_large", field="require")
        return self


class SequenceTrigger(CompositeTrigger):
    """All child triggers fire within the period, in order."""

    type: Literal["sequence"] = "sequence"


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
