"""The live engine's metric pass: every metric trigger evaluated every `metrics.INTERVAL`
(`Engine.process_metrics` calls `process` once per step), its hold stored in `MetricState`,
its state changes stored as firings by the engine (Firing rows, Prefect's
`prefect.automation.triggered` / `.resolved`, the actions), exactly as for event triggers.

The metrics and the hold themselves live in `metrics.py` (pure, but for its one read).
"""

from __future__ import annotations

import json
import logging
import weakref
from datetime import datetime, timedelta

from django.db import connection, transaction

from automations import schemas
from automations.engine import evaluator as ev
from automations.engine import metrics
from automations.engine.models import MetricState

logger = logging.getLogger(__name__)

DUE_PER_PASS = 500  # metric triggers evaluated per transaction, at most
LOOK_EVERY = timedelta(seconds=1)  # how often an engine looks for due metric triggers
# Per engine: when it last looked, and the metric automations it had then.
_looked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def metric_automations(index) -> list:
    """The enabled automations whose trigger is a metric trigger (the engine evaluates those;
    a metric trigger inside a compound or sequence is not evaluated: see docs)."""
    return [a for a in index.by_id.values() if isinstance(a.trigger, schemas.MetricTrigger)]


def process(engine) -> bool:
    """The engine's metric pass (`Engine.process_metrics`): evaluate every metric trigger whose
    time has come, at the engine's clock, and store its firings through the engine (so the
    Firing rows, Prefect's `prefect.automation.triggered` / `.resolved` events and the actions
    follow as for event triggers). Several engines share the rows with `SKIP LOCKED`."""
    now = engine.now()
    automations = {a.id: a for a in metric_automations(engine.index)}
    present = frozenset((a.id, a.hash) for a in automations.values())
    looked = _looked.get(engine)
    if looked and looked[1] == present and now - looked[0] < LOOK_EVERY:
        return False
    _looked[engine] = (now, present)
    if not looked or looked[1] != present:
        _sync_rows(automations, now)
    if not automations:
        return False
    did = False
    with transaction.atomic():
        rows = MetricState.objects.filter(
            next_due__lte=now, automation_id__in=list(automations)
        ).order_by("next_due")
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        rows = list(rows[:DUE_PER_PASS])
        if not rows:
            return False
        at = engine.clock()
        reads: dict = {}  # runs read this pass, shared by triggers that select the same
        due = [
            (automations[r.automation_id].trigger, metrics.Hold(timedelta(0), r.state))
            for r in rows
            if r.trigger_hash == automations[r.automation_id].hash
        ]
        metrics.prefetch(due, at, reads)
        firings = []
        for row in rows:
            automation = automations[row.automation_id]
            if row.trigger_hash != automation.hash:
                continue  # changed meanwhile: the next sync resets it
            hold = metrics.Hold(automation.trigger.metric.firing_for, row.state)
            try:
                changes = metrics.evaluate(automation.trigger, hold, at, reads)
            except Exception:  # one automation never stops the others
                logger.exception("metric automation %s: evaluation failed", automation.id)
                row.next_due = now + metrics.INTERVAL
                continue
            for tick, state, value in changes:
                firings.append(
                    (
                        automation,
                        ev.Firing(trigger_id=automation.trigger.id, state=state, occurred=tick),
                    )
                )
                logger.info(
                    "metric %s = %s at %s",
                    automation.trigger.metric.name.value,
                    value,
                    tick.isoformat(),
                )
            row.state = hold.dump()
            row.next_due = now + metrics.INTERVAL
            did = True
        _save_states(rows)
        engine._store_firings(firings)
    return did


def _save_states(rows: list[MetricState]) -> None:
    """Write the evaluated rows back. On PostgreSQL one UPDATE from a VALUES list: Django's
    `bulk_update` builds a CASE per field and row in Python, which cost most of a pass of
    100 triggers (bench/metrics.py)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        MetricState.objects.bulk_update(rows, ["state", "next_due", "updated"])
        return
    table = MetricState._meta.db_table
    values = ", ".join(["(%s::uuid, %s::jsonb, %s::timestamptz)"] * len(rows))
    params: list = []
    for row in rows:
        params += [str(row.automation_id), json.dumps(row.state), row.next_due]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS m SET state = v.state, next_due = v.next_due, updated = now() "
            f"FROM (VALUES {values}) AS v(id, state, next_due) WHERE m.automation_id = v.id",
            params,
        )


def _sync_rows(automations: dict, now: datetime) -> None:
    """A state row per enabled metric automation (a changed trigger starts afresh, evaluated
    at once); rows of automations no longer enabled, or no longer metric, go."""
    with transaction.atomic():
        MetricState.objects.exclude(automation_id__in=list(automations)).delete()
        existing = dict(
            MetricState.objects.filter(automation_id__in=list(automations)).values_list(
                "automation_id", "trigger_hash"
            )
        )
        stale = [a for a in automations.values() if existing.get(a.id) != a.hash]
        if not stale:
            return
        MetricState.objects.filter(automation_id__in=[a.id for a in stale]).delete()
        MetricState.objects.bulk_create(
            [
                MetricState(automation_id=a.id, trigger_hash=a.hash, state={}, next_due=now)
                for a in stale
            ],
            ignore_conflicts=True,
        )
