"""The builder's form: form -> JSON -> form round trips, and errors beside their inputs."""

from __future__ import annotations

import copy

import pytest

from automations import schemas
from automations.blocks import BLOCK_MODELS
from automations.prefect_json import automation_json
from automations.validation import parse_automation
from automations.web import codec, forms, labels, nodes
from tests.automations.test_schema import (
    DEPLOYMENT_ID,
    NOTIFY_ID,
    WEBHOOK_ID,
    automation,
    blocks,  # noqa: F401
    compound,
    event,
    metric,
)

pytestmark = pytest.mark.django_db

ACTION_EXAMPLES = {
    "do-nothing": {},
    "run-deployment": {
        "deployment_id": DEPLOYMENT_ID,
        "parameters": {"n": 1, "who": "{{ flow_run.name }}"},
        "job_variables": {"image": "x"},
        "schedule_after": 300,
    },
    "pause-deployment": {"source": "inferred"},
    "resume-deployment": {"deployment_id": DEPLOYMENT_ID},
    "change-flow-run-state": {
        "state": "FAILED",
        "name": "Stuck",
        "message": "too long",
        "force": True,
    },
    "cancel-flow-run": {},
    "suspend-flow-run": {},
    "call-webhook": {"block_document_id": WEBHOOK_ID, "payload": '{"id": "{{ event.id }}"}'},
    "send-notification": {
        "block_document_id": NOTIFY_ID,
        "subject": "Late",
        "body": "{{ flow_run.name }} is late",
    },
    "pause-work-pool": {"work_pool_id": DEPLOYMENT_ID},
    "resume-work-pool": {"source": "inferred"},
    "pause-work-queue": {"work_queue_id": DEPLOYMENT_ID},
    "resume-work-queue": {"source": "inferred"},
    "pause-automation": {"source": "inferred"},
    "resume-automation": {"automation_id": DEPLOYMENT_ID},
    "declare-incident": {},
}

TRIGGERS = {
    "event-reactive": event(
        after=["prefect.flow-run.Running"],
        expect=["prefect.flow-run.Failed", "prefect.task-run.*"],
        for_each=["prefect.resource.id"],
        threshold=3,
        within="1h",
        match={"prefect.resource.id": "prefect.flow-run.*", "env": ["!dev", "!test"]},
        match_related={
            "prefect.resource.role": "deployment",
            "prefect.resource.name": ["etl", "load*"],
        },
    ),
    "event-proactive": event(
        posture="Proactive", expect=["prefect.worker.heartbeat"], within="90s"
    ),
    "metric": metric(name="duration", operator=">=", threshold=2.5, range="10m", firing_for="1h"),
    "compound-nested-three-deep": compound(
        event(),
        {
            "type": "sequence",
            "within": "30m",
            "triggers": [
                event(posture="Proactive", within="1m"),
                compound(metric(), event(expect=["a.b"]), require=1, within=0),
            ],
        },
        require=2,
        within="1h",
    ),
}


def test_every_action_type_has_a_form_example_and_a_label():
    assert set(ACTION_EXAMPLES) == set(schemas.ACTION_TYPES)
    assert set(labels.ACTION_LABELS) == set(schemas.ACTION_TYPES)
    assert set(labels.TRIGGER_LABELS) == set(schemas.TRIGGER_TYPES)


def test_every_selected_object_and_block_an_action_names_is_known():
    for model in schemas.ACTION_TYPES.values():
        if issubclass(model, schemas.SourcedAction):
            assert model.id_field in schemas.SELECTED_KINDS, model
            assert model.id_field in model.model_fields, model
        if issubclass(model, schemas.BlockAction):
            assert model.block_kind in BLOCK_MODELS, model
            assert model.model_fields["type"].default in labels.BLOCK_LABELS, model


def round_trip(data):
    core = parse_automation(copy.deepcopy(data))
    exported = automation_json(core)
    form_data = codec.to_form_data(exported)
    again = parse_automation(codec.from_form_data(form_data))
    assert automation_json(again) == exported
    return form_data


@pytest.mark.parametrize("name", list(TRIGGERS))
def test_trigger_round_trips_form_json_form(name):
    round_trip(automation(TRIGGERS[name]))


@pytest.mark.parametrize("kind", list(ACTION_EXAMPLES))
def test_action_round_trips_form_json_form(kind, blocks):  # noqa: F811
    action = {"type": kind, **ACTION_EXAMPLES[kind]}
    for list_name in codec.ACTION_LISTS:
        round_trip(
            automation(
                **{list_name: [action]}, **({} if list_name == "actions" else {"actions": []})
            )
        )


def test_form_data_shows_durations_and_negation_as_people_write_them():
    form_data = round_trip(automation(TRIGGERS["event-reactive"]))
    assert form_data["trigger.within"] == "1h"
    assert form_data.getlist("trigger.match.label") == ["prefect.resource.id", "env"]
    assert form_data.getlist("trigger.match.op") == ["is", "not"]
    assert form_data.getlist("trigger.match.value") == ["prefect.flow-run.*", "dev, test"]


def test_nested_error_is_placed_beside_its_input():
    data = codec.to_form_data(automation(TRIGGERS["compound-nested-three-deep"]))
    data.setlist("trigger.triggers.1.triggers.0.within", ["5s"])
    form = forms.AutomationForm(data)
    assert not form.is_valid()
    assert form.field_errors == {
        "trigger.triggers.1.triggers.0.within": [schemas.RULES["proactive_within_too_short"]]
    }
    root = nodes.trigger_node(data, "trigger", form.field_errors)
    nested = root.children[1].children[0]
    assert nested.path == "trigger.triggers.1.triggers.0"
    assert nested.err == {"within": [schemas.RULES["proactive_within_too_short"]]}
    assert nested.val["within"] == "5s"  # what was typed is kept
    assert root.has_errors and not root.children[0].has_errors


def test_children_are_renumbered_by_position():
    data = codec.to_form_data(automation(compound(event(expect=["a"]), event(expect=["b"]))))
    moved = data.copy()
    for key in list(moved.keys()):
        if key.startswith("trigger.triggers.0."):
            moved.setlist(
                key.replace("trigger.triggers.0.", "trigger.triggers.7."), moved.getlist(key)
            )
            del moved[key]
    payload = codec.from_form_data(moved)
    assert [t["expect"] for t in payload["trigger"]["triggers"]] == [["b"], ["a"]]
    root = nodes.trigger_node(moved, "trigger", {})
    assert [c.path for c in root.children] == ["trigger.triggers.0", "trigger.triggers.1"]
    assert [c.lists["expect"] for c in root.children] == [["b"], ["a"]]
