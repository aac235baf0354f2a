"""The automation API: Prefect's paths, shapes and status codes."""

from __future__ import annotations

import uuid

import pytest

from automations.models import Automation
from tests.automations.test_schema import DEPLOYMENT_ID, WEBHOOK_ID, automation, compound, event

pytestmark = pytest.mark.django_db


def create(api, **extra):
    response = api.post("/api/automations/", automation(**extra), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_answers_201_with_prefects_automation_shape(api):
    body = create(api, trigger=compound(event(within="1m"), event(posture="Proactive")))
    assert set(body) >= {"id", "created", "updated", "name", "trigger", "actions", "enabled"}
    assert body["trigger"]["within"] is None
    assert body["trigger"]["triggers"][0]["within"] == 60.0
    assert body["trigger"]["triggers"][1]["within"] == 10.0
    uuid.UUID(body["id"])


def test_create_refuses_invalid_with_422_field_and_message(api):
    response = api.post(
        "/api/automations/", automation(event(posture="Proactive", within=5)), format="json"
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "trigger.within",
            "loc": ["trigger", "within"],
            "type": "proactive_within_too_short",
            "msg": "`within` for Proactive triggers must be greater than or equal to 10 seconds",
        }
    ]
    assert not Automation.objects.exists()


def test_read_put_patch_delete(api):
    created = create(api)
    url = f"/api/automations/{created['id']}"
    assert api.get(url).json()["name"] == "Failed runs"
    assert api.put(url, automation(name="Renamed"), format="json").status_code == 204
    assert api.get(url).json()["name"] == "Renamed"
    assert api.patch(url, {"enabled": False}, format="json").status_code == 204
    assert api.get(url).json()["enabled"] is False
    assert api.patch(url, {"name": "no"}, format="json").status_code == 422
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.delete(url).status_code == 404


def test_filter_sorts_limits_and_filters_by_name(api):
    for name in ("b", "a", "c"):
        create(api, name=name)
    names = [a["name"] for a in api.post("/api/automations/filter", {}, format="json").json()]
    assert names == ["a", "b", "c"]
    body = {"sort": "NAME_DESC", "limit": 2}
    assert [a["name"] for a in api.post("/api/automations/filter", body, format="json").json()] == [
        "c",
        "b",
    ]
    body = {"automations": {"name": {"any_": ["a", "c"]}}}
    assert len(api.post("/api/automations/filter", body, format="json").json()) == 2
    assert api.post("/api/automations/count", body, format="json").json() == 2
    assert api.post("/api/automations/count").json() == 3


def test_related_to_finds_owner_and_selected_deployments(api):
    create(api, owner_resource="prefect.deployment.owner")
    create(
        api,
        name="runs",
        trigger=event(expect=["prefect.flow-run.Failed"]),
        actions=[{"type": "run-deployment", "deployment_id": DEPLOYMENT_ID}],
    )
    owned = api.get("/api/automations/related-to/prefect.deployment.owner").json()
    assert [a["name"] for a in owned] == ["Failed runs"]
    related = api.get(f"/api/automations/related-to/prefect.deployment.{DEPLOYMENT_ID}").json()
    assert [a["name"] for a in related] == ["runs"]


def test_templates_validate(api):
    assert (
        api.post("/api/templates/validate", "Hello {{ flow_run.name }}", format="json").status_code
        == 204
    )
    response = api.post("/api/templates/validate", "Hello\n{{ flow_run.name ", format="json")
    assert response.status_code == 422
    assert response.json()["error"]["line"] == 2
    assert response.json()["error"]["source"] == "Hello\n{{ flow_run.name "


def test_api_requires_authentication(anonymous_api):
    assert anonymous_api.post("/api/automations/filter", {}, format="json").status_code in (
        401,
        403,
    )
    assert anonymous_api.post("/api/automations/", automation(), format="json").status_code in (
        401,
        403,
    )


def test_webhook_action_must_name_an_existing_block(api):
    response = api.post(
        "/api/automations/",
        automation(actions=[{"type": "call-webhook", "block_document_id": WEBHOOK_ID}]),
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "block_not_found"
