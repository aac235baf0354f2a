"""Text that PostgreSQL's btree indexes hold (event name, resource id, related role) is bounded
in bytes by the event schema: too long is a 422 naming the field, never a 500 for the batch."""

from __future__ import annotations

import secrets

import pytest

from eventsui.events.models import Event, EventResource
from eventsui.events.schemas import MAX_EVENT_NAME_BYTES, MAX_RESOURCE_KEY_BYTES
from tests.conftest import make_event, related

pytestmark = pytest.mark.django_db


def post(api, events):
    return api.post("/api/events", events, format="json")


def incompressible(size: int) -> str:
    """Random text of `size` bytes: PostgreSQL cannot compress it below the index limit."""
    return secrets.token_hex(size)[:size]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (make_event(resource_id="x" * 3000), "resource"),
        (make_event(related=[related("r" * 3000, "prefect.flow.1")]), "related.0"),
        (make_event("😀" * 1024), "event"),  # 1,024 characters, 4 KB of UTF-8
    ],
    ids=["resource id", "related role", "event name of 1024 emoji"],
)
def test_text_longer_than_an_index_holds_is_refused_with_422_naming_the_field(api, event, field):
    good = make_event()
    response = post(api, [good, event])
    assert response.status_code == 422
    errors = response.json()["errors"] if "errors" in response.json() else response.json()
    text = str(errors)
    assert f"'field': '1.{field}'" in text or f'"field": "1.{field}"' in text, text
    assert "bytes" in text
    assert not Event.objects.filter(id=good["id"]).exists()  # a bad batch stores nothing


@pytest.mark.postgresql
def test_the_longest_indexable_text_is_stored_by_postgresql(api):
    """At the bound, with text PostgreSQL cannot compress, every index still takes the row."""
    # 1,024 random two-byte characters: the longest name, in characters and in bytes.
    name = "".join(chr(0x100 + secrets.randbelow(0x700)) for _ in range(1024))
    assert len(name.encode()) == MAX_EVENT_NAME_BYTES
    resource_id = incompressible(MAX_RESOURCE_KEY_BYTES)
    role = incompressible(MAX_RESOURCE_KEY_BYTES)
    event = make_event(name, resource_id=resource_id, related=[related(role, resource_id)])
    response = post(api, [event])
    assert response.status_code == 204, response.content[:500]
    assert Event.objects.get(id=event["id"]).resource_id == resource_id
    assert EventResource.objects.filter(role=role, resource_id=resource_id).count() == 1
    too_long = make_event(resource_id=resource_id + "x")
    assert post(api, [too_long]).status_code == 422
