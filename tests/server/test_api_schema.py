"""/api/schema/: generated from the views and the pydantic models they parse, without warnings."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from automations.api.views import StoredAutomation
from eventsui.events import queries
from tests.automations.test_schema import automation


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    # Fails (SchemaGenerationError) on any warning, and validates against OpenAPI's own schema.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def request_schema(schema: dict, path: str, method: str = "post") -> dict:
    body = schema["paths"][path][method]["requestBody"]["content"]
    assert list(body) == ["application/json"]
    ref = body["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rpartition("/")[2]]


def test_request_bodies_are_the_pydantic_models(schema):
    filter_request = request_schema(schema, "/api/events/filter")
    assert filter_request["properties"]["limit"]["maximum"] == queries.PAGE_SIZE
    # Unknown top-level keys are ignored, as Prefect's FastAPI body parameters are.
    assert filter_request.get("additionalProperties", True) is not False
    count = request_schema(schema, "/api/events/count-by/{countable}")
    assert count["properties"]["time_interval"]["minimum"] == 0.01
    assert "filter" in count["required"]
    batch = request_schema(schema, "/api/events")
    assert batch["type"] == "array"
    assert batch["items"] == {"$ref": "#/components/schemas/PostedEvent"}
    core = request_schema(schema, "/api/automations/")
    assert {"name", "trigger", "actions"} <= set(core["required"])
    assert "EventTrigger" in schema["components"]["schemas"]


@pytest.mark.django_db
def test_the_documented_automation_is_what_the_api_answers(api):
    body = api.post("/api/automations/", automation(), format="json").json()
    assert set(body) == set(StoredAutomation.model_fields)
    StoredAutomation.model_validate(body)
