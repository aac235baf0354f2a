"""The automation API, on Prefect's paths and with Prefect's shapes.

Each view parses with the schema (automations.validation) and lets its errors through:
eventsui.lib.api_errors.exception_handler answers them as 422 {detail, errors}, with the
locations tidied by `schema_errors`, exactly the messages the forms show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import jinja2
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from automations import schemas, services
from automations.errors import schema_errors
from automations.models import Automation
from automations.prefect_json import automation_json
from automations.schemas.rules import RULES, no_nul
from automations.validation import parse_automation
from eventsui.lib.api_errors import InvalidInput, Unprocessable

DEFAULT_LIMIT = 200
MAX_OFFSET = 2**31 - 1  # a database's OFFSET is a 64-bit integer at most: 2**63 answered 500


def not_found() -> Response:
    return Response({"detail": "Automation not found"}, status=status.HTTP_404_NOT_FOUND)


class AutomationAPIView(APIView):
    # Read by the exception handler (eventsui.lib.api_errors) to list a schema's errors.
    schema_errors = staticmethod(schema_errors)


class StoredAutomation(schemas.AutomationCore):
    """An automation as the API answers it (Prefect's Automation), for the API schema:
    automation_json(..., api=True) (tests/server/test_api_schema.py checks that they agree)."""

    id: UUID
    created: datetime
    updated: datetime
    tags: list[str] = Field(default_factory=list)


class StoredAutomations(RootModel[list[StoredAutomation]]):
    """A list of automations, for the API schema."""


INVALID = OpenApiResponse(description="{detail, errors}: each error's field, loc, type and msg")
NOT_FOUND = OpenApiResponse(description="No automation has this id")


class AutomationCreateView(AutomationAPIView):
    @extend_schema(
        request={"application/json": schemas.AutomationCore},
        responses={201: StoredAutomation, 422: INVALID},
    )
    def post(self, request: Request) -> Response:
        core = parse_automation(request.data)
        automation = services.save_automation(core)
        return Response(automation_json(automation, api=True), status=status.HTTP_201_CREATED)


class PartialUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True


class AutomationDetailView(AutomationAPIView):
    def _get(self, pk) -> Automation | None:
        return Automation.objects.filter(pk=pk).first()

    @extend_schema(responses={200: StoredAutomation, 404: NOT_FOUND})
    def get(self, request: Request, pk) -> Response:
        automation = self._get(pk)
        return Response(automation_json(automation, api=True)) if automation else not_found()

    @extend_schema(
        request={"application/json": schemas.AutomationCore},
        responses={204: None, 404: NOT_FOUND, 422: INVALID},
    )
    def put(self, request: Request, pk) -> Response:
        automation = self._get(pk)
        if automation is None:
            return not_found()
        core = parse_automation(request.data)
        services.save_automation(core, instance=automation)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={"application/json": PartialUpdate},
        responses={204: None, 404: NOT_FOUND, 422: INVALID},
    )
    def patch(self, request: Request, pk) -> Response:
        automation = self._get(pk)
        if automation is None:
            return not_found()
        update = PartialUpdate.model_validate(request.data)
        services.set_enabled(automation, update.enabled)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={204: None, 404: NOT_FOUND})
    def delete(self, request: Request, pk) -> Response:
        automation = self._get(pk)
        if automation is None:
            return not_found()
        services.delete_automation(automation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NameFilter(BaseModel):
    any_: list[Annotated[str, AfterValidator(no_nul)]] | None = None


class AutomationFilter(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: NameFilter | None = None


class FilterBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sort: Literal["CREATED_DESC", "UPDATED_DESC", "NAME_ASC", "NAME_DESC"] = "NAME_ASC"
    limit: int = Field(DEFAULT_LIMIT, ge=0, le=DEFAULT_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    automations: AutomationFilter | None = None


_ORDER = {
    "CREATED_DESC": ["-created", "id"],
    "UPDATED_DESC": ["-updated", "id"],
    "NAME_ASC": ["name", "id"],
    "NAME_DESC": ["-name", "id"],
}


def _filtered(filters: AutomationFilter | None) -> QuerySet[Automation]:
    queryset = Automation.objects.all()
    if filters and filters.name and filters.name.any_ is not None:
        queryset = queryset.filter(name__in=filters.name.any_)
    return queryset


def _body(request: Request) -> dict[str, Any]:
    return request.data if isinstance(request.data, dict) else {}


class AutomationFilterView(AutomationAPIView):
    @extend_schema(
        request={"application/json": FilterBody}, responses={200: StoredAutomations, 422: INVALID}
    )
    def post(self, request: Request) -> Response:
        body = FilterBody.model_validate(_body(request))
        queryset = _filtered(body.automations).order_by(*_ORDER[body.sort])
        page = queryset[body.offset : body.offset + body.limit]
        return Response([automation_json(a, api=True) for a in page])


class AutomationCountView(AutomationAPIView):
    @extend_schema(request={"application/json": FilterBody}, responses={200: int, 422: INVALID})
    def post(self, request: Request) -> Response:
        body = FilterBody.model_validate(_body(request))
        return Response(_filtered(body.automations).count())


class AutomationsRelatedToView(AutomationAPIView):
    @extend_schema(responses={200: StoredAutomations})
    def get(self, request: Request, resource_id: str) -> Response:
        if "\x00" in resource_id:
            raise InvalidInput(
                [{"field": "resource_id", "type": "nul_character", "msg": RULES["nul_character"]}]
            )
        queryset = Automation.objects.filter(related_resources__resource_id=resource_id).distinct()
        rows = queryset.order_by("name", "id")[:DEFAULT_LIMIT]
        return Response([automation_json(a, api=True) for a in rows])


class TemplateValidateView(AutomationAPIView):
    """POST a template (a JSON string): 204 if it is valid, else 422 with its line and error."""

    @extend_schema(
        request={"application/json": str},
        responses={
            204: None,
            422: OpenApiResponse(description="{error: {line, message, source}}, as Prefect's"),
        },
    )
    def post(self, request: Request) -> Response:
        template = request.data if isinstance(request.data, str) else ""
        try:
            schemas.validate_user_template(template)
        except (jinja2.TemplateSyntaxError, schemas.TemplateSecurityError) as exc:
            raise Unprocessable(
                {"error": {"line": exc.lineno, "message": exc.message, "source": template}}
            ) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)
