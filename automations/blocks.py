"""The blocks that actions send through: webhooks and notification targets.

`block_document_id` in a call-webhook or send-notification action names one of these rows
(`BlockAction.block_kind` is a key of `BLOCK_MODELS`). The models are registered with the app
through `automations.models`; they live here so that validation can ask whether a block
exists (`block_exists`) without importing the automation model, whose `clean()` validates.
"""

from __future__ import annotations

import uuid
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from eventsui.lib import outbound


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
        if self.url:
            try:
                # Saved while a name does not resolve (offline, DNS down): sends check again.
                outbound.check_url(self.url, unresolved_ok=True)
            except outbound.OutboundRefused as exc:
                raise DjangoValidationError({"url": exc.reason}) from None


class NotificationBlock(models.Model):
    """Where a send-notification action sends its message: one Apprise URL (the library
    Prefect's own notification blocks use), e.g. `mailto://smtp.example.com:587?to=a@b.c`,
    `slack://T/B/C`, `msteams://...`, `discord://...`, `ntfy://topic`, `json://host/path`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    url = models.CharField(
        max_length=2000,
        verbose_name="Apprise URL",
        help_text=(
            "An Apprise URL: mailto://, slack://, msteams://, discord://, ntfy://, json:// "
            "and the rest of Apprise's services."
        ),
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "notification target"

    def __str__(self) -> str:
        return f"{self.name} ({self.service})"

    @property
    def service(self) -> str:
        return self.url.split("://", 1)[0] if "://" in self.url else "?"

    def clean(self) -> None:
        try:
            outbound.parse_apprise_url(self.url, unresolved_ok=True)
        except outbound.OutboundRefused as exc:
            raise DjangoValidationError({"url": exc.reason}) from None


BLOCK_MODELS: dict[str, type[models.Model]] = {
    "webhook": WebhookBlock,
    "notification": NotificationBlock,
}


def block_exists(kind: str, block_id: UUID) -> bool:
    return BLOCK_MODELS[kind].objects.filter(pk=block_id).exists()
