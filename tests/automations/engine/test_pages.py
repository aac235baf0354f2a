"""What a person sees of the engine: the automation page's panel (open windows, triggered
buckets, history newest first with links to the triggering events)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.automations.engine.conftest import drain, event_at, ingest, store_automation
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PER_RUN = {
    "type": "event",
    "expect": ["prefect.flow-run.Failed"],
    "for_each": ["prefect.resource.id"],
    "threshold": 1,
    "within": 600,
}


@pytest.fixture
def logged_in(client, viewer):
    client.login(username=viewer.username, password=PASSWORD)
    return client


def test_the_panel_lists_firings_newest_first_with_their_events(logged_in, engine, clock):
    automation = store_automation(PER_RUN, name="Run failed")
    drain(engine)
    first = event_at(clock, "prefect.flow-run.Failed", 1, resource_id="prefect.flow-run.a")
    second = event_at(clock, "prefect.flow-run.Failed", 2, resource_id="prefect.flow-run.<b>")
    ingest(first, second)
    drain(engine)
    page = logged_in.get(reverse("automations:history", args=[automation.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="firing"') == 2
    history = html[html.index('id="firings"') :]
    assert history.index("prefect.flow-run.&lt;b&gt;") < history.index("prefect.flow-run.a<")
    assert reverse("event-detail", args=[second["id"]]) in html
    assert "<b>" not in html, "everything from events is escaped"
    # Both buckets are open and triggered until a quiet window resolves them.
    assert html.count('badge bad">Triggered') >= 4


def test_the_panel_says_when_nothing_happened_yet(logged_in, engine):
    automation = store_automation(PER_RUN)
    drain(engine)
    html = logged_in.get(reverse("automations:history", args=[automation.pk])).content.decode()
    assert "It has not fired yet" in html
    assert "waiting for a matching event" in html
    assert "Resolves when a whole window of 10m passes" in html


def test_the_detail_page_loads_the_panel(logged_in):
    automation = store_automation(PER_RUN)
    html = logged_in.get(reverse("automations:detail", args=[automation.pk])).content.decode()
    assert reverse("automations:history", args=[automation.pk]) in html
    assert "automations/history.js" in html


def test_the_panel_needs_a_login(client):
    automation = store_automation(PER_RUN)
    response = client.get(reverse("automations:history", args=[automation.pk]))
    assert response.status_code == 302


def test_the_list_shows_when_each_automation_last_fired(
    logged_in, engine, clock, django_assert_max_num_queries
):
    fired = store_automation({**PER_RUN, "within": 0}, name="fires")
    store_automation({**PER_RUN, "expect": ["x.never"]}, name="quiet")
    drain(engine)
    ingest(
        event_at(clock, "prefect.flow-run.Failed", 1, resource_id="prefect.flow-run.a"),
        event_at(clock, "prefect.flow-run.Failed", 2, resource_id="prefect.flow-run.b"),
    )
    drain(engine)
    with django_assert_max_num_queries(8):
        html = logged_in.get(reverse("automations:list")).content.decode()
    fired_row = html[html.index(f'data-automation="{fired.pk}"') :]
    assert "2 in the last 24 h" in fired_row.split("</tr>")[0]
    quiet_row = html[html.index("quiet") :].split("</tr>")[0]
    assert "never" in quiet_row


def test_the_builder_tests_a_trigger_against_history_before_saving(logged_in, clock):
    from datetime import UTC, datetime, timedelta

    from tests.conftest import make_event

    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    ingest(
        make_event("prefect.flow-run.Failed", resource_id="prefect.flow-run.a", occurred=hour_ago),
        make_event(
            "prefect.flow-run.Failed",
            resource_id="prefect.flow-run.b",
            occurred=hour_ago + timedelta(minutes=1),
        ),
    )
    form = {
        "trigger.type": "event",
        "trigger.expect": "prefect.flow-run.Failed",
        "trigger.posture": "Reactive",
        "trigger.threshold": "2",
        "trigger.within": "10m",
        "backtest_range": "24h",
    }
    response = logged_in.post(reverse("automations:backtest"), form)
    html = response.content.decode()
    assert response.status_code == 200, html
    assert "Would have fired 1 time" in html
    assert html.count('class="mark triggered"') == 1
    assert html.count('class="mark resolved"') == 1  # the quiet window after it
    assert "2 candidate events read" in html
    from automations.models import Automation

    assert not Automation.objects.exists(), "nothing is saved"

    broken = logged_in.post(reverse("automations:backtest"), {**form, "trigger.within": "soon"})
    assert broken.status_code == 422
    assert "trigger.within" in broken.content.decode()


def test_the_builder_says_in_words_when_firings_resolve(logged_in):
    html = logged_in.get(reverse("automations:new")).content.decode()
    assert "When does a firing resolve?" in html
    assert "resolves when the expected events arrive again" in html
    assert "Never resolves: compound and sequence triggers only fire." in html


def test_the_event_page_of_a_firing_links_its_automation_and_triggering_event(
    logged_in, engine, clock
):
    from eventsui.events.models import Event

    automation = store_automation({**PER_RUN, "within": 0}, name="Run failed")
    drain(engine)
    failed = event_at(clock, "prefect.flow-run.Failed", 1)
    ingest(failed)
    drain(engine)
    emitted = Event.objects.get(event="prefect.automation.triggered")
    html = logged_in.get(reverse("event-detail", args=[emitted.id])).content.decode()
    links = html[html.index('data-testid="automation-links"') :].split("</section>")[0]
    assert reverse("automations:detail", args=[automation.pk]) in links
    assert "Run failed" in links
    assert reverse("event-detail", args=[failed["id"]]) in links
