"""Every rule of the event schema: a valid and an invalid case each, with its message."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from eventsui.events import matching, schemas
from eventsui.lib.errors import MESSAGES, error_list
from tests.conftest import make_event, related


def errors_of(data) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        schemas.Event.model_validate(data)
    return error_list(info.value)


def test_valid_event_parses_with_defaults():
    event = schemas.Event.model_validate(
        {"event": "prefect.worker.started", "resource": {"prefect.resource.id": "prefect.worker.x"}}
    )
    assert isinstance(event.id, uuid.UUID)
    assert event.occurred.tzinfo is not None
    assert event.related == [] and event.payload == {} and event.follows is None


def test_naive_occurred_is_taken_as_utc():
    event = schemas.Event.model_validate(
        make_event(occurred=None) | {"occurred": "2024-05-01T12:00:00"}
    )
    assert event.occurred.utcoffset().total_seconds() == 0


def test_resource_id_is_required():
    errors = errors_of(make_event() | {"resource": {"prefect.resource.name": "x"}})
    assert errors[0]["field"] == "resource"
    assert errors[0]["type"] == "resource_id_missing"
    assert errors[0]["msg"] == "Resources must include the prefect.resource.id label"


def test_resource_id_must_be_non_empty():
    errors = errors_of(make_event() | {"resource": {"prefect.resource.id": ""}})
    assert errors[0]["msg"] == "The prefect.resource.id label must be non-empty"


def test_related_resource_needs_a_role():
    errors = errors_of(make_event(related=[{"prefect.resource.id": "prefect.flow.1"}]))
    assert errors[0]["field"] == "related.0"
    assert errors[0]["msg"] == "Related Resources must include the prefect.resource.role label"


def test_related_resource_role_must_be_non_empty():
    errors = errors_of(make_event(related=[related("", "prefect.flow.1")]))
    assert errors[0]["msg"] == "The prefect.resource.role label must be non-empty"


def test_related_resource_with_role_is_valid():
    event = schemas.Event.model_validate(make_event(related=[related("flow", "prefect.flow.1")]))
    assert event.related[0].role == "flow"


def test_label_values_must_be_strings():
    errors = errors_of(make_event() | {"resource": {"prefect.resource.id": "x", "count": 3}})
    assert errors[0]["field"] == "resource.count"
    assert errors[0]["type"] == "string_type"


def test_at_most_500_labels_per_resource():
    ok = {"prefect.resource.id": "x"} | {f"l{i}": "v" for i in range(499)}
    schemas.Event.model_validate(make_event() | {"resource": ok})
    too_many = ok | {"one-more": "v"}
    errors = errors_of(make_event() | {"resource": too_many})
    assert errors[0]["msg"] == "The maximum number of labels per resource is 500"


def test_at_most_100_related_resources():
    hundred = [related("tag", f"prefect.tag.{i}") for i in range(100)]
    schemas.Event.model_validate(make_event(related=hundred))
    errors = errors_of(make_event(related=[*hundred, related("tag", "prefect.tag.x")]))
    assert errors[0]["field"] == "related"
    assert errors[0]["msg"] == "The maximum number of related resources is 100"


def test_limits_follow_settings(settings):
    settings.EVENTS_MAXIMUM_RELATED_RESOURCES = 2
    errors = errors_of(make_event(related=[related("tag", f"prefect.tag.{i}") for i in range(3)]))
    assert errors[0]["msg"] == "The maximum number of related resources is 2"


def test_event_name_at_most_1024_characters():
    schemas.Event.model_validate(make_event("e" * 1024))
    errors = errors_of(make_event("e" * 1025))
    assert errors[0]["field"] == "event"
    assert errors[0]["type"] == "string_too_long"
    assert errors[0]["msg"] == "Enter at most 1024 characters."


def test_event_name_is_required():
    data = make_event()
    del data["event"]
    errors = errors_of(data)
    assert errors[0]["field"] == "event" and errors[0]["msg"] == "This field is required."


def test_event_at_most_1_500_000_bytes():
    schemas.Event.model_validate(make_event(payload={"blob": "x" * 1_400_000}))
    errors = errors_of(make_event(payload={"blob": "x" * 1_500_000}))
    assert errors[0]["type"] == "event_too_large"
    assert "maximum size of an event is 1500000 bytes" in errors[0]["msg"]


def test_follows_must_name_another_event():
    same = str(uuid.uuid4())
    errors = errors_of(make_event(id=same, follows=same))
    assert errors[0]["type"] == "follows_self"
    event = schemas.Event.model_validate(make_event(follows=str(uuid.uuid4())))
    assert event.follows is not None


def test_id_must_be_a_uuid():
    errors = errors_of(make_event(id="not-a-uuid"))
    assert errors[0]["field"] == "id" and errors[0]["type"] == "uuid_parsing"


def test_payload_must_be_an_object():
    errors = errors_of(make_event() | {"payload": [1, 2]})
    assert errors[0]["field"] == "payload" and errors[0]["type"] == "dict_type"


def test_find_resource_label_reads_primary_and_related():
    event = schemas.Event.model_validate(
        make_event(
            related=[
                related("flow", "prefect.flow.1", **{"prefect.resource.name": "etl"}),
                related("flow", "prefect.flow.2", **{"prefect.resource.name": "second"}),
            ]
        )
    )
    assert event.find_resource_label("prefect.resource.name") == "alpha"
    assert event.find_resource_label("related:flow:prefect.resource.name") == "etl"
    assert event.find_resource_label("related:deployment:prefect.resource.name") is None


def test_resource_in_role_takes_first_and_resources_in_role_all():
    event = schemas.Event.model_validate(
        make_event(related=[related("tag", "prefect.tag.a"), related("tag", "prefect.tag.b")])
    )
    assert event.resource_in_role["tag"].id == "prefect.tag.a"
    assert [r.id for r in event.resources_in_role["tag"]] == ["prefect.tag.a", "prefect.tag.b"]
    assert [r.id for r in event.involved_resources] == [
        "prefect.worker.process.alpha",
        "prefect.tag.a",
        "prefect.tag.b",
    ]


@pytest.mark.parametrize(
    ("expected", "value", "result"),
    [
        ("prefect.flow-run.*", "prefect.flow-run.123", True),
        ("prefect.flow-run.*", "prefect.task-run.123", False),
        ("prefect.*-run.1?3", "prefect.flow-run.123", True),
        ("prefect.*-run.1?3", "prefect.flow-run.1234", False),
        ("!prefect.flow-run.*", "prefect.task-run.1", True),
        ("!prefect.flow-run.*", "prefect.flow-run.1", False),
        ("exact", "exact", True),
        ("exact", "exactly", False),
        ("!anything", None, False),
        ("*", None, False),
    ],
)
def test_label_matching_globs_negation_and_missing(expected, value, result):
    assert matching.label_matches(expected, value) is result


def test_resource_specification_any_of_a_list_and_empty_matches_all():
    resource = schemas.Resource.model_validate(
        {"prefect.resource.id": "prefect.flow.1", "env": "prod"}
    )
    assert schemas.ResourceSpecification.model_validate({}).matches(resource)
    assert schemas.ResourceSpecification.model_validate({"env": ["dev", "prod"]}).matches(resource)
    assert not schemas.ResourceSpecification.model_validate({"env": ["dev", "test"]}).matches(
        resource
    )
    assert not schemas.ResourceSpecification.model_validate({"env": []}).matches(resource)
    assert not schemas.ResourceSpecification.model_validate({"team": "!data"}).matches(resource)


def test_every_error_type_we_raise_has_a_message():
    raised = set()
    for data in [
        make_event() | {"resource": {}},
        make_event("e" * 1025),
        make_event(id="nope"),
        make_event() | {"payload": []},
        make_event() | {"resource": {"prefect.resource.id": "x", "n": 1}},
        {"resource": {"prefect.resource.id": "x"}},
        make_event() | {"occurred": "yesterday-ish"},
    ]:
        with pytest.raises(ValidationError) as info:
            schemas.Event.model_validate(data)
        raised |= {e["type"] for e in info.value.errors()}
    custom = {
        "resource_id_missing",
        "resource_id_empty",
        "resource_role_missing",
        "resource_role_empty",
        "too_many_labels",
        "too_many_related",
        "follows_self",
        "event_too_large",
    }
    missing = {t for t in raised - custom if t not in MESSAGES}
    assert not missing, f"error types without a human message: {missing}"
