"""The events REST API, in Prefect 3's paths and shapes.

Views stay thin: they parse with the schema module, call the service function, and shape the
answer. Authentication (API token, Basic, or a browser session) comes from REST_FRAMEWORK.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from pydantic import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from eventsui import schemas, services
from eventsui.api_errors import validation_response
from eventsui.errors import field_path, message_for

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


class EventsCreateView(APIView):
    """POST /api/events: store a JSON list of events (Prefect's Event shape)."""

    @extend_schema(
        operation_id="events_create",
        request={"application/json": {"type": "array", "items": {"type": "object"}}},
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
            events = schemas.EventList.validate_json(request.body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            first = errors[0]
            index = first["loc"][0] if first["loc"] and isinstance(first["loc"][0], int) else None
            summary = None
            if index is not None:
                field = field_path(first["loc"][1:]) or "event"
                summary = f"Event {index} is invalid: {field}: {message_for(first)}"
            return validation_response(exc, summary=summary)
        services.ingest_events(events)
        return Response(status=204)


class VersionView(APIView):
    """GET /api/admin/version: the Prefect API version this server speaks."""

    @extend_schema(responses={200: {"type": "string"}}, operation_id="admin_version")
    def get(self, request: Request) -> Response:
        return Response(settings.PREFECT_API_VERSION)


class HealthView(APIView):
    """GET /api/health: true while the server answers (no credentials needed)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: {"type": "boolean"}}, operation_id="health")
    def get(self, request: Request) -> Response:
        return Response(True)
