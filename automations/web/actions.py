"""The pages of running actions: "Send a test notification" on a notification block, "Run
these actions now" against a stored event (after a confirmation), and the incidents list."""

from __future__ import annotations

import json
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from automations.actions.enqueue import actions_for, run_now
from automations.actions.errors import ActionError
from automations.actions.executors import notify
from automations.actions.models import Incident
from automations.blocks import NotificationBlock
from automations.engine.models import Firing
from automations.models import Automation
from automations.web import labels
from eventsui.events import serialization
from eventsui.events.models import Event

INCIDENTS_LIMIT = 200
EVENT_CHOICES = 20


@login_required
@require_POST
def block_test(request: HttpRequest, pk: UUID) -> HttpResponse:
    block = get_object_or_404(NotificationBlock, pk=pk)
    try:
        notify(
            block.url,
            "eventsui test notification",
            f"This is a test notification from eventsui, sent through “{block.name}”.",
        )
    except ActionError as exc:
        messages.error(request, f"The test notification failed: {exc.reason}")
    else:
        messages.success(request, f"Test notification sent through “{block.name}”.")
    return redirect("automations:block-edit", kind="notification", pk=block.pk)


def _candidate_events(automation: Automation):
    """Recent stored events the automation's trigger expects (or any, if it expects any)."""
    trigger = automation.trigger or {}
    names = [n for n in trigger.get("expect") or [] if n]
    events = Event.objects.order_by("-occurred")
    if names:
        from django.db.models import Q

        query = Q()
        for name in names:
            query |= Q(event__startswith=name[:-1]) if name.endswith("*") else Q(event=name)
        events = events.filter(query)
    return list(events[:EVENT_CHOICES])


@login_required
def run_actions_now(request: HttpRequest, pk: UUID) -> HttpResponse:
    """GET: choose an event and confirm; POST (confirmed): every action runs for real."""
    automation = get_object_or_404(Automation, pk=pk)
    actions = actions_for(automation, Firing.TRIGGERED)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        event_json = None
        if event_id := request.POST.get("event"):
            try:
                event = Event.objects.filter(pk=UUID(event_id)).first()
            except ValueError:
                event = None
            if event is None:
                messages.error(request, "That event is no longer stored: choose another.")
                return redirect("automations:run-now", pk=automation.pk)
            event_json = json.loads(serialization.stored_event_json(event))
        with transaction.atomic():
            started = run_now(automation, event_json)
        messages.success(
            request,
            f"Started {len(started)} action(s); their results appear below as they finish.",
        )
        return redirect("automations:detail", pk=automation.pk)
    return render(
        request,
        "automations/run_now.html",
        {
            "automation": automation,
            "actions": [labels.ACTION_LABELS.get(a.get("type"), a.get("type")) for a in actions],
            "events": _candidate_events(automation),
        },
    )


@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    incidents = Incident.objects.select_related("automation").order_by("-opened")[:INCIDENTS_LIMIT]
    return render(
        request, "automations/incidents.html", {"incidents": incidents, "limit": INCIDENTS_LIMIT}
    )
