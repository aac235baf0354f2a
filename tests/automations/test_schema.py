"""The automation schema: every rule, valid and invalid, with its message.

CASES is shared with tests/automations/test_parity.py, which proves that a form, the API and
JSON import report each of these errors with the same field and message.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from uuid import UUID

import pytest
from pydantic import ValidationError

from automations import schemas
from automations.errors import schema_errors
from automations.models import NotificationBlock, WebhookBlock
from automations.prefect_json import automation_json
from automations.validation import parse_automation
from eventsui.lib.errors import MESSAGES

WEBHOOK_ID = "11111111-1111-4111-8111-111111111111"
NOTIFY_ID = "22222222-2222-4222-8222-222222222222"
DEPLOYMENT_ID = "33333333-3333-4333-8333-333333333333"
UNKNOWN_ID = "44444444-4444-4444-8444-444444444444"


@pytest.fixture
def blocks(db):
    WebhookBlock.objects.create(id=UUID(WEBHOOK_ID), name="ops hook", url="https://example.com/h")
    NotificationBlock.objects.create(
        id=UUID(NOTIFY_ID), name="oncall", url="mailto://smtp.example.com?to=oncall@example.com"
    )


def event(**extra):
    return {"type": "event", "expect": ["prefect.flow-run.Failed"], **extra}


def automation(trigger=None, actions=None, **extra):
    return {
        "name": "Failed runs",
        "trigger": trigger or event(),
        "actions": actions if actions is not None else [{"type": "do-nothing"}],
        **extra,
    }


def compound(*triggers, **extra):
    return {"type": "compound", "require": "all", "triggers": list(triggers), **extra}


def metric(**extra):
    query = {"name": "lateness", "operator": ">", "threshold": 5, **extra}
    return {"type": "metric", "metric": query}


# (id, valid automation, invalid automation, error field, error type, message)
CASES = [
    (
        "within-null",
        automation(event(within=0)),
        automation(event(within=None)),
        "trigger.within",
        "within_null",
        "`within` should be a valid timedelta",
    ),
    (
        "within-negative",
        automation(event(within="30s")),
        automation(event(within="-5s")),
        "trigger.within",
        "duration_negative",
        "Durations cannot be negative.",
    ),
    (
        "within-beyond-a-year",
        automation(event(within="365d")),
        automation(event(within="99999999d")),
        "trigger.within",
        "duration_too_long",
        "Durations can be at most 365 days.",
    ),
    (
        "within-overflowing",
        automation(event(within=3600)),
        automation(event(within=1e308)),
        "trigger.within",
        "duration_too_long",
        "Durations can be at most 365 days.",
    ),
    (
        "within-not-a-duration",
        automation(event(within="1h30m")),
        automation(event(within="soon")),
        "trigger.within",
        "time_delta_parsing",
        "Enter a duration, like 30s, 5m or 1h.",
    ),
    (
        "proactive-within",
        automation(event(posture="Proactive", within="10s")),
        automation(event(posture="Proactive", within="9s")),
        "trigger.within",
        "proactive_within_too_short",
        "`within` for Proactive triggers must be greater than or equal to 10 seconds",
    ),
    (
        "posture",
        automation(event(posture="Reactive")),
        automation(event(posture="Sometimes")),
        "trigger.posture",
        "literal_error",
        "Choose one of: 'Reactive' or 'Proactive'.",
    ),
    (
        "require-too-small",
        automation(compound(event(), event(), require=2)),
        automation(compound(event(), event(), require=0)),
        "trigger.require",
        "require_too_small",
        "require must be at least 1",
    ),
    (
        "require-too-large",
        automation(compound(event(), event(), require="any")),
        automation(compound(event(), event(), require=3)),
        "trigger.require",
        "require_too_large",
        "require must be less than or equal to the number of triggers",
    ),
    (
        "require-invalid",
        automation(compound(event(), require="all")),
        automation(compound(event(), require="most")),
        "trigger.require",
        "require_invalid",
        "require must be any, all or a whole number",
    ),
    (
        "composite-within-negative",
        automation(compound(event(), within="5m")),
        automation(compound(event(), within=-1)),
        "trigger.within",
        "duration_negative",
        "Durations cannot be negative.",
    ),
    (
        "nested-proactive-within",
        automation(
            compound(
                event(), {"type": "sequence", "triggers": [event(posture="Proactive", within="1m")]}
            )
        ),
        automation(
            compound(
                event(), {"type": "sequence", "triggers": [event(posture="Proactive", within="3s")]}
            )
        ),
        "trigger.triggers.1.triggers.0.within",
        "proactive_within_too_short",
        "`within` for Proactive triggers must be greater than or equal to 10 seconds",
    ),
    (
        "metric-range",
        automation(metric(range="5m")),
        automation(metric(range="4m")),
        "trigger.metric.range",
        "metric_range_too_short",
        "The minimum range is 300 seconds (5 minutes)",
    ),
    (
        "metric-firing-for",
        automation(metric(firing_for=600)),
        automation(metric(firing_for=299)),
        "trigger.metric.firing_for",
        "metric_range_too_short",
        "The minimum range is 300 seconds (5 minutes)",
    ),
    (
        "metric-name",
        automation(metric(name="successes")),
        automation(metric(name="speed")),
        "trigger.metric.name",
        "enum",
        "Choose one of: 'lateness', 'duration' or 'successes'.",
    ),
    (
        "metric-operator",
        automation(metric(operator="<=")),
        automation(metric(operator="=")),
        "trigger.metric.operator",
        "enum",
        "Choose one of: '<', '<=', '>' or '>='.",
    ),
    (
        "trigger-type",
        automation(event()),
        automation({"type": "sometimes"}),
        "trigger",
        "union_tag_invalid",
        "Unknown type 'sometimes'; choose one of: 'event', 'metric', 'compound', 'sequence'.",
    ),
    (
        "name-blank",
        automation(),
        automation(name="  "),
        "name",
        "name_blank",
        "Give the automation a name.",
    ),
    (
        "state-type",
        automation(actions=[{"type": "change-flow-run-state", "state": "FAILED"}]),
        automation(actions=[{"type": "change-flow-run-state", "state": "EXPLODED"}]),
        "actions.0.state",
        "enum",
        "Choose one of: 'SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', "
        "'CRASHED', 'PAUSED' or 'CANCELLING'.",
    ),
    (
        "action-type",
        automation(actions=[{"type": "cancel-flow-run"}]),
        automation(actions=[{"type": "launch-rocket"}]),
        "actions.0",
        "union_tag_invalid",
        None,
    ),
    (
        "webhook-block-required",
        automation(actions=[{"type": "call-webhook", "block_document_id": WEBHOOK_ID}]),
        automation(actions=[{"type": "call-webhook"}]),
        "actions.0.block_document_id",
        "missing",
        "This field is required.",
    ),
    (
        "webhook-block-exists",
        automation(actions=[{"type": "call-webhook", "block_document_id": WEBHOOK_ID}]),
        automation(actions=[{"type": "call-webhook", "block_document_id": UNKNOWN_ID}]),
        "actions.0.block_document_id",
        "block_not_found",
        f"No webhook block with id {UNKNOWN_ID} exists.",
    ),
    (
        "notification-block-required",
        automation(
            actions_on_trigger=[
                {"type": "send-notification", "block_document_id": NOTIFY_ID, "body": "hi"}
            ]
        ),
        automation(actions_on_trigger=[{"type": "send-notification", "body": "hi"}]),
        "actions_on_trigger.0.block_document_id",
        "missing",
        "This field is required.",
    ),
    (
        "notification-block-uuid",
        automation(
            actions=[{"type": "send-notification", "block_document_id": NOTIFY_ID, "body": "x"}]
        ),
        automation(
            actions=[{"type": "send-notification", "block_document_id": "nope", "body": "x"}]
        ),
        "actions.0.block_document_id",
        "uuid_parsing",
        "Enter a valid UUID, like 3f2a6c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b.",
    ),
    (
        "notification-body-template",
        automation(
            actions=[
                {
                    "type": "send-notification",
                    "block_document_id": NOTIFY_ID,
                    "body": "{{ flow_run.name }} failed",
                }
            ]
        ),
        automation(
            actions=[
                {
                    "type": "send-notification",
                    "block_document_id": NOTIFY_ID,
                    "body": "{{ flow_run.name ",
                }
            ]
        ),
        "actions.0.body",
        "invalid_template",
        None,
    ),
    (
        "notification-subject-template",
        automation(
            actions=[
                {
                    "type": "send-notification",
                    "block_document_id": NOTIFY_ID,
                    "body": "x",
                    "subject": "{% if x %}y{% endif %}",
                }
            ]
        ),
        automation(
            actions=[
                {
                    "type": "send-notification",
                    "block_document_id": NOTIFY_ID,
                    "body": "x",
                    "subject": "{% if x %}y",
                }
            ]
        ),
        "actions.0.subject",
        "invalid_template",
        None,
    ),
    (
        "webhook-payload-template",
        automation(
            actions_on_resolve=[
                {
                    "type": "call-webhook",
                    "block_document_id": WEBHOOK_ID,
                    "payload": '{"id": "{{ event.id }}"}',
                }
            ]
        ),
        automation(
            actions_on_resolve=[
                {"type": "call-webhook", "block_document_id": WEBHOOK_ID, "payload": "{% for %}"}
            ]
        ),
        "actions_on_resolve.0.payload",
        "invalid_template",
        None,
    ),
    (
        "template-loop-depth",
        automation(
            actions=[
                {
                    "type": "call-webhook",
                    "block_document_id": WEBHOOK_ID,
                    "payload": "{% for a in x %}{% for b in a %}{{ b }}{% endfor %}{% endfor %}",
                }
            ]
        ),
        automation(
            actions=[
                {
                    "type": "call-webhook",
                    "block_document_id": WEBHOOK_ID,
                    "payload": "{% for a in x %}{% for b in a %}{% for c in b %}{{ c }}{% endfor %}{% endfor %}{% endfor %}",
                }
            ]
        ),
        "actions.0.payload",
        "invalid_template",
        "'payload' is not a valid template: Contains nested for loops at a depth of 3. Templates "
        "can nest for loops no more than 2 loops deep.",
    ),
    (
        "run-deployment-parameters-template",
        automation(
            event(expect=["prefect.flow-run.Failed"]),
            actions=[
                {
                    "type": "run-deployment",
                    "deployment_id": DEPLOYMENT_ID,
                    "parameters": {"who": "{{ flow_run.name }}"},
                }
            ],
        ),
        automation(
            event(expect=["prefect.flow-run.Failed"]),
            actions=[
                {
                    "type": "run-deployment",
                    "deployment_id": DEPLOYMENT_ID,
                    "parameters": {"who": "{{ flow_run.name"},
                }
            ],
        ),
        "actions.0.parameters",
        "invalid_template",
        None,
    ),
    (
        "run-deployment-loop-inferred",
        automation(
            event(expect=["prefect.flow-run.Failed"]),
            actions=[{"type": "run-deployment", "source": "inferred"}],
        ),
        automation(
            event(expect=["prefect.flow-run.Running"]),
            actions=[{"type": "run-deployment", "source": "inferred"}],
        ),
        "",
        "run_deployment_loop_inferred",
        schemas.RULES["run_deployment_loop_inferred"],
    ),
    (
        "run-deployment-loop-selected",
        automation(
            event(expect=["prefect.flow-run.*"], match={"prefect.resource.name": "etl"}),
            actions=[{"type": "run-deployment", "deployment_id": DEPLOYMENT_ID}],
        ),
        automation(
            event(expect=["prefect.flow-run.*"]),
            actions=[{"type": "run-deployment", "deployment_id": DEPLOYMENT_ID}],
        ),
        "",
        "run_deployment_loop_selected",
        schemas.RULES["run_deployment_loop_selected"],
    ),
    (
        # The stored column holds 300 characters; beyond, a message (PostgreSQL answered 500).
        "name-longer-than-the-column",
        automation(name="n" * 300),
        automation(name="n" * 301),
        "name",
        "string_too_long",
        "Enter at most 300 characters.",
    ),
]

for _kind, _types in [
    ("deployment_id", ["run-deployment", "pause-deployment", "resume-deployment"]),
    ("work_pool_id", ["pause-work-pool", "resume-work-pool"]),
    ("work_queue_id", ["pause-work-queue", "resume-work-queue"]),
    ("automation_id", ["pause-automation", "resume-automation"]),
]:
    for _type in _types:
        CASES.append(
            (
                f"{_type}-selected-needs-id",
                automation(actions=[{"type": _type, "source": "selected", _kind: DEPLOYMENT_ID}]),
                automation(actions=[{"type": _type, "source": "selected"}]),
                f"actions.0.{_kind}",
                "source_id_required",
                f"{_kind} is required",
            )
        )
        CASES.append(
            (
                f"{_type}-inferred-forbids-id",
                automation(actions=[{"type": _type, "source": "inferred"}]),
                automation(actions=[{"type": _type, "source": "inferred", _kind: DEPLOYMENT_ID}]),
                f"actions.0.{_kind}",
                "source_id_not_allowed",
                f"{_kind} is not allowed",
            )
        )

CASE_IDS = [case[0] for case in CASES]


def errors_of(data):
    with pytest.raises(ValidationError) as info:
        parse_automation(data)
    return schema_errors(info.value)


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_rule_accepts_valid_and_refuses_invalid_with_its_message(case, blocks):
    _, valid, invalid, field, type_, message = case
    parse_automation(copy.deepcopy(valid))
    errors = errors_of(copy.deepcopy(invalid))
    assert [(e["field"], e["type"]) for e in errors] == [(field, type_)]
    if message is not None:
        assert errors[0]["msg"] == message
    assert errors[0]["msg"]


def test_invalid_template_message_names_the_field_and_the_problem():
    with pytest.raises(ValidationError) as info:
        schemas.CallWebhook.model_validate({"block_document_id": WEBHOOK_ID, "payload": "{{ x "})
    (error,) = schema_errors(info.value)
    assert error["msg"].startswith("'payload' is not a valid template: ")


def test_proactive_trigger_defaults_within_to_ten_seconds():
    trigger = schemas.EventTrigger.model_validate({"posture": "Proactive"})
    assert trigger.within == timedelta(seconds=10)
    assert schemas.EventTrigger.model_validate(
        {"posture": "Proactive", "within": 0}
    ).within == timedelta(seconds=10)
    assert schemas.EventTrigger.model_validate({"posture": "Reactive"}).within == timedelta(0)


def test_template_sandbox_refuses_more_than_ten_loops():
    payload = "{% for a in x %}{% endfor %}" * 11
    with pytest.raises(ValidationError) as info:
        schemas.CallWebhook.model_validate({"block_document_id": WEBHOOK_ID, "payload": payload})
    assert "no more than 10 for loops" in schema_errors(info.value)[0]["msg"]


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("90", 90),
        (" 2m 5s ", 125),
        ("1d", 86400),
        (12.5, 12.5),
        ("PT5M", 300),
    ],
)
def test_durations_are_parsed_as_people_write_them(text, seconds):
    trigger = schemas.EventTrigger.model_validate({"within": text})
    assert trigger.within.total_seconds() == seconds


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0s"),
        (30, "30s"),
        (300, "5m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (90061, "1d1h1m1s"),
        (1.5, "1.5s"),
    ],
)
def test_durations_are_shown_as_people_write_them(seconds, text):
    assert schemas.format_duration(timedelta(seconds=seconds)) == text
    assert schemas.parse_duration(text) == timedelta(seconds=seconds)


def test_describe_follows_prefects_describe_for_cli():
    core = schemas.AutomationCore.model_validate(
        automation(
            compound(
                event(threshold=2),
                event(posture="Proactive", expect=["prefect.worker.heartbeat"], within="1m"),
                {"type": "sequence", "triggers": [metric(range="10m")]},
                require=2,
            )
        )
    )
    assert schemas.describe_trigger(core.trigger) == (
        "2 of:\n"
        "  Reactive: expecting 2 of prefect.flow-run.Failed\n"
        "  Proactive: expecting 1 prefect.worker.heartbeat event within 1m\n"
        "  In this order:\n"
        "    Metric: lateness > 5 for 10m"
    )
    for require, heading in (("all", "All of:"), ("any", "Any of:")):
        trigger = schemas.CompoundTrigger.model_validate(compound(event(), require=require))
        assert schemas.describe_trigger(trigger).startswith(heading)


def test_exported_json_is_prefects_and_prefect_accepts_it(blocks):
    from prefect.events.schemas.automations import AutomationCore as PrefectAutomationCore

    data = automation(
        compound(
            event(
                within="30s",
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related={
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": ["etl", "!tmp*"],
                },
            ),
            event(
                posture="Proactive",
                expect=["prefect.worker.*"],
                within="5m",
                for_each=["prefect.resource.id"],
            ),
            {"type": "sequence", "within": 3600, "triggers": [metric(range="10m")]},
            require=2,
            within="1h",
        ),
        actions=[
            {"type": t}
            for t in ("do-nothing", "cancel-flow-run", "suspend-flow-run", "declare-incident")
        ]
        + [
            {"type": "change-flow-run-state", "state": "CANCELLED", "message": "stop"},
            {"type": "call-webhook", "block_document_id": WEBHOOK_ID, "payload": "{{ event.id }}"},
            {"type": "send-notification", "block_document_id": NOTIFY_ID, "body": "hi"},
            {"type": "run-deployment", "deployment_id": DEPLOYMENT_ID, "parameters": {"a": 1}},
            {"type": "pause-deployment", "source": "inferred"},
            {"type": "resume-deployment", "deployment_id": DEPLOYMENT_ID},
            {"type": "pause-work-pool", "work_pool_id": DEPLOYMENT_ID},
            {"type": "resume-work-pool", "source": "inferred"},
            {"type": "pause-work-queue", "work_queue_id": DEPLOYMENT_ID},
            {"type": "resume-work-queue", "source": "inferred"},
            {"type": "pause-automation", "source": "inferred"},
            {"type": "resume-automation", "automation_id": DEPLOYMENT_ID},
        ],
    )
    exported = automation_json(parse_automation(data))
    assert {a["type"] for a in exported["actions"]} == set(schemas.ACTION_TYPES)
    assert exported["trigger"]["within"] == 3600.0
    assert exported["trigger"]["triggers"][1]["within"] == 300.0
    assert exported["trigger"]["triggers"][2]["triggers"][0]["metric"]["range"] == 600.0
    theirs = PrefectAutomationCore.model_validate(json.loads(json.dumps(exported)))
    assert theirs.trigger.triggers[1].within == timedelta(minutes=5)
    assert [a.type for a in theirs.actions] == [a["type"] for a in exported["actions"]]
    # ... and what Prefect writes, we read back the same.
    again = parse_automation(json.loads(theirs.model_dump_json()))
    assert automation_json(again)["actions"] == exported["actions"]


def test_every_error_type_the_schema_raises_has_a_human_message():
    custom = set(schemas.RULES)
    assert custom.isdisjoint(MESSAGES), "custom rules carry their own messages"
    raised = {case[4] for case in CASES}
    # Built-in pydantic types a person can cause through the forms, the API or import.
    probes = [
        {},
        {"name": 1, "trigger": {}, "actions": {}},
        {"name": "x", "trigger": {"type": "event", "threshold": "many"}, "actions": []},
        {
            "name": "x",
            "enabled": "perhaps",
            "trigger": {"type": "event", "expect": "x"},
            "actions": [[]],
        },
        {
            "name": "x",
            "trigger": metric(threshold="high"),
            "actions": [
                {"type": "run-deployment", "deployment_id": DEPLOYMENT_ID, "parameters": "[]"}
            ],
        },
        {"name": "x", "trigger": {"type": "event", "match": {"a": 1}}, "actions": [{"no": "type"}]},
        {
            "name": "x",
            "trigger": {"type": "compound", "triggers": "x", "require": True},
            "actions": [{"type": "change-flow-run-state", "state": "FAILED", "force": "maybe"}],
        },
    ]
    for probe in probes:
        with pytest.raises(ValidationError) as info:
            schemas.AutomationCore.model_validate(probe)
        raised |= {e["type"] for e in info.value.errors()}
    with pytest.raises(ValidationError) as info:
        schemas.AutomationCore.model_validate_json("{not json")
    raised |= {e["type"] for e in info.value.errors()}
    missing = {t for t in raised if t not in custom and t not in MESSAGES}
    assert not missing, f"error types without a human message: {missing}"
