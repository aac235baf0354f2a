"""Every write to automations goes through here: validate, store, relate.

Views, the API, JSON import and the admin call these functions; none of them stores an
automation row itself. Validation is always `automations.validation.parse_automation`, i.e. the
schema, with the block ids checked against the stored blocks.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from pydantic import TypeAdapter, ValidationError

from automations import schemas
from automations.errors import schema_errors
from automations.models import Automation, AutomationRelatedResource
from automations.prefect_json import automation_json
from automations.validation import parse_automation

# Import files are parsed as the builder's JSON tab parses its text (pydantic's JSON parser),
# so that broken JSON is reported as a schema error (`json_invalid`) like everywhere else.
_JSON = TypeAdapter(Any)


def _related_resources(core: schemas.AutomationCore) -> list[tuple[str, bool]]:
    related: dict[str, bool] = {}
    if core.owner_resource:
        related[core.owner_resource] = True
    for action in core.all_actions():
        if isinstance(action, schemas.SourcedAction) and action.source == "selected":
            object_id = getattr(action, action.id_field)
            if object_id:
                kind = schemas.SELECTED_KINDS[action.id_field]
                related.setdefault(f"{kind}.{object_id}", False)
    return list(related.items())


@transaction.atomic
def save_automation(
    core: schemas.AutomationCore, *, instance: Automation | None = None
) -> Automation:
    """Store a validated automation (new, or replacing `instance`) and its related resources."""
    data = automation_json(core)
    automation = instance or Automation()
    automation.name = core.name
    automation.description = core.description
    automation.enabled = core.enabled
    automation.trigger = data["trigger"]
    automation.actions = data["actions"]
    automation.actions_on_trigger = data["actions_on_trigger"]
    automation.actions_on_resolve = data["actions_on_resolve"]
    automation.owner_resource = core.owner_resource
    automation.save()
    automation.related_resources.all().delete()
    AutomationRelatedResource.objects.bulk_create(
        AutomationRelatedResource(automation=automation, resource_id=rid, owned_by_resource=owned)
        for rid, owned in _related_resources(core)
    )
    return automation


def set_enabled(automation: Automation, enabled: bool) -> Automation:
    automation.enabled = enabled
    automation.save(update_fields=["enabled", "updated"])
    return automation


def delete_automation(automation: Automation) -> None:
    automation.delete()


def duplicate_automation(automation: Automation) -> Automation:
    """A copy, disabled so that it doesn't act twice before someone edits it."""
    data = automation_json(automation)
    data["name"] = f"{automation.name} (copy)"
    data["enabled"] = False
    _drop_trigger_ids(data["trigger"])
    return save_automation(parse_automation(data))


def _drop_trigger_ids(trigger: dict[str, Any]) -> None:
    trigger.pop("id", None)
    for child in trigger.get("triggers", []):
        _drop_trigger_ids(child)


class ImportFailed(Exception):
    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        super().__init__(errors[0]["msg"] if errors else "Invalid import")


def import_automations(payload: Any) -> list[Automation]:
    """Import Prefect automation JSON: one automation or a list; all or nothing.

    Errors are those of the schema, located by the automation's index in a list.
    """
    if isinstance(payload, str | bytes):
        try:
            payload = _JSON.validate_json(payload)
        except ValidationError as exc:
            raise ImportFailed(schema_errors(exc)) from None
    items = payload if isinstance(payload, list) else [payload]
    cores, errors = [], []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            item = {k: v for k, v in item.items() if k not in ("id", "created", "updated")}
            if isinstance(item.get("trigger"), dict):
                _drop_trigger_ids(item["trigger"])
        try:
            cores.append(parse_automation(item))
        except ValidationError as exc:
            prefix = (index,) if isinstance(payload, list) else ()
            errors.extend(schema_errors(exc, loc_prefix=prefix))
    if errors:
        raise ImportFailed(errors)
    with transaction.atomic():
        return [save_automation(core) for core in cores]
