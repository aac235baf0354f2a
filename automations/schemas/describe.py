"""One-line descriptions of triggers and actions, for the list and detail pages.

They follow Prefect's `describe_for_cli()` of its triggers ("Reactive: expecting 1 of ...",
"2 of:" with the child triggers indented beneath).
"""

from __future__ import annotations

import textwrap

from automations.schemas.actions import Action
from automations.schemas.durations import format_duration
from automations.schemas.triggers import (
    CompoundTrigger,
    EventTrigger,
    MetricTrigger,
    Posture,
    SequenceTrigger,
    Trigger,
)


def _names(values: list[str]) -> str:
    return ", ".join(values) if values else "any event"


def describe_trigger(trigger: Trigger, indent: int = 0) -> str:
    if isinstance(trigger, EventTrigger):
        if trigger.posture == Posture.Reactive:
            text = f"Reactive: expecting {trigger.threshold} of {_names(trigger.expect)}"
        else:
            text = (
                f"Proactive: expecting {trigger.threshold} {_names(trigger.expect)} event "
                f"within {format_duration(trigger.within)}"
            )
    elif isinstance(trigger, MetricTrigger):
        m = trigger.metric
        text = (
            f"Metric: {m.name.value} {m.operator.value} {m.threshold:g} for "
            f"{format_duration(m.range)}"
        )
    elif isinstance(trigger, CompoundTrigger | SequenceTrigger):
        heading = (
            f"{str(trigger.require).capitalize()} of:"
            if isinstance(trigger, CompoundTrigger)
            else "In this order:"
        )
        text = "\n".join([heading, *(describe_trigger(t, indent=1) for t in trigger.triggers)])
    else:  # pragma: no cover - every trigger type is above
        raise TypeError(f"no description for {type(trigger).__name__}")
    return textwrap.indent(text, "  " * indent)


def describe_action(action: Action) -> str:
    """The action's type in words ("run-deployment" -> "Run deployment")."""
    return action.type.replace("-", " ").capitalize()
