"""The automation pages: builder, list, detail, duplicate, delete, import/export, blocks."""

from __future__ import annotations

import json

import pytest
from django.utils.html import escape

from automations import services
from automations.models import Automation, WebhookBlock
from automations.prefect_json import as_text, automation_json
from automations.validation import parse_automation
from automations.web import codec
from tests.automations.test_schema import (  # noqa: F401
    CASE_IDS,
    CASES,
    WEBHOOK_ID,
    automation,
    blocks,
    compound,
    event,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_in(client, viewer):
    client.force_login(viewer)
    return client


def post_form(client, data, url="/automations/new/"):
    form_data = codec.to_form_data(data)
    body = {key: form_data.getlist(key) for key in form_data}
    body["save"] = "1"
    return client.post(url, body)


def test_pages_require_login(client):
    for url in (
        "/automations/",
        "/automations/new/",
        "/automations/import/",
        "/automations/blocks/",
    ):
        assert client.get(url).status_code == 302


def test_builder_renders_every_preset(client_in):
    for key in (
        "flow-run-state",
        "flow-run-stuck",
        "worker-silent",
        "task-run-failures",
        "work-pool-status",
        "work-queue-status",
        "custom",
    ):
        response = client_in.get(f"/automations/new/?template={key}")
        assert response.status_code == 200
    assert (
        b'name="trigger.posture" value="Proactive" checked'
        in client_in.get("/automations/new/?template=flow-run-stuck").content
    )


def test_saving_through_the_form_and_listing_it(client_in, blocks):  # noqa: F811
    data = automation(
        compound(event(), event(posture="Proactive", within="1m")),
        actions=[
            {"type": "call-webhook", "block_document_id": WEBHOOK_ID},
            {"type": "pause-automation", "source": "inferred"},
        ],
        name="<b>Escaped</b>",
    )
    response = post_form(client_in, data)
    assert response.status_code == 302
    saved = Automation.objects.get()
    assert saved.trigger["triggers"][1]["within"] == 60.0
    page = client_in.get("/automations/?q=escaped").content.decode()
    assert "&lt;b&gt;Escaped&lt;/b&gt;" in page and "<b>Escaped</b>" not in page
    assert "Proactive: expecting 1 prefect.flow-run.Failed event within 1m" in page  # Prefect's
    assert "When all of these fire:" in page  # and in plain words
    assert "When prefect.flow-run.Failed does not happen within 1 minute." in page
    assert "Call a webhook" in page
    assert "No automation matches" in client_in.get("/automations/?q=zzz").content.decode()


def test_invalid_form_rerenders_with_message_beside_nested_field_and_keeps_input(client_in):
    data = automation(
        compound(
            event(), {"type": "sequence", "triggers": [event(posture="Proactive", within="1m")]}
        )
    )
    form_data = codec.to_form_data(data)
    form_data.setlist("trigger.triggers.1.triggers.0.within", ["3s"])
    form_data.setlist("name", ["Keep me"])
    body = {key: form_data.getlist(key) for key in form_data}
    response = client_in.post("/automations/new/", body)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'name="trigger.triggers.1.triggers.0.within" value="3s"' in html
    assert "must be greater than or equal to 10 seconds" in html
    assert 'value="Keep me"' in html
    assert not Automation.objects.exists()


def test_trigger_descriptions_say_every_field_in_plain_words():
    from automations.web.explain import explain

    core = parse_automation(
        automation(
            compound(
                event(threshold=3, within="1h", expect=["prefect.task-run.Failed"]),
                event(
                    posture="Proactive",
                    within="10m",
                    after=["prefect.flow-run.Running"],
                    expect=["prefect.flow-run.*"],
                    match={"prefect.resource.id": "prefect.flow-run.*"},
                    for_each=["prefect.resource.id"],
                ),
                within="1h",
            )
        )
    )
    words = explain(core.trigger)
    assert words["text"] == "When all of these fire within 1 hour:"
    first, second = (child["text"] for child in words["children"])
    assert first == "When prefect.task-run.Failed happens 3 times within 1 hour."
    assert second == (
        "When prefect.flow-run.* does not happen within 10 minutes, once "
        "prefect.flow-run.Running has been seen, on a resource whose prefect.resource.id is "
        "prefect.flow-run.*; counted separately for each prefect.resource.id."
    )


def test_saving_without_actions_asks_first(client_in):
    body = {k: v for k, v in _form_body(automation(actions=[])).items()}
    response = client_in.post("/automations/new/", {**body, "save": "1"})
    assert response.status_code == 200
    assert "This automation has no actions." in response.content.decode()
    assert not Automation.objects.exists()
    response = client_in.post("/automations/new/", {**body, "confirm_no_actions": "save"})
    assert response.status_code == 302
    assert Automation.objects.get().actions == []


def test_templates_bring_a_notification(client_in):
    from automations.web import presets

    for key in presets.PRESETS:
        actions = presets.preset(key)["actions"]
        assert [a["type"] for a in actions] == ([] if key == "custom" else ["send-notification"])
    html = client_in.get("/automations/new/?template=flow-run-state").content.decode()
    assert 'name="actions.0.type" value="send-notification"' in html


def test_json_tab_text_follows_the_form_and_load_json_fills_the_form(client_in):
    body = _form_body(automation(event(within="10m", threshold=3)))
    body["name"] = ["Edited in the form"]
    answer = client_in.post("/automations/builder-json/", body).json()
    shown = json.loads(answer["json"])
    assert shown["name"] == "Edited in the form"
    assert shown["trigger"]["threshold"] == 3 and shown["trigger"]["within"] == 600.0
    # Invalid as a whole (no name), the trigger is still Prefect's JSON, not the form's text.
    body["name"] = [""]
    shown = json.loads(client_in.post("/automations/builder-json/", body).json()["json"])
    assert shown["trigger"]["threshold"] == 3 and shown["trigger"]["within"] == 600.0
    # Back from an edited JSON tab: the form shows the JSON's values.
    edited = dict(json.loads(answer["json"]), name="Edited in JSON")
    html = client_in.post(
        "/automations/new/", {**body, "json": json.dumps(edited), "load_json": "1"}
    ).content.decode()
    assert 'value="Edited in JSON"' in html
    assert not Automation.objects.exists()


def _form_body(data):
    form_data = codec.to_form_data(data)
    return {key: form_data.getlist(key) for key in form_data}


def test_json_tab_saves_through_the_schema(client_in):
    bad = json.dumps(automation(event(within=None)))
    response = client_in.post("/automations/new/", {"json": bad, "save_json": "1"})
    assert response.status_code == 422
    assert "`within` should be a valid timedelta" in response.content.decode()
    good = json.dumps(automation(name="From JSON"))
    assert client_in.post("/automations/new/", {"json": good, "save_json": "1"}).status_code == 302
    assert Automation.objects.get().name == "From JSON"


def test_json_tab_shows_prefects_json_and_an_invalid_draft_as_typed(client_in):
    saved = services.save_automation(parse_automation(automation(event(within="1h"))))
    html = client_in.get(f"/automations/{saved.pk}/edit/").content.decode()
    exported = automation_json(saved)
    assert exported["trigger"]["within"] == 3600.0
    assert escape(as_text(exported)) in html  # what export and the API give, seconds and all
    form_data = codec.to_form_data(automation(event(within="5s", posture="Proactive")))
    body = {key: form_data.getlist(key) for key in form_data}
    html = client_in.post("/automations/new/", {**body, "save": "1"}).content.decode()
    assert escape('"within": "5s"') in html  # not valid yet: the draft, as typed


def test_edit_toggle_duplicate_delete_export(client_in):
    a = services.save_automation(parse_automation(automation()))
    assert client_in.get(f"/automations/{a.pk}/edit/").status_code == 200
    assert client_in.get(f"/automations/{a.pk}/").status_code == 200
    client_in.post(f"/automations/{a.pk}/enabled/", {"enabled": "false"})
    a.refresh_from_db()
    assert a.enabled is False
    client_in.post(f"/automations/{a.pk}/duplicate/")
    assert Automation.objects.filter(name="Failed runs (copy)", enabled=False).exists()
    exported = json.loads(client_in.get("/automations/export/").content)
    assert len(exported) == 2
    assert (
        json.loads(client_in.get(f"/automations/{a.pk}/export/").content)["name"] == "Failed runs"
    )
    assert b"cannot be restored" in client_in.get(f"/automations/{a.pk}/delete/").content
    client_in.post(f"/automations/{a.pk}/delete/")
    assert not Automation.objects.filter(pk=a.pk).exists()


def test_import_prefect_json_one_or_a_list(client_in):
    prefect_export = {
        "id": "5d7a4f3c-7a0e-4b43-9a8c-8d6a0a3a3e11",
        "created": "2024-05-01T12:00:00Z",
        "updated": "2024-05-01T12:00:00Z",
        "name": "From Prefect",
        "description": "",
        "enabled": True,
        "tags": [],
        "trigger": {
            "type": "event",
            "id": "0b3b0a35-8e88-4c3f-a8f5-54c6e79f6a0a",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {},
            "after": [],
            "expect": ["prefect.flow-run.Crashed"],
            "for_each": ["prefect.resource.id"],
            "posture": "Reactive",
            "threshold": 1,
            "within": 0.0,
        },
        "actions": [{"type": "cancel-flow-run"}],
        "actions_on_trigger": [],
        "actions_on_resolve": [],
    }
    response = client_in.post(
        "/automations/import/", {"json": json.dumps(prefect_export)}, follow=True
    )
    assert "Imported: created 1." in response.content.decode()
    assert str(Automation.objects.get().pk) == prefect_export["id"]  # Prefect's id is kept
    second = {k: v for k, v in prefect_export.items() if k != "id"}
    second["name"] = "Second"
    assert (
        client_in.post(
            "/automations/import/", {"json": json.dumps([second, dict(second, name="Third")])}
        ).status_code
        == 302
    )
    assert sorted(Automation.objects.values_list("name", flat=True)) == [
        "From Prefect",
        "Second",
        "Third",
    ]


def test_reimporting_an_export_updates_instead_of_doubling(client_in):
    for name in ("One", "Two"):
        services.save_automation(parse_automation(automation(name=name)))
    exported = client_in.get("/automations/export/").content.decode()
    Automation.objects.filter(name="One").update(name="One, renamed since")
    response = client_in.post("/automations/import/", {"json": exported}, follow=True)
    text = response.content.decode()
    assert "Imported: updated 2 already here" in text
    assert sorted(Automation.objects.values_list("name", flat=True)) == ["One", "Two"]


def test_import_is_all_or_nothing(client_in):
    payload = [automation(name="ok"), automation(event(posture="Proactive", within=2), name="bad")]
    response = client_in.post("/automations/import/", {"json": json.dumps(payload)})
    assert response.status_code == 422
    assert "1.trigger.within" in response.content.decode()
    assert not Automation.objects.exists()


def test_blocks_are_editable_in_the_dashboard(client_in):
    response = client_in.post(
        "/automations/blocks/webhook/new/",
        {"name": "hook", "url": "https://example.com/x", "method": "POST", "headers": "{}"},
    )
    assert response.status_code == 302
    block = WebhookBlock.objects.get()
    assert client_in.get(f"/automations/blocks/webhook/{block.pk}/").status_code == 200
    bad = client_in.post(
        "/automations/blocks/notification/new/",
        {"name": "n", "url": "not-a-service://x"},
    )
    assert bad.status_code == 200 and b"Apprise does not understand this URL" in bad.content


def test_automate_from_an_event_prefills_a_matching_trigger(client_in):
    from datetime import UTC, datetime
    from uuid import uuid4

    from eventsui.events.models import Event

    e = Event.objects.create(
        id=uuid4(),
        occurred=datetime.now(UTC),
        received=datetime.now(UTC),
        event="prefect.flow-run.Failed",
        resource_id="prefect.flow-run.abc",
        resource={
            "prefect.resource.id": "prefect.flow-run.abc",
            "prefect.resource.name": "nice-fox",
        },
    )
    e.related = [
        {
            "prefect.resource.id": "prefect.deployment.d1",
            "prefect.resource.role": "deployment",
            "prefect.resource.name": "nightly",
        }
    ]
    e.save()
    html = client_in.get(f"/automations/new/?event={e.pk}").content.decode()
    # The finished run will never fail again: the general case, runs of its deployment.
    assert 'value="prefect.flow-run.Failed"' in html
    assert 'value="prefect.flow-run.*"' in html
    assert 'value="prefect.deployment.d1"' in html
    assert 'value="prefect.flow-run.abc"' not in html
    assert "When a flow run of nightly emits prefect.flow-run.Failed" in html
    assert "scope=this" in html  # the specific run is one click away
    html = client_in.get(f"/automations/new/?event={e.pk}&scope=this").content.decode()
    assert 'value="prefect.flow-run.abc"' in html
    assert client_in.get(f"/automations/new/?event={uuid4()}").status_code == 404


def test_admin_validates_with_the_schema(client, admin):
    client.login(username=admin.username, password=PASSWORD)
    body = {
        "name": "adm",
        "description": "",
        "enabled": "on",
        "trigger": json.dumps(event(posture="Proactive", within=3)),
        "actions": "[]",
        "actions_on_trigger": "[]",
        "actions_on_resolve": "[]",
        "owner_resource": "",
    }
    response = client.post("/admin/automations/automation/add/", body)
    assert response.status_code == 200
    assert "must be greater than or equal to 10 seconds" in response.content.decode()
    body["trigger"] = json.dumps(event(posture="Proactive", within="1m"))
    assert client.post("/admin/automations/automation/add/", body).status_code == 302
    assert Automation.objects.get().trigger["within"] == 60.0
    assert client.get("/admin/automations/webhookblock/add/").status_code == 200


def test_a_proactive_within_of_zero_says_beside_it_that_it_becomes_ten_seconds(client, viewer):
    client.force_login(viewer)
    body = _form_body(automation(event(posture="Proactive", within=0)))
    body["trigger.within"] = ["0s"]
    html = client.post("/automations/builder-json/", body).json()["json"]
    assert json.loads(html)["trigger"]["within"] == 10.0  # what would be saved
    page = client.get("/automations/new/?template=worker-silent").content.decode()
    assert "data-within-note" not in page  # 10m: nothing to say
    html = client.post("/automations/new/", {**body, "name": [""], "save": "1"}).content.decode()
    assert "0s becomes 10s when saved" in html


def test_cleared_threshold_is_refused_beside_the_field_not_saved_as_one(client, viewer):
    client.force_login(viewer)
    body = _form_body(automation(event(threshold=3)))
    body["trigger.threshold"] = [""]
    response = client.post("/automations/new/", {**body, "save": "1"})
    assert response.status_code == 422
    assert "Enter a whole number." in response.content.decode()
    assert not Automation.objects.exists()
