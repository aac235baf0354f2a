"""A database that cannot be reached answers 503 with `Retry-After`, not a 500.

Unreachable means: psycopg_pool found no connection within DATABASE_POOL_TIMEOUT (the
database is down, or every connection is busy: back-pressure), a connection failed or was
terminated, or SQLite stayed locked. Settings keep that wait short (seconds, with a short
connect timeout) and check pooled connections before handing them out, so requests fail fast
during an outage and succeed again by themselves once the database is back.

`DatabaseUnavailableMiddleware` answers for every view (JSON under `/api/`, a short page
elsewhere); DRF views get the same body from `api_errors.exception_handler`.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
DETAIL = "The database is unavailable; retry later"
# OperationalErrors that are about the statement, not the database's availability:
# program limit exceeded (54), e.g. an index row too large.
_NOT_AVAILABILITY = {"54"}


def is_unavailable(exc: BaseException) -> bool:
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # SQLite only
        PoolTimeout = ()  # noqa: N806
    if PoolTimeout and isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
        return sqlstate[:2] not in _NOT_AVAILABILITY
    return False


def unavailable_response(request_path: str) -> HttpResponse:
    if request_path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": DETAIL}, status=503)
    else:
        response = HttpResponse(
            "<!doctype html><title>Unavailable</title><h1>Temporarily unavailable</h1>"
            f"<p>{DETAIL}. This page will work again once the database is back.</p>",
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_unavailable(exception):
            return None
        logger.warning("database unavailable for %s: %s", request.path, exception)
        return unavailable_response(request.path)
