"""DRF's exception handler, extended so that refused input answers 422 naming field and rule.

API views do not build error bodies: they let a schema's `ValidationError` through, or raise
`InvalidInput` (a rule outside a schema) or `Unprocessable` (a body of Prefect's own shape);
`exception_handler` answers all three, and only it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from eventsui.lib import query_time, unavailable
from eventsui.lib.errors import error_list
from eventsui.lib.query_time import QueryTimeout


class Unprocessable(Exception):
    """Understood but refused: answered 422 with `body` as it is."""

    def __init__(self, body: Any):
        super().__init__(body)
        self.body = body


class InvalidInput(Unprocessable):
    """Input that broke a rule: 422 {detail, errors}, `detail` a one-line summary (by default
    the first error's field and message) and `errors` each {field, loc?, type, msg}."""

    def __init__(self, errors: list[dict[str, Any]], detail: str | None = None):
        first = errors[0] if errors else None
        if detail is None:
            detail = f"{first['field'] or 'body'}: {first['msg']}" if first else "Invalid input"
        super().__init__({"detail": detail, "errors": errors})


def exception_handler(exc, context):
    """REST_FRAMEWORK's EXCEPTION_HANDLER.

    A view lists a schema's errors with its `schema_errors` attribute if it has one (the
    automation API tidies locations with it), else with `eventsui.lib.errors.error_list`.
    """
    if isinstance(exc, ValidationError):
        list_errors = getattr(context.get("view"), "schema_errors", error_list)
        exc = InvalidInput(list_errors(exc))
    if isinstance(exc, Unprocessable):
        return Response(exc.body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, QueryTimeout):
        return Response(
            {"detail": str(exc)},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(query_time.RETRY_AFTER_SECONDS)},
        )
    if unavailable.is_unavailable(exc):
        return Response(
            {"detail": unavailable.DETAIL},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(unavailable.RETRY_AFTER_SECONDS)},
        )
    return drf_exception_handler(exc, context)
