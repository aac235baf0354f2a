"""The resource page: one resource (a flow run, a deployment, a work pool, a worker...) with its
latest labels, its state timeline (runs), its events, its neighbours and the automations that
point at it. Reads go through `eventsui.events.resource_queries` (index walks only)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from eventsui.events import resource_queries, schemas
from eventsui.events.web import rows as feed_rows
from eventsui.events.web.feed_query import encode
from eventsui.lib.times import duration_words, exact_time, prefect_datetime


def resource_url(resource_id: str) -> str:
    """The resource page of `resource_id` (ids hold any character: it is a query parameter)."""
    return reverse("resource") + "?" + urlencode({"id": resource_id})


@login_required
@require_GET
def resource_detail(request: HttpRequest) -> HttpResponse:
    resource_id = request.GET.get("id", "").strip()
    involving = resource_queries.involving(resource_id) if resource_id else []
    labels = resource_queries.latest_labels(resource_id, involving)
    if labels is None:
        return render(
            request, "eventsui/resource_missing.html", {"resource_id": resource_id}, status=404
        )
    events = involving[: resource_queries.RECENT_EVENTS]
    neighbours = resource_queries.related_resources(resource_id, involving)
    segments = resource_queries.state_timeline(resource_id)
    now = schemas.now_utc()
    timeline = []
    if segments:
        first = segments[0].start
        last_end = segments[-1].end or now
        # A final terminal state is a point, not a bar that grows until now.
        terminal = segments[-1].state_type in {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
        total = max((segments[-1].start if terminal else last_end) - first, timedelta(seconds=1))
        for segment in segments:
            end = segment.end or (segment.start if terminal else now)
            span = (end - segment.start).total_seconds()
            timeline.append(
                {
                    "state": segment.state,
                    "tone": segment.tone,
                    "start": exact_time(segment.start),
                    "start_iso": prefect_datetime(segment.start),
                    "duration": duration_words(span, most=2) if segment.end or not terminal else "",
                    "ongoing": segment.end is None and not terminal,
                    "left": min(
                        100 * (segment.start - first).total_seconds() / total.total_seconds(),
                        99.4,  # a final state is a thin mark at the end, still visible
                    ),
                    "width": max(0.6, 100 * span / total.total_seconds()),
                    "event_url": reverse("event-detail", args=[segment.event_id]),
                    "message": segment.message,
                }
            )
    name = labels.get(schemas.RESOURCE_NAME) or ""
    context = {
        "resource_id": resource_id,
        "name": name,
        "kind": resource_queries.resource_kind(resource_id).replace("-", " "),
        "labels": sorted((k, v) for k, v in labels.items() if k not in (schemas.RESOURCE_ROLE,)),
        "rows": [feed_rows.row_for_model(e) for e in events],
        "more_events": len(involving) > len(events),
        "timeline": timeline,
        "neighbours": [
            {
                "id": n.id,
                "name": n.name,
                "short": feed_rows.short_id(n.id),
                "roles": sorted(n.roles),
                "count": n.count,
                "url": resource_url(n.id),
            }
            for n in neighbours
        ],
        "automations": resource_queries.automations_pointing_at(resource_id),
        "feed_url": reverse("feed") + "?" + encode([("any", resource_id)]),
        "automate_url": reverse("automations:new"),
    }
    return render(request, "eventsui/resource.html", context)
