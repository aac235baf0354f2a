"""Automation schema errors as {field, loc, type, msg}, the same for forms, API and import.

`eventsui.errors.error_list` writes the messages; here we only tidy the locations so they name
the field a person typed into: pydantic puts the discriminator tag of each trigger and action
into the location (`trigger.compound.triggers.0.event.within`), and rules checked on a whole
model say which field they are about in their context (`ctx["field"]`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from automations.schemas import ACTION_TYPES, TRIGGER_TYPES
from eventsui.lib.errors import error_list

_LISTS_OF_ACTIONS = {"actions", "actions_on_trigger", "actions_on_resolve"}


def clean_loc(loc: list[Any] | tuple[Any, ...]) -> list[Any]:
    """Drop the union tags pydantic adds after a trigger or an action."""
    loc = list(loc)
    out: list[Any] = []
    for i, part in enumerate(loc):
        if isinstance(part, str):
            before = loc[i - 1] if i >= 1 else None
            list_name = loc[i - 2] if i >= 2 and isinstance(before, int) else None
            if part in TRIGGER_TYPES and (before == "trigger" or list_name == "triggers"):
                continue
            if part in ACTION_TYPES and list_name in _LISTS_OF_ACTIONS:
                continue
            if "[" in part and part.endswith("]"):
                continue
        out.append(part)
    return out


def schema_errors(
    exc: ValidationError, *, loc_prefix: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    errors = error_list(exc, loc_prefix=loc_prefix)
    for error, raw in zip(errors, exc.errors(include_url=False), strict=True):
        loc = clean_loc(error["loc"])
        field = (raw.get("ctx") or {}).get("field")
        if field:
            loc.append(field)
        error["loc"] = loc
        error["field"] = ".".join(str(part) for part in loc)
    return errors
