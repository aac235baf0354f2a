"""A person watches an automation act: an event posted to the API fires it (the engine runs
as `manage.py run_automations`), its webhook reaches a local server (the action worker runs
as `manage.py run_actions`), and the automation page shows "executed" without a reload."""

from __future__ import annotations

import httpx
import pytest

from tests.automations.actions.conftest import store, webhook
from tests.automations.actions.test_durability import start_worker
from tests.automations.engine.processes import start_engine, wait_until
from tests.browser.conftest import SHOTS
from tests.conftest import basic_header, make_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_posted_event_fires_a_webhook_and_the_page_shows_executed(
    logged_in_page, server, user, django_db_blocker, httpserver
):
    page = logged_in_page
    httpserver.expect_request("/hook", method="POST").respond_with_data("received", status=200)
    hook = webhook(httpserver.url_for("/hook"))
    automation = store(
        [
            {
                "type": "call-webhook",
                "block_document_id": str(hook.pk),
                "payload": '{"failed": "{{ event.resource.id }}"}',
            }
        ],
        name="Call ops on failure",
    )
    engine = start_engine(django_db_blocker)
    worker = start_worker(django_db_blocker, "actions-browser")
    try:
        # Both programs import Django first (seconds on a busy machine).
        wait_until(lambda: "running" in engine.output(), 90, "the engine", process=engine)
        wait_until(lambda: "running" in worker.output(), 90, "the worker", process=worker)
        page.goto(f"/automations/{automation.pk}/")
        page.locator('[data-testid="no-firings"]').wait_for()
        response = httpx.post(
            f"{server.url}/api/events",
            json=[make_event("prefect.flow-run.Failed", resource_id="prefect.flow-run.seen")],
            headers={"Authorization": basic_header(user.username)},
        )
        assert response.status_code == 204, response.text
        status = page.locator('[data-testid="action-runs"] .action-run[data-status="executed"]')
        status.wait_for(timeout=30_000)
        assert "executed" in status.locator('[data-testid="action-status"]').inner_text()
        assert "HTTP 200" in status.inner_text()
        ((request, _),) = httpserver.log
        assert request.get_json() == {"failed": "prefect.flow-run.seen"}
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "automation-actions.png"), full_page=True)
    finally:
        worker.stop()
        assert engine.stop() == 0
