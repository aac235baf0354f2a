"""A bound on how long the reads of one request may run (`EVENTS_QUERY_TIMEOUT_MS`).

The store's readers (`eventsui.events.queries`) run inside `time_bound()`. On PostgreSQL it
sets `statement_timeout` for the session while they run (the server cancels a statement that
takes longer); on SQLite, which has no such setting, a progress handler (Python's
`sqlite3.Connection.set_progress_handler`, called every few thousand virtual machine
instructions) interrupts the statement once the deadline has passed. Either way the reader
raises `QueryTimeout`: the API answers 503 with a message saying so and the feed shows it,
instead of a request (and a daphne worker thread) hanging for minutes. Django has no
per-query timeout of its own, hence this module.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from functools import wraps

from django.conf import settings
from django.db import OperationalError, connection, transaction

_state = threading.local()
RETRY_AFTER_SECONDS = 5


class QueryTimeout(Exception):
    """A read ran past EVENTS_QUERY_TIMEOUT_MS and was stopped."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__(
            f"The query took longer than {seconds:g} s and was stopped. Narrow the filter "
            "(a shorter time range, an event name, a resource id) and try again."
        )


def _is_cancel(exc: BaseException) -> bool:
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "57014":  # query_canceled (statement_timeout)
        return True
    return connection.vendor == "sqlite" and "interrupted" in str(exc)


@contextmanager
def time_bound(milliseconds: int | None = None):
    """Bound the queries run inside (re-entrant: an inner bound keeps the outer one)."""
    if getattr(_state, "depth", 0):
        _state.depth += 1
        try:
            yield
        finally:
            _state.depth -= 1
        return
    ms = int(milliseconds or settings.EVENTS_QUERY_TIMEOUT_MS)
    connection.ensure_connection()
    vendor = connection.vendor
    _state.depth = 1
    try:
        if vendor == "postgresql" and connection.in_atomic_block:
            # Inside a transaction: in a savepoint, so that a cancelled statement leaves the
            # transaction usable, with the setting local to it and put back after.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SHOW statement_timeout")
                previous = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{ms}ms"])
                yield
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
        elif vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = %s", [f"{ms}ms"])
            try:
                yield
            finally:
                _reset_postgresql()
        elif vendor == "sqlite":
            deadline = time.monotonic() + ms / 1000
            connection.connection.set_progress_handler(
                lambda: 1 if time.monotonic() > deadline else 0, 20_000
            )
            try:
                yield
            finally:
                if connection.connection is not None:
                    connection.connection.set_progress_handler(None, 0)
        else:
            yield
    except OperationalError as exc:
        if _is_cancel(exc):
            raise QueryTimeout(ms / 1000) from exc
        raise
    finally:
        _state.depth = 0


def _reset_postgresql() -> None:
    if connection.connection is None:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    except Exception:  # noqa: BLE001 - a connection that cannot reset is not reused
        connection.close()


def bounded(function):
    """Run `function` inside `time_bound()`."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        with time_bound():
            return function(*args, **kwargs)

    return wrapper
