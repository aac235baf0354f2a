"""The other action types, the order of a firing's actions, idempotency, and refusals of
outbound requests (SSRF)."""

from __future__ import annotations

import uuid

import pytest
from aiosmtpd.controller import Controller
from django.core.exceptions import ValidationError

from automations.actions.models import ActionRun, Incident
from automations.actions.run import enqueue_run
from automations.blocks import NotificationBlock, WebhookBlock
from automations.engine.models import Firing
from automations.models import Automation
from eventsui.lib import outbound
from tests.automations.actions.conftest import (
    action_events,
    fire,
    notification,
    run_jobs,
    runs,
    store,
    webhook,
)
from tests.conftest import related
from tests.live_server import _free_port

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    inbox.port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


def notify_action(block, **extra):
    return {
        "type": "send-notification",
        "block_document_id": str(block.pk),
        "subject": "{{ automation.name }} fired",
        "body": "Flow run {{ event.resource.id }} failed ({{ labels.prefect.resource.id }})",
        **extra,
    }


# -- send-notification (Apprise) -------------------------------------------------------------------


def test_a_notification_is_mailed_through_a_real_smtp_server(smtp):
    block = notification(
        f"mailto://127.0.0.1:{smtp.port}?to=oncall@example.com&from=ui@example.com"
    )
    store([notify_action(block)], name="Failures")
    fire(resource_id="prefect.flow-run.abc")
    run_jobs()
    (run,) = runs()
    assert run.status == ActionRun.EXECUTED, run.reason
    (message,) = smtp.messages
    assert message.rcpt_tos == ["oncall@example.com"]
    text = message.content.decode()
    assert "Subject: Failures fired" in text
    assert "Flow run prefect.flow-run.abc failed" in text


def test_a_notification_posts_json_to_a_real_http_server(httpserver):
    httpserver.expect_request("/notify", method="POST").respond_with_data("ok")
    block = notification(f"json://127.0.0.1:{httpserver.port}/notify")
    store([notify_action(block)])
    fire(resource_id="prefect.flow-run.xyz")
    run_jobs()
    (run,) = runs()
    assert run.status == ActionRun.EXECUTED, run.reason
    ((request, _),) = httpserver.log
    body = request.get_json()
    assert body["title"].endswith("fired")
    assert "prefect.flow-run.xyz" in body["message"]


def test_an_undelivered_notification_is_retried_then_fails(settings):
    settings.ACTIONS_MAX_ATTEMPTS = 2
    store([notify_action(notification("json://127.0.0.1:9/notify"))])
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts) == (ActionRun.FAILED, 2)
    assert run.reason.startswith("The notification was not delivered")


def test_the_block_page_sends_a_test_notification(client, viewer, httpserver):
    httpserver.expect_request("/notify").respond_with_data("ok")
    block = notification(f"json://127.0.0.1:{httpserver.port}/notify")
    client.force_login(viewer)
    page = client.get(f"/automations/blocks/notification/{block.pk}/")
    assert b"Send a test notification" in page.content
    response = client.post(f"/automations/blocks/notification/{block.pk}/test/", follow=True)
    assert b"Test notification sent" in response.content
    ((request, _),) = httpserver.log
    assert "test notification" in request.get_json()["message"].lower()


# -- our own actions ------------------------------------------------------------------------------


def test_do_nothing_records_that_it_ran():
    automation = store([{"type": "do-nothing"}])
    fire()
    run_jobs()
    (run,) = runs()
    assert run.status == ActionRun.EXECUTED
    (executed,) = action_events("prefect.automation.action.executed")
    assert executed.payload["action_type"] == "do-nothing"
    assert executed.resource.id == f"prefect.automation.{automation.pk}"


def test_pause_automation_selected_disables_it_and_resume_enables_it():
    target = store([], name="target")
    store([{"type": "pause-automation", "source": "selected", "automation_id": str(target.pk)}])
    fire()
    run_jobs()
    target.refresh_from_db()
    assert target.enabled is False
    store(
        [{"type": "resume-automation", "source": "selected", "automation_id": str(target.pk)}],
        name="resumer",
        trigger={"type": "event", "expect": ["prefect.flow-run.Crashed"], "within": 0},
    )
    from tests.automations.actions.conftest import Engine, event_schemas, make_event, services

    services.ingest_events(
        [event_schemas.Event.model_validate(make_event("prefect.flow-run.Crashed"))]
    )
    engine = Engine()
    engine.refresh(force=True)
    while engine.run_once():
        pass
    run_jobs()
    target.refresh_from_db()
    assert target.enabled is True


def test_pause_automation_inferred_from_the_event():
    target = store([], name="target")
    store([{"type": "pause-automation", "source": "inferred"}])
    fire(related=[related("automation", f"prefect.automation.{target.pk}")])
    run_jobs()
    target.refresh_from_db()
    assert target.enabled is False
    run = ActionRun.objects.get(action_type="pause-automation")
    assert run.details["automation"] == str(target.pk)


def test_pause_automation_inferred_without_one_in_the_event_fails():
    store([{"type": "pause-automation", "source": "inferred"}])
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.reason) == (ActionRun.FAILED, "No automation could be inferred")


def test_declare_incident_opens_one_and_the_resolve_closes_it():
    automation = store([{"type": "declare-incident"}], name="Flows failing")
    fire()
    run_jobs()
    (incident,) = Incident.objects.all()
    assert incident.title == "Flows failing: prefect.flow-run.Failed"
    assert incident.resolved is None
    firing = Firing.objects.get()
    # The engine's resolve (a Resolved firing of the same bucket) closes it.
    from automations.actions.enqueue import enqueue_actions

    resolved = Firing.objects.create(
        automation=automation,
        trigger_id=firing.trigger_id,
        state=Firing.RESOLVED,
        occurred=firing.occurred,
        bucket=firing.bucket,
    )
    enqueue_actions([resolved])
    incident.refresh_from_db()
    assert incident.resolved == firing.occurred


def test_prefect_actions_without_a_prefect_api_fail_visibly():
    store([{"type": "run-deployment", "source": "selected", "deployment_id": str(uuid.uuid4())}])
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts) == (ActionRun.FAILED, 1)
    assert "no Prefect API configured" in run.reason
    (failed,) = action_events("prefect.automation.action.failed")
    assert "no Prefect API configured" in failed.payload["reason"]


# -- order and idempotency -------------------------------------------------------------------------


def test_actions_then_actions_on_trigger_in_order_and_on_resolve_only_on_resolve():
    automation = store(
        [{"type": "do-nothing"}],
        actions_on_trigger=[{"type": "declare-incident"}],
        actions_on_resolve=[{"type": "pause-automation", "source": "inferred"}],
    )
    fire()
    assert [(r.action_index, r.action_type) for r in runs()] == [
        (0, "do-nothing"),
        (1, "declare-incident"),
    ]
    firing = Firing.objects.get()
    from automations.actions.enqueue import enqueue_actions

    resolved = Firing.objects.create(
        automation=automation,
        trigger_id=firing.trigger_id,
        state=Firing.RESOLVED,
        occurred=firing.occurred,
    )
    enqueue_actions([resolved])
    assert [
        (r.action_index, r.action_type) for r in resolved.action_runs.order_by("action_index")
    ] == [
        (0, "do-nothing"),
        (1, "pause-automation"),
    ]


def test_a_redelivered_job_never_acts_twice(httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    store(
        [
            {
                "type": "call-webhook",
                "block_document_id": str(webhook(httpserver.url_for("/hook")).pk),
            }
        ]
    )
    fire()
    (run,) = runs()
    enqueue_run(run.pk)  # the same job delivered twice more
    enqueue_run(run.pk)
    assert run_jobs() == 3
    assert len(httpserver.log) == 1
    run.refresh_from_db()
    assert (run.status, run.attempts) == (ActionRun.EXECUTED, 1)


def test_a_firing_enqueued_twice_makes_one_run():
    store([{"type": "do-nothing"}])
    fire()
    from automations.actions.enqueue import enqueue_actions

    enqueue_actions([Firing.objects.get()])
    run_jobs()
    assert ActionRun.objects.count() == 1
    assert len(action_events("prefect.automation.action.executed")) == 1


# -- SSRF ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://127.0.0.1:8000/x", "loopback"),
        ("http://localhost/x", "loopback"),
        ("http://10.1.2.3/x", "private"),
        ("http://192.168.0.10/x", "private"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[::1]/x", "loopback"),
        ("http://[fe80::1]/x", "link-local"),
        ("ftp://example.com/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
    ],
)
def test_a_webhook_to_a_private_address_is_refused_when_saved(settings, url, why):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(ValidationError) as refused:
        WebhookBlock(name="x", url=url, method="POST", headers={}).full_clean()
    assert why in " ".join(refused.value.message_dict.get("url", []))


def test_metadata_stays_refused_even_when_its_network_is_allowed(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["169.254.0.0/16"]
    with pytest.raises(outbound.OutboundRefused, match="metadata"):
        outbound.check_url("http://169.254.169.254/")


def test_a_notification_to_a_private_host_is_refused_when_saved(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    for url in (
        "json://127.0.0.1:8000/x",
        "mailto://10.0.0.5:25?to=a@example.com&from=ui@example.com",
    ):
        with pytest.raises(ValidationError) as refused:
            NotificationBlock(name="x", url=url).full_clean()
        assert "refused" in refused.value.message_dict["url"][0]


def test_a_name_that_does_not_resolve_is_saved_and_refused_when_sent(settings):
    """Saving works offline (DNS down, a name not yet published); every send checks again."""
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    url = "https://hooks.invalid/x"  # .invalid never resolves (RFC 2606)
    WebhookBlock(name="x", url=url, method="POST", headers={}).full_clean()
    NotificationBlock(name="n", url="json://hooks.invalid/x").full_clean()
    with pytest.raises(outbound.OutboundRefused, match="does not resolve"):
        outbound.check_url(url)


def test_the_block_form_shows_the_refusal_beside_the_url(client, viewer, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    client.force_login(viewer)
    response = client.post(
        "/automations/blocks/webhook/new/",
        {"name": "hook", "url": "http://127.0.0.1/x", "method": "POST", "headers": "{}"},
    )
    assert response.status_code == 200
    assert b"a loopback address" in response.content
    assert not WebhookBlock.objects.exists()


def test_a_stored_webhook_to_loopback_is_refused_at_send_time(httpserver, settings):
    store(
        [
            {
                "type": "call-webhook",
                "block_document_id": str(webhook(httpserver.url_for("/hook")).pk),
            }
        ]
    )
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # allowed when saved, no longer now
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts) == (ActionRun.FAILED, 1)
    assert "Refused to call the webhook" in run.reason and "loopback" in run.reason
    assert httpserver.log == []


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data", "http://10.9.9.9/"])
def test_a_redirect_to_a_private_address_is_refused(httpserver, target):
    httpserver.expect_request("/hook").respond_with_data(
        "", status=302, headers={"Location": target}
    )
    store(
        [
            {
                "type": "call-webhook",
                "block_document_id": str(webhook(httpserver.url_for("/hook")).pk),
            }
        ]
    )
    fire()
    run_jobs()
    (run,) = runs()
    assert run.status == ActionRun.FAILED
    assert "Refused to call the webhook" in run.reason
    assert len(httpserver.log) == 1  # the redirect was never followed


def test_a_redirect_to_an_allowed_address_is_followed(httpserver):
    httpserver.expect_request("/hook").respond_with_data(
        "", status=307, headers={"Location": httpserver.url_for("/final")}
    )
    httpserver.expect_request("/final").respond_with_data("landed")
    store(
        [
            {
                "type": "call-webhook",
                "block_document_id": str(webhook(httpserver.url_for("/hook")).pk),
            }
        ]
    )
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.response_body) == (ActionRun.EXECUTED, "landed")


def test_deleting_an_automation_keeps_nothing_of_its_runs():
    automation = store([{"type": "do-nothing"}])
    fire()
    Automation.objects.filter(pk=automation.pk).delete()
    assert ActionRun.objects.count() == 0
    assert run_jobs() == 1  # its job finds nothing to do


def test_a_notification_follows_no_redirect(httpserver, settings):
    settings.ACTIONS_MAX_ATTEMPTS = 1
    httpserver.expect_request("/notify").respond_with_data(
        "", status=307, headers={"Location": "http://169.254.169.254/latest"}
    )
    store([notify_action(notification(f"json://127.0.0.1:{httpserver.port}/notify"))])
    fire()
    run_jobs()
    (run,) = runs()
    assert run.status == ActionRun.FAILED
    assert len(httpserver.log) == 1
