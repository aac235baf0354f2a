"""DRF's exception handler, extended so that schema errors answer 422 with field and rule."""

from __future__ import annotations

from pydantic import ValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from eventsui.lib.errors import error_list


def validation_body(exc: ValidationError, *, loc_prefix=(), summary: str | None = None) -> dict:
    """{detail, errors}: a one-line summary, then every error with its field and rule."""
    errors = error_list(exc, loc_prefix=loc_prefix)
    first = errors[0] if errors else None
    detail = summary or (
        f"{first['field'] or 'body'}: {first['msg']}" if first else "Invalid input"
    )
    return {"detail": detail, "errors": errors}


def validation_response(
    exc: ValidationError, *, loc_prefix=(), summary: str | None = None
) -> Response:
    return Response(
        validation_body(exc, loc_prefix=loc_prefix, summary=summary),
        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
    )


def exception_handler(exc, context):
    if isinstance(exc, ValidationError):
        return validation_response(exc)
    return drf_exception_handler(exc, context)
