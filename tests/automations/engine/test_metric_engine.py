"""Metric triggers in the live engine: evaluated every INTERVAL from stored flow-run events,
firings stored and Prefect's events emitted, the hold kept across restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automations.engine import metric_engine
from automations.engine.metrics import INTERVAL
from automations.engine.models import Firing, MetricState
from automations.engine.worker import Engine
from eventsui.events.models import Event
from tests.automations.engine.conftest import drain, event_at, ingest, store_automation

pytestmark = pytest.mark.django_db

LATENESS = {
    "type": "metric",
    "match": {"prefect.resource.id": "prefect.flow-run.*"},
    "metric": {"name": "lateness", "operator": ">=", "threshold": 600, "range": 3600,
               "firing_for": 300},
}  # fmt: skip


def run_for(engine, clock, seconds: float) -> None:
    """Let the engine run for `seconds` of its clock, a step every INTERVAL."""
    for _ in range(int(seconds / INTERVAL.total_seconds())):
        clock.advance(seconds=INTERVAL.total_seconds())
        drain(engine)


def flow_run(clock, run: str, state: str, seconds: float) -> dict:
    return event_at(
        clock, f"prefect.flow-run.{state}", seconds, resource_id=f"prefect.flow-run.{run}"
    )


def test_a_metric_trigger_fires_after_firing_for_and_resolves_with_prefects_events(engine, clock):
    automation = store_automation(LATENESS, name="Late work")
    ingest(flow_run(clock, "a", "Late", -650))  # late for 650 s so far: breaching
    drain(engine)
    start = clock()
    run_for(engine, clock, 285)
    assert not Firing.objects.exists(), "the breach has not held for firing_for yet"
    run_for(engine, clock, 30)

    firing = Firing.objects.get()
    assert (firing.automation_id, firing.state) == (automation.id, "Triggered")
    assert firing.trigger_id == automation.to_schema().trigger.id
    # At the engine's clock (wall clock less its lag and CLOSE_GRACE), 300 s after the first.
    assert firing.occurred - (start - timedelta(seconds=1)) == timedelta(seconds=300)
    emitted = Event.objects.get(event="prefect.automation.triggered")
    assert emitted.id == firing.event_id
    assert emitted.resource["prefect.trigger-type"] == "metric"
    assert emitted.resource["prefect.posture"] == "Metric"
    assert emitted.payload == {"triggering_labels": {}, "triggering_event": None}

    # Run "a" starts at last (late 700 s), and three runs late for 10 s each bring the mean
    # down to 190 s: the condition fails; 300 s later it resolves.
    ingest(flow_run(clock, "a", "Running", 50 - 650 + 700 - 50))
    for run in ("b", "c", "d"):
        ingest(flow_run(clock, run, "Late", -20), flow_run(clock, run, "Running", -10))
    run_for(engine, clock, 330)
    assert list(Firing.objects.order_by("occurred").values_list("state", flat=True)) == [
        "Triggered",
        "Resolved",
    ]
    assert Event.objects.filter(event="prefect.automation.resolved").count() == 1
    assert MetricState.objects.get().state["triggered"] is False


def test_the_hold_survives_a_restart_of_the_engine(clock):
    store_automation(LATENESS)
    ingest(flow_run(clock, "a", "Late", -650))
    first = Engine(now=clock)
    drain(first)
    run_for(first, clock, 150)
    second = Engine(now=clock)  # a new process: only what was stored carries over
    run_for(second, clock, 135)
    assert not Firing.objects.exists()
    run_for(second, clock, 30)
    assert Firing.objects.get().state == "Triggered"


def test_two_engines_taking_turns_share_one_hold_and_fire_once(clock):
    store_automation(LATENESS)
    ingest(flow_run(clock, "a", "Late", -650))
    engines = [Engine(now=clock), Engine(now=clock)]
    drain(engines[0])
    for step in range(30):  # 450 s, each evaluation by whichever engine looks first
        clock.advance(seconds=INTERVAL.total_seconds())
        drain(engines[step % 2])
        drain(engines[(step + 1) % 2])  # nothing due for the other one: no second evaluation
    assert list(Firing.objects.values_list("state", flat=True)) == ["Triggered"]


def test_a_restarted_engine_makes_up_the_evaluations_it_missed(clock):
    store_automation(LATENESS)
    ingest(flow_run(clock, "a", "Late", -650))
    drain(Engine(now=clock))
    start = clock()
    clock.advance(seconds=400)  # stopped for 400 s: the breach held all along
    drain(Engine(now=clock))
    firing = Firing.objects.get()
    assert firing.occurred - (start - timedelta(seconds=1)) == timedelta(seconds=300)


def test_metric_triggers_are_neither_indexed_nor_evaluated_as_event_triggers(engine, clock):
    metric = store_automation(LATENESS, name="metric")
    compound = store_automation(
        {
            "type": "compound",
            "require": "any",
            "triggers": [
                LATENESS,
                {"type": "event", "expect": ["prefect.flow-run.Failed"], "within": 0},
            ],
        },
        name="compound",
    )
    drain(engine)
    assert metric.id not in engine.index.candidates("prefect.flow-run.Late")
    assert engine.index.candidates("prefect.flow-run.Failed") == {compound.id}
    assert [a.id for a in metric_engine.metric_automations(engine.index)] == [metric.id]
    ingest(flow_run(clock, "a", "Late", -1), flow_run(clock, "b", "Failed", 0))
    drain(engine)
    # The compound fires through its event child; the metric automation fires no event way.
    assert list(Firing.objects.values_list("automation_id", flat=True)) == [compound.id]
    assert list(MetricState.objects.values_list("automation_id", flat=True)) == [metric.id]


def test_disabling_or_changing_a_metric_automation_resets_its_state(engine, clock):
    automation = store_automation(LATENESS)
    ingest(flow_run(clock, "a", "Late", -650))
    drain(engine)
    run_for(engine, clock, 60)
    assert MetricState.objects.get().state["since"] is not None
    automation.trigger = {**automation.trigger, "metric": {**LATENESS["metric"], "threshold": 700}}
    automation.save()
    drain(engine)
    state = MetricState.objects.get().state
    assert state["since"] == state["last"]  # a new trigger: its hold starts afresh
    automation.enabled = False
    automation.save()
    drain(engine)
    assert not MetricState.objects.exists()


def test_a_metric_reads_only_the_runs_its_match_related_selects(engine, clock):
    related = [
        {"prefect.resource.id": "prefect.deployment.prod", "prefect.resource.role": "deployment"}
    ]
    other = [
        {"prefect.resource.id": "prefect.deployment.dev", "prefect.resource.role": "deployment"}
    ]
    store_automation({**LATENESS, "match_related": related[0]})
    ingest(
        event_at(
            clock, "prefect.flow-run.Late", -650, resource_id="prefect.flow-run.dev", related=other
        ),
        event_at(
            clock, "prefect.flow-run.Late", -20, resource_id="prefect.flow-run.p", related=related
        ),
    )
    drain(engine)
    assert MetricState.objects.get().state["value"] == pytest.approx(19.0)
    run_for(engine, clock, 330)
    assert not Firing.objects.exists()


# -- the backtest API -------------------------------------------------------------------------

URL = "/api/automations/backtest"


def test_backtest_of_a_metric_trigger_reports_breach_and_resolution_with_the_value_series(
    api, clock
):
    t0 = clock() - timedelta(hours=3)
    related = {
        "prefect.resource.id": "prefect.deployment.prod",
        "prefect.resource.role": "deployment",
    }
    events = []
    # A run late for 15 minutes from 30 minutes in; quick runs (late 10 s) every 5 minutes.
    events.append(
        event_at(
            clock,
            "prefect.flow-run.Late",
            (t0 - clock()).total_seconds() + 1800,
            resource_id="prefect.flow-run.slow",
            related=[related],
        )
    )
    events.append(
        event_at(
            clock,
            "prefect.flow-run.Running",
            (t0 - clock()).total_seconds() + 2700,
            resource_id="prefect.flow-run.slow",
            related=[related],
        )
    )
    for i in range(20):
        base = (t0 - clock()).total_seconds() + 3000 + i * 300
        run = f"prefect.flow-run.quick{i}"
        events.append(
            event_at(clock, "prefect.flow-run.Late", base, resource_id=run, related=[related])
        )
        events.append(
            event_at(
                clock, "prefect.flow-run.Running", base + 10, resource_id=run, related=[related]
            )
        )
    # Another deployment's very late run does not count.
    events.append(
        event_at(
            clock,
            "prefect.flow-run.Late",
            (t0 - clock()).total_seconds() + 60,
            resource_id="prefect.flow-run.dev",
        )
    )
    ingest(*events)
    trigger = {**LATENESS, "match_related": related,
               "metric": {**LATENESS["metric"], "range": 1800}}  # fmt: skip
    window = {"since": t0.isoformat(), "until": (t0 + timedelta(hours=3)).isoformat()}
    response = api.post(URL, {"trigger": trigger, "occurred": window}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    states = [(f["state"], f["occurred"][:19]) for f in body["firings"]]
    # >= 600 s from 40 minutes in (the slow run late for 600 s so far), held 5 minutes; the
    # slow run's lateness (900 s) averages down as quick runs join (mean < 600 once 1 quick
    # run joined: (900 + 10) / 2), from 50 minutes in; resolved 5 minutes later.
    fmt = "%Y-%m-%dT%H:%M:%S"
    assert states == [
        ("Triggered", (t0 + timedelta(seconds=2400 + 300)).strftime(fmt)),
        ("Resolved", (t0 + timedelta(seconds=3000 + 300)).strftime(fmt)),
    ]
    assert body["firings"][0]["value"] == pytest.approx(900.0)
    metric = body["metric"]
    assert (metric["name"], metric["operator"], metric["threshold"]) == ("lateness", ">=", 600)
    series = {p["occurred"][:19]: p["value"] for p in metric["series"]}
    assert series[(t0 + timedelta(seconds=2100)).strftime(fmt)] == pytest.approx(300.0)
    assert series[t0.strftime(fmt)] is None  # no run late yet (the other deployment's aside)
    assert body["events_read"] == 2 + 40
    assert not Firing.objects.exists(), "a backtest stores nothing"


def test_backtest_of_an_invalid_metric_trigger_answers_422(api, clock):
    window = {"since": (clock() - timedelta(hours=1)).isoformat(), "until": clock().isoformat()}
    trigger = {**LATENESS, "metric": {**LATENESS["metric"], "firing_for": 60}}
    response = api.post(URL, {"trigger": trigger, "occurred": window}, format="json")
    assert response.status_code == 422
    assert "firing_for" in response.content.decode()


# -- the builder's "Test against history" --------------------------------------------------


def test_the_builder_plots_a_metric_trigger_against_its_threshold(client, viewer, clock):
    from django.urls import reverse

    client.force_login(viewer)
    ingest(flow_run(clock, "stuck", "Late", -1200))  # late for 20 minutes, still late
    form = {
        "trigger.type": "metric",
        "trigger.metric.name": "lateness",
        "trigger.metric.operator": ">=",
        "trigger.metric.threshold": "600",
        "trigger.metric.range": "1h",
        "trigger.metric.firing_for": "5m",
        "backtest_range": "1h",
    }
    response = client.post(reverse("automations:backtest"), form)
    html = response.content.decode()
    assert response.status_code == 200, html
    assert "Would have fired 1 time" in html
    assert 'data-testid="backtest-metric-plot"' in html
    assert html.count('data-testid="backtest-metric-line"') == 1  # one stretch with a value
    assert 'data-testid="backtest-threshold"' in html
    assert html.count('class="mark triggered" data-testid="backtest-metric-mark"') == 1
    assert "a run still late counts with its time so far" in html
    assert "lateness = " in html  # the firing's value, in the list

    broken = client.post(reverse("automations:backtest"), {**form, "trigger.metric.range": "1m"})
    assert broken.status_code == 422
    assert "trigger.metric.range" in broken.content.decode()


def test_the_builder_says_how_unfinished_runs_count_for_metric_triggers(client, viewer):
    from django.urls import reverse

    client.force_login(viewer)
    html = client.get(reverse("automations:new")).content.decode()
    assert "A run still running (duration) or still late (lateness) counts with its time so" in html


def test_triggers_read_together_see_only_their_own_related_runs(engine, clock):
    def on(deployment: str) -> dict:
        spec = {"prefect.resource.id": f"prefect.deployment.{deployment}",
                "prefect.resource.role": "deployment"}  # fmt: skip
        return {**LATENESS, "match_related": spec}

    prod = store_automation(on("prod"), name="prod")
    dev = store_automation(on("dev"), name="dev")
    rel = {"prefect.resource.role": "deployment"}
    ingest(
        event_at(clock, "prefect.flow-run.Late", -650, resource_id="prefect.flow-run.p",
                 related=[{**rel, "prefect.resource.id": "prefect.deployment.prod"}]),
        event_at(clock, "prefect.flow-run.Late", -30, resource_id="prefect.flow-run.d",
                 related=[{**rel, "prefect.resource.id": "prefect.deployment.dev"}]),
        event_at(clock, "prefect.task-run.Late", -900, resource_id="prefect.task-run.t",
                 related=[{**rel, "prefect.resource.id": "prefect.deployment.dev"}]),
    )  # fmt: skip
    drain(engine)
    values = dict(MetricState.objects.values_list("automation_id", "state"))
    assert values[prod.id]["value"] == pytest.approx(649.0)
    assert values[dev.id]["value"] == pytest.approx(29.0)  # the task run is not a flow run
    run_for(engine, clock, 315)
    assert list(Firing.objects.values_list("automation_id", flat=True)) == [prod.id]
