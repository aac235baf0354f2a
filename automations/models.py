"""Stored automations and the blocks their actions point at.

Rows are written only through `automations.services`; the trigger and actions are stored as
Prefect-format JSON and read back only through the schema (`Automation.to_schema()`).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from automations import schemas


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
        from automations.services import parse_automation, schema_error_dict

        try:
            parse_automation(self.core_data())
        except schemas.SchemaValidationError as exc:
            raise DjangoValidationError(schema_error_dict(exc)) from None

    def to_api(self) -> dict[str, Any]:
        """Prefect's Automation shape: the core plus id, created, updated."""
        data = self.to_schema().to_json()
        data["id"] = str(self.id)
        data["created"] = self.created.isoformat()
        data["updated"] = self.updated.isoformat()
        data.setdefault("tags", [])
        return data


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


class WebhookBlock(models.Model):
    """Where a call-webhook action sends its request (Prefect's Webhook block)."""

    METHODS = [(m, m) for m in ("POST", "PUT", "PATCH", "GET", "DELETE")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    url = models.URLField(max_length=2000, verbose_name="URL")
    method = models.CharField(max_length=10, choices=METHODS, default="POST")
    headers = models.JSONField(
        default=dict, blank=True, help_text="A JSON object of header names to values."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "webhook"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()
        ):
            raise DjangoValidationError(
                {"headers": "Enter a JSON object of header names to text values."}
            )


class NotificationBlock(models.Model):
    """Where a send-notification action sends its message."""

    CHANNELS = [
        ("email", "Email"),
        ("slack", "Slack incoming webhook"),
        ("teams", "Microsoft Teams webhook"),
        ("webhook", "Generic webhook"),
    ]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=20, choices=CHANNELS, default="email")
    target = models.CharField(
        max_length=2000, help_text="The email address(es, comma-separated) or the webhook URL."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "notification target"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_channel_display()})"

    def clean(self) -> None:
        from django.core.validators import EmailValidator, URLValidator

        if self.channel == "email":
            validate = EmailValidator("Enter valid email addresses, separated by commas.")
            for address in (a.strip() for a in self.target.split(",")):
                validate(address)
        else:
            try:
                URLValidator()(self.target)
            except DjangoValidationError:
                raise DjangoValidationError({"target": "Enter a valid URL."}) from None


BLOCK_MODELS: dict[str, type[models.Model]] = {
    "webhook": WebhookBlock,
    "notification": NotificationBlock,
}
