"""Stored events, their resources, and API tokens.

Rows are written only by `eventsui.services.ingest_events` (and deleted only by the retention
command); they are read back as `schemas.ReceivedEvent` through `Event.to_schema()`.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from eventsui.events import schemas


class Event(models.Model):
    id = models.UUIDField(primary_key=True)
    occurred = models.DateTimeField()
    received = models.DateTimeField()
    event = models.TextField()
    resource_id = models.TextField()
    resource = models.JSONField()
    related = models.JSONField(default=list)
    payload = models.JSONField(default=dict)
    follows = models.UUIDField(null=True, blank=True)

    class Meta:
        db_table = "events"
        indexes = [
            # The feed: newest first (keyset on occurred, id), time-range filters, count-by.
            models.Index(fields=["-occurred", "-id"], name="events_occurred_id"),
            # Event name exact match and prefix (`prefect.task-run.*`), newest first.
            # The id ends each key: one name's (or resource's) walk is then in the page's
            # exact (occurred, id) order, with no sort.
            models.Index(
                fields=["event", "occurred", "id"],
                name="events_event_occurred",
                opclasses=["text_pattern_ops", "timestamptz_ops", "uuid_ops"],
            ),
            # Primary resource id exact match and id prefix, newest first.
            models.Index(
                fields=["resource_id", "occurred", "id"],
                name="events_resource_occurred",
                opclasses=["text_pattern_ops", "timestamptz_ops", "uuid_ops"],
            ),
            # The event page: "events that follow this one". Most events follow nothing.
            models.Index(
                fields=["follows"], name="events_follows", condition=Q(follows__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.resource_id} @ {self.occurred:%Y-%m-%d %H:%M:%S}"

    def to_schema(self) -> schemas.ReceivedEvent:
        return schemas.ReceivedEvent.model_construct(
            id=self.id,
            occurred=self.occurred,
            received=self.received,
            event=self.event,
            resource=schemas.Resource.model_construct(self.resource),
            related=[schemas.RelatedResource.model_construct(r) for r in self.related],
            payload=self.payload,
            follows=self.follows,
        )

    @property
    def resource_name(self) -> str | None:
        return self.resource.get(schemas.RESOURCE_NAME)


class EventResource(models.Model):
    """One row per resource of each event: the primary one (role '') and each related one.

    Filtering by resource or related role is an index lookup here instead of a JSON scan.
    """

    pk = models.CompositePrimaryKey("event_id", "position")
    # No database-level foreign key: checking it would cost an index probe per row on the
    # ingest path, and rows are written and deleted together with their event anyway.
    event = models.ForeignKey(
        Event,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the primary key (event_id, position) serves lookups by event
        related_name="resources",
    )
    # 0 is the primary resource, 1.. the related resources in the order the event lists them.
    position = models.SmallIntegerField()
    occurred = models.DateTimeField()
    resource_id = models.TextField()
    role = models.TextField(blank=True, default="")
    labels = models.JSONField()

    class Meta:
        db_table = "event_resources"
        indexes = [
            # Resources by id (any role, related role + id, any_resource id and id prefix),
            # walked newest first: the query planner checks the role on the rows it reads.
            # The event id ends the key so that the walk is in the page's exact order
            # (occurred, event id): no sort, whatever the planner knows about the table.
            models.Index(
                fields=["resource_id", "occurred", "event"],
                name="event_resources_id",
                opclasses=["text_pattern_ops", "timestamptz_ops", "uuid_ops"],
            ),
            # Related resources by role alone ("every event with a work-pool"), newest first.
            models.Index(fields=["role", "occurred", "event"], name="event_resources_role"),
        ]

    def __str__(self) -> str:
        return f"{self.role or 'primary'}: {self.resource_id}"


class EventCount(models.Model):
    """How many events of one name occurred in one minute (span 60) or one hour (span 3600).

    Kept by `services.ingest_events` in the transaction that stores the events (and by the
    retention command when it deletes them), so exact totals and the count-by histograms of
    the common filters (a time range, event names and prefixes) add up a few hundred rows
    instead of counting millions (see `queries.total`). `first` and `last` are the earliest and
    latest `occurred` counted, for count-by event's start and end times.
    """

    span = models.IntegerField()  # seconds: 60 or 3600
    bucket = models.DateTimeField()  # the start of the minute or hour
    event = models.TextField()
    count = models.BigIntegerField()
    first = models.DateTimeField()
    last = models.DateTimeField()

    class Meta:
        db_table = "event_counts"
        constraints = [
            models.UniqueConstraint(fields=["span", "bucket", "event"], name="event_counts_key"),
        ]
        indexes = [
            # One name or prefix over a range (the unique key serves the whole range).
            models.Index(
                fields=["span", "event", "bucket"],
                name="event_counts_event",
                opclasses=["int4_ops", "text_pattern_ops", "timestamptz_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} x{self.count} @ {self.bucket:%Y-%m-%d %H:%M}/{self.span}s"


class EventResourceCount(models.Model):
    """How many events had a related resource in `role` (with this id; '' for any id) in one
    minute or hour: the totals and histograms of the feed's `related=role` and
    `related=role:id` filters, kept like `EventCount`. An event listing several resources of
    one role counts once."""

    span = models.IntegerField()
    bucket = models.DateTimeField()
    role = models.TextField()
    resource_id = models.TextField()
    count = models.BigIntegerField()

    class Meta:
        db_table = "event_resource_counts"
        constraints = [
            models.UniqueConstraint(
                fields=["span", "role", "resource_id", "bucket"],
                name="event_resource_counts_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}:{self.resource_id} x{self.count} @ {self.bucket:%Y-%m-%d %H:%M}"


class EventBatch(models.Model):
    """The ids of the events one ingest transaction stored, waiting for the automation engine.

    Written in the same transaction as its events, so a batch is visible exactly when they are:
    the engine (`automations.engine`) claims batches oldest first (`SELECT ... FOR UPDATE SKIP
    LOCKED` on PostgreSQL, so several engines share them), evaluates their events and deletes
    the batch in the transaction that stores what the evaluation produced. An event is thus
    evaluated once, even if the engine is killed mid-batch, and a transaction that commits late
    is evaluated when it commits (a cursor over event times or ids would skip it). One row per
    transaction, not per event: it costs ingest one small INSERT.
    """

    id = models.BigAutoField(primary_key=True)
    created = (
        models.DateTimeField()
    )  # the batch's received time: the engine's lag is measured from it
    event_ids = models.JSONField()  # list of event id strings

    class Meta:
        db_table = "event_batches"
        # The engine claims the oldest batches first; the primary key serves that order.

    def __str__(self) -> str:
        return f"batch {self.id} ({len(self.event_ids)} events)"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A per-user API token. Only its SHA-256 is stored; the raw value is shown once."""

    PREFIX = "evu_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    @classmethod
    def issue(cls, user, name: str) -> tuple[ApiToken, str]:
        """Create a token and return it with its raw value (which is not stored)."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_hash=hash_token(raw))
        return token, raw
