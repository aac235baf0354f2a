"""The bounds the schema declares on a field, in words for the builder to show beside it.

Read from the pydantic field's metadata (annotated-types' Ge/Gt/Le/Lt/MinLen/MaxLen), so the
page never restates a rule: a bound added to the schema appears beside its input.
"""

from __future__ import annotations

from typing import Any

import annotated_types as at
from pydantic import BaseModel


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def field_bounds(model: type[BaseModel], name: str) -> dict[str, Any]:
    """{"min", "max", "max_length", "text"}: what the schema allows, and how to say it."""
    info = model.model_fields[name]
    out: dict[str, Any] = {}
    for item in info.metadata:
        if isinstance(item, at.Ge):
            out["min"] = item.ge
        elif isinstance(item, at.Gt):
            out["min_exclusive"] = item.gt
        elif isinstance(item, at.Le):
            out["max"] = item.le
        elif isinstance(item, at.Lt):
            out["max_exclusive"] = item.lt
        elif isinstance(item, at.MaxLen):
            out["max_length"] = item.max_length
        elif isinstance(item, at.MinLen):
            out["min_length"] = item.min_length
    words = []
    if "min" in out:
        words.append(f"at least {_number(out['min'])}")
    if "min_exclusive" in out:
        words.append(f"more than {_number(out['min_exclusive'])}")
    if "max" in out:
        words.append(f"at most {_number(out['max'])}")
    if "max_exclusive" in out:
        words.append(f"less than {_number(out['max_exclusive'])}")
    if "max_length" in out:
        words.append(f"at most {_number(out['max_length'])} characters")
    out["text"] = ", ".join(words)
    return out


def builder_bounds() -> dict[str, dict[str, Any]]:
    """The bounds the builder shows, by input."""
    from automations import schemas

    return {
        "threshold": field_bounds(schemas.EventTrigger, "threshold"),
        "name": field_bounds(schemas.AutomationCore, "name"),
    }
