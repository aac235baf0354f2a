"""Password guessing is throttled (django-axes) on every way in with a password: the login
form, HTTP Basic on the API and the `auth` message of Prefect's websockets. After the limit,
even the right password is refused without being checked, with 429 and Retry-After."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.test import APIClient

from eventsui.asgi import application
from tests.conftest import PASSWORD, basic_header

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.mark.django_db
def test_the_login_form_locks_out_an_address_after_repeated_failures(viewer):
    client = Client()
    for _ in range(LIMIT - 1):
        response = client.post("/login/", {"username": "viewer", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    response = client.post("/login/", {"username": "viewer", "password": "wrong"})
    assert response.status_code == 429  # the failure that reaches the limit
    response = client.post("/login/", {"username": "viewer", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    other = Client(REMOTE_ADDR="10.1.2.3")  # another address is not locked out
    assert other.post("/login/", {"username": "viewer", "password": PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_basic_auth_locks_out_an_address_after_repeated_failures(viewer):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=basic_header("viewer", "wrong"))
    for _ in range(LIMIT - 1):
        assert api.post("/api/events/filter", {}, format="json").status_code == 401
    assert api.post("/api/events/filter", {}, format="json").status_code == 429
    api.credentials(HTTP_AUTHORIZATION=basic_header("viewer"))
    response = api.post("/api/events/filter", {}, format="json")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed logins" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_websocket_auth_message_locks_out_an_address_after_repeated_failures(viewer):
    async def auth(token: str) -> dict:
        comm = WebsocketCommunicator(application, "/api/events/in", subprotocols=["prefect"])
        comm.scope["client"] = ("10.9.8.7", 40000)  # as daphne sets it
        connected, _ = await comm.connect()
        assert connected
        await comm.send_to(text_data=json.dumps({"type": "auth", "token": token}))
        answer = json.loads(await comm.receive_from(timeout=5))
        await comm.disconnect()
        return answer

    for _ in range(LIMIT - 1):
        assert (await auth("viewer:wrong"))["reason"] == "Invalid credentials"
    assert "Too many failed logins" in (await auth("viewer:wrong"))["reason"]
    answer = await auth(f"viewer:{PASSWORD}")
    assert answer["type"] == "auth_failure"
    assert "Too many failed logins" in answer["reason"]
