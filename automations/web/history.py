"""The automation page's engine panel: what the trigger is waiting for now (open windows,
buckets that are triggered) and its firings, newest first. The page reloads the panel every
few seconds (`static/automations/history.js`), so new firings, and the status of each of
their actions (pending, retrying, executed, failed), appear without a reload."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from automations.actions.models import ActionRun
from automations.engine.evaluator import AutomationEvaluator, resolution_rule
from automations.engine.models import AutomationState, EngineBucket
from automations.models import Automation

HISTORY_LIMIT = 50
MANUAL_LIMIT = 20
WINDOWS_LIMIT = 200  # open windows shown, soonest to close first


def _windows(automation: Automation, trigger, state: AutomationState | None) -> list[dict]:
    if state is None:
        return []
    buckets: dict[str, dict[str, dict]] = {}
    rows = EngineBucket.objects.filter(automation=automation).order_by("expires")
    for row in rows[:WINDOWS_LIMIT]:
        buckets.setdefault(str(row.trigger_id), {})[row.key] = row.data
    evaluator = AutomationEvaluator(automation.id, trigger, {**state.state, "buckets": buckets})
    rows = []
    for bucket in evaluator.open_buckets():
        rows.append(
            {
                "labels": bucket["labels"],
                "start": datetime.fromisoformat(bucket["start"]),
                "end": datetime.fromisoformat(bucket["end"]),
                "count": bucket["count"],
                "triggered": bucket["triggered"],
                "waiting": not bucket["counting"],
            }
        )
    return rows


@login_required
@require_GET
def automation_history(request: HttpRequest, pk: UUID) -> HttpResponse:
    automation = get_object_or_404(Automation, pk=pk)
    trigger = automation.to_schema().trigger
    state = AutomationState.objects.filter(automation=automation).first()
    firings = list(
        automation.firings.order_by("-occurred", "-created").prefetch_related(
            Prefetch("action_runs", queryset=ActionRun.objects.order_by("action_index"))
        )[:HISTORY_LIMIT]
    )
    manual_runs = list(
        ActionRun.objects.filter(automation=automation, manual=True).order_by(
            "-created", "action_index"
        )[:MANUAL_LIMIT]
    )
    for firing in firings:
        resource = (firing.triggering_event or {}).get("resource") or {}
        firing.resource_label = resource.get("prefect.resource.name") or resource.get(
            "prefect.resource.id", ""
        )
    windows = _windows(automation, trigger, state)
    return render(
        request,
        "automations/_history.html",
        {
            "automation": automation,
            "firings": firings,
            "windows": windows,
            "triggered": [w for w in windows if w["triggered"]],
            "resolution": resolution_rule(trigger),
            "limit": HISTORY_LIMIT,
            "engine_state": state,
            "manual_runs": manual_runs,
        },
    )
