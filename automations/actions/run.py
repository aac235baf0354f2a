"""One attempt of one `ActionRun`: claimed, executed, recorded, announced, retried.

The idempotency rule: an ActionRun (unique per firing + action index) is claimed in a short
transaction before anything is done (`status=running`, `attempts += 1`, a lease). A job for a
run that is finished, or running under a live lease, does nothing: a re-delivered or retried
job never acts twice on the same firing. A worker killed during an attempt leaves the run
`running`; once its lease passes, `recover_lost()` enqueues it again (counted as a new
attempt). The lease is longer than any attempt can last (the timeouts bound them), so a live
attempt is never taken over. Actions against a Prefect server carry Prefect's idempotency key
(stable across attempts, since the invocation is the run's id), so a retried run-deployment
creates one flow run.

Every attempt emits Prefect's events through the normal ingest path (so they reach the feed,
event pages and other automations): `prefect.automation.action.triggered`, then `.executed`
or `.failed`, shaped as `prefect.server.events.actions.Action.succeed` / `.fail` shape them.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django_tasks import task
from pydantic import TypeAdapter

from automations.actions.context import TriggeredAction
from automations.actions.errors import ActionError, Deferred, PermanentError
from automations.actions.executors import Attempt, executor_for
from automations.actions.models import ActionRun
from automations.models import Automation
from automations.prefect_json import automation_json
from automations.schemas.actions import ActionTypes
from eventsui.events import schemas as event_schemas
from eventsui.events import services as event_services

logger = logging.getLogger("automations.actions")

DEFER_SECONDS = 1.0
ACTION_ADAPTER: TypeAdapter = TypeAdapter(ActionTypes)
# Prefect links an action's events to the triggering event (`follows`) only within 5 minutes.
TIGHT_TIMING = timedelta(minutes=5)


def max_attempts() -> int:
    return getattr(settings, "ACTIONS_MAX_ATTEMPTS", 5)


def backoff(attempts: int) -> timedelta:
    """Exponential: base, 2 x base, 4 x base, ..., at most ACTIONS_RETRY_MAX_SECONDS."""
    base = getattr(settings, "ACTIONS_RETRY_BASE_SECONDS", 5.0)
    ceiling = getattr(settings, "ACTIONS_RETRY_MAX_SECONDS", 300.0)
    return timedelta(seconds=min(ceiling, base * 2 ** max(0, attempts - 1)))


def lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "ACTIONS_LEASE_SECONDS", 60.0))


def _locked(queryset):
    if connection.features.has_select_for_update:
        # The run's row only: the automation and firing come along unlocked.
        return queryset.select_for_update(of=("self",))
    return queryset  # SQLite: the write transaction (IMMEDIATE) serializes claims


def claim(run_id: UUID) -> ActionRun | None:
    """Take the run for one attempt, or None if it is finished or another worker has it."""
    now = event_schemas.now_utc()
    with transaction.atomic():
        run = _locked(
            ActionRun.objects.select_related("automation", "firing").filter(pk=run_id)
        ).first()
        if run is None or run.status in ActionRun.FINISHED:
            return None
        if run.status == ActionRun.RUNNING and run.lease_until and run.lease_until > now:
            return None
        if run.next_attempt_at and run.next_attempt_at > now + timedelta(seconds=1):
            return None  # an early duplicate of a retry: the retry's own job comes later
        run.status = ActionRun.RUNNING
        run.attempts += 1
        run.lease_until = now + lease()
        run.next_attempt_at = None
        run.save(update_fields=["status", "attempts", "lease_until", "next_attempt_at", "updated"])
    return run


def triggered_action(run: ActionRun) -> TriggeredAction:
    automation = run.automation  # read with the claim (select_related)
    core = automation.to_schema()
    firing = run.firing
    event_json = firing.triggering_event if firing else run.triggering_event
    event = None
    if event_json and "resource" in event_json:
        try:
            event = event_schemas.ReceivedEvent.model_validate(event_json)
        except Exception:  # a stub of a trimmed event: its id and name only
            event = None
    firing_json = None
    events = [event] if event else []
    if firing is not None:
        firing_json = {
            "id": str(firing.id),
            "trigger_state": firing.state,
            "triggered": firing.occurred.isoformat(),
            "triggering_labels": firing.triggering_labels,
            "triggering_event": firing.triggering_event,
            "bucket": firing.bucket,
            "child_firings": firing.child_firings,
        }
    trigger = core.trigger
    data = automation_json(core)
    data["id"] = str(automation.id)
    return TriggeredAction(
        automation_id=automation.id,
        automation_name=automation.name,
        automation=data,
        trigger_type=getattr(trigger, "type", ""),
        posture=getattr(trigger, "posture", None),
        action=ACTION_ADAPTER.validate_python(run.action),
        action_index=run.action_index,
        invocation=run.id,
        triggered=firing.occurred if firing else run.created,
        triggering_event=event,
        triggering_labels=(firing.triggering_labels if firing else {}) or {},
        firing=firing_json,
        firings=[firing_json, *(firing.child_firings or [])] if firing_json else [],
        events=events,
        automation_triggered_event_id=firing.event_id if firing else None,
    )


def action_events(
    triggered: TriggeredAction, attempt: Attempt, error: ActionError | None
) -> list[event_schemas.Event]:
    """Prefect's pair: `.triggered` (at the firing's time), then `.executed` or `.failed`."""
    resource = {
        "prefect.resource.id": f"prefect.automation.{triggered.automation_id}",
        "prefect.resource.name": triggered.automation_name,
        "prefect.trigger-type": triggered.trigger_type,
    }
    if triggered.posture:
        resource["prefect.posture"] = str(getattr(triggered.posture, "value", triggered.posture))
    related = list(attempt.related)
    if triggered.automation_triggered_event_id:
        related.append(
            {
                "prefect.resource.id": f"prefect.event.{triggered.automation_triggered_event_id}",
                "prefect.resource.role": "automation-triggered-event",
            }
        )
    event = triggered.triggering_event
    if event is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.event.{event.id}",
                "prefect.resource.role": "triggering-event",
            }
        )
    follows = None
    if event is not None and abs(triggered.triggered - event.occurred) < TIGHT_TIMING:
        follows = event.id
    details = {
        "action_index": triggered.action_index,
        "action_type": triggered.action.type,
        "invocation": str(triggered.invocation),
    }
    first_id = uuid.uuid4()
    outcome = {**details, **attempt.details}
    if error is not None:
        outcome = {**details, "reason": error.reason, **attempt.details, **error.details}
    return [
        event_schemas.Event.model_validate(
            {
                "id": str(first_id),
                "occurred": triggered.triggered,
                "event": "prefect.automation.action.triggered",
                "resource": resource,
                "related": related,
                "payload": details,
                "follows": str(follows) if follows else None,
            }
        ),
        event_schemas.Event.model_validate(
            {
                "id": str(uuid.uuid4()),
                "occurred": event_schemas.now_utc(),
                "event": "prefect.automation.action.failed"
                if error
                else "prefect.automation.action.executed",
                "resource": resource,
                "related": related,
                "payload": outcome,
                "follows": str(first_id),
            }
        ),
    ]


QUEUE_NAME = "actions"


@task(queue_name=QUEUE_NAME)
def run_action_job(run_id: str) -> str:
    """The durable queue's job (django-tasks): one attempt of one run."""
    return run_action(run_id)


def enqueue_run(run_id: UUID, *, run_after=None) -> None:
    """Put one attempt on the queue, in the caller's transaction (the database backend
    writes a row: it commits, or rolls back, with the firing that asked for it)."""
    job = run_action_job.using(run_after=run_after) if run_after else run_action_job
    job.enqueue(str(run_id))


def run_action(run_id: UUID | str) -> str:
    """One attempt. Returns what happened, for the queue's result row."""
    run = claim(UUID(str(run_id)))
    if run is None:
        return "skipped"
    attempt = Attempt()
    error: ActionError | None = None
    triggered = None
    try:
        triggered = triggered_action(run)
        executor_for(run.action_type).execute(triggered, attempt)
    except Deferred:
        _defer(run)
        return "deferred"
    except ActionError as exc:
        error = exc
    except Automation.DoesNotExist:
        error = PermanentError("the automation was deleted")
    except Exception as exc:  # a bug, not the target's answer: never retried blindly
        logger.exception("action run %s failed unexpectedly", run.id)
        error = PermanentError(f"Unexpected error: {exc!r}")
    now = event_schemas.now_utc()
    retry = error is not None and error.transient and run.attempts < max_attempts()
    with transaction.atomic():
        run.request = attempt.request
        run.status_code = attempt.status_code
        run.response_body = attempt.response_body
        run.details = {**attempt.details, **(error.details if error else {})}
        run.reason = error.reason if error else ""
        run.lease_until = None
        if error is None:
            run.status, run.finished = ActionRun.EXECUTED, now
        elif retry:
            run.status = ActionRun.RETRYING
            run.next_attempt_at = now + backoff(run.attempts)
            run.reason += f" (attempt {run.attempts} of {max_attempts()}; retrying)"
        else:
            run.status, run.finished = ActionRun.FAILED, now
        # Only the attempt that holds the claim records it (a lost lease was taken over).
        updated = ActionRun.objects.filter(pk=run.pk, attempts=run.attempts).update(
            status=run.status,
            finished=run.finished,
            request=run.request,
            status_code=run.status_code,
            response_body=run.response_body,
            details=run.details,
            reason=run.reason,
            lease_until=None,
            next_attempt_at=run.next_attempt_at,
            updated=now,
        )
        if updated and retry:
            enqueue_run(run.pk, run_after=run.next_attempt_at)
        if updated and triggered is not None:
            event_services.ingest_events(action_events(triggered, attempt, error))
    if error is None:
        logger.info(
            "action %s #%d of %s executed", run.action_type, run.action_index, run.automation_id
        )
    else:
        logger.warning(
            "action %s #%d of %s failed (attempt %d): %s",
            run.action_type,
            run.action_index,
            run.automation_id,
            run.attempts,
            error.reason,
        )
    return run.status


def _defer(run: ActionRun) -> None:
    """Back on the queue for a moment later, this attempt not counted (errors.Deferred)."""
    later = event_schemas.now_utc() + timedelta(seconds=DEFER_SECONDS)
    with transaction.atomic():
        updated = ActionRun.objects.filter(pk=run.pk, attempts=run.attempts).update(
            status=ActionRun.PENDING if run.attempts == 1 else ActionRun.RETRYING,
            attempts=run.attempts - 1,
            lease_until=None,
            next_attempt_at=later,
            updated=event_schemas.now_utc(),
        )
        if updated:
            enqueue_run(run.pk, run_after=later)


def recover_lost(limit: int = 100) -> int:
    """Runs whose worker died during an attempt (lease passed): enqueued again."""
    now = event_schemas.now_utc()
    with transaction.atomic():
        lost = list(
            ActionRun.objects.filter(status=ActionRun.RUNNING, lease_until__lt=now).values_list(
                "pk", flat=True
            )[:limit]
        )
        if not lost:
            return 0
        spent = set(
            ActionRun.objects.filter(pk__in=lost, attempts__gte=max_attempts()).values_list(
                "pk", flat=True
            )
        )
        ActionRun.objects.filter(pk__in=spent).update(
            status=ActionRun.FAILED,
            reason="the worker stopped during the last attempt",
            lease_until=None,
            finished=now,
            updated=now,
        )
        again = [pk for pk in lost if pk not in spent]
        ActionRun.objects.filter(pk__in=again, status=ActionRun.RUNNING).update(
            status=ActionRun.RETRYING,
            reason="the worker stopped during the attempt; trying again",
            lease_until=None,
            updated=now,
        )
        for pk in again:
            enqueue_run(pk)
    return len(lost)
