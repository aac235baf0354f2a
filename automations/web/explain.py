"""Triggers in plain words, for the automation list and detail pages.

Every field that changes what a trigger means is said (threshold, within, after, the resources
it matches, for_each, require). Prefect's own `describe_for_cli()` text stays what the API and
export give (`automations.schemas.describe`); this is for people reading a page.
"""

from __future__ import annotations

from typing import Any

from automations.schemas.triggers import (
    CompoundTrigger,
    EventTrigger,
    MetricTrigger,
    Posture,
    SequenceTrigger,
    Trigger,
)
from eventsui.lib.times import duration_words


def _events(names: list[str]) -> str:
    if not names:
        return "any event"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _spec(spec: Any) -> str:
    """A resource specification as `label = value` pairs (`!` as "not")."""
    root = getattr(spec, "root", spec) or {}
    parts = []
    for label, values in root.items():
        values = [values] if isinstance(values, str) else list(values)
        negated = [v[1:] for v in values if v.startswith("!")]
        plain = [v for v in values if not v.startswith("!")]
        if plain:
            parts.append(f"{label} is {' or '.join(plain)}")
        if negated:
            parts.append(f"{label} is not {' or '.join(negated)}")
    return " and ".join(parts)


def _resources(trigger: EventTrigger | MetricTrigger) -> list[str]:
    out = []
    if text := _spec(trigger.match):
        out.append(f"on a resource whose {text}")
    related = trigger.match_related
    for spec in related if isinstance(related, list) else [related]:
        if text := _spec(spec):
            out.append(f"related to a resource whose {text}")
    return out


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n:,} times"


def explain_event(trigger: EventTrigger) -> str:
    names = _events(trigger.expect)
    window = duration_words(trigger.within)
    if trigger.posture == Posture.Reactive:
        text = f"When {names} happens"
        if trigger.threshold != 1 or trigger.within:
            text += f" {_times(trigger.threshold)}"
        if trigger.within:
            text += f" within {window}"
    else:
        at_least = f" at least {_times(trigger.threshold)}" if trigger.threshold != 1 else ""
        text = f"When {names} does not happen{at_least} within {window}"
    if trigger.after:
        text += f", once {_events(trigger.after)} has been seen"
    parts = [text, *_resources(trigger)]
    sentence = ", ".join(parts)
    if trigger.for_each:
        sentence += f"; counted separately for each {', '.join(trigger.for_each)}"
    return sentence + "."


def explain_metric(trigger: MetricTrigger) -> str:
    m = trigger.metric
    text = (
        f"When the {m.name.value} of the matching deployments is {m.operator.value} "
        f"{m.threshold:g} over the last {duration_words(m.range)}, for "
        f"{duration_words(m.firing_for)}"
    )
    return ", ".join([text, *_resources(trigger)]) + "."


def explain(trigger: Trigger) -> dict[str, Any]:
    """{"text": one sentence, "children": [...]} (children for compound and sequence)."""
    if isinstance(trigger, EventTrigger):
        return {"text": explain_event(trigger), "children": []}
    if isinstance(trigger, MetricTrigger):
        return {"text": explain_metric(trigger), "children": []}
    if isinstance(trigger, CompoundTrigger | SequenceTrigger):
        within = f" within {duration_words(trigger.within)}" if trigger.within else ""
        if isinstance(trigger, SequenceTrigger):
            text = f"When these fire in this order{within}:"
        elif trigger.require == "all":
            text = f"When all of these fire{within}:"
        elif trigger.require == "any":
            text = f"When any of these fires{within}:"
        else:
            text = f"When {trigger.require} of these fire{within}:"
        return {"text": text, "children": [explain(t) for t in trigger.triggers]}
    return {"text": type(trigger).__name__, "children": []}  # pragma: no cover
