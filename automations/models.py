"""Stored automations (and, from `automations.blocks`, the blocks their actions point at).

Rows are written only through `automations.services`; the trigger and actions are stored as
Prefect-format JSON and read back only through the schema (`Automation.to_schema()`).
Validation (`clean()`) is `automations.validation`'s, which writes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from pydantic import ValidationError

from automations import schemas, validation

# The blocks' tables live beside the block lookup that validation uses; Django finds them here.
from automations.blocks import BLOCK_MODELS, NotificationBlock, WebhookBlock  # noqa: F401


class Automation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    trigger = models.JSONField()
    actions = models.JSONField(default=list, blank=True)
    actions_on_trigger = models.JSONField(default=list, blank=True)
    actions_on_resolve = models.JSONField(default=list, blank=True)
    owner_resource = models.TextField(null=True, blank=True)  # noqa: DJ001 - None is Prefect's "no owner"
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # The list page and POST /api/automations/filter sort by name (NAME_ASC, default).
            models.Index(fields=["name", "id"], name="automations_name"),
            # CREATED_DESC / UPDATED_DESC sorts of /filter.
            models.Index(fields=["-created"], name="automations_created"),
            models.Index(fields=["-updated"], name="automations_updated"),
        ]

    def __str__(self) -> str:
        return self.name

    # -- schema ------------------------------------------------------------------------------

    def core_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "trigger": self.trigger,
            "actions": self.actions,
            "actions_on_trigger": self.actions_on_trigger,
            "actions_on_resolve": self.actions_on_resolve,
            "owner_resource": self.owner_resource,
        }

    def to_schema(self) -> schemas.AutomationCore:
        return schemas.AutomationCore.model_validate(self.core_data())

    def clean(self) -> None:
        """The admin's validation: the schema's rules, reported on the model's fields."""
        try:
            validation.parse_automation(self.core_data())
        except ValidationError as exc:
            raise DjangoValidationError(validation.schema_error_dict(exc)) from None


class AutomationRelatedResource(models.Model):
    """Resources an automation is about: its owner and the objects its actions select.

    Serves GET /api/automations/related-to/{resource_id}, as Prefect's table of that name.
    """

    automation = models.ForeignKey(
        Automation, on_delete=models.CASCADE, related_name="related_resources"
    )
    resource_id = models.TextField()
    owned_by_resource = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["automation", "resource_id"], name="automation_related_unique"
            )
        ]
        indexes = [
            # related-to/{resource_id}: every automation related to one resource.
            models.Index(fields=["resource_id"], name="automation_related_resource"),
        ]

    def __str__(self) -> str:
        return self.resource_id


# The engine's tables (their models live beside the engine).
from automations.actions.models import ActionRun, Incident  # noqa: E402, F401
from automations.engine.models import (  # noqa: E402, F401
    AutomationState,
    EngineBucket,
    Firing,
    HeldEvent,
)
