"""Every write to automations goes through here: validate, store, relate.

Views, the API, JSON import and the admin call these functions; none of them stores an
automation row itself. Validation is always `automations.validation.parse_automation`, i.e. the
schema, with the block ids checked against the stored blocks.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

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


class Imported(list):
    """The imported automations (a list), and which of them were `created` or `updated`."""

    def __init__(self, created: list[Automation], updated: list[Automation]):
        super().__init__([*created, *updated])
        self.created = created
        self.updated = updated


def _import_id(item: Any) -> UUID | None:
    try:
        return UUID(str(item["id"])) if isinstance(item, dict) and item.get("id") else None
    except ValueError:
        return None


def import_automations(payload: Any) -> Imported:
    """Import Prefect automation JSON: one automation or a list; all or nothing.

    An automation whose `id` is stored replaces it (re-importing an export changes nothing
    and doubles nothing); any other is created, with its `id` when it has one, so a second
    import of the same file updates instead of adding. Errors are those of the schema, located
    by the automation's index in a list.
    """
    if isinstance(payload, str | bytes):
        try:
            payload = _JSON.validate_json(payload)
        except ValidationError as exc:
            raise ImportFailed(schema_errors(exc)) from None
    items = payload if isinstance(payload, list) else [payload]
    parsed, errors = [], []
    for index, item in enumerate(items):
        pk = _import_id(item)
        if isinstance(item, dict):
            item = {k: v for k, v in item.items() if k not in ("id", "created", "updated")}
            if isinstance(item.get("trigger"), dict) and pk is None:
                _drop_trigger_ids(item["trigger"])
        try:
            parsed.append((pk, parse_automation(item)))
        except ValidationError as exc:
            prefix = (index,) if isinstance(payload, list) else ()
            errors.extend(schema_errors(exc, loc_prefix=prefix))
    if errors:
        raise ImportFailed(errors)
    ids = [pk for pk, _ in parsed if pk is not None]
    created: list[Automation] = []
    updated: list[Automation] = []
    with transaction.atomic():
        stored = Automation.objects.select_for_update().in_bulk(ids)
        for pk, core in parsed:
            if pk is not None and pk in stored:
                updated.append(save_automation(core, instance=stored[pk]))
            else:
                automation = save_automation(core, instance=Automation(id=pk) if pk else None)
                created.append(automation)
                if pk is not None:
                    stored[pk] = automation  # the same id twice in one file: the last wins
    return Imported(created, updated)
