"""The demo traffic generator and the demo_events / bootstrap commands."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from eventsui.events import schemas
from eventsui.events.demo import simulator as demo
from eventsui.events.management.commands.demo_events import parse_span
from eventsui.events.models import Event, EventResource

END = datetime(2025, 6, 1, 12, tzinfo=UTC)
START = END - timedelta(hours=24)


@pytest.fixture(scope="module")
def sample() -> list[schemas.Event]:
    """A big enough sample that the rare paths (crashes, suspensions, runner cancels) occur."""
    return list(demo.generate(6000, START, END, seed=7))


def test_generated_events_are_schema_events_in_order_within_the_range(sample):
    assert len(sample) == 6000
    assert all(isinstance(event, schemas.Event) for event in sample)
    # Round-trip through the schema as a client would send them: nothing is rejected.
    schemas.EventList.validate_json(demo.to_json(sample[:500]))
    occurred = [event.occurred for event in sample]
    assert occurred == sorted(occurred)
    assert START <= occurred[0] and occurred[-1] < END
    assert len({event.id for event in sample}) == len(sample)


def test_sample_covers_every_task_run_state_and_worker_and_runner_event(sample):
    names = Counter(event.event for event in sample)
    for state in demo.TASK_RUN_STATES:
        assert names[f"prefect.task-run.{state}"] > 0, state
    for name in (*demo.WORKER_EVENTS, *demo.RUNNER_EVENTS):
        assert names[name] > 0, name
    for state in ("Scheduled", "Late", "Pending", "Running", "Completed", "Failed", "Crashed",
                  "Cancelling", "Cancelled", "Paused", "AwaitingRetry", "Retrying"):  # fmt: skip
        assert names[f"prefect.flow-run.{state}"] > 0, state


def test_task_run_events_carry_the_seed_labels_and_payload(sample):
    for event in sample:
        if not event.event.startswith("prefect.task-run."):
            continue
        state = event.event.removeprefix("prefect.task-run.")
        labels = event.resource.labels()
        assert labels["prefect.state-name"] == state
        assert labels["prefect.state-type"] == demo.TASK_RUN_STATES[state]
        assert labels["prefect.orchestration"] == "client"
        assert int(labels["prefect.run-count"]) >= 0
        assert {"prefect.state-message", "prefect.state-timestamp"} <= set(labels)
        assert event.payload["intended"]["to"] == demo.TASK_RUN_STATES[state]
        assert event.payload["validated_state"]["name"] == state
        task_run = event.payload["task_run"]
        assert {"name", "task_key", "dynamic_key", "flow_run_id", "tags", "task_inputs"} <= set(
            task_run
        )
        roles = {related.role for related in event.related}
        assert roles <= {"tag", "flow-run", "flow", "deployment", "work-queue", "work-pool"}
        tags = {r.id.removeprefix("prefect.tag.") for r in event.related if r.role == "tag"}
        assert set(task_run["tags"]) <= tags


def test_state_events_follow_the_previous_state_of_the_same_run(sample):
    by_id = {event.id: event for event in sample}
    chained = 0
    for event in sample:
        if ".flow-run." in event.event or ".task-run." in event.event:
            if event.payload["initial_state"] is None:
                assert event.follows is None
                continue
            previous = by_id.get(event.follows)
            if previous is None:
                continue  # the previous state fell before the sample began
            assert previous.resource.id == event.resource.id
            assert previous.resource["prefect.state-name"] == event.payload["initial_state"]["name"]
            chained += 1
    assert chained > 1000


def test_executed_flow_run_follows_a_submitted_event_for_the_same_run(sample):
    by_id = {event.id: event for event in sample}
    executed = [e for e in sample if e.event == "prefect.worker.executed-flow-run"]
    assert executed
    for event in executed:
        submitted = by_id[event.follows]
        assert submitted.event == "prefect.worker.submitted-flow-run"
        assert submitted.resource.id == event.resource.id
        assert submitted.occurred < event.occurred
        flow_run = event.resource_in_role["flow-run"]
        assert flow_run.id == submitted.resource_in_role["flow-run"].id
        assert flow_run["prefect.infrastructure.identifier"]
        int(flow_run["prefect.infrastructure.status-code"])
        assert {"flow", "deployment", "work-pool"} <= set(event.resource_in_role)


def test_worker_events_name_the_worker_and_stopped_follows_started(sample):
    by_id = {event.id: event for event in sample}
    for event in sample:
        if not event.event.startswith("prefect.worker."):
            continue
        labels = event.resource.labels()
        assert event.resource.id.startswith(f"prefect.worker.{labels['prefect.worker-type']}.")
        assert event.resource.name
        assert labels["prefect.worker-type"] in {"process", "kubernetes", "docker"}
        assert labels["prefect.version"].startswith("3.")
        assert "work-pool" in event.resource_in_role
        if event.event == "prefect.worker.stopped" and event.follows in by_id:
            started = by_id[event.follows]
            assert started.event == "prefect.worker.started"
            assert started.resource.id == event.resource.id


def test_runner_cancel_relates_the_flow_run_and_sits_between_cancelling_and_cancelled(sample):
    cancels = [e for e in sample if e.event == "prefect.runner.cancelled-flow-run"]
    assert cancels
    for event in cancels:
        assert event.resource.id.startswith("prefect.runner.")
        assert event.resource["prefect.version"]
        assert {"flow-run", "flow", "deployment"} <= set(event.resource_in_role)


def test_events_are_about_the_size_the_benchmarks_assume(sample):
    stats = demo.size_stats(sample)
    assert 1200 <= stats.average_bytes <= 2200, stats
    assert 5 <= stats.average_related <= 9, stats


def test_same_seed_same_events_different_seed_different_events():
    first = [e.model_dump_json() for e in demo.generate(300, START, END, seed=3)]
    again = [e.model_dump_json() for e in demo.generate(300, START, END, seed=3)]
    other = [e.model_dump_json() for e in demo.generate(300, START, END, seed=4)]
    assert first == again
    assert first != other


def test_every_demo_run_has_the_same_fleet_whatever_the_seed():
    one, other = demo.Simulator(seed=1).fleet, demo.Simulator(seed=2).fleet
    assert [p.id for p in one.pools] == [p.id for p in other.pools]
    assert [w.name for w in one.workers] == [w.name for w in other.workers]
    assert [d.id for d in one.deployments] == [d.id for d in other.deployments]
    assert len({p.name for p in one.pools}) == len(one.pools)


def test_live_source_stamps_events_now_in_strictly_increasing_order():
    source = demo.LiveSource(seed=1)
    now = datetime.now(UTC)
    events = source.take(50, now=now) + source.take(50, now=now)
    assert [e.occurred for e in events] == sorted({e.occurred for e in events})
    assert events[0].occurred == now
    assert len({e.id for e in events}) == 100


def test_parse_span_reads_units():
    assert parse_span("24h") == timedelta(hours=24)
    assert parse_span("30m") == timedelta(minutes=30)
    assert parse_span("7d") == timedelta(days=7)
    assert parse_span("90") == timedelta(seconds=90)


@pytest.mark.django_db(transaction=False)
def test_demo_events_backfill_stores_that_many_events_and_reports_a_rate():
    out = io.StringIO()
    call_command("demo_events", "--backfill", "500", "--span", "2h", "--seed", "1", stdout=out)
    assert Event.objects.count() == 500
    assert EventResource.objects.count() > 500 * 5
    assert "events/s" in out.getvalue()
    assert "KB of JSON" in out.getvalue()
    newest = Event.objects.order_by("-occurred").first()
    assert newest.occurred > datetime.now(UTC) - timedelta(minutes=5)


@pytest.mark.django_db
def test_demo_events_live_ingests_for_the_duration(monkeypatch):
    from eventsui.events.live import publish as live

    published = []
    monkeypatch.setattr(live, "publish", lambda payloads: published.extend(payloads))
    out = io.StringIO()
    call_command(
        "demo_events", "--live", "--here", "--rate", "200", "--duration", "0.3", stdout=out
    )
    stored = Event.objects.count()
    assert 20 <= stored <= 80
    assert "Emitted" in out.getvalue()


@pytest.mark.django_db
def test_demo_events_live_on_the_in_memory_layer_posts_to_the_server_and_says_so(
    settings, monkeypatch
):
    """Ingested here, the events would never reach a running server's feed: the command sends
    them to the server instead, and with no server it says how to start one."""
    from django.contrib.auth import get_user_model
    from django.core.management.base import CommandError

    from eventsui.events.models import ApiToken

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    get_user_model().objects.create_superuser("root", password="x" * 12)
    out = io.StringIO()
    with pytest.raises(CommandError, match="manage.py serve"):
        call_command(
            "demo_events", "--live", "--url", "http://127.0.0.1:9", "--duration", "1", stdout=out
        )
    assert Event.objects.count() == 0
    assert ApiToken.objects.count() == 0  # the token it issued is revoked
    from eventsui.events.management.commands import demo_events

    monkeypatch.setattr(demo_events, "DEFAULT_URL", "http://127.0.0.1:9")  # nothing listens
    default = io.StringIO()
    with pytest.raises(CommandError, match="No server answers at http://127.0.0.1:9"):
        call_command("demo_events", "--live", "--duration", "1", stdout=default)
    assert "does not cross processes" in default.getvalue()


@pytest.mark.django_db
def test_bootstrap_creates_a_login_and_demo_events_once(monkeypatch):
    monkeypatch.delenv("EVENTSUI_ADMIN_PASSWORD", raising=False)
    out = io.StringIO()
    call_command("bootstrap", "--demo-events", "200", "--seed", "2", stdout=out)
    text = out.getvalue()
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser
    password = next(
        line.split(":", 1)[1].strip() for line in text.splitlines() if "password:" in line
    )
    assert user.check_password(password)
    assert "http://127.0.0.1:8000/" in text
    assert Event.objects.count() == 200

    again = io.StringIO()
    call_command("bootstrap", "--demo-events", "200", stdout=again)
    assert get_user_model().objects.count() == 1
    assert Event.objects.count() == 200
    assert "already exists" in again.getvalue()
    assert "already has events" in again.getvalue()
    assert password not in again.getvalue()


@pytest.mark.django_db
def test_bootstrap_takes_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("EVENTSUI_ADMIN_PASSWORD", "from-the-env-123")
    call_command("bootstrap", "--demo-events", "0", stdout=io.StringIO())
    assert get_user_model().objects.get(username="admin").check_password("from-the-env-123")
    assert Event.objects.count() == 0


def test_http_body_is_a_json_list_of_events():
    events = list(demo.generate(3, START, END, seed=1))
    body = json.loads(demo.to_json(events))
    assert [item["id"] for item in body] == [str(e.id) for e in events]


def test_demo_events_carry_only_the_related_roles_their_catalog_entry_lists(sample):
    from eventsui.events import catalog

    checked = 0
    for event in sample:
        entry = catalog.lookup(event.event)
        if entry is None:
            continue
        listed = {r.role for r in entry.related}
        roles = {r.role for r in event.related}
        assert roles <= listed, (event.event, roles - listed)
        checked += 1
    assert checked > 100
