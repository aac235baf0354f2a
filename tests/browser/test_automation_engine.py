"""A person tests a trigger against history in the builder, and watches an automation fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventsui.events import schemas, services
from tests.automations.engine.conftest import store_automation
from tests.automations.engine.processes import start_engine
from tests.browser.conftest import SHOTS
from tests.conftest import make_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _failures(minutes_ago: list[int]) -> None:
    now = datetime.now(UTC)
    services.ingest_events(
        [
            schemas.Event.model_validate(
                make_event(
                    "prefect.flow-run.Failed",
                    resource_id=f"prefect.flow-run.{n}",
                    occurred=now - timedelta(minutes=m),
                )
            )
            for n, m in enumerate(minutes_ago)
        ],
        publish=False,  # Playwright's loop runs in this thread; the page polls the store
    )


def test_build_a_trigger_backtest_it_and_see_the_marks(logged_in_page, server):
    page = logged_in_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    # Two bursts of failures: 3 in 5 minutes (fires), later 1 on its own (does not).
    _failures([300, 299, 298, 120])

    page.goto("/automations/new/")
    page.fill('input[name="trigger.expect"]', "prefect.flow-run.Failed")
    page.fill('input[name="trigger.threshold"]', "3")
    page.fill('input[name="trigger.within"]', "10m")
    page.click("[data-backtest]")
    summary = page.locator('[data-testid="backtest-summary"]')
    summary.wait_for()
    assert "Would have fired 1 time" in summary.inner_text()
    assert page.locator('.backtest-chart [data-testid="backtest-mark"]').count() >= 1
    assert page.locator(".backtest-chart .mark.triggered").count() == 1
    assert page.locator('[data-testid="backtest-firings"] tr').count() >= 2
    page.locator("#backtest").screenshot(path=str(SHOTS / "automation-backtest.png"))

    # Change the form, test again: the answer follows the form, not what was saved. With a
    # threshold of 1 it fires at the first failure, then (after its 10 minute cooldown) at the
    # lone one.
    page.fill('input[name="trigger.threshold"]', "1")
    page.click("[data-backtest]")
    page.wait_for_function(
        "document.querySelector('[data-testid=backtest-summary]')"
        "?.innerText.includes('Would have fired 2 times')"
    )


def test_the_automation_page_shows_a_firing_without_a_reload(
    logged_in_page, server, django_db_blocker
):
    page = logged_in_page
    automation = store_automation(
        {"type": "event", "expect": ["prefect.flow-run.Failed"], "within": 0}, name="Any failure"
    )
    engine = start_engine(django_db_blocker)  # `manage.py run_automations`, a real process
    try:
        page.goto(f"/automations/{automation.pk}/")
        page.locator('[data-testid="no-firings"]').wait_for()
        _failures([0])
        page.locator('[data-testid="firing-list"] .firing').first.wait_for(timeout=10_000)
        assert "Triggered" in page.locator('[data-testid="firing-list"]').inner_text()
        page.screenshot(path=str(SHOTS / "automation-history.png"), full_page=True)
    finally:
        assert engine.stop() == 0
