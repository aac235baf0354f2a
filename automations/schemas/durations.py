"""Durations as people write them ("30s", "5m", "1h30m") and as Prefect's JSON has them
(float seconds)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

from automations.schemas.rules import rule

_DURATION = re.compile(
    r"^\s*(?:(?P<d>\d+(?:\.\d+)?)\s*d)?\s*(?:(?P<h>\d+(?:\.\d+)?)\s*h)?\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*m)?\s*(?:(?P<s>\d+(?:\.\d+)?)\s*s?)?\s*$",
    re.IGNORECASE,
)


def parse_duration(value: Any) -> Any:
    """People write durations as "30s", "5m", "1h30m" or "90" (seconds); JSON has seconds.

    Anything we don't recognise goes on to pydantic, which also accepts ISO 8601 ("PT5M")
    and reports a readable error otherwise.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            return timedelta(seconds=value)
        except (OverflowError, ValueError):  # 1e308, inf, nan
            raise rule("duration_too_long") from None
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)  # "90", "1e308": seconds, as the form sends them
        except ValueError:
            pass
        else:
            return parse_duration(seconds)
        negative = text.startswith("-")
        if negative:
            text = text[1:]
        match = _DURATION.match(text)
        if text and match and any(match.groupdict().values()):
            parts = {k: float(v) for k, v in match.groupdict().items() if v}
            try:
                delta = timedelta(
                    days=parts.get("d", 0),
                    hours=parts.get("h", 0),
                    minutes=parts.get("m", 0),
                    seconds=parts.get("s", 0),
                )
            except OverflowError:
                raise rule("duration_too_long") from None
            return -delta if negative else delta
    return value


def format_duration(value: timedelta | None) -> str:
    """The way people write it: 30s, 5m, 1h30m, 1d2h."""
    if value is None:
        return ""
    total = value.total_seconds()
    if total < 0:
        return "-" + format_duration(-value)
    if total != int(total):
        return f"{total:g}s"
    seconds = int(total)
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


# No window, range or delay longer than a year: a time that far ahead overflows dates (and the
# store keeps events for days, not years).
MAX_DURATION = timedelta(days=365)


def _non_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise rule("duration_negative")
    if value > MAX_DURATION:
        raise rule("duration_too_long")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_non_negative),
    PlainSerializer(lambda v: v.total_seconds(), return_type=float, when_used="json"),
]
