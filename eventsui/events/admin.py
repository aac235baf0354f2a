"""Events and API tokens in the Django admin.

Events are read-only here: they are written only by `services.ingest_events` and deleted only
by `trim_events`. The changelist is built to stay fast on millions of rows: every filter and
the search are prefix or range conditions served by the indexes in `Event.Meta`, the count is
capped instead of a full COUNT(*), and the list does not load payloads.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from eventsui.events import schemas
from eventsui.events.models import ApiToken, Event
from eventsui.events.web.feed_query import RANGES

# Fixed choices: listing the distinct event names of a million rows would cost a scan.
EVENT_PREFIXES = (
    ("prefect.flow-run.", "Flow runs"),
    ("prefect.task-run.", "Task runs"),
    ("prefect.worker.", "Workers"),
    ("prefect.runner.", "Runners"),
    ("prefect.deployment.", "Deployments"),
    ("prefect.work-pool.", "Work pools"),
    ("prefect.work-queue.", "Work queues"),
    ("prefect-cloud.automation.", "Automations"),
)


class EventKindFilter(admin.SimpleListFilter):
    title = "event"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return EVENT_PREFIXES

    def queryset(self, request, queryset):
        # A case-sensitive prefix: served by the events_event_occurred (text_pattern_ops) index.
        if self.value():
            return queryset.filter(event__startswith=self.value())
        return queryset


class OccurredFilter(admin.SimpleListFilter):
    """The feed page's time ranges (feed_query.RANGES), on the occurred index."""

    title = "occurred"
    parameter_name = "within"

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in RANGES.items()]

    def queryset(self, request, queryset):
        if self.value() in RANGES:
            _, window = RANGES[self.value()]
            return queryset.filter(occurred__gte=schemas.now_utc() - window)
        return queryset


class CappedPaginator(Paginator):
    """Counts at most CAP rows (COUNT over a LIMITed subquery), so paging never scans the
    whole table; pages past the cap are not offered (deep OFFSETs are slow anyway)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()


def pretty_json(value) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False),
    )


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("occurred", "event", "resource_name_display", "resource_id")
    list_display_links = ("occurred", "event")
    list_filter = (EventKindFilter, OccurredFilter)
    search_fields = ("event", "resource_id")  # see get_search_results: prefixes only
    search_help_text = (
        "Starts with, case-sensitive: an event name (prefect.flow-run.Failed) or a resource "
        "id (prefect.flow-run.3f1c…)."
    )
    ordering = ("-occurred", "-id")
    list_per_page = 100
    list_max_show_all = 100
    show_full_result_count = False
    paginator = CappedPaginator
    fields = (
        "id",
        "event",
        "occurred",
        "received",
        "follows_link",
        "resource_pretty",
        "related_pretty",
        "payload_pretty",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name and match.url_name.endswith("_changelist"):
            queryset = queryset.defer("related", "payload")
        return queryset

    def get_search_results(self, request, queryset, search_term):
        """Prefix matches on the indexed columns; a substring search would scan every row."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(event__startswith=term) | Q(resource_id__startswith=term)), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="resource name")
    def resource_name_display(self, obj: Event) -> str:
        return obj.resource_name or ""

    @admin.display(description="follows")
    def follows_link(self, obj: Event) -> str:
        if not obj.follows:
            return "—"
        url = reverse("admin:eventsui_event_change", args=[obj.follows])
        return format_html('<a href="{}">{}</a>', url, obj.follows)

    @admin.display(description="resource")
    def resource_pretty(self, obj: Event) -> str:
        return pretty_json(obj.resource)

    @admin.display(description="related")
    def related_pretty(self, obj: Event) -> str:
        return pretty_json(obj.related)

    @admin.display(description="payload")
    def payload_pretty(self, obj: Event) -> str:
        return pretty_json(obj.payload)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "created", "last_used")
    list_select_related = ("user",)
    list_filter = ("user",)
    search_fields = ("name", "user__username")
    ordering = ("-created",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "user")
        return ("name", "user", "created", "last_used")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("user", "created", "last_used")

    def get_changeform_initial_data(self, request):
        return {"user": request.user.pk}

    def save_model(self, request, obj: ApiToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # Only the hash is stored: the raw token exists in this response and nowhere else.
        token, raw = ApiToken.issue(obj.user, obj.name)
        obj.pk, obj.key_hash, obj.created = token.pk, token.key_hash, token.created
        obj._state.adding = False
        obj._state.db = token._state.db
        self.message_user(
            request,
            f"The token for “{obj.name}” is {raw} — copy it now: it is not stored and will "
            "not be shown again. Clients send it as “Authorization: Bearer <token>”.",
            messages.WARNING,
        )
