"""Prefect's automation JSON, written here and nowhere else.

What is stored, exported (one automation or all), answered by the API, shown on the detail
page and in the builder's JSON tab, and copied by "duplicate" is `automation_json(...)`. The
schema's serializers make it Prefect's wire format: durations as float seconds, triggers and
actions with their `type`, ids as text. The API adds what Prefect's `Automation` has beyond
the core: `id`, `created`, `updated` and `tags`.
"""

from __future__ import annotations

import json
from typing import Any

from automations import schemas
from automations.models import Automation
from eventsui.lib.times import prefect_datetime


def automation_json(
    automation: schemas.AutomationCore | Automation, *, api: bool = False
) -> dict[str, Any]:
    """Prefect's JSON of an automation (its core); `api=True` (a stored one): the API's shape."""
    core = automation if isinstance(automation, schemas.AutomationCore) else automation.to_schema()
    data = core.model_dump(mode="json")
    if api:
        if not isinstance(automation, Automation):
            raise TypeError("the API's shape is that of a stored automation")
        data["id"] = str(automation.id)
        data["created"] = prefect_datetime(automation.created)
        data["updated"] = prefect_datetime(automation.updated)
        data.setdefault("tags", [])
    return data


def as_text(data: Any) -> str:
    """JSON as people read it (download files, the detail page, the JSON tab)."""
    return json.dumps(data, indent=2)
