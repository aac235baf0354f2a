"""What the builder's templates render: one node per trigger and per action, from form data.

Each node keeps what was typed and carries the schema errors of its inputs, placed by the
path each error names. Children are named by position, as the schema's error locations are,
even when the page posted them under other indices (after a move or a removal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, get_args

from django.utils.datastructures import MultiValueDict

from automations import schemas
from automations.web import codec, labels
from automations.web.suggestions import datalist_id


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
    match_rows: list[codec.LabelRow]
    match_related_rows: list[codec.LabelRow]
    children: list[TriggerNode]
    err: dict[str, list[str]]
    depth: int = 0

    @property
    def has_errors(self) -> bool:
        return bool(self.err) or any(child.has_errors for child in self.children)


# What an input shows when the form data has no value for it: the schema's default, and for
# `require` (which has none in the schema) "all".
_EMPTY_TRIGGER = {
    "event": {
        "posture": codec.text(codec.schema_default(schemas.EventTrigger, "posture")),
        "threshold": codec.text(codec.schema_default(schemas.EventTrigger, "threshold")),
    },
    "compound": {"require": "all"},
}


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
            if first in codec.EVENT_LISTS or first in codec.SPECS:
                rel = first
            else:
                rel = rest.replace(".", "_")
            out.setdefault(rel, []).extend(messages)
    return out


def _by_position(data: MultiValueDict, prefix: str) -> list[tuple[MultiValueDict, str]]:
    """(form data, path) of each child under `prefix`, renamed to its position if needed."""
    out = []
    for position, index in enumerate(codec.child_indices(data, prefix)):
        old, new = f"{prefix}.{index}", f"{prefix}.{position}"
        out.append((codec.renamed(data, old, new) if old != new else data, new))
    return out


def _is_zero_duration(text: str) -> bool:
    """A Proactive `within` of 0 is saved as Prefect's minimum: the form says so beside it."""
    try:
        return schemas.parse_duration(text) == timedelta(0) if text.strip() else True
    except Exception:  # the schema's error is shown beside the field on saving
        return False


def trigger_node(
    data: MultiValueDict, prefix: str, errors: dict[str, list[str]], depth: int = 0
) -> TriggerNode:
    kind = (data.get(f"{prefix}.type") or "event").strip()
    val = {}
    for name in ("id", "posture", "threshold", "within", "require"):
        val[name] = data.get(f"{prefix}.{name}", "")
    for name in codec.METRIC_FIELDS:
        val[f"metric_{name}"] = data.get(f"{prefix}.metric.{name}", "")
    for name, empty in _EMPTY_TRIGGER.get(kind, {}).items():
        val[name] = val[name] or empty
    val["within_is_zero"] = _is_zero_duration(val["within"])
    children = []
    if kind in ("compound", "sequence"):
        children = [
            trigger_node(child_data, path, errors, depth + 1)
            for child_data, path in _by_position(data, f"{prefix}.triggers")
        ]
    return TriggerNode(
        path=prefix,
        type=kind,
        val=val,
        lists={name: data.getlist(f"{prefix}.{name}") for name in codec.EVENT_LISTS},
        match_rows=codec.read_label_rows(data, f"{prefix}.match"),
        match_related_rows=codec.read_label_rows(data, f"{prefix}.match_related"),
        children=children,
        err=_errors_under(errors, prefix),
        depth=depth,
    )


def _choices(kind: str, widget: str, annotation: Any, value: str, ctx) -> list[tuple[str, str]]:
    """The options of a select: source, an enum's members, or the stored blocks of its kind."""
    if widget == "source":
        return list(labels.SOURCE_CHOICES)
    if widget == "enum":
        enum = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
        return [(m.value, m.value.capitalize()) for m in enum[0]]
    if widget == "block":
        choices = list(ctx.get("blocks", {}).get(_block_kind(kind), []))
        if value and value not in {v for v, _ in choices}:
            choices.append((value, f"{value} (not found)"))  # keep what was typed
        return choices
    return []


def _block_kind(kind: str) -> str:
    """The block kind a block action needs (the schema's `BlockAction.block_kind`)."""
    model = schemas.ACTION_TYPES.get(kind)
    return model.block_kind if model and issubclass(model, schemas.BlockAction) else ""


def action_node(
    data: MultiValueDict, prefix: str, errors: dict[str, list[str]], ctx: dict[str, Any]
) -> ActionNode:
    kind = (data.get(f"{prefix}.type") or "").strip()
    under = {}
    for key, messages in errors.items():
        if key.startswith(prefix + "."):
            under[key[len(prefix) + 1 :].split(".", 1)[0]] = messages
    fields: list[FieldView] = []
    for name, info, widget in codec.action_fields(kind):
        key = f"{prefix}.{name}"
        default = info.default if isinstance(info.default, str) else ""
        value = data.get(key, default) if key in data else default
        fields.append(
            FieldView(
                name=name,
                label=labels.field_label(kind, name, widget),
                widget=widget,
                value=value,
                checked=key in data if widget == "checkbox" else False,
                choices=_choices(kind, widget, info.annotation, value, ctx),
                errors=under.get(name, []),
                help=labels.HELP.get(name, ""),
                datalist=datalist_id(name) if name in schemas.SELECTED_KINDS else "",
                block_kind=_block_kind(kind),
            )
        )
    return ActionNode(
        path=prefix,
        type=kind,
        label=labels.ACTION_LABELS.get(kind, kind),
        fields=fields,
        errors=errors.get(prefix, []),
    )


def action_nodes(
    data: MultiValueDict, list_name: str, errors: dict[str, list[str]], ctx: dict[str, Any]
) -> list[ActionNode]:
    return [
        action_node(child_data, path, errors, ctx)
        for child_data, path in _by_position(data, list_name)
    ]
