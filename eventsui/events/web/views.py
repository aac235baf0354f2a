"""The dashboard's HTML pages: the live event feed, an event, and the event catalog.

Views stay thin: the query string becomes an EventFilter in `feed_query`, the store is read
through `queries` (keyset pages, count-by), rows are shaped and rendered by `feed_rows` (one
template for the page, `/events/rows` and the live socket).
"""

from __future__ import annotations

import json
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from eventsui.events import catalog, queries, resource_queries, schemas
from eventsui.events.filters import EventOrder
from eventsui.events.models import Event
from eventsui.events.web import rows as feed_rows
from eventsui.events.web.feed_query import RANGES, FeedQuery, InvalidFeedQuery, encode
from eventsui.events.web.resource import resource_url

FEED_PAGE_SIZE = 50
GAP_FILL_LIMIT = 200
FOLLOWERS_LIMIT = 20
AUTOMATION_PREFIX = "prefect.automation."


def _cursor(request: HttpRequest, name: str) -> queries.Cursor | None:
    value = request.GET.get(name)
    if not value:
        return None
    try:
        return queries.Cursor.decode(value)
    except ValueError:
        raise InvalidFeedQuery(
            ["The page position in the link is damaged: start from the newest events."]
        ) from None


@login_required
@require_GET
def feed(request: HttpRequest) -> HttpResponse:
    query = FeedQuery.parse(request.GET)
    rows: list[dict] = []
    errors: list[str] = []
    next_cursor = None
    before = None
    status = 200
    try:
        event_filter = query.to_filter()
        before = _cursor(request, "before")
        page = queries.page_events(event_filter, FEED_PAGE_SIZE, after=before)
        rows = [feed_rows.row_for_model(event) for event in page.events]
        next_cursor = page.next.encode() if page.next else None
    except InvalidFeedQuery as exc:
        errors = exc.messages
    except queries.QueryTimeout as exc:
        errors, status = [str(exc)], 503
    querystring = query.querystring()
    active_filters = [dict(chip, **_chip_label(chip)) for chip in query.active()]
    window = ("range", "since", "until")
    base = [(k, v) for k, v in query.params() if k not in window]
    window_params = [(k, v) for k, v in query.params() if k in window]
    context = {
        "range_links": [
            {
                "key": key,
                "label": label,
                "url": "?" + encode(base + [("range", key)]),
                "on": not query.is_fixed_window and query.range == key,
            }
            for key, (label, _) in RANGES.items()
        ],
        "back_to_live_url": "?" + encode(base),
        "clear_url": "?" + encode(window_params),
        "wider_url": "?" + encode(base + [("range", "7d")]),
        "query": query,
        "active_filters": active_filters,
        "rows": rows,
        "errors": errors,
        "timed_out": status == 503,
        "next_cursor": next_cursor,
        "older_url": f"?{querystring}&before={next_cursor}" if next_cursor else None,
        "is_older_page": before is not None,
        "querystring": querystring,
        "live": query.is_live and before is None and not errors,
        "config": {
            "query": querystring,
            "rows_url": reverse("feed-rows"),
            "histogram_url": reverse("feed-histogram"),
            "socket_path": "/ws/feed/",
            "live": query.is_live and before is None and not errors,
        },
    }
    return render(request, "eventsui/feed.html", context, status=status)


def _chip_label(chip: dict) -> dict:
    """An active filter chip as people read it: the resource's name and its role
    (`work-pool: k8s-prod`), the full value in its title; the id only when no event names it."""
    kind, value = chip["kind"], chip["value"]
    if kind not in ("related", "resource", "any"):
        return {"label": value}
    role, rid = "", value
    if kind == "related" and ":" in value and not value.startswith("prefect."):
        role, rid = value.split(":", 1)
    elif kind == "related" and not value.startswith("prefect."):
        return {"label": f"{value} (any)"}  # a role alone
    if "*" in rid or "=" in rid:
        return {"label": f"{role}: {rid}" if role else rid}
    labels = resource_queries.latest_labels(rid, resource_queries.involving(rid, 1)) or {}
    name = labels.get(schemas.RESOURCE_NAME) or feed_rows.short_id(rid)
    return {"label": f"{role}: {name}" if role else name, "resource_url": resource_url(rid)}


def _json_error(messages: list[str], status: int = 400) -> JsonResponse:
    return JsonResponse({"errors": messages}, status=status)


@login_required
@require_GET
def feed_rows_json(request: HttpRequest) -> JsonResponse:
    """Feed rows for the page's script, as `{"html": <the rows' <li> elements>, "next": ...}`:
    `before=<cursor>` pages to older events (newest first); `after=<cursor>` fills a gap with
    the events newer than the page's newest, oldest first. `next` is the cursor to continue
    with, null when there is no more."""
    query = FeedQuery.parse(request.GET)
    try:
        event_filter = query.to_filter()
        before, after = _cursor(request, "before"), _cursor(request, "after")
    except InvalidFeedQuery as exc:
        return _json_error(exc.messages)
    try:
        if after is not None:
            event_filter = event_filter.model_copy(update={"order": EventOrder.ASC})
            page = queries.page_events(event_filter, GAP_FILL_LIMIT, after=after)
        else:
            page = queries.page_events(event_filter, FEED_PAGE_SIZE, after=before)
    except queries.QueryTimeout as exc:
        return _json_error([str(exc)], status=503)
    rows = [feed_rows.row_for_model(event) for event in page.events]
    return JsonResponse(
        {
            "html": feed_rows.render_rows(rows, query.querystring()),
            "next": page.next.encode() if page.next else None,
        }
    )


@login_required
@require_GET
def feed_histogram(request: HttpRequest) -> JsonResponse:
    """Event counts over the feed's time range, in buckets of a readable size."""
    query = FeedQuery.parse(request.GET)
    try:
        event_filter = query.to_filter()
    except InvalidFeedQuery as exc:
        return _json_error(exc.messages)
    since = event_filter.occurred.since
    until = event_filter.occurred.until or schemas.now_utc()
    event_filter.occurred.until = until
    unit, interval = queries.choose_time_unit(since, until)
    try:
        buckets = queries.count_by_time(event_filter, unit, interval)
    except queries.QueryTimeout as exc:
        return _json_error([str(exc)], status=503)
    return JsonResponse(
        {
            "since": feed_rows.iso(since),
            "until": feed_rows.iso(until),
            "unit": str(unit),
            "interval": interval,
            "buckets": [
                {
                    "start": feed_rows.iso(b["start_time"]),
                    "end": feed_rows.iso(b["end_time"]),
                    "count": b["count"],
                }
                for b in buckets
            ],
        }
    )


def _feed_url(**params: str) -> str:
    return reverse("feed") + "?" + encode(list(params.items()))


@login_required
@require_GET
def event_detail(request: HttpRequest, event_id: UUID) -> HttpResponse:
    event = Event.objects.filter(id=event_id).first()
    if event is None:
        return render(request, "eventsui/event_missing.html", {"event_id": event_id}, status=404)
    received = event.to_schema()
    entry = catalog.lookup(event.event)
    follows = Event.objects.filter(id=event.follows).first() if event.follows else None
    followers = list(
        Event.objects.filter(follows=event.id).order_by("occurred", "id")[:FOLLOWERS_LIMIT]
    )
    groups: dict[str, list[dict]] = {}
    for related in event.related:
        role = related.get(schemas.RESOURCE_ROLE, "")
        rid = related.get(schemas.RESOURCE_ID, "")
        groups.setdefault(role, []).append(
            {
                "id": rid,
                "name": related.get(schemas.RESOURCE_NAME) or "",
                "labels": [
                    {
                        "name": k,
                        "value": v,
                        "meaning": (entry.related_labels.get(role, {}).get(k) if entry else None),
                    }
                    for k, v in related.items()
                    if k not in (schemas.RESOURCE_ID, schemas.RESOURCE_ROLE, schemas.RESOURCE_NAME)
                ],
                "feed_url": _feed_url(related=f"{role}:{rid}"),
                "any_url": _feed_url(any=rid),
            }
        )
    resource_id = event.resource.get(schemas.RESOURCE_ID, "")
    context = {
        "event": event,
        "row": feed_rows.row_for_model(event),
        "entry": entry,
        "labels": [
            {"name": k, "value": v, "meaning": entry.label_meaning(k) if entry else None}
            for k, v in sorted(
                event.resource.items(),
                key=lambda kv: (kv[0] != schemas.RESOURCE_ID, kv[0] != schemas.RESOURCE_NAME),
            )
        ],
        "related_groups": [
            {
                "role": role,
                "meaning": entry.role_meaning(role) if entry else None,
                "resources": resources,
            }
            for role, resources in groups.items()
        ],
        "resource_feed_url": _feed_url(resource=resource_id),
        "resource_any_url": _feed_url(any=resource_id),
        "event_feed_url": _feed_url(event=event.event),
        "follows": follows,
        "follows_row": feed_rows.row_for_model(follows) if follows else None,
        "followers": [feed_rows.row_for_model(e) for e in followers],
        "raw_json": json.dumps(received.model_dump(mode="json"), indent=2, ensure_ascii=False),
        "payload": event.payload,
        "automation_links": _automation_links(event),
    }
    return render(request, "eventsui/event.html", context)


def _automation_links(event: Event) -> dict | None:
    """For a `prefect.automation.*` event: its automation and the event that triggered it."""
    resource_id = event.resource.get(schemas.RESOURCE_ID, "")
    if not resource_id.startswith(AUTOMATION_PREFIX):
        return None
    try:
        automation_id = UUID(resource_id.removeprefix(AUTOMATION_PREFIX))
    except ValueError:
        return None
    triggering = None
    for related in event.related:
        if related.get(schemas.RESOURCE_ROLE) == "triggering-event":
            try:
                triggering = UUID(
                    related.get(schemas.RESOURCE_ID, "").removeprefix("prefect.event.")
                )
            except ValueError:
                triggering = None
            break
    return {
        "automation_id": automation_id,
        "name": event.resource.get(schemas.RESOURCE_NAME) or "",
        "triggering_event": triggering,
        "triggering_stored": bool(triggering and Event.objects.filter(id=triggering).exists()),
    }


@login_required
@require_GET
def catalog_page(request: HttpRequest) -> HttpResponse:
    return render(request, "eventsui/catalog.html", {"groups": catalog.grouped()})
