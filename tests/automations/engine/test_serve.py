"""`manage.py serve`, the README's one command: the dashboard served with the automation
engine running in the same process, stopped cleanly by SIGTERM. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
import time

import httpx
import pytest
from django.core.management import call_command

from automations.engine.models import Firing
from tests.automations.engine.conftest import store_automation
from tests.automations.engine.processes import start_web, wait_until, wait_until_serving
from tests.conftest import PASSWORD, basic_header, make_event
from tests.live_server import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def serve(django_db_blocker):
    web = start_web(django_db_blocker, "serve")
    yield web
    if web.process.poll() is None:
        web.process.kill()
        web.process.wait()


def test_serve_runs_the_engine_beside_the_dashboard_and_stops_on_sigterm(serve, viewer):
    automation = store_automation(
        {"type": "event", "expect": ["test.serve.hello"], "within": 0}, name="hello"
    )
    wait_until_serving(serve)
    client = httpx.Client(
        base_url=serve.url, headers={"Authorization": basic_header(viewer.username)}, timeout=10
    )
    hello = make_event("test.serve.hello", resource_id="test.serve.r")
    assert client.post("/api/events", json=[hello]).status_code == 204

    def triggered() -> list[dict]:
        response = client.post(
            "/api/events/filter",
            json={"filter": {"event": {"name": ["prefect.automation.triggered"]}}},
        )
        assert response.status_code == 200, response.text
        return response.json()["events"]

    wait_until(triggered, 20, "prefect.automation.triggered", process=serve, interval=0.1)
    (event,) = triggered()
    assert event["resource"]["prefect.resource.id"] == f"prefect.automation.{automation.id}"
    assert event["related"][0]["prefect.resource.id"] == f"prefect.event.{hello['id']}"
    firing = Firing.objects.get()
    assert (firing.automation_id, str(firing.triggering_event_id)) == (automation.id, hello["id"])
    assert str(firing.event_id) == event["id"]
    # The dashboard, signed in as a person would: the automation page lists the firing.
    browser = httpx.Client(base_url=serve.url, timeout=10)
    login = browser.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    signed_in = browser.post(
        "/login/",
        data={"username": viewer.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    history = browser.get(f"/automations/{automation.id}/history/")
    assert history.status_code == 200
    assert 'data-testid="firing-list"' in history.text
    assert f"/events/{hello['id']}/" in history.text

    started = time.monotonic()
    assert serve.stop(timeout=10) == 0
    assert time.monotonic() - started < 5, "SIGTERM stops it within seconds"
    output = serve.output()
    assert "with the automation engine" in output
    assert output.rstrip().endswith("Stopped.")
    assert "Traceback" not in output


def test_the_readmes_first_command_and_bootstraps_hint_both_end_in_serve(monkeypatch):
    """A newcomer's first command sets up and serves with the engine running; bootstrap, run
    on its own, names the same next step."""
    readme = (ROOT / "README.md").read_text()
    start_here = readme.split("## Start here", 1)[1]
    first_command = re.search(r"```sh\n(.+?)\n```", start_here, re.DOTALL).group(1)
    steps = [step.strip() for step in first_command.split("&&")]
    assert steps[-2:] == [
        ".venv/bin/python manage.py bootstrap",
        ".venv/bin/python manage.py serve",
    ]
    monkeypatch.setenv("EVENTSUI_ADMIN_PASSWORD", "from-the-env-123")
    out = io.StringIO()
    call_command("bootstrap", "--demo-events", "0", stdout=out)
    assert "`manage.py serve` serves the dashboard with the automation engine" in out.getvalue()
    assert "daphne" not in out.getvalue()
