"""The builder's form data, to and from the automation dict the schema validates.

Triggers nest arbitrarily, so the page names every input by its path in the automation
(`trigger.triggers.0.within`, `actions.1.deployment_id`). `from_form_data` nests those inputs
into the dict the schema validates; `to_form_data` is its inverse (editing, templates, blank
partials). Nothing here restates a rule: blank inputs are left out so the schema's defaults (or
its `missing` error) apply, and an action's inputs are read from its model in the schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any, get_args, get_origin
from uuid import UUID

from django.utils.datastructures import MultiValueDict
from pydantic import BaseModel

from automations import schemas

ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")
EVENT_LISTS = ("expect", "after", "for_each")
SPECS = ("match", "match_related")
METRIC_FIELDS = ("name", "operator", "threshold", "range", "firing_for")
_METRIC_DURATIONS = ("range", "firing_for")


def schema_default(model: type[BaseModel], name: str) -> Any:
    """A field's default, as the schema declares it."""
    return model.model_fields[name].get_default(call_default_factory=True)


def _values(data: MultiValueDict, key: str) -> list[str]:
    return [v for v in data.getlist(key) if v.strip()]


def _put(target: dict[str, Any], key: str, value: str | None) -> None:
    """Blank inputs are left out, so the schema's defaults (or its `missing` error) apply."""
    if value is not None and value.strip() != "":
        target[key] = value.strip()


def child_indices(data: MultiValueDict, prefix: str) -> list[str]:
    """The indices under `prefix` that have a `.type` input, in numeric order."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.type$")
    found = {int(m.group(1)) for key in data.keys() if (m := pattern.match(key))}
    return [str(i) for i in sorted(found)]


def renamed(data: MultiValueDict, old: str, new: str) -> MultiValueDict:
    """The inputs under path `old`, named under `new` (a node moved to another position)."""
    moved = MultiValueDict()
    for key in data.keys():
        if key == old or key.startswith(old + "."):
            moved.setlist(new + key[len(old) :], data.getlist(key))
    return moved


# -- label rows: a resource specification as the rows of inputs people fill in -----------------


@dataclass(frozen=True)
class LabelRow:
    """One row: a label, "is" one of the values or "not" (none of them: Prefect's `!`), and
    the values separated by commas."""

    label: str
    op: str = "is"
    value: str = ""


def read_label_rows(data: MultiValueDict, prefix: str) -> list[LabelRow]:
    """The rows as typed (`<prefix>.label`, `.op`, `.value` inputs, by position)."""
    ops = data.getlist(f"{prefix}.op")
    values = data.getlist(f"{prefix}.value")
    return [
        LabelRow(
            label=label,
            op=ops[i] if i < len(ops) else "is",
            value=values[i] if i < len(values) else "",
        )
        for i, label in enumerate(data.getlist(f"{prefix}.label"))
    ]


def spec_from_rows(rows: list[LabelRow]) -> dict[str, Any]:
    """Rows -> Prefect's specification: label -> value or values (`!` negates); blank
    labels are dropped and a repeated label gathers its values."""
    spec: dict[str, Any] = {}
    for row in rows:
        label = row.label.strip()
        if not label:
            continue
        items = [v.strip() for v in row.value.split(",") if v.strip()]
        if row.op == "not":
            items = [f"!{v}" for v in items]
        existing = spec.get(label)
        if existing is not None:
            existing = [existing] if isinstance(existing, str) else existing
            items = existing + items
        spec[label] = items[0] if len(items) == 1 else items
    return spec


def rows_from_spec(spec: Any) -> list[LabelRow]:
    """Prefect's specification -> rows; a label whose values are all negated is a "not" row."""
    rows = []
    if isinstance(spec, list) and len(spec) == 1:  # Prefect's list form, of one specification
        spec = spec[0]
    if isinstance(spec, dict):
        for label, values in spec.items():
            values = [values] if isinstance(values, str) else list(values or [])
            negated = bool(values) and all(str(v).startswith("!") for v in values)
            if negated:
                values = [str(v)[1:] for v in values]
            rows.append(
                LabelRow(
                    label=label, op="not" if negated else "is", value=", ".join(map(str, values))
                )
            )
    return rows


# -- the input of each action field, read from its type in the schema ---------------------------


def widget(name: str, annotation: Any) -> str:
    """The input for one action field, read from its type in the schema."""
    args = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0]
    if get_origin(base) is not None and get_origin(base) is not dict:
        base = get_args(base)[0] if get_args(base) else base
    if name == "source":
        return "source"
    if name == "block_document_id":
        return "block"
    if base is bool:
        return "checkbox"
    if base is dict or get_origin(base) is dict:
        return "json"
    if base is timedelta:
        return "duration"
    if isinstance(base, type) and issubclass(base, Enum):
        return "enum"
    if base is UUID:
        return "uuid"
    if name in ("payload", "body", "message"):
        return "textarea"
    return "text"


def action_fields(kind: str) -> list[tuple[str, Any, str]]:
    """(name, field info, widget) of each input of an action type; none for an unknown type."""
    model = schemas.ACTION_TYPES.get(kind)
    if model is None:
        return []
    return [
        (name, info, widget(name, info.annotation))
        for name, info in model.model_fields.items()
        if name != "type"
    ]


# -- form data -> the automation dict ------------------------------------------------------------


def trigger_from_form(data: MultiValueDict, prefix: str) -> dict[str, Any]:
    kind = (data.get(f"{prefix}.type") or "event").strip()
    trigger: dict[str, Any] = {"type": kind}
    _put(trigger, "id", data.get(f"{prefix}.id"))
    if kind in ("event", "metric"):
        for spec in SPECS:
            trigger[spec] = spec_from_rows(read_label_rows(data, f"{prefix}.{spec}"))
    if kind == "event":
        for name in EVENT_LISTS:
            trigger[name] = _values(data, f"{prefix}.{name}")
        for name in ("posture", "within"):
            _put(trigger, name, data.get(f"{prefix}.{name}"))
        threshold = data.get(f"{prefix}.threshold")
        if threshold is not None:
            # A cleared threshold is an error beside the field, not the schema's default of 1
            # (which would silently replace a template's 3).
            trigger["threshold"] = threshold.strip()
    elif kind == "metric":
        metric: dict[str, Any] = {}
        for name in METRIC_FIELDS:
            _put(metric, name, data.get(f"{prefix}.metric.{name}"))
        trigger["metric"] = metric
    elif kind in ("compound", "sequence"):
        if kind == "compound":
            _put(trigger, "require", data.get(f"{prefix}.require"))
        _put(trigger, "within", data.get(f"{prefix}.within"))
        trigger["triggers"] = [
            trigger_from_form(data, f"{prefix}.triggers.{i}")
            for i in child_indices(data, f"{prefix}.triggers")
        ]
    return trigger


def action_from_form(data: MultiValueDict, prefix: str) -> dict[str, Any]:
    kind = (data.get(f"{prefix}.type") or "").strip()
    action: dict[str, Any] = {"type": kind}
    for name, _, kind_of_input in action_fields(kind):
        key = f"{prefix}.{name}"
        if kind_of_input == "checkbox":
            action[name] = key in data
        elif kind_of_input == "json":
            raw = (data.get(key) or "").strip()
            if raw:
                try:
                    action[name] = json.loads(raw)
                except json.JSONDecodeError:
                    action[name] = raw  # the schema says what it should be
        elif kind_of_input == "textarea" and key in data:
            action[name] = data.get(key) or ""
        else:
            _put(action, name, data.get(key))
    return action


def from_form_data(data: MultiValueDict) -> dict[str, Any]:
    automation: dict[str, Any] = {
        "name": (data.get("name") or "").strip(),
        "description": data.get("description") or "",
        "enabled": "enabled" in data,
        "trigger": trigger_from_form(data, "trigger"),
    }
    _put(automation, "owner_resource", data.get("owner_resource"))
    for list_name in ACTION_LISTS:
        automation[list_name] = [
            action_from_form(data, f"{list_name}.{i}") for i in child_indices(data, list_name)
        ]
    return automation


# -- the automation dict -> form data -------------------------------------------------------------


def text(value: Any, kind_of_input: str = "text") -> str:
    """A value as its input shows it (durations as people write them, JSON indented)."""
    if value is None:
        return ""
    if kind_of_input == "duration":
        if isinstance(value, int | float):
            try:
                value = timedelta(seconds=value)
            except (OverflowError, ValueError):  # shown as typed, beside its error
                return str(value)
        if isinstance(value, timedelta):
            return schemas.format_duration(value)
        return str(value)
    if kind_of_input == "json":
        return json.dumps(value, indent=2)
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _flatten_trigger(out: MultiValueDict, trigger: dict[str, Any], prefix: str) -> None:
    kind = trigger.get("type", "event")
    out.setlist(f"{prefix}.type", [kind])
    if trigger.get("id"):
        out.setlist(f"{prefix}.id", [str(trigger["id"])])
    for spec in SPECS:
        rows = rows_from_spec(trigger.get(spec))
        out.setlist(f"{prefix}.{spec}.label", [row.label for row in rows])
        out.setlist(f"{prefix}.{spec}.op", [row.op for row in rows])
        out.setlist(f"{prefix}.{spec}.value", [row.value for row in rows])
    if kind == "event":
        for name in EVENT_LISTS:
            out.setlist(f"{prefix}.{name}", [str(v) for v in trigger.get(name) or []])
        for name in ("posture", "threshold"):
            value = trigger.get(name, schema_default(schemas.EventTrigger, name))
            out.setlist(f"{prefix}.{name}", [text(value)])
        out.setlist(f"{prefix}.within", [text(trigger.get("within"), "duration")])
    elif kind == "metric":
        metric = trigger.get("metric") or {}
        for name in METRIC_FIELDS:
            if name in _METRIC_DURATIONS:
                value = metric.get(name, schema_default(schemas.MetricTriggerQuery, name))
                out.setlist(f"{prefix}.metric.{name}", [text(value, "duration")])
            else:
                out.setlist(f"{prefix}.metric.{name}", [text(metric.get(name))])
    else:
        if kind == "compound":
            out.setlist(f"{prefix}.require", [text(trigger.get("require"))])
        out.setlist(f"{prefix}.within", [text(trigger.get("within"), "duration")])
        for index, child in enumerate(trigger.get("triggers") or []):
            _flatten_trigger(out, child, f"{prefix}.triggers.{index}")


def to_form_data(automation: dict[str, Any]) -> MultiValueDict:
    """The inputs a person would have typed to build this automation (Prefect JSON in)."""
    out = MultiValueDict()
    out.setlist("name", [automation.get("name", "")])
    out.setlist("description", [automation.get("description", "")])
    if automation.get("enabled", True):
        out.setlist("enabled", ["on"])
    if automation.get("owner_resource"):
        out.setlist("owner_resource", [automation["owner_resource"]])
    _flatten_trigger(out, automation.get("trigger") or {"type": "event"}, "trigger")
    for list_name in ACTION_LISTS:
        for index, action in enumerate(automation.get(list_name) or []):
            prefix = f"{list_name}.{index}"
            kind = action.get("type", "")
            out.setlist(f"{prefix}.type", [kind])
            for name, info, kind_of_input in action_fields(kind):
                value = action.get(name, None if info.is_required() else info.get_default())
                if kind_of_input == "checkbox":
                    if value:
                        out.setlist(f"{prefix}.{name}", ["on"])
                elif value is not None:
                    out.setlist(f"{prefix}.{name}", [text(value, kind_of_input)])
    return out
