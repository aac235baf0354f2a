"""Events and API tokens in the Django admin: read-only, searchable, cheap to list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventsui.events import schemas, services
from eventsui.events.demo import simulator as demo
from eventsui.events.models import ApiToken, Event, hash_token
from tests.conftest import make_event, related

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/eventsui/event/"


@pytest.fixture
def events():
    end = datetime.now(UTC)
    generated = list(demo.generate(120, end - timedelta(hours=2), end, seed=5))
    services.ingest_events(generated, publish=False)
    return generated


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def test_changelist_renders_events_with_a_bounded_number_of_queries(
    admin_client, events, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    newest = max(events, key=lambda e: e.occurred)
    assert newest.event in response.content.decode()
    assert response.context["cl"].result_count == 120


def test_search_matches_event_name_or_resource_id_prefix(admin_client, events):
    response = admin_client.get(CHANGELIST, {"q": "prefect.worker."})
    shown = list(response.context["cl"].result_list)
    assert shown and all(e.event.startswith("prefect.worker.") for e in shown)

    target = next(e for e in events if e.event.startswith("prefect.task-run."))
    response = admin_client.get(CHANGELIST, {"q": target.resource.id})
    shown = list(response.context["cl"].result_list)
    assert shown and {e.resource_id for e in shown} == {target.resource.id}


def test_filters_by_event_kind_and_time(admin_client, events):
    response = admin_client.get(CHANGELIST, {"kind": "prefect.flow-run."})
    shown = list(response.context["cl"].result_list)
    assert shown and all(e.event.startswith("prefect.flow-run.") for e in shown)

    old = make_event("prefect.worker.started", occurred=datetime.now(UTC) - timedelta(days=3))
    services.ingest_events([schemas.Event.model_validate(old)], publish=False)
    response = admin_client.get(CHANGELIST, {"within": "24h", "q": "prefect.worker.started"})
    ids = {str(e.id) for e in response.context["cl"].result_list}
    assert old["id"] not in ids
    response = admin_client.get(CHANGELIST, {"within": "7d", "q": "prefect.worker.started"})
    assert old["id"] in {str(e.id) for e in response.context["cl"].result_list}


def test_change_page_shows_labels_related_and_payload_as_escaped_json(admin_client):
    event = make_event(
        "prefect.flow-run.Failed",
        related=[related("flow", "prefect.flow.1", **{"prefect.resource.name": "etl"})],
        payload={"message": "<script>alert(1)</script>"},
    )
    services.ingest_events([schemas.Event.model_validate(event)], publish=False)
    response = admin_client.get(f"{CHANGELIST}{event['id']}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&quot;prefect.resource.role&quot;: &quot;flow&quot;" in body
    assert 'name="_save"' not in body  # read-only: nothing to save


def test_events_cannot_be_added_changed_or_deleted(admin_client, events):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    event_id = events[0].id
    response = admin_client.post(f"{CHANGELIST}{event_id}/change/", {"event": "x"})
    assert response.status_code == 403
    assert admin_client.post(f"{CHANGELIST}{event_id}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.filter(id=event_id).exists()
    assert "delete_selected" not in admin_client.get(CHANGELIST).content.decode()


def test_viewer_without_staff_status_is_sent_to_login(client, viewer):
    client.force_login(viewer)
    response = client.get(CHANGELIST)
    assert response.status_code == 302


def test_adding_a_token_shows_the_raw_value_once(admin_client, admin):
    response = admin_client.post(
        "/admin/eventsui/apitoken/add/", {"name": "ci", "user": admin.pk}, follow=True
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="ci")
    shown = [str(m) for m in response.context["messages"]]
    raw = next(word for text in shown for word in text.split() if word.startswith(ApiToken.PREFIX))
    assert hash_token(raw) == token.key_hash
    assert ApiToken.objects.count() == 1

    listing = admin_client.get("/admin/eventsui/apitoken/")
    assert listing.status_code == 200
    assert raw not in listing.content.decode()
    assert "ci" in listing.content.decode()
    change = admin_client.get(f"/admin/eventsui/apitoken/{token.pk}/change/")
    assert change.status_code == 200
    assert raw not in change.content.decode()
    assert token.key_hash not in change.content.decode()
