"""Turning schema (pydantic) errors into messages people and API clients can act on.

Forms, the REST API and JSON import all report schema errors through `error_list`, so the
same invalid input reads the same everywhere. MESSAGES gives a human message for the pydantic
error types whose default text is written for programmers; our own rules raise
`PydanticCustomError`s whose messages are already meant for people.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

# pydantic error type -> message shown to people. `{...}` placeholders come from the error's ctx.
MESSAGES: dict[str, str] = {
    "missing": "This field is required.",
    "string_type": "Enter text.",
    "string_too_short": "Enter at least {min_length} character(s).",
    "string_too_long": "Enter at most {max_length} characters.",
    "int_type": "Enter a whole number.",
    "int_parsing": "Enter a whole number.",
    "int_from_float": "Enter a whole number.",
    "float_type": "Enter a number.",
    "float_parsing": "Enter a number.",
    "bool_type": "Choose true or false.",
    "bool_parsing": "Choose true or false.",
    "uuid_type": "Enter a UUID.",
    "uuid_parsing": "Enter a valid UUID, like 3f2a6c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.",
    "datetime_type": "Enter a date and time.",
    "datetime_parsing": "Enter a date and time in ISO 8601 form, like 2024-05-01T12:00:00Z.",
    "datetime_from_date_parsing": "Enter a date and time in ISO 8601 form, like 2024-05-01T12:00:00Z.",
    "time_delta_type": "Enter a duration, like 30s, 5m or 1h.",
    "time_delta_parsing": "Enter a duration, like 30s, 5m or 1h.",
    "greater_than_equal": "Enter a value greater than or equal to {ge}.",
    "greater_than": "Enter a value greater than {gt}.",
    "less_than_equal": "Enter a value less than or equal to {le}.",
    "less_than": "Enter a value less than {lt}.",
    "literal_error": "Choose one of: {expected}.",
    "enum": "Choose one of: {expected}.",
    "dict_type": "Enter an object (a JSON mapping of names to values).",
    "list_type": "Enter a list.",
    "set_type": "Enter a list.",
    "json_invalid": "This is not valid JSON: {error}.",
    "json_type": "Enter JSON text.",
    "model_type": "Enter an object.",
    "model_attributes_type": "Enter an object.",
    "union_tag_invalid": "Unknown type {tag!r}; choose one of: {expected_tags}.",
    "union_tag_not_found": "Say which type this is with a `{discriminator}` field.",
    "extra_forbidden": "This field is not allowed here.",
    "too_short": "Enter at least {min_length} item(s).",
    "too_long": "Enter at most {max_length} item(s).",
    "value_error": "{error}",
    "assertion_error": "{error}",
}


def _format(template: str, ctx: dict[str, Any]) -> str:
    try:
        return template.format(**ctx)
    except (KeyError, IndexError, ValueError):
        return template


def message_for(error: dict[str, Any]) -> str:
    """The human message for one pydantic error dict."""
    template = MESSAGES.get(error["type"])
    if template is None:
        return error["msg"]
    ctx = dict(error.get("ctx") or {})
    if error["type"] in {"value_error", "assertion_error"}:
        # pydantic prefixes ValueError messages with "Value error, "; show ours as written.
        return str(ctx.get("error", error["msg"]))
    return _format(template, ctx)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """A dotted path for a pydantic location, skipping union-member tags like `function-after[...]`."""
    parts = []
    for part in loc:
        if isinstance(part, str) and ("[" in part and part.endswith("]")):
            continue
        parts.append(str(part))
    return ".".join(parts)


def error_list(exc: ValidationError, *, loc_prefix: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Each error as {field, loc, type, msg}: `field` a dotted path, `type` the rule broken."""
    out = []
    for error in exc.errors(include_url=False):
        loc = (*loc_prefix, *error["loc"])
        out.append(
            {
                "field": field_path(loc),
                "loc": list(loc),
                "type": error["type"],
                "msg": message_for(error),
            }
        )
    return out
