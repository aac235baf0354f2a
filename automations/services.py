"""Every write to automations and blocks goes through here: validate, store, relate.

Views, the API, JSON import and the admin call these functions; none of them stores an
automation row itself. Validation is always `parse_automation`, i.e. the schema, with the
block ids checked against the stored blocks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.db import transaction
from pydantic import ValidationError

from automations import schemas
from automations.errors import schema_errors
from automations.models import BLOCK_MODELS, Automation, AutomationRelatedResource

# The resource id prefix of the object each "selected" action points at.
_SELECTED_KINDS = {
    "deployment_id": "prefect.deployment",
    "work_pool_id": "prefect.work-pool",
    "work_queue_id": "prefect.work-queue",
    "automation_id": "prefect.automation",
}


def block_exists(kind: str, block_id: UUID) -> bool:
    return BLOCK_MODELS[kind].objects.filter(pk=block_id).exists()


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


def _related_resources(core: schemas.AutomationCore) -> list[tuple[str, bool]]:
    related: dict[str, bool] = {}
    if core.owner_resource:
        related[core.owner_resource] = True
    for action in core.all_actions():
        if isinstance(action, schemas.SourcedAction) and action.source == "selected":
            object_id = getattr(action, action.id_field)
            if object_id:
                related.setdefault(f"{_SELECTED_KINDS[action.id_field]}.{object_id}", False)
    return list(related.items())


@transaction.atomic
def save_automation(
    core: schemas.AutomationCore, *, instance: Automation | None = None
) -> Automation:
    """Store a validated automation (new, or replacing `instance`) and its related resources."""
    data = core.to_json()
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
    data = automation.to_schema().to_json()
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
            payload = json.loads(payload)
        except json.JSONDecodeError:
            # Let the schema report it, so it reads as everywhere else.
            try:
                parse_automation(payload)
            except ValidationError as exc:
                raise ImportFailed(schema_errors(exc)) from None
    items = payload if isinstance(payload, list) else [payload]
    cores, errors = [], []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            item = {k: v for k, v in item.items() if k not in ("id", "created", "updated")}
            _drop_trigger_ids(item["trigger"]) if isinstance(item.get("trigger"), dict) else None
        try:
            cores.append(parse_automation(item))
        except ValidationError as exc:
            prefix = (index,) if isinstance(payload, list) else ()
            errors.extend(schema_errors(exc, loc_prefix=prefix))
    if errors:
        raise ImportFailed(errors)
    with transaction.atomic():
        return [save_automation(core) for core in cores]


def export_automations(automations: Iterable[Automation]) -> list[dict[str, Any]]:
    return [a.to_schema().to_json() for a in automations]
