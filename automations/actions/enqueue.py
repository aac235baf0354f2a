"""Firings to jobs: called by the engine (`Engine._store_firings`) in the transaction that
stores the firings, so a firing and its jobs commit (or roll back) together."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from automations.actions.models import ActionRun, Incident
from automations.actions.run import enqueue_run
from automations.engine.models import Firing
from automations.models import Automation


def actions_for(automation: Automation, state: str) -> list[dict]:
    """Prefect's order (`prefect.server.events.triggers.act`): `actions` on every state
    change, then `actions_on_trigger` (Triggered) or `actions_on_resolve` (Resolved)."""
    extra = (
        automation.actions_on_trigger
        if state == Firing.TRIGGERED
        else automation.actions_on_resolve
    )
    return [*(automation.actions or []), *(extra or [])]


def enqueue_actions(firings: Iterable[Firing]) -> list[ActionRun]:
    """One ActionRun and one queued job per action of each firing; resolved firings close
    the incidents their automation opened for the same bucket."""
    firings = list(firings)
    if not firings:
        return []
    automations = {
        a.pk: a for a in Automation.objects.filter(pk__in={f.automation_id for f in firings})
    }
    runs: list[ActionRun] = []
    resolved: list[Firing] = []
    for firing in firings:
        automation = automations.get(firing.automation_id)
        if automation is None:
            continue
        if firing.state == Firing.RESOLVED:
            resolved.append(firing)
        for index, action in enumerate(actions_for(automation, firing.state)):
            runs.append(
                ActionRun(
                    automation_id=automation.pk,
                    firing_id=firing.id,
                    action_index=index,
                    action_type=action.get("type", ""),
                    action=action,
                )
            )
    for firing in resolved:
        Incident.objects.filter(
            automation_id=firing.automation_id, bucket=firing.bucket, resolved=None
        ).update(resolved=firing.occurred)
    if not runs:
        return []
    # The idempotency key (firing, action index) is unique: a firing stored twice makes
    # no second run, and its job finds the first run's status.
    ActionRun.objects.bulk_create(runs, ignore_conflicts=True)
    for run in runs:
        enqueue_run(run.pk)
    return runs


def run_now(automation: Automation, event_json: dict | None) -> list[UUID]:
    """A person's "Run these actions now" against a stored event: every action of the
    automation (`actions`, then `actions_on_trigger`), as real calls, recorded as manual."""
    runs = [
        ActionRun(
            automation_id=automation.pk,
            action_index=index,
            action_type=action.get("type", ""),
            action=action,
            manual=True,
            triggering_event=event_json,
        )
        for index, action in enumerate(actions_for(automation, Firing.TRIGGERED))
    ]
    ActionRun.objects.bulk_create(runs)
    for run in runs:
        enqueue_run(run.pk)
    return [run.pk for run in runs]
