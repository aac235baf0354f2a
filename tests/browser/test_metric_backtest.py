"""A person builds a metric trigger in the builder and sees its backtest plotted: the metric's
value over the range against the threshold, with a mark where it would have fired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventsui.events import schemas, services
from tests.browser.conftest import SHOTS
from tests.conftest import make_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_build_a_metric_trigger_and_see_its_plotted_backtest(logged_in_page, server):
    page = logged_in_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    # One run late for 10 minutes before it ran, 40 minutes ago; one still late for 25 minutes.
    events = [
        ("done", "Late", 50),
        ("done", "Running", 40),
        ("stuck", "Late", 25),
    ]
    services.ingest_events(
        [
            schemas.Event.model_validate(
                make_event(
                    f"prefect.flow-run.{state}",
                    resource_id=f"prefect.flow-run.{run}",
                    occurred=now - timedelta(minutes=minutes),
                )
            )
            for run, state, minutes in events
        ],
        publish=False,
    )

    page.goto("/automations/new/")
    page.select_option('select[name="trigger.type"]', "metric")
    page.select_option('select[name="trigger.metric.name"]', "lateness")
    page.select_option('select[name="trigger.metric.operator"]', ">=")
    page.fill('input[name="trigger.metric.threshold"]', "1800")
    page.fill('input[name="trigger.metric.range"]', "30m")
    page.fill('input[name="trigger.metric.firing_for"]', "5m")
    page.select_option('select[name="backtest_range"]', "1h")
    page.click("[data-backtest]")

    summary = page.locator('[data-testid="backtest-summary"]')
    summary.wait_for()
    # Neither run was ever late for 30 minutes: no firing, but the value is plotted.
    assert "Would not have fired" in summary.inner_text()
    plot = page.locator('[data-testid="backtest-metric-plot"]')
    plot.wait_for()
    assert plot.locator('[data-testid="backtest-threshold"]').count() == 1
    assert plot.locator('[data-testid="backtest-metric-line"]').count() >= 1
    points = plot.locator('[data-testid="backtest-metric-line"]').first.get_attribute("points")
    assert len(points.split()) > 10, "the value is plotted over the range"
    metric_summary = page.locator('[data-testid="backtest-metric-summary"]').inner_text()
    assert "a run still late counts with its time so far" in metric_summary
    assert "threshold >= 1800" in metric_summary

    # At 900 s: the stuck run is that late from 10 minutes ago on (the other, 600 s late, has
    # left the 30 minute range by then), held 5 minutes: it fires once, 5 minutes ago.
    page.fill('input[name="trigger.metric.threshold"]', "900")
    page.click("[data-backtest]")
    page.wait_for_function(
        "document.querySelector('[data-testid=backtest-summary]')"
        "?.innerText.includes('Would have fired 1 time')"
    )
    assert page.locator('.metric-plot [data-testid="backtest-metric-mark"]').count() == 1
    assert page.locator(".metric-plot .mark.triggered").count() == 1
    page.locator("#backtest").screenshot(path=str(SHOTS / "automation-metric-backtest.png"))
