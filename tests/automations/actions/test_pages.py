"""What a person sees of actions: each firing's actions on the automation page, the list
page's flag, "Run these actions now", the incidents page."""

from __future__ import annotations

import pytest

from automations.actions.models import ActionRun, Incident
from tests.automations.actions.conftest import fire, run_jobs, runs, store, webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_in(client, viewer):
    client.force_login(viewer)
    return client


def test_the_history_lists_each_firings_actions_with_status_and_answer(client_in, httpserver):
    httpserver.expect_request("/hook").respond_with_data("the body <b>escaped</b>", status=500)
    hook = webhook(httpserver.url_for("/hook"))
    automation = store(
        [{"type": "do-nothing"}, {"type": "call-webhook", "block_document_id": str(hook.pk)}]
    )
    fire()
    page = client_in.get(f"/automations/{automation.pk}/history/").content.decode()
    assert page.count('data-status="pending"') == 2
    run_jobs()
    page = client_in.get(f"/automations/{automation.pk}/history/").content.decode()
    assert 'data-status="executed" data-type="do-nothing"' in page
    assert 'data-status="failed" data-type="call-webhook"' in page
    assert "3 attempts" in page and "HTTP 500" in page
    assert "Webhook returned status 500" in page
    assert "the body &lt;b&gt;escaped&lt;/b&gt;" in page


def test_the_list_flags_automations_whose_last_actions_failed(client_in, settings):
    settings.ACTIONS_MAX_ATTEMPTS = 1
    failing = store([{"type": "pause-automation", "source": "inferred"}], name="failing")
    fine = store([{"type": "do-nothing"}], name="fine")
    fire()
    run_jobs()
    page = client_in.get("/automations/").content.decode()
    assert page.count('data-testid="actions-failed"') == 1
    row = page.split(f'data-automation="{failing.pk}"')[1].split("</tr>")[0]
    assert "last actions failed" in row
    assert (
        "last actions failed" not in page.split(f'data-automation="{fine.pk}"')[1].split("</tr>")[0]
    )


def test_run_these_actions_now_asks_then_runs_against_the_chosen_event(client_in, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook = webhook(httpserver.url_for("/hook"))
    automation = store(
        [
            {
                "type": "call-webhook",
                "block_document_id": str(hook.pk),
                "payload": "{{ event.resource.id }}",
            }
        ]
    )
    event = fire(resource_id="prefect.flow-run.chosen")
    ActionRun.objects.all().delete()
    confirm = client_in.get(f"/automations/{automation.pk}/run-now/").content.decode()
    assert "Run the actions of" in confirm and event["id"] in confirm
    # Without the confirmation nothing runs.
    client_in.post(f"/automations/{automation.pk}/run-now/", {"event": event["id"]})
    assert ActionRun.objects.count() == 0
    response = client_in.post(
        f"/automations/{automation.pk}/run-now/", {"event": event["id"], "confirm": "yes"}
    )
    assert response.status_code == 302
    run_jobs()
    (run,) = runs()
    assert run.manual and run.status == ActionRun.EXECUTED
    ((request, _),) = httpserver.log
    assert request.data == b"prefect.flow-run.chosen"
    page = client_in.get(f"/automations/{automation.pk}/history/").content.decode()
    assert "Run by hand" in page and 'data-status="executed"' in page


def test_run_now_with_an_event_that_is_gone_says_so(client_in):
    automation = store([{"type": "do-nothing"}])
    response = client_in.post(
        f"/automations/{automation.pk}/run-now/",
        {"event": "00000000-0000-4000-8000-000000000000", "confirm": "yes"},
        follow=True,
    )
    assert b"no longer stored" in response.content
    assert ActionRun.objects.count() == 0


def test_the_incidents_page_lists_open_and_resolved_incidents(client_in):
    assert b"No incidents" in client_in.get("/automations/incidents/").content
    store([{"type": "declare-incident"}], name="Flows failing")
    fire()
    run_jobs()
    page = client_in.get("/automations/incidents/").content.decode()
    assert "Flows failing: prefect.flow-run.Failed" in page and "<strong>open</strong>" in page
    Incident.objects.update(resolved=Incident.objects.get().opened)
    assert "<strong>open</strong>" not in client_in.get("/automations/incidents/").content.decode()
