"""Metric triggers, pure: the metric values from timed flow-run state events, and the
`firing_for` hold (breach, hold, resolve, flapping shorter than `firing_for`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automations import schemas
from automations.engine import metrics
from automations.engine.metrics import INTERVAL, RESOLVED, TRIGGERED, Hold

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def runs(*states: tuple[str, str, float]):
    """(run, state, seconds after T0) -> runs, as the store's rows would give them."""
    return metrics.runs_from_rows(
        (f"prefect.flow-run.{run}", f"prefect.flow-run.{state}", at(s)) for run, state, s in states
    )


def trigger(name: str, operator: str, threshold: float, *, range=3600, firing_for=300):
    return schemas.MetricTrigger.model_validate(
        {
            "type": "metric",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "metric": {
                "name": name,
                "operator": operator,
                "threshold": threshold,
                "range": range,
                "firing_for": firing_for,
            },
        }
    )


HOUR = timedelta(hours=1)


# -- the metrics ------------------------------------------------------------------------------


def test_successes_is_the_share_of_runs_that_went_pending_and_did_not_end_failed_or_crashed():
    found = runs(
        ("a", "Pending", 0), ("a", "Running", 5), ("a", "Completed", 60),
        ("b", "Pending", 0), ("b", "Running", 5), ("b", "Failed", 60),
        ("c", "Pending", 0), ("c", "Running", 5), ("c", "Crashed", 60),
        ("d", "Pending", 0), ("d", "Running", 5),  # still running: a success so far
    )  # fmt: skip
    assert metrics.metric_value("successes", HOUR, found, at(120)) == 0.5


def test_successes_counts_a_retried_run_by_its_latest_state():
    found = runs(
        ("a", "Pending", 0), ("a", "Running", 5), ("a", "Failed", 60),
        ("a", "AwaitingRetry", 61), ("a", "Retrying", 70), ("a", "Completed", 100),
    )  # fmt: skip
    assert metrics.metric_value("successes", HOUR, found, at(60)) == 0.0  # failed, for now
    assert metrics.metric_value("successes", HOUR, found, at(65)) == 1.0  # retrying
    assert metrics.metric_value("successes", HOUR, found, at(200)) == 1.0


def test_successes_counts_only_runs_that_went_pending_in_the_range():
    found = runs(
        ("old", "Pending", 0), ("old", "Failed", 10),
        ("new", "Pending", 3000), ("new", "Completed", 3100),
        ("never-pending", "Failed", 3200),
    )  # fmt: skip
    assert metrics.metric_value("successes", HOUR, found, at(3300)) == 0.5
    assert metrics.metric_value("successes", HOUR, found, at(3700)) == 1.0  # "old" left


def test_duration_is_the_mean_time_running_before_a_terminal_state():
    found = runs(
        ("a", "Running", 0), ("a", "Completed", 60),
        ("b", "Running", 0), ("b", "Failed", 120),
        ("c", "Running", 0), ("c", "AwaitingRetry", 30),  # not before a terminal state
    )  # fmt: skip
    assert metrics.metric_value("duration", HOUR, found, at(200)) == 90.0


def test_duration_counts_a_still_running_run_with_its_time_so_far():
    found = runs(("a", "Running", 0), ("a", "Completed", 60), ("b", "Running", 0))
    assert metrics.metric_value("duration", HOUR, found, at(100)) == (60 + 100) / 2
    assert metrics.metric_value("duration", HOUR, found, at(300)) == (60 + 300) / 2


def test_duration_counts_a_retried_run_from_its_last_entry_into_running():
    found = runs(
        ("a", "Running", 0), ("a", "AwaitingRetry", 30), ("a", "Retrying", 100),
        ("a", "Completed", 140),
    )  # fmt: skip
    assert metrics.metric_value("duration", HOUR, found, at(200)) == 40.0


def test_lateness_is_the_mean_time_late_before_running_or_crashed():
    found = runs(
        ("a", "Scheduled", 0), ("a", "Late", 10), ("a", "Pending", 100), ("a", "Running", 310),
        ("b", "Late", 10), ("b", "Crashed", 110),
        ("c", "Late", 10), ("c", "Cancelled", 20),  # never ran: not counted
        ("d", "Running", 10), ("d", "Completed", 20),  # never late: not counted
    )  # fmt: skip
    assert metrics.metric_value("lateness", HOUR, found, at(400)) == (300 + 100) / 2


def test_lateness_counts_a_still_late_run_with_its_time_so_far():
    found = runs(("a", "Late", 0), ("a", "Pending", 50))  # Pending does not end lateness
    assert metrics.metric_value("lateness", HOUR, found, at(100)) == 100.0
    assert metrics.metric_value("lateness", HOUR, found, at(250)) == 250.0


def test_a_metric_without_runs_has_no_value_and_does_not_breach():
    assert metrics.metric_value("lateness", HOUR, {}, at(0)) is None
    assert not metrics.breaching(trigger("successes", "<", 0.9), None)
    assert not metrics.breaching(trigger("duration", ">=", 0), None)


@pytest.mark.parametrize(
    ("operator", "below", "equal", "above"),
    [("<", True, False, False), ("<=", True, True, False), (">", False, False, True),
     (">=", False, True, True)],
)  # fmt: skip
def test_each_operator_compares_the_value_with_the_threshold(operator, below, equal, above):
    t = trigger("duration", operator, 60)
    assert (metrics.breaching(t, 59.5), metrics.breaching(t, 60.0)) == (below, equal)
    assert metrics.breaching(t, 60.5) == above


# -- the hold ---------------------------------------------------------------------------------


def observe_all(hold: Hold, samples: list[tuple[float, bool]]) -> list[tuple[float, str]]:
    out = []
    for seconds, breach in samples:
        change = hold.observe(at(seconds), breach)
        if change:
            out.append((seconds, change))
    return out


def every(start: float, end: float, breach: bool, step: float = 15):
    return [(start + i * step, breach) for i in range(int((end - start) / step))]


def test_a_breach_fires_once_it_has_held_for_firing_for():
    hold = Hold(timedelta(seconds=300))
    assert observe_all(hold, every(0, 600, True)) == [(300, TRIGGERED)]
    assert hold.triggered


def test_a_breach_shorter_than_firing_for_never_fires():
    hold = Hold(timedelta(seconds=300))
    flapping = every(0, 285, True) + every(285, 300, False) + every(300, 585, True)
    assert observe_all(hold, flapping) == []
    assert not hold.triggered


def test_a_triggered_hold_resolves_once_the_condition_has_failed_for_firing_for():
    hold = Hold(timedelta(seconds=300))
    samples = every(0, 600, True) + every(600, 1200, False)
    assert observe_all(hold, samples) == [(300, TRIGGERED), (900, RESOLVED)]


def test_a_recovery_shorter_than_firing_for_does_not_resolve():
    hold = Hold(timedelta(seconds=300))
    samples = every(0, 600, True) + every(600, 885, False) + every(885, 1500, True)
    assert observe_all(hold, samples) == [(300, TRIGGERED)]


def test_the_hold_survives_being_stored_between_evaluations():
    hold = Hold(timedelta(seconds=300))
    observe_all(hold, every(0, 150, True))
    again = Hold(timedelta(seconds=300), hold.dump())
    assert observe_all(again, every(150, 330, True)) == [(300, TRIGGERED)]


def test_a_pause_longer_than_the_evaluation_gap_starts_the_hold_again():
    hold = Hold(timedelta(seconds=300))
    observe_all(hold, every(0, 240, True))
    # nothing evaluated for 10 minutes: whether it held meanwhile is unknown
    assert observe_all(hold, every(840, 1200, True)) == [(1140, TRIGGERED)]


def test_missed_evaluations_are_made_up_back_as_far_as_a_hold_needs():
    last = at(0)
    times = metrics.ticks(last, at(60), timedelta(seconds=300))
    assert times == [at(15), at(30), at(45), at(60)]
    assert metrics.ticks(last, at(70), timedelta(seconds=300))[-2:] == [at(60), at(70)]
    times = metrics.ticks(last, at(86400), timedelta(seconds=300))
    assert times[-1] == at(86400) and times[1] - times[0] == INTERVAL
    assert at(86400) - times[-2] <= INTERVAL
    assert times[-2] - times[0] == timedelta(seconds=600) + INTERVAL


# -- scenarios: the metric over timed events, through the hold ---------------------------------


def test_scenario_duration_above_a_threshold_breaches_holds_and_resolves():
    # Runs of 20 minutes start every 5 minutes until 30 minutes in; from 50 minutes in,
    # runs of 1 minute. The range is 15 minutes: a run counts while it started in the range.
    states = []
    for i in range(7):
        states += [(f"slow{i}", "Running", i * 300), (f"slow{i}", "Completed", i * 300 + 1200)]
    for i in range(12):
        start = 3000 + i * 300
        states += [(f"fast{i}", "Running", start), (f"fast{i}", "Completed", start + 60)]
    t = trigger("duration", ">", 200, range=900, firing_for=300)
    changes, series = metrics.replay(t, runs(*states), at(0), at(7200))
    # Above 200 s (still-running runs with their time so far) from 360 s on; held 300 s.
    # The last slow run leaves the range at 2700 s, then no run or fast ones: resolved 300 s on.
    assert [(c[0], c[1]) for c in changes] == [(at(660), TRIGGERED), (at(3000), RESOLVED)]
    assert dict(series)[at(2400)] == 600.0  # only slow6, running for 600 s so far


def test_scenario_successes_below_a_share_fires_and_flapping_under_firing_for_does_not():
    states = []
    # Each minute a run goes Pending and ends 30 s later. Run 10 fails (the share dips under
    # 0.9 for 270 s: shorter than firing_for), and runs 30 to 39 fail.
    for i in range(60):
        fail = i == 10 or 30 <= i < 40
        outcome = "Failed" if fail else "Completed"
        states += [(f"r{i}", "Pending", i * 60), (f"r{i}", outcome, i * 60 + 30)]
    t = trigger("successes", "<", 0.9, range=300, firing_for=300)
    changes, _ = metrics.replay(t, runs(*states), at(0), at(3600))
    # Under 0.9 from run 30's failure (1830 s) until run 39 leaves the range (2640 s).
    assert [(c[0], c[1]) for c in changes] == [(at(2130), TRIGGERED), (at(2940), RESOLVED)]


def test_scenario_lateness_with_a_still_late_run_breaches_while_it_stays_late():
    states = [("stuck", "Late", 0)]  # never starts
    t = trigger("lateness", ">=", 600, range=3600, firing_for=300)
    changes, series = metrics.replay(t, runs(*states), at(0), at(1200))
    assert changes == [(at(900), TRIGGERED, 900.0)]  # >= 600 from 600 s, held 300 s
    assert dict(series)[at(1200)] == 1200.0


def test_scenario_lateness_below_a_threshold_fires_only_while_runs_are_late():
    states = [("a", "Late", 0), ("a", "Running", 30)]
    t = trigger("lateness", "<", 60, range=600, firing_for=300)
    changes, _ = metrics.replay(t, runs(*states), at(0), at(1500))
    # Below 60 s from the Late event on (so far, then 30 s); the run leaves the range at 600 s.
    assert [c[1] for c in changes] == [TRIGGERED, RESOLVED]
    assert changes[0][0] == at(300) and changes[1][0] == at(900)
