"""The ASGI entry point: Django's middleware chain and views run as one synchronous call."""

from __future__ import annotations

import json
import threading

import pytest
from asgiref.sync import iscoroutinefunction
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator

from eventsui.asgi import application, django_asgi_app
from eventsui.events.models import Event
from eventsui.server.handlers import SyncChainASGIHandler
from tests.conftest import basic_header, make_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_the_http_handler_builds_a_synchronous_chain():
    assert isinstance(django_asgi_app, SyncChainASGIHandler)
    assert not iscoroutinefunction(django_asgi_app._middleware_chain)


async def request(method, path, *, body=b"", headers=()):
    """One request through the ASGI application; streamed bodies (static files) included."""
    comm = HttpCommunicator(
        application, method, path, body=body, headers=[(b"host", b"localhost"), *headers]
    )
    await comm.send_input({"type": "http.request", "body": body})
    start = await comm.receive_output(timeout=10)
    assert start["type"] == "http.response.start"
    chunks = []
    while True:
        message = await comm.receive_output(timeout=10)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await comm.wait(timeout=10)  # the application has finished (closed the response)
    return {"status": start["status"], "headers": start["headers"], "body": b"".join(chunks)}


async def test_an_api_call_runs_in_a_worker_thread_and_stores(viewer, monkeypatch):
    from eventsui.events import services

    threads = []
    original = services.ingest_events

    def spy(*args, **kwargs):
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "ingest_events", spy)
    event = make_event()
    response = await request(
        "POST",
        "/api/events",
        body=json.dumps([event]).encode(),
        headers=[
            (b"authorization", basic_header(viewer.username).encode()),
            (b"content-type", b"application/json"),
        ],
    )
    assert response["status"] == 204
    assert threads and threads[0] != threading.get_ident()  # not on the event loop's thread
    assert await database_sync_to_async(Event.objects.filter(id=event["id"]).exists)()


async def test_errors_and_auth_still_answer_through_the_chain(viewer):
    unauthenticated = await request("POST", "/api/events", body=b"[]")
    assert unauthenticated["status"] in (401, 403)
    invalid = await request(
        "POST",
        "/api/events",
        body=b'[{"event": "x", "resource": {}}]',
        headers=[
            (b"authorization", basic_header(viewer.username).encode()),
            (b"content-type", b"application/json"),
        ],
    )
    assert invalid["status"] == 422
    assert b"prefect.resource.id" in invalid["body"]


async def test_session_and_csrf_middleware_run():
    page = await request("GET", "/login/")
    assert page["status"] == 200
    cookies = b"; ".join(v.split(b";")[0] for k, v in page["headers"] if k == b"Set-Cookie")
    assert b"csrftoken=" in cookies
    # A form POST without the CSRF token is refused by the CSRF middleware.
    refused = await request(
        "POST",
        "/login/",
        body=b"username=a&password=b",
        headers=[(b"content-type", b"application/x-www-form-urlencoded"), (b"cookie", cookies)],
    )
    assert refused["status"] == 403


async def test_static_files_are_served_by_whitenoise():
    response = await request("GET", "/static/eventsui/times.js")
    assert response["status"] == 200
    assert b"eventsuiTimes" in response["body"]
