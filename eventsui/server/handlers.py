"""The Django patch: an ASGI handler that runs the middleware chain and the view in one thread hop.

eventsui/asgi.py serves HTTP with it; `manage.py check` fails when it would not apply
(eventsui/server/checks.py).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGIHandler with a synchronous middleware chain, run view included in one call.

    Why. Every view of this project is synchronous (DRF views, form views; the async parts
    are the Channels consumers, routed before Django sees a request). Django's own ASGI
    handler builds an async middleware chain, and each synchronous middleware hook
    (`process_request`, `process_response` of sessions, CSRF, auth, messages, ...) then costs
    a hop from the event loop to the request's thread and back: a dozen hops per request.
    Here the chain is built synchronously and runs, view included, in a single hop (measured
    under daphne: GET /api/health p50 4.1 -> 1.8 ms; POST /api/events/filter, newest 50 of
    1M events, 9.0 -> 6.5 ms).

    What it replaces: `BaseHandler.load_middleware(is_async=True)`, which ASGIHandler calls
    to build an async chain, becomes `load_middleware(is_async=False)`; and
    `BaseHandler.get_response_async(request)`, which ASGIHandler awaits for each request,
    runs the synchronous `get_response(request)` with asgiref's
    `sync_to_async(thread_sensitive=True)`. Django still reads the body, sends the response
    and fires the request signals asynchronously, and asgiref's `ThreadSensitiveContext` (per
    request, in `ASGIHandler.__call__`) still gives each request its own thread, so a
    request waiting on PostgreSQL does not hold up another.

    Verified against Django 5.2.19 and asgiref 3.13.0 (the ranges pinned in pyproject.toml,
    which `manage.py check` compares with what is installed). Before widening a range, read
    that version's `django.core.handlers.asgi.ASGIHandler` and `django.core.handlers.base.
    BaseHandler` (that `__call__`/`handle` still await `get_response_async`, and that
    `load_middleware` still takes `is_async`), and run tests/server.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_asgi_application() -> SyncChainASGIHandler:
    """Like django.core.asgi.get_asgi_application(), with the handler above."""
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
