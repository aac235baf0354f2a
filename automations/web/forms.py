"""The automation builder's form: fields named by path, validated by the schema.

Triggers nest arbitrarily, so the page names every input by its path in the automation
(`trigger.triggers.0.within`, `actions.1.deployment_id`). `from_form_data` turns those into
the nested dict the schema validates; `to_form_data` is its inverse (for editing, templates
and the JSON tab); `trigger_node` / `action_nodes` build what the templates render, with each
schema error placed beside the input whose path it names. Nothing here restates a rule: the
action fields are read from the schema's models.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any, get_args, get_origin
from uuid import UUID

from django import forms
from django.utils.datastructures import MultiValueDict
from pydantic import ValidationError

from automations import schemas
from automations.errors import schema_errors

ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")
EVENT_LISTS = ("expect", "after", "for_each")
SPECS = ("match", "match_related")
METRIC_FIELDS = ("name", "operator", "threshold", "range", "firing_for")

# -- form data -> the automation dict ------------------------------------------------------------


def _values(data: MultiValueDict, key: str) -> list[str]:
    return [v for v in data.getlist(key) if v.strip()]


def _put(target: dict[str, Any], key: str, value: str | None) -> None:
    """Blank inputs are left out, so the schema's defaults (or its `missing` error) apply."""
    if value is not None and value.strip() != "":
        target[key] = value.strip()


def _spec_from_rows(data: MultiValueDict, prefix: str) -> dict[str, Any]:
    labels = data.getlist(f"{prefix}.label")
    ops = data.getlist(f"{prefix}.op")
    values = data.getlist(f"{prefix}.value")
    spec: dict[str, Any] = {}
    for index, label in enumerate(labels):
        label = label.strip()
        raw = values[index] if index < len(values) else ""
        if not label:
            continue
        items = [v.strip() for v in raw.split(",") if v.strip()]
        if (ops[index] if index < len(ops) else "is") == "not":
            items = [f"!{v}" for v in items]
        existing = spec.get(label)
        if existing is not None:
            existing = [existing] if isinstance(existing, str) else existing
            items = existing + items
        spec[label] = items[0] if len(items) == 1 else items
    return spec


def _child_indices(data: MultiValueDict, prefix: str) -> list[str]:
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.type$")
    found = {int(m.group(1)) for key in data.keys() if (m := pattern.match(key))}
    return [str(i) for i in sorted(found)]


def trigger_from_form(data: MultiValueDict, prefix: str) -> dict[str, Any]:
    kind = (data.get(f"{prefix}.type") or "event").strip()
    trigger: dict[str, Any] = {"type": kind}
    _put(trigger, "id", data.get(f"{prefix}.id"))
    if kind in ("event", "metric"):
        for spec in SPECS:
            trigger[spec] = _spec_from_rows(data, f"{prefix}.{spec}")
    if kind == "event":
        for name in EVENT_LISTS:
            trigger[name] = _values(data, f"{prefix}.{name}")
        for name in ("posture", "threshold", "within"):
            _put(trigger, name, data.get(f"{prefix}.{name}"))
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
            for i in _child_indices(data, f"{prefix}.triggers")
        ]
    return trigger


def action_from_form(data: MultiValueDict, prefix: str) -> dict[str, Any]:
    kind = (data.get(f"{prefix}.type") or "").strip()
    action: dict[str, Any] = {"type": kind}
    model = schemas.ACTION_TYPES.get(kind)
    if model is None:
        return action
    for name, info in model.model_fields.items():
        if name == "type":
            continue
        key = f"{prefix}.{name}"
        widget = _widget(name, info.annotation)
        if widget == "checkbox":
            action[name] = key in data
        elif widget == "json":
            raw = (data.get(key) or "").strip()
            if raw:
                try:
                    action[name] = json.loads(raw)
                except json.JSONDecodeError:
                    action[name] = raw  # the schema says what it should be
        elif widget == "textarea" and key in data:
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
            action_from_form(data, f"{list_name}.{i}") for i in _child_indices(data, list_name)
        ]
    return automation


# -- the automation dict -> form data -------------------------------------------------------------


def _text(value: Any, widget: str = "text") -> str:
    if value is None:
        return ""
    if widget == "duration":
        if isinstance(value, int | float):
            return schemas.format_duration(timedelta(seconds=value))
        return str(value)
    if widget == "json":
        return json.dumps(value, indent=2)
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _spec_rows(spec: Any) -> list[dict[str, str]]:
    rows = []
    if isinstance(spec, dict):
        for label, values in spec.items():
            values = [values] if isinstance(values, str) else list(values or [])
            negated = bool(values) and all(str(v).startswith("!") for v in values)
            if negated:
                values = [str(v)[1:] for v in values]
            rows.append(
                {
                    "label": label,
                    "op": "not" if negated else "is",
                    "value": ", ".join(map(str, values)),
                }
            )
    return rows


def _flatten_trigger(out: MultiValueDict, trigger: dict[str, Any], prefix: str) -> None:
    kind = trigger.get("type", "event")
    out.setlist(f"{prefix}.type", [kind])
    if trigger.get("id"):
        out.setlist(f"{prefix}.id", [str(trigger["id"])])
    for spec in SPECS:
        rows = _spec_rows(trigger.get(spec))
        for part in ("label", "op", "value"):
            out.setlist(f"{prefix}.{spec}.{part}", [row[part] for row in rows])
    if kind == "event":
        for name in EVENT_LISTS:
            out.setlist(f"{prefix}.{name}", [str(v) for v in trigger.get(name) or []])
        out.setlist(f"{prefix}.posture", [trigger.get("posture", "Reactive")])
        out.setlist(f"{prefix}.threshold", [_text(trigger.get("threshold", 1))])
        out.setlist(f"{prefix}.within", [_text(trigger.get("within"), "duration")])
    elif kind == "metric":
        metric = trigger.get("metric") or {}
        for name in METRIC_FIELDS:
            widget = "duration" if name in ("range", "firing_for") else "text"
            out.setlist(f"{prefix}.metric.{name}", [_text(metric.get(name), widget)])
    else:
        if kind == "compound":
            out.setlist(f"{prefix}.require", [_text(trigger.get("require"))])
        out.setlist(f"{prefix}.within", [_text(trigger.get("within"), "duration")])
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
            model = schemas.ACTION_TYPES.get(kind)
            if model is None:
                continue
            for name, info in model.model_fields.items():
                if name == "type":
                    continue
                widget = _widget(name, info.annotation)
                value = action.get(name, None if info.is_required() else info.get_default())
                if widget == "checkbox":
                    if value:
                        out.setlist(f"{prefix}.{name}", ["on"])
                elif value is not None:
                    out.setlist(f"{prefix}.{name}", [_text(value, widget)])
    return out


# -- what the templates render --------------------------------------------------------------------


def _widget(name: str, annotation: Any) -> str:
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


HELP = {
    "source": "Selected: the object you pick here. Inferred: the one the triggering event is about.",
    "payload": 'Optional Jinja template sent as the request body, e.g. {"flow_run": "{{ flow_run.name }}"}.',
    "body": "Jinja template, e.g. Flow run {{ flow_run.name }} entered {{ flow_run.state.name }}.",
    "subject": "Jinja template.",
    "parameters": "A JSON object; leave blank for the deployment's defaults.",
    "job_variables": "A JSON object; leave blank for the deployment's defaults.",
    "schedule_after": "Wait this long before running, e.g. 5m.",
    "force": "Apply the state even if the transition is not normally allowed.",
}

SUGGESTION_LISTS = {
    "deployment_id": "dl-deployments",
    "work_pool_id": "dl-work-pools",
    "work_queue_id": "dl-work-queues",
    "automation_id": "dl-automations",
}

# The block kind each block action needs: the schema's own (schemas.BlockAction.block_kind).
BLOCK_KINDS = {
    name: model.block_kind
    for name, model in schemas.ACTION_TYPES.items()
    if issubclass(model, schemas.BlockAction)
}
BLOCK_LABELS = {"call-webhook": "Webhook", "send-notification": "Notification target"}


@dataclass
class FieldView:
    name: str
    label: str
    widget: str
    value: str
    checked: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    help: str = ""
    datalist: str = ""
    block_kind: str = ""


@dataclass
class ActionNode:
    path: str
    type: str
    label: str
    fields: list[FieldView]
    errors: list[str]


@dataclass
class TriggerNode:
    path: str
    type: str
    val: dict[str, str]
    lists: dict[str, list[str]]
    match_rows: list[dict[str, str]]
    match_related_rows: list[dict[str, str]]
    children: list[TriggerNode]
    err: dict[str, list[str]]
    depth: int = 0

    @property
    def has_errors(self) -> bool:
        return bool(self.err) or any(child.has_errors for child in self.children)


def _errors_under(errors: dict[str, list[str]], path: str) -> dict[str, list[str]]:
    """Errors for one node, keyed relative to it ('within', 'metric_range', 'match', 'here')."""
    out: dict[str, list[str]] = {}
    for key, messages in errors.items():
        if key == path:
            out.setdefault("here", []).extend(messages)
        elif key.startswith(path + "."):
            rest = key[len(path) + 1 :]
            first = rest.split(".", 1)[0]
            if re.match(r"^triggers\.\d+(\.|$)", rest):
                continue  # shown by that child
            if first in EVENT_LISTS or first in SPECS:
                rel = first
            else:
                rel = rest.replace(".", "_")
            out.setdefault(rel, []).extend(messages)
    return out


def trigger_node(
    data: MultiValueDict, prefix: str, errors: dict[str, list[str]], depth: int = 0
) -> TriggerNode:
    kind = (data.get(f"{prefix}.type") or "event").strip()
    val = {}
    for name in ("id", "posture", "threshold", "within", "require"):
        val[name] = data.get(f"{prefix}.{name}", "")
    for name in METRIC_FIELDS:
        val[f"metric_{name}"] = data.get(f"{prefix}.metric.{name}", "")
    if not val["posture"]:
        val["posture"] = "Reactive"
    if kind == "event" and not val["threshold"]:
        val["threshold"] = "1"
    if kind == "compound" and not val["require"]:
        val["require"] = "all"
    lists = {name: data.getlist(f"{prefix}.{name}") for name in EVENT_LISTS}

    def rows(spec: str) -> list[dict[str, str]]:
        labels = data.getlist(f"{prefix}.{spec}.label")
        ops = data.getlist(f"{prefix}.{spec}.op")
        values = data.getlist(f"{prefix}.{spec}.value")
        return [
            {
                "label": label,
                "op": ops[i] if i < len(ops) else "is",
                "value": values[i] if i < len(values) else "",
            }
            for i, label in enumerate(labels)
        ]

    children = []
    if kind in ("compound", "sequence"):
        # Rendered (and named) by position, as the schema's error locations are.
        for position, index in enumerate(_child_indices(data, f"{prefix}.triggers")):
            old, new = f"{prefix}.triggers.{index}", f"{prefix}.triggers.{position}"
            if old != new:
                children.append(_renamed(data, old, new, errors, depth + 1))
            else:
                children.append(trigger_node(data, new, errors, depth + 1))
    return TriggerNode(
        path=prefix,
        type=kind,
        val=val,
        lists=lists,
        match_rows=rows("match"),
        match_related_rows=rows("match_related"),
        children=children,
        err=_errors_under(errors, prefix),
        depth=depth,
    )


def _renamed(data: MultiValueDict, old: str, new: str, errors, depth: int) -> TriggerNode:
    moved = MultiValueDict()
    for key in data.keys():
        if key == old or key.startswith(old + "."):
            moved.setlist(new + key[len(old) :], data.getlist(key))
    return trigger_node(moved, new, errors, depth)


def action_node(
    data: MultiValueDict, prefix: str, errors: dict[str, list[str]], ctx: dict[str, Any]
) -> ActionNode:
    kind = (data.get(f"{prefix}.type") or "").strip()
    model = schemas.ACTION_TYPES.get(kind)
    fields: list[FieldView] = []
    under = {}
    for key, messages in errors.items():
        if key.startswith(prefix + "."):
            under[key[len(prefix) + 1 :].split(".", 1)[0]] = messages
    for name, info in model.model_fields.items() if model else []:
        if name == "type":
            continue
        widget = _widget(name, info.annotation)
        key = f"{prefix}.{name}"
        default = info.default if isinstance(info.default, str) else ""
        value = data.get(key, default) if key in data else default
        choices: list[tuple[str, str]] = []
        if widget == "source":
            choices = [
                ("selected", "A specific one (selected)"),
                ("inferred", "The one from the event (inferred)"),
            ]
        elif widget == "enum":
            enum = [a for a in get_args(info.annotation) if a is not type(None)] or [
                info.annotation
            ]
            choices = [(m.value, m.value.capitalize()) for m in enum[0]]
        elif widget == "block":
            kind_name = BLOCK_KINDS.get(kind, "")
            choices = list(ctx.get("blocks", {}).get(kind_name, []))
            if value and value not in {v for v, _ in choices}:
                choices.append((value, f"{value} (not found)"))  # keep what was typed
        fields.append(
            FieldView(
                name=name,
                label=BLOCK_LABELS.get(kind, "")
                if widget == "block"
                else name.replace("_", " ").capitalize().replace(" id", " ID"),
                widget=widget,
                value=value,
                checked=key in data if widget == "checkbox" else False,
                choices=choices,
                errors=under.get(name, []),
                help=HELP.get(name, ""),
                datalist=SUGGESTION_LISTS.get(name, ""),
                block_kind=BLOCK_KINDS.get(kind, ""),
            )
        )
    here = errors.get(prefix, [])
    return ActionNode(
        path=prefix, type=kind, label=ACTION_LABELS.get(kind, kind), fields=fields, errors=here
    )


def action_nodes(data: MultiValueDict, list_name: str, errors, ctx) -> list[ActionNode]:
    nodes = []
    for position, index in enumerate(_child_indices(data, list_name)):
        old, new = f"{list_name}.{index}", f"{list_name}.{position}"
        if old != new:
            moved = MultiValueDict()
            for key in data.keys():
                if key.startswith(old + "."):
                    moved.setlist(new + key[len(old) :], data.getlist(key))
            nodes.append(action_node(moved, new, errors, ctx))
        else:
            nodes.append(action_node(data, new, errors, ctx))
    return nodes


ACTION_LABELS = {
    "do-nothing": "Do nothing",
    "run-deployment": "Run a deployment",
    "pause-deployment": "Pause a deployment",
    "resume-deployment": "Resume a deployment",
    "change-flow-run-state": "Change flow run's state",
    "cancel-flow-run": "Cancel a flow run",
    "suspend-flow-run": "Suspend a flow run",
    "call-webhook": "Call a webhook",
    "send-notification": "Send a notification",
    "pause-work-pool": "Pause a work pool",
    "resume-work-pool": "Resume a work pool",
    "pause-work-queue": "Pause a work queue",
    "resume-work-queue": "Resume a work queue",
    "pause-automation": "Pause an automation",
    "resume-automation": "Resume an automation",
    "declare-incident": "Declare an incident (Prefect Cloud)",
}


# -- the Django form -----------------------------------------------------------------------------


class AutomationForm(forms.Form):
    """Validates the path-named inputs (or the JSON tab's text) with the schema.

    After `is_valid()`: `automation` is the parsed `AutomationCore`, or `schema_errors` lists
    the problems ({field, loc, type, msg}) and `field_errors` maps each input path to messages.
    """

    def __init__(self, data: MultiValueDict | None = None, *, json_text: str | None = None):
        super().__init__(data)
        self.json_text = json_text
        self.automation: schemas.AutomationCore | None = None
        self.schema_errors: list[dict[str, Any]] = []

    def clean(self) -> dict[str, Any]:
        from automations.services import parse_automation

        source: Any = self.json_text if self.json_text is not None else from_form_data(self.data)
        try:
            self.automation = parse_automation(source)
        except ValidationError as exc:
            self.schema_errors = schema_errors(exc)
            for error in self.schema_errors:
                self.add_error(None, f"{error['field'] or 'automation'}: {error['msg']}")
        return self.cleaned_data

    @property
    def field_errors(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for error in self.schema_errors:
            out.setdefault(error["field"], []).append(error["msg"])
        return out
