"""The events REST API, in Prefect 3's paths and shapes.

Views stay thin: they parse with the schema module, call the service function, and shape the
answer. Refused input is raised (a pydantic ValidationError, or eventsui.lib.api_errors.
InvalidInput) and the exception handler there writes the 422 body. Authentication (API
token, Basic, or a browser session) comes from REST_FRAMEWORK.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db import connection
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError
from pydantic_core import to_json
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from eventsui.events import queries, schemas, serialization, services
from eventsui.events.filters import API_CONTEXT, EventFilter
from eventsui.lib.api_errors import InvalidInput
from eventsui.lib.errors import error_list, field_path, message_for

EVENT_EXAMPLE = {
    "occurred": "2024-05-01T12:00:00Z",
    "event": "prefect.worker.started",
    "resource": {
        "prefect.resource.id": "prefect.worker.process.my-worker",
        "prefect.resource.name": "my-worker",
        "prefect.worker-type": "process",
        "prefect.version": "3.4.0",
    },
    "related": [
        {
            "prefect.resource.id": "prefect.work-pool.6a0e9a9f-7f38-4c1e-9b8a-0a5f2f1f4a11",
            "prefect.resource.role": "work-pool",
            "prefect.resource.name": "default",
        }
    ],
    "payload": {},
    "id": "0b7c3f4e-2a51-4c1e-8f0d-3c3e2f6a9b10",
}


class EventBatch(RootModel[list[schemas.PostedEvent]]):
    """The body of POST /api/events, for the API schema (validated by schemas.PostedEventList)."""


class EventsCreateView(APIView):
    """POST /api/events: store a JSON list of events (Prefect's Event shape)."""

    @extend_schema(
        operation_id="events_create",
        request={"application/json": EventBatch},
        examples=[OpenApiExample("One worker event", value=[EVENT_EXAMPLE])],
        responses={
            204: OpenApiResponse(description="Stored (events already stored are ignored)"),
            422: OpenApiResponse(description="An event broke a schema rule; nothing was stored"),
        },
        description=(
            "Validates every event, then stores the whole batch in one transaction. Events "
            "whose id is already stored are skipped (clients resend after reconnecting). An "
            "invalid event stores nothing and answers 422 naming the event's index, the "
            "field and the rule it broke."
        ),
    )
    def post(self, request: Request) -> Response:
        try:
            events = schemas.PostedEventList.validate_json(request.body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            first = errors[0]
            index = first["loc"][0] if first["loc"] and isinstance(first["loc"][0], int) else None
            summary = None
            if index is not None:
                field = field_path(first["loc"][1:]) or "event"
                summary = f"Event {index} is invalid: {field}: {message_for(first)}"
            raise InvalidInput(error_list(exc), detail=summary) from exc
        services.ingest_events(events)
        return Response(status=204)


class VersionView(APIView):
    """GET /api/admin/version: the Prefect API version this server speaks."""

    @extend_schema(responses={200: {"type": "string"}}, operation_id="admin_version")
    def get(self, request: Request) -> Response:
        return Response(settings.PREFECT_API_VERSION)


class HealthView(APIView):
    """GET /api/health: true while the server answers and reaches its database (no
    credentials needed); 503 with Retry-After while the database cannot be reached."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={200: {"type": "boolean"}, 503: {"type": "object"}}, operation_id="health"
    )
    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:  # raises when unreachable: answered 503
            cursor.execute("SELECT 1")
        return Response(True)


class FilterRequest(BaseModel):
    """The body of POST /api/events/filter. As Prefect's (FastAPI body parameters), keys
    other than these are ignored; the filter itself refuses unknown keys."""

    model_config = ConfigDict(extra="ignore")

    filter: EventFilter | None = None
    # Prefect's INTERACTIVE_PAGE_SIZE; the dashboard reads its pages through queries directly.
    limit: int = Field(default=queries.PAGE_SIZE, ge=0, le=queries.PAGE_SIZE)


class CountRequest(BaseModel):
    """The body of POST /api/events/count-by/{countable}: `filter` is required (Prefect)."""

    model_config = ConfigDict(extra="ignore")

    filter: EventFilter
    time_unit: queries.TimeUnit = queries.TimeUnit.day
    time_interval: float = Field(default=1.0, ge=0.01)


def _parse_body(model: type[BaseModel], request: Request) -> BaseModel:
    """The JSON body validated by `model` in the API's context (a body that is not JSON is
    a 422 naming `body`, as Prefect answers; DRF's parser would answer 400)."""
    return model.model_validate_json(request.body or b"{}", context={API_CONTEXT: True})


def _page_response(
    request: Request,
    filter: EventFilter,
    limit: int,
    page: queries.Page,
    total: int,
    estimate: bool,
) -> Response:
    next_page = None
    if page.next is not None:
        token = queries.make_page_token(filter, limit, page.next, total, estimate)
        next_page = request.build_absolute_uri(
            reverse("api-events-next") + "?" + urlencode({"page-token": token})
        )
    body = (
        '{"events":['
        + ",".join(serialization.stored_event_json(e) for e in page.events)
        + f'],"total":{total},"total_is_estimate":{"true" if estimate else "false"},'
        + '"next_page":'
        + (to_json(next_page).decode() if next_page else "null")
        + "}"
    )
    return HttpResponse(body, content_type="application/json")


class EventsFilterView(APIView):
    """POST /api/events/filter: the first page of events matching a Prefect EventFilter."""

    @extend_schema(
        operation_id="events_filter",
        request={"application/json": FilterRequest},
        responses={200: OpenApiResponse(description="{events, total, next_page}")},
    )
    def post(self, request: Request) -> Response:
        parsed = _parse_body(FilterRequest, request)
        filter = parsed.filter or EventFilter()
        page = queries.page_events(filter, parsed.limit, as_json=True)
        total, estimate = queries.total(filter, page, parsed.limit)
        return _page_response(request, filter, parsed.limit, page, total, estimate)


class EventsFilterNextView(APIView):
    """GET /api/events/filter/next?page-token=...: the page after a previous one."""

    @extend_schema(
        operation_id="events_filter_next",
        parameters=[OpenApiParameter("page-token", str, required=True)],
        responses={
            200: OpenApiResponse(description="{events, total, next_page}"),
            403: OpenApiResponse(description="Tampered or expired page token"),
        },
    )
    def get(self, request: Request) -> Response:
        token = request.query_params.get("page-token")
        if token is None:
            raise InvalidInput(
                [{"field": "page-token", "type": "missing", "msg": "This field is required."}],
                detail="page-token: the query parameter is required.",
            )
        try:
            filter, limit, cursor, total, estimate = queries.read_page_token(token)
        except (signing.BadSignature, ValueError, KeyError, ValidationError):
            return Response({"detail": "Invalid or expired page token."}, status=403)
        page = queries.page_events(filter, limit, after=cursor, as_json=True)
        return _page_response(request, filter, limit, page, total, estimate)


class EventsCountByView(APIView):
    """POST /api/events/count-by/{day|time|event|resource}."""

    @extend_schema(
        operation_id="events_count_by",
        request={"application/json": CountRequest},
        responses={
            200: OpenApiResponse(description="[{value, label, count, start_time, end_time}]"),
            422: OpenApiResponse(description="Bad filter, or too many buckets"),
        },
    )
    def post(self, request: Request, countable: str) -> Response:
        try:
            countable_ = queries.Countable(countable)
        except ValueError:
            raise InvalidInput(
                [
                    {
                        "field": "countable",
                        "type": "enum",
                        "msg": "Choose one of: day, time, event, resource.",
                    }
                ],
                detail=f"Cannot count by {countable!r}; use day, time, event or resource.",
            ) from None
        parsed = _parse_body(CountRequest, request)
        try:
            counts = queries.count_by(
                parsed.filter, countable_, parsed.time_unit, parsed.time_interval
            )
        except queries.InvalidCountParameters as exc:
            raise InvalidInput(
                [{"field": "time_interval", "type": "too_many_buckets", "msg": str(exc)}],
                detail=str(exc),
            ) from exc
        return HttpResponse(to_json(counts), content_type="application/json")
