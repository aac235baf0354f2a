"""POST /api/events and the ingest service: storage, dedupe, errors, auth."""

from __future__ import annotations

import uuid

import pytest

from eventsui.events import schemas, services
from eventsui.events.models import ApiToken, Event, EventResource
from tests.conftest import basic_header, make_event, related

pytestmark = pytest.mark.django_db


def post(api, events):
    return api.post("/api/events", events, format="json")


def test_post_events_stores_them_with_one_row_per_resource(api):
    event = make_event(
        "prefect.worker.submitted-flow-run",
        related=[related("flow-run", "prefect.flow-run.1"), related("flow", "prefect.flow.2")],
        payload={"k": "v"},
    )
    response = post(api, [event])
    assert response.status_code == 204
    stored = Event.objects.get(id=event["id"])
    assert stored.event == "prefect.worker.submitted-flow-run"
    assert stored.resource_id == "prefect.worker.process.alpha"
    assert stored.payload == {"k": "v"}
    assert stored.received is not None
    rows = list(EventResource.objects.filter(event_id=event["id"]).order_by("position"))
    assert [(r.position, r.role, r.resource_id) for r in rows] == [
        (0, "", "prefect.worker.process.alpha"),
        (1, "flow-run", "prefect.flow-run.1"),
        (2, "flow", "prefect.flow.2"),
    ]
    assert all(r.occurred == stored.occurred for r in rows)


def test_same_event_twice_is_stored_once(api):
    event = make_event()
    assert post(api, [event]).status_code == 204
    assert post(api, [event]).status_code == 204
    assert Event.objects.filter(id=event["id"]).count() == 1
    assert EventResource.objects.filter(event_id=event["id"]).count() == 1


def test_batch_with_a_repeated_id_stores_the_rest(api):
    first, second = make_event(), make_event()
    repeat = dict(first, event="prefect.something.else")
    assert post(api, [first, repeat, second]).status_code == 204
    assert Event.objects.count() == 2
    assert Event.objects.get(id=first["id"]).event == first["event"]


def test_ingest_service_reports_duplicates():
    events = [schemas.Event.model_validate(make_event()) for _ in range(3)]
    assert services.ingest_events(events).stored == 3
    again = services.ingest_events([*events, schemas.Event.model_validate(make_event())])
    assert (again.received, again.stored, again.duplicates) == (4, 1, 3)


def test_invalid_event_answers_422_naming_index_field_and_rule_and_stores_nothing(api):
    good = make_event()
    bad = make_event(related=[{"prefect.resource.id": "prefect.flow.1"}])
    response = post(api, [good, bad])
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("Event 1 is invalid: related.0:")
    error = body["errors"][0]
    assert error["loc"][:2] == [1, "related"]
    assert error["type"] == "resource_role_missing"
    assert error["msg"] == "Related Resources must include the prefect.resource.role label"
    assert Event.objects.count() == 0


def test_malformed_json_answers_422(api):
    response = api.generic("POST", "/api/events", "[{not json", content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


def test_body_must_be_a_list(api):
    response = post(api, make_event())
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "list_type"


def test_nothing_already_stored_is_touched_by_a_bad_batch(api):
    kept = make_event(payload={"v": 1})
    post(api, [kept])
    post(api, [dict(kept, payload={"v": 2}), make_event() | {"resource": {}}])
    assert Event.objects.get(id=kept["id"]).payload == {"v": 1}


def test_unauthenticated_requests_are_refused(anonymous_api):
    assert anonymous_api.post("/api/events", [make_event()], format="json").status_code in (
        401,
        403,
    )
    assert anonymous_api.get("/api/admin/version").status_code in (401, 403)
    assert Event.objects.count() == 0


def test_wrong_password_is_refused(anonymous_api, viewer):
    anonymous_api.credentials(HTTP_AUTHORIZATION=basic_header(viewer.username, "wrong"))
    assert anonymous_api.post("/api/events", [make_event()], format="json").status_code == 401


def test_api_token_authenticates(anonymous_api, viewer):
    _, raw = ApiToken.issue(viewer, "ci")
    anonymous_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert anonymous_api.post("/api/events", [make_event()], format="json").status_code == 204
    assert ApiToken.objects.get(user=viewer).last_used is not None


def test_revoked_or_unknown_token_is_refused(anonymous_api, viewer):
    token, raw = ApiToken.issue(viewer, "ci")
    token.delete()
    anonymous_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert anonymous_api.post("/api/events", [make_event()], format="json").status_code == 401


def test_inactive_user_is_refused_even_when_cached(anonymous_api, viewer):
    anonymous_api.credentials(HTTP_AUTHORIZATION=basic_header(viewer.username))
    assert anonymous_api.get("/api/admin/version").status_code == 200
    viewer.is_active = False
    viewer.save()
    assert anonymous_api.get("/api/admin/version").status_code == 401


def test_password_change_invalidates_cached_basic_credentials(anonymous_api, viewer):
    anonymous_api.credentials(HTTP_AUTHORIZATION=basic_header(viewer.username))
    assert anonymous_api.get("/api/admin/version").status_code == 200
    viewer.set_password("another-password-entirely")
    viewer.save()
    assert anonymous_api.get("/api/admin/version").status_code == 401


def test_version_is_a_prefect_3_string(api, settings):
    settings.PREFECT_API_VERSION = "3.8.8"
    response = api.get("/api/admin/version")
    assert response.status_code == 200 and response.json() == "3.8.8"


def test_health_needs_no_credentials(anonymous_api):
    response = anonymous_api.get("/api/health")
    assert response.status_code == 200 and response.json() is True


def test_publish_happens_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    published = []
    monkeypatch.setattr(
        "eventsui.events.live.publish.publish", lambda payloads: published.append(payloads)
    )
    event = schemas.Event.model_validate(make_event())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.ingest_events([event])
    assert published == [] and len(callbacks) == 1
    callbacks[0]()
    assert len(published) == 1
    received = schemas.ReceivedEvent.model_validate_json(published[0][0])
    assert received.id == event.id and received.resource.id == event.resource.id


def test_duplicates_are_not_published_again(django_capture_on_commit_callbacks, monkeypatch):
    published = []
    monkeypatch.setattr(
        "eventsui.events.live.publish.publish", lambda payloads: published.extend(payloads)
    )
    event = schemas.Event.model_validate(make_event())
    with django_capture_on_commit_callbacks(execute=True):
        services.ingest_events([event])
    with django_capture_on_commit_callbacks(execute=True):
        services.ingest_events([event])
    assert len(published) == 1


def test_label_values_with_tabs_and_newlines_survive_storage(api):
    tricky = "line one\nline\ttwo \\ back"
    event = make_event(related=[related("tag", "prefect.tag.x", note=tricky)])
    event["resource"]["prefect.resource.name"] = tricky
    assert post(api, [event]).status_code == 204
    row = EventResource.objects.get(event_id=event["id"], position=1)
    assert row.labels["note"] == tricky
    assert (
        EventResource.objects.get(event_id=event["id"], position=0).labels["prefect.resource.name"]
        == tricky
    )


def test_unknown_event_id_format_rejected_without_500(api):
    response = post(api, [make_event(id=str(uuid.uuid4())[:-2])])
    assert response.status_code == 422
