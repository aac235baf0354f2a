"""How times are written: the one formatter for machines and the one for people.

`prefect_datetime` writes what Prefect 3 writes for a datetime in its JSON (pydantic's
serialization of a UTC datetime, as `prefect.events.ReceivedEvent.model_dump_json()` gives
for `occurred` and `received`): ISO 8601 in UTC with a `Z`, six fractional digits, or none at
all when the microseconds are 0 (`2026-12-01T10:55:00Z`, `2026-12-01T10:55:00.250000Z`).
Every wire format and JSON endpoint of this project writes times through it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def prefect_datetime(value: datetime) -> str:
    """`value` in UTC as Prefect writes it; a naive datetime is taken as UTC (as Prefect does)."""
    offset = value.utcoffset()
    if offset is None:
        value = value.replace(tzinfo=UTC)
    elif offset:
        value = value.astimezone(UTC)
    # isoformat() writes no fraction for 0 microseconds and six digits otherwise, as Prefect.
    return value.replace(tzinfo=None).isoformat() + "Z"


def exact_time(value: datetime) -> str:
    """For people: `2026-12-01 10:55:00.250 UTC` (milliseconds, always shown)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration_words(value: timedelta | float | None, most: int | None = None) -> str:
    """For people: `timedelta(hours=1, minutes=30)` -> "1 hour 30 minutes"; with `most`, only
    the largest `most` units (a timeline's "2 hours 5 minutes", not its seconds)."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    seconds = int(round(value or 0))
    if seconds <= 0:
        return "0 seconds"
    parts = []
    for word, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {word}{'s' if count != 1 else ''}")
    return " ".join(parts[:most])
