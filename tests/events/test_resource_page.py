"""The resource page: latest labels, a run's state timeline, its events, its neighbours and
the automations that name it; every read walks an index."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from automations import services as automation_services
from automations.validation import parse_automation
from eventsui.events import resource_queries, schemas, services
from tests.conftest import make_event, related

pytestmark = pytest.mark.django_db

DEPLOYMENT = "prefect.deployment." + str(uuid.UUID(int=21))
NOW = datetime.now(UTC).replace(microsecond=0)


def run_events(run: str, states: list[tuple[int, str]]) -> list[dict]:
    events = []
    for minutes, state in states:
        event = make_event(
            f"prefect.flow-run.{state}",
            related=[related("deployment", DEPLOYMENT, **{"prefect.resource.name": "nightly"})],
            occurred=NOW - timedelta(minutes=minutes),
        )
        event["resource"] = {
            "prefect.resource.id": run,
            "prefect.resource.name": "tidy-lemur",
            "prefect.state-type": state.upper(),
        }
        events.append(event)
    return events


def ingest(events: list[dict]) -> None:
    services.ingest_events([schemas.Event.model_validate(e) for e in events], publish=False)


@pytest.fixture
def logged_in(client, viewer):
    client.force_login(viewer)
    return client


def test_a_runs_page_shows_its_states_in_order_with_their_durations(logged_in):
    run = "prefect.flow-run." + str(uuid.uuid4())
    ingest(run_events(run, [(30, "Pending"), (28, "Running"), (10, "Completed")]))
    segments = resource_queries.state_timeline(run)
    assert [s.state for s in segments] == ["Pending", "Running", "Completed"]
    assert segments[1].end - segments[1].start == timedelta(minutes=18)
    assert segments[-1].end is None
    html = logged_in.get("/resources/", {"id": run}).content.decode()
    assert "tidy-lemur" in html and 'id="state-timeline"' in html
    assert "18 min" in html
    assert html.count('class="feed-row"') == 3


def test_a_deployments_page_lists_its_runs_and_the_automations_naming_it(logged_in):
    run = "prefect.flow-run." + str(uuid.uuid4())
    ingest(run_events(run, [(5, "Failed")]))
    automation_services.save_automation(
        parse_automation(
            {
                "name": "Nightly failures",
                "trigger": {
                    "type": "event",
                    "expect": ["prefect.flow-run.Failed"],
                    "match_related": {"prefect.resource.id": DEPLOYMENT},
                },
                "actions": [{"type": "do-nothing"}],
            }
        )
    )
    html = logged_in.get("/resources/", {"id": DEPLOYMENT}).content.decode()
    assert "<h1" in html and ">nightly</h1>" in html  # its name, from its related labels
    assert "Nightly failures" in html and "its trigger matches it" in html
    assert 'id="state-timeline"' not in html  # not a run
    assert "tidy-lemur" in html  # the run is a neighbour


def test_an_unknown_resource_is_a_404_that_says_why(logged_in):
    response = logged_in.get("/resources/", {"id": "prefect.flow-run.nope"})
    assert response.status_code == 404
    assert "No stored event names" in response.content.decode()
    assert logged_in.get("/resources/").status_code == 404


def test_the_resource_page_needs_a_login(client):
    assert client.get("/resources/", {"id": DEPLOYMENT}).status_code == 302
