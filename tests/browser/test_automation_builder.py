"""A person builds a compound automation only through the forms, in Chromium."""

from __future__ import annotations

import uuid

import pytest

from automations.models import Automation, WebhookBlock
from tests.browser.conftest import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_build_compound_automation_through_the_forms(logged_in_page, server):
    page = logged_in_page
    WebhookBlock.objects.create(id=uuid.uuid4(), name="Ops webhook", url="https://example.com/hook")
    SHOTS.mkdir(parents=True, exist_ok=True)

    page.goto("/automations/new/")
    # The root trigger becomes a compound trigger with two event children.
    page.select_option('select[name="trigger.type"]', "compound")
    root = page.locator('#trigger-root > [data-node="trigger"]')
    root.locator("[data-add-kind]").last.select_option("event")
    root.locator("[data-add-trigger]").last.click()
    root.locator("[data-add-trigger]").last.click()
    first = page.locator('[data-path="trigger.triggers.0"]')
    second = page.locator('[data-path="trigger.triggers.1"]')
    first.locator('input[data-rel="expect"]').fill("prefect.flow-run.Failed")
    second.locator('input[data-rel="posture"][value="Proactive"]').check()
    second.locator('input[data-rel="expect"]').fill("prefect.worker.heartbeat")
    second.locator('input[name="trigger.triggers.1.within"]').fill("5s")  # too short: fixed below
    page.fill('input[name="trigger.require"]', "all")

    # Actions: a webhook and pause-automation.
    actions = page.locator('[data-action-list="actions"]').locator("xpath=..")
    actions.locator("[data-add-action]").select_option("call-webhook")
    page.select_option('select[name="actions.0.block_document_id"]', label="Ops webhook")
    page.fill('textarea[name="actions.0.payload"]', '{"run": "{{ flow_run.name }}"}')
    actions.locator("[data-add-action]").select_option("pause-automation")
    page.select_option('select[name="actions.1.source"]', "inferred")

    page.fill('input[name="name"]', "Workers and failures")
    page.screenshot(path=str(SHOTS / "automation-builder.png"), full_page=True)
    page.click('button[name="save"]')

    # The error is beside the nested field, and everything typed is still there.
    nested = page.locator('[data-path="trigger.triggers.1"]')
    error = nested.locator(".form-error")
    assert "greater than or equal to 10 seconds" in error.first.inner_text()
    assert page.input_value('input[name="trigger.triggers.0.expect"]') == "prefect.flow-run.Failed"
    assert (
        page.input_value('textarea[name="actions.0.payload"]') == '{"run": "{{ flow_run.name }}"}'
    )
    assert not Automation.objects.exists()
    page.screenshot(path=str(SHOTS / "automation-builder-error.png"), full_page=True)

    page.fill('input[name="trigger.triggers.1.within"]', "10m")
    page.click('button[name="save"]')
    page.wait_for_url("**/automations/*/")

    page.goto("/automations/")
    row = page.locator("tr", has_text="Workers and failures")
    assert "When all of these fire:" in row.inner_text()
    assert "When prefect.worker.heartbeat does not happen within 10 minutes." in row.inner_text()
    switch = row.locator(".switch-btn")
    assert switch.get_attribute("aria-checked") == "true"
    page.screenshot(path=str(SHOTS / "automation-list.png"), full_page=True)
    switch.click()
    page.wait_for_function(
        "document.querySelector('.switch-btn').getAttribute('aria-checked') === 'false'"
    )
    saved = Automation.objects.get()
    assert saved.enabled is False
    assert [a["type"] for a in saved.actions] == ["call-webhook", "pause-automation"]
    assert page.js_errors == []
