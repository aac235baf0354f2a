"""Validating an automation: the schema's rules, and the stored blocks its actions name.

The builder's form, the API, the services (import, duplicate) and `Automation.clean()` (the
admin) all validate through `parse_automation`. It writes nothing, so the model can use it
without importing the writers in `automations.services`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from automations import schemas
from automations.blocks import block_exists
from automations.errors import schema_errors

# How the schema's block actions ask whether the block they name exists.
VALIDATION_CONTEXT = {"block_exists": block_exists}


def parse_automation(data: Any) -> schemas.AutomationCore:
    """Validate an automation (a dict, or JSON text) with every rule of the schema."""
    if isinstance(data, str | bytes):
        return schemas.AutomationCore.model_validate_json(data, context=VALIDATION_CONTEXT)
    return schemas.AutomationCore.model_validate(data, context=VALIDATION_CONTEXT)


def schema_error_dict(exc: ValidationError) -> dict[str, list[str]]:
    """Errors keyed by the top-level field (Django's ValidationError dict form)."""
    out: dict[str, list[str]] = {}
    for error in schema_errors(exc):
        top = str(error["loc"][0]) if error["loc"] else "__all__"
        rest = ".".join(str(p) for p in error["loc"][1:])
        out.setdefault(top, []).append(f"{rest}: {error['msg']}" if rest else error["msg"])
    return out
