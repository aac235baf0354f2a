"""What a newcomer trips over in the first hour, in Chromium: the live demo, the builder's JSON
tab and action select, the feed's filter chip and histogram, the resource page."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from automations.models import Automation
from eventsui.events import schemas, services
from eventsui.events.models import Event
from tests.browser.conftest import SHOTS
from tests.conftest import make_event, related

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POOL = "prefect.work-pool." + str(uuid.UUID(int=11))
DEPLOYMENT = "prefect.deployment." + str(uuid.UUID(int=12))


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def store(*events: dict) -> None:
    services.ingest_events([schemas.Event.model_validate(e) for e in events], publish=False)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_live_demo_reaches_an_open_feed_on_the_embedded_default(
    logged_in_page, server, settings, django_user_model
):
    """`demo_events --live` in another process than the server: on the in-memory channel layer
    it posts through the server's API, so the open feed shows the events without a reload."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    django_user_model.objects.create_superuser("root", password="not-used-here-1")
    page = logged_in_page
    page.goto("/")
    expect(page.locator("#live-status")).to_have_class("live-status live", timeout=10_000)
    page.evaluate("window.__notReloaded = true")
    out = io.StringIO()
    call_command(
        "demo_events", "--live", "--url", server.url, "--rate", "10", "--duration", "2", stdout=out
    )
    assert "does not cross processes" not in out.getvalue()  # --url given: no guess to explain
    stored = Event.objects.count()
    assert stored >= 10
    expect(page.locator("#feed-list > li.feed-row")).to_have_count(stored, timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
    shot(page, "newcomer-live-demo")
    assert page.js_errors == []


def test_json_tab_and_form_show_one_state_and_save_it(logged_in_page):
    page = logged_in_page
    page.goto("/automations/new/?template=task-run-failures")
    page.fill('input[name="name"]', "Edited in the form")
    page.fill('input[name="trigger.within"]', "2h")
    page.click('[data-tab-button="json"]')
    box = page.locator('textarea[name="json"]')
    expect(box).to_have_value(re.compile("Edited in the form"))
    shown = json.loads(box.input_value())
    # Prefect's JSON: numbers and seconds, as export writes them.
    assert shown["trigger"]["threshold"] == 3
    assert shown["trigger"]["within"] == 7200.0
    shot(page, "newcomer-json-tab")
    # Edit the JSON, go back to the form: the form shows the JSON's values.
    shown["name"] = "Edited in JSON"
    shown["trigger"]["threshold"] = 5
    shown["actions"] = [{"type": "do-nothing"}]
    box.fill(json.dumps(shown, indent=2))
    page.click('[data-tab-button="form"]')
    expect(page.locator('input[name="name"]')).to_have_value("Edited in JSON")
    expect(page.locator('input[name="trigger.threshold"]')).to_have_value("5")
    expect(page.locator('input[name="trigger.within"]')).to_have_value("2h")
    # One more edit in the form, then save from the JSON tab: nothing is lost.
    page.fill('input[name="trigger.threshold"]', "4")
    page.click('[data-tab-button="json"]')
    expect(box).to_have_value(re.compile(r'"threshold": 4'))
    page.click('button[name="save_json"]')
    page.wait_for_url("**/automations/*/")
    saved = Automation.objects.get()
    assert saved.name == "Edited in JSON"
    assert saved.trigger["threshold"] == 4 and saved.trigger["within"] == 7200.0
    assert [a["type"] for a in saved.actions] == ["do-nothing"]
    assert page.js_errors == []


def test_choosing_an_action_adds_it_and_saving_none_asks_first(logged_in_page):
    page = logged_in_page
    page.goto("/automations/new/?template=custom")
    page.fill('input[name="trigger.expect"]', "prefect.flow-run.Failed")
    page.fill('input[name="name"]', "Nothing to do")
    page.click('button[name="save"]')
    confirm = page.locator("#confirm-no-actions")
    expect(confirm).to_contain_text("This automation has no actions.")
    assert not Automation.objects.exists()
    shot(page, "newcomer-no-actions")
    # Choosing an action in the select adds it: nothing else to click.
    page.locator('select[data-add-action="actions"]').select_option("cancel-flow-run")
    expect(page.locator('[data-action-list="actions"] > [data-node="action"]')).to_have_count(1)
    expect(page.locator('select[data-add-action="actions"]')).to_have_value("")
    expect(confirm).to_be_hidden()
    shot(page, "newcomer-action-added")
    page.click('button[name="save"]')
    page.wait_for_url("**/automations/*/")
    assert [a["type"] for a in Automation.objects.get().actions] == ["cancel-flow-run"]
    # A template brings its action.
    page.goto("/automations/new/?template=flow-run-state")
    expect(page.locator('input[name="actions.0.type"]')).to_have_value("send-notification")
    assert page.js_errors == []


def test_cleared_threshold_is_an_error_and_long_names_wrap(logged_in_page):
    page = logged_in_page
    page.goto("/automations/new/?template=task-run-failures")
    page.locator('select[data-add-action="actions"]').select_option("do-nothing")
    page.locator('[data-path="actions.0"] [data-remove-node]').click()  # the template's notice
    page.fill('input[name="trigger.threshold"]', "")
    page.click('button[name="save"]')
    error = page.locator('label:has(input[name="trigger.threshold"]) .form-error')
    expect(error).to_contain_text("whole number")
    assert not Automation.objects.exists()
    expect(page.locator('input[name="name"] + .help')).to_contain_text("300 characters")
    long_name = "x" * 300
    page.fill('input[name="trigger.threshold"]', "3")
    page.fill('input[name="name"]', long_name)
    page.click('button[name="save"]')
    page.wait_for_url("**/automations/*/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440, width
    page.goto("/automations/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    shot(page, "newcomer-long-name")


def test_related_filter_chip_names_the_resource_and_removes_itself(logged_in_page):
    page = logged_in_page
    pool = related("work-pool", POOL, **{"prefect.resource.name": "k8s-prod"})
    store(
        make_event("prefect.flow-run.Running", related=[pool], occurred=ago(2)),
        make_event("prefect.flow-run.Running", occurred=ago(1)),
    )
    page.goto(f"/?related=work-pool:{POOL}&event=prefect.flow-run.*")
    chip = page.locator(".filter-chip", has_text="related")
    expect(chip).to_contain_text("work-pool: k8s-prod")
    expect(chip).not_to_contain_text(POOL)
    expect(page.locator("#feed-list > li.feed-row")).to_have_count(1)
    box = chip.bounding_box()
    x_box = chip.locator(".x").bounding_box()
    assert x_box["x"] + x_box["width"] <= box["x"] + box["width"] + 0.5  # the × is not cut off
    shot(page, "newcomer-chip")
    chip.locator(".x").click()
    expect(page.locator(".filter-chip", has_text="related")).to_have_count(0)
    expect(page.locator(".filter-chip", has_text="event")).to_have_count(1)  # the other stays
    expect(page.locator("#feed-list > li.feed-row")).to_have_count(2)


def test_histogram_labels_stay_distinct_after_zooming_and_a_click_does_not_zoom(logged_in_page):
    page = logged_in_page
    now = datetime.now(UTC).replace(microsecond=0)
    store(
        *(
            make_event("prefect.flow-run.Running", occurred=now - timedelta(seconds=s))
            for s in (5, 20, 40, 70, 100)
        )
    )
    since = (now - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
    until = now.strftime("%Y-%m-%dT%H:%M:%S")
    page.goto(f"/?since={since}&until={until}")
    labels = page.locator("#histogram-body text.axis")
    expect(labels.first).to_be_visible()
    texts = labels.all_text_contents()
    assert len(texts) >= 3 and len(set(texts)) == len(texts), texts
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in texts), texts
    expect(page.locator("#histogram-body .y-axis")).to_contain_text("0")
    one = page.locator("#histogram-body rect.hit title").filter(has_text=re.compile(r"^1 event "))
    assert one.count() >= 1  # "1 event", never "1 events"
    url = page.url
    svg = page.locator("#histogram-body svg").bounding_box()
    page.mouse.click(svg["x"] + svg["width"] / 2, svg["y"] + 30)
    page.wait_for_timeout(300)
    assert page.url == url  # a click does not zoom
    shot(page, "newcomer-histogram")
    assert page.js_errors == []


def test_resource_page_shows_a_runs_states_events_and_automations(logged_in_page):
    from automations import services as automation_services
    from automations.validation import parse_automation

    page = logged_in_page
    run = "prefect.flow-run." + str(uuid.uuid4())
    deployment = related("deployment", DEPLOYMENT, **{"prefect.resource.name": "nightly"})
    events = []
    for minutes, state in ((30, "Scheduled"), (29, "Pending"), (28, "Running"), (10, "Failed")):
        event = make_event(f"prefect.flow-run.{state}", related=[deployment], occurred=ago(minutes))
        event["resource"] = {
            "prefect.resource.id": run,
            "prefect.resource.name": "tidy-lemur",
            "prefect.state-name": state,
            "prefect.state-type": state.upper(),
        }
        events.append(event)
    store(*events)
    automation_services.save_automation(
        parse_automation(
            {
                "name": "Nightly failures",
                "trigger": {
                    "type": "event",
                    "expect": ["prefect.flow-run.Failed"],
                    "match_related": {
                        "prefect.resource.role": "deployment",
                        "prefect.resource.id": DEPLOYMENT,
                    },
                },
                "actions": [{"type": "do-nothing"}],
            }
        )
    )
    page.goto("/")
    page.locator("#feed-list > li.feed-row a.resource").first.click()
    expect(page.locator("h1")).to_have_text("tidy-lemur")
    expect(page.locator("#current-state")).to_have_text("Failed")
    expect(page.locator("#state-timeline .timeline-seg")).to_have_count(4)
    expect(page.locator("#state-timeline .timeline-list li").nth(2)).to_contain_text("18 min")
    expect(page.locator("#resource-events > li.feed-row")).to_have_count(4)
    expect(page.locator("#related-resources")).to_contain_text("nightly")
    shot(page, "newcomer-resource-run")
    # The deployment's page: reached from the run's neighbours, it names the automation.
    page.locator("#related-resources a", has_text="nightly").click()
    expect(page.locator("h1")).to_have_text("nightly")
    expect(page.locator("#resource-automations")).to_contain_text("Nightly failures")
    expect(page.locator("#state-timeline")).to_have_count(0)  # not a run
    shot(page, "newcomer-resource-deployment")
    assert page.js_errors == []
