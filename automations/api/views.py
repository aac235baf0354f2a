"""The automation API, on Prefect's paths and with Prefect's shapes.

Each view parses with the schema (through the services) and answers schema errors as 422
{detail, errors}, exactly the messages the forms show.
"""

from __future__ import annotations

from typing import Any, Literal

import jinja2
from django.db.models import QuerySet
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from automations import schemas, services
from automations.errors import schema_errors
from automations.models import Automation

DEFAULT_LIMIT = 200


def error_response(exc: ValidationError, *, loc_prefix: tuple[Any, ...] = ()) -> Response:
    errors = schema_errors(exc, loc_prefix=loc_prefix)
    first = errors[0] if errors else None
    detail = f"{first['field'] or 'body'}: {first['msg']}" if first else "Invalid input"
    return Response(
        {"detail": detail, "errors": errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY
    )


def not_found() -> Response:
    return Response({"detail": "Automation not found"}, status=status.HTTP_404_NOT_FOUND)


class AutomationCreateView(APIView):
    def post(self, request: Request) -> Response:
        try:
            core = services.parse_automation(request.data)
        except ValidationError as exc:
            return error_response(exc)
        automation = services.save_automation(core)
        return Response(automation.to_api(), status=status.HTTP_201_CREATED)


class PartialUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True


class AutomationDetailView(APIView):
    def _get(self, pk) -> Automation | None:
        return Automation.objects.filter(pk=pk).first()

    def get(self, request: Request, pk) -> Response:
        automation = self._get(pk)
        return Response(automation.to_api()) if automation else not_found()

    def put(self, request: Request, pk) -> Response:
        automation = self._get(pk)
        if automation is None:
            return not_found()
        try:
            core = services.parse_automation(request.data)
        except ValidationError as exc:
            return error_response(exc)
        services.save_automation(core, instance=automation)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def patch(self, request: Request, pk) -> Response:
        automation = self._get(pk)
        if automation is None:
            return not_found()
        try:
            update = PartialUpdate.model_validate(request.data)
        except ValidationError as exc:
            return error_response(exc)
        services.set_enabled(automation, update.enabled)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def delete(self, request: Request, pk) -> Response:
        automation = self._get(pk)
        if automation is None:
            return not_found()
        services.delete_automation(automation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NameFilter(BaseModel):
    any_: list[str] | None = None


class AutomationFilter(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: NameFilter | None = None


class FilterBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sort: Literal["CREATED_DESC", "UPDATED_DESC", "NAME_ASC", "NAME_DESC"] = "NAME_ASC"
    limit: int = Field(DEFAULT_LIMIT, ge=0, le=DEFAULT_LIMIT)
    offset: int = Field(0, ge=0)
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


class AutomationFilterView(APIView):
    def post(self, request: Request) -> Response:
        try:
            body = FilterBody.model_validate(_body(request))
        except ValidationError as exc:
            return error_response(exc)
        queryset = _filtered(body.automations).order_by(*_ORDER[body.sort])
        page = queryset[body.offset : body.offset + body.limit]
        return Response([a.to_api() for a in page])


class AutomationCountView(APIView):
    def post(self, request: Request) -> Response:
        try:
            body = FilterBody.model_validate(_body(request))
        except ValidationError as exc:
            return error_response(exc)
        return Response(_filtered(body.automations).count())


class AutomationsRelatedToView(APIView):
    def get(self, request: Request, resource_id: str) -> Response:
        queryset = Automation.objects.filter(related_resources__resource_id=resource_id).distinct()
        return Response([a.to_api() for a in queryset.order_by("name", "id")[:DEFAULT_LIMIT]])


class TemplateValidateView(APIView):
    """POST a template (a JSON string): 204 if it is valid, else 422 with its line and error."""

    def post(self, request: Request) -> Response:
        template = request.data if isinstance(request.data, str) else ""
        try:
            schemas.validate_user_template(template)
        except (jinja2.TemplateSyntaxError, schemas.TemplateSecurityError) as exc:
            return Response(
                {"error": {"line": exc.lineno, "message": exc.message, "source": template}},
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
