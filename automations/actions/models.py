"""What running actions stores: one `ActionRun` per action of a firing (the idempotency key is
firing + action index), and the incidents that declare-incident opens."""

from __future__ import annotations

import json
import uuid

from django.db import models


class ActionRun(models.Model):
    """One action of one firing (or of a "Run these actions now"), every attempt recorded on it.

    Its id is Prefect's `invocation` (the same across retries, so Prefect's idempotency key
    for a flow run created by run-deployment is too)."""

    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    EXECUTED = "executed"
    FAILED = "failed"
    STATUSES = [(s, s) for s in (PENDING, RUNNING, RETRYING, EXECUTED, FAILED)]
    FINISHED = (EXECUTED, FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    automation = models.ForeignKey(
        "automations.Automation", on_delete=models.CASCADE, related_name="action_runs"
    )
    # Null for a person's "Run these actions now" (its event is `triggering_event`).
    firing = models.ForeignKey(
        "automations.Firing",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="action_runs",
    )
    # The index in Prefect's order: `actions`, then `actions_on_trigger` or `_on_resolve`.
    action_index = models.PositiveIntegerField()
    action_type = models.CharField(max_length=40)
    action = models.JSONField()  # the action as it was when the firing happened
    manual = models.BooleanField(default=False)
    triggering_event = models.JSONField(null=True, blank=True)  # manual runs only
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # While running: when the attempt is considered lost (its worker died) and taken again.
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    request = models.JSONField(null=True, blank=True)  # what was sent, secrets redacted
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")  # at most 1,000 characters
    reason = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)  # Prefect's `_result_details`
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "action_index"]
        constraints = [
            # The idempotency key: a re-delivered firing never makes a second run.
            models.UniqueConstraint(
                fields=["firing", "action_index"], name="action_runs_firing_index"
            )
        ]
        indexes = [
            # The automation page's history and the list page's "last actions failed".
            models.Index(fields=["automation", "-created"], name="action_runs_automation"),
            # The runner's sweep for attempts whose worker died.
            models.Index(fields=["status", "lease_until"], name="action_runs_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.action_type} #{self.action_index} {self.status}"

    @property
    def request_text(self) -> str:
        """The rendered request as people read it (the history page)."""
        return json.dumps(self.request, indent=2) if self.request else ""


class Incident(models.Model):
    """Opened by declare-incident; closed when the automation resolves (same bucket)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    automation = models.ForeignKey(
        "automations.Automation", on_delete=models.CASCADE, related_name="incidents"
    )
    firing = models.ForeignKey(
        "automations.Firing", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    bucket = models.TextField(blank=True, default="")
    title = models.CharField(max_length=500)
    severity = models.CharField(max_length=20, default="high")
    triggering_event_id = models.UUIDField(null=True, blank=True)
    triggering_event_name = models.CharField(max_length=1024, blank=True, default="")
    opened = models.DateTimeField()
    resolved = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened"]
        indexes = [
            # The incidents page, newest first; open ones of an automation when it resolves.
            models.Index(fields=["-opened"], name="incidents_opened"),
            models.Index(fields=["automation", "resolved"], name="incidents_automation_open"),
        ]

    def __str__(self) -> str:
        return self.title
