"""What the automation engine stores: each automation's evaluator state, its firings, and
events held back until the event they follow has been evaluated."""

from __future__ import annotations

import uuid

from django.db import models


class AutomationState(models.Model):
    """One automation's evaluator state apart from its buckets (child firings of composites,
    whether it is armed), stored after every evaluation so that a restarted engine carries on
    where it stopped. Its row is also the automation's lock: an engine evaluates an automation
    only while it holds this row `FOR UPDATE`."""

    automation = models.OneToOneField(
        "automations.Automation", on_delete=models.CASCADE, primary_key=True, related_name="state"
    )
    # The state belongs to one version of the trigger: a changed trigger starts afresh.
    trigger_hash = models.CharField(max_length=64)
    state = models.JSONField(default=dict)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"state of {self.automation_id}"


class EngineBucket(models.Model):
    """One open window of one event trigger for one `for_each` key: its row is read and
    written only when an event for that key arrives or the window closes, so a step costs
    the buckets it touches, not the whole state of every automation it touches."""

    id = models.BigAutoField(primary_key=True)
    automation = models.ForeignKey(
        "automations.Automation", on_delete=models.CASCADE, related_name="engine_buckets"
    )
    trigger_id = models.UUIDField()
    # The bucket's key (JSON of its `for_each` label values) may be long (resource ids): rows
    # are found by a hash of automation, trigger and key, which an index always holds.
    key_hash = models.CharField(max_length=64, unique=True)
    key = models.TextField()
    data = models.JSONField()  # the evaluator's bucket: start, end, count, labels, ...
    # When the window closes without an event (its end; later for a window of 0): the
    # engine's timer reads the soonest of these.
    expires = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires"], name="engine_bucket_expires")]

    def __str__(self) -> str:
        return f"bucket {self.key} of {self.automation_id}"


class Firing(models.Model):
    """A trigger's state change (Triggered or Resolved) for one bucket, in event time."""

    TRIGGERED = "Triggered"
    RESOLVED = "Resolved"
    STATES = [(TRIGGERED, "Triggered"), (RESOLVED, "Resolved")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    automation = models.ForeignKey(
        "automations.Automation", on_delete=models.CASCADE, related_name="firings"
    )
    trigger_id = models.UUIDField()
    state = models.CharField(max_length=10, choices=STATES)
    occurred = models.DateTimeField()  # event time of the state change
    created = models.DateTimeField(auto_now_add=True)  # when the engine stored it
    bucket = models.TextField(blank=True, default="")
    triggering_labels = models.JSONField(default=dict, blank=True)
    triggering_event_id = models.UUIDField(null=True, blank=True)
    triggering_event = models.JSONField(null=True, blank=True)  # ReceivedEvent JSON
    # Composites: the child firings that made this one fire, as the evaluator recorded them.
    child_firings = models.JSONField(default=list, blank=True)
    # The `prefect.automation.triggered` / `.resolved` event this firing emitted.
    event_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred", "-created"]
        indexes = [
            # The automation page's history, newest first; "last fired" and "firings in the
            # last 24 h" on the list page.
            models.Index(fields=["automation", "-occurred"], name="firings_automation_occurred"),
        ]

    def __str__(self) -> str:
        return f"{self.state} {self.automation_id} at {self.occurred:%Y-%m-%d %H:%M:%S}"


class HeldEvent(models.Model):
    """An event whose `follows` names an event the engine has not evaluated yet. It waits
    (Prefect's causal ordering) until its leader is evaluated or `release_at` passes."""

    event_id = models.UUIDField(primary_key=True)
    leader_id = models.UUIDField()
    release_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Released when the leader is evaluated...
            models.Index(fields=["leader_id"], name="held_events_leader"),
            # ...or when the wait runs out (the engine's timer).
            models.Index(fields=["release_at"], name="held_events_release"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} waits for {self.leader_id}"


class MetricState(models.Model):
    """One metric trigger's hold (`automations.engine.metrics.Hold`): whether it is
    Triggered, since when its condition has held (or failed), its last value and evaluation;
    stored after every evaluation, so a restarted engine carries on."""

    automation = models.OneToOneField(
        "automations.Automation",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="metric_state",
    )
    # The state belongs to one version of the trigger: a changed trigger starts afresh.
    trigger_hash = models.CharField(max_length=64)
    state = models.JSONField(default=dict)
    # When the metric is evaluated next (every metrics.INTERVAL): the engine's metric timer.
    next_due = models.DateTimeField()
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["next_due"], name="metric_state_due")]

    def __str__(self) -> str:
        return f"metric state of {self.automation_id}"
