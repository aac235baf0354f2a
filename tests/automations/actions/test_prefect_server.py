"""Prefect actions against a real `prefect server` process (started once for this module):
a firing creates a real flow run of a real deployment, pauses and resumes a real work pool,
pauses a deployment inferred from the event, cancels the flow run inferred from the event."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from automations.actions.context import TriggeredAction
from automations.actions.executors import Attempt, executor_for
from automations.actions.models import ActionRun
from automations.actions.run import triggered_action
from tests.automations.actions.conftest import action_events, fire, run_jobs, runs, store
from tests.conftest import related
from tests.live_server import _free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    home: Path = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = dict(
        os.environ,
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home}/prefect.db",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ui",
            "--analytics-off",
            "--no-services",  # the API only: its own automations and schedulers stay off
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    # About 15 s on an idle machine; more when the machine is busy.
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError((home / "server.log").read_text()[-3000:])
        time.sleep(0.3)
    yield url
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def prefect(prefect_api, settings):
    settings.PREFECT_API_URL = prefect_api
    client = httpx.Client(base_url=prefect_api + "/", timeout=10)
    suffix = os.urandom(4).hex()
    pool = client.post("work_pools/", json={"name": f"pool-{suffix}", "type": "process"})
    assert pool.status_code == 201, pool.text
    flow = client.post("flows/", json={"name": f"flow-{suffix}"}).json()
    deployment = client.post(
        "deployments/",
        json={
            "name": f"deploy-{suffix}",
            "flow_id": flow["id"],
            "work_pool_name": pool.json()["name"],
        },
    )
    assert deployment.status_code in (200, 201), deployment.text
    client.pool = pool.json()
    client.deployment = deployment.json()
    yield client
    client.close()


def test_a_firing_creates_a_real_flow_run_and_pauses_a_real_work_pool(prefect):
    automation = store(
        [
            {
                "type": "run-deployment",
                "source": "selected",
                "deployment_id": prefect.deployment["id"],
                "parameters": {"why": "{{ event.resource.id }}"},
            },
            {"type": "pause-work-pool", "source": "selected", "work_pool_id": prefect.pool["id"]},
        ],
        name="Rerun on failure",
    )
    fire(resource_id="prefect.flow-run.original")
    run_jobs()
    created, paused = runs()
    assert created.status == ActionRun.EXECUTED, created.reason
    assert paused.status == ActionRun.EXECUTED, paused.reason
    flow_runs = prefect.post(
        "flow_runs/filter",
        json={"flow_runs": {"deployment_id": {"any_": [prefect.deployment["id"]]}}},
    ).json()
    (flow_run,) = flow_runs
    assert flow_run["id"] == created.details["flow_run"]
    assert flow_run["parameters"] == {"why": "prefect.flow-run.original"}
    assert flow_run["state"]["type"] == "SCHEDULED"
    assert flow_run["idempotency_key"] == (
        f"automation {automation.pk}, action 0, invocation {created.pk}"
    )
    assert prefect.get(f"work_pools/{prefect.pool['name']}").json()["is_paused"] is True
    executed = action_events("prefect.automation.action.executed")
    flow_run_related = [
        r for e in executed for r in e.related if r.id == f"prefect.flow-run.{flow_run['id']}"
    ]
    assert flow_run_related and flow_run_related[0].role == "flow-run"


def test_run_deployment_retried_creates_one_flow_run(prefect):
    store(
        [
            {
                "type": "run-deployment",
                "source": "selected",
                "deployment_id": prefect.deployment["id"],
            }
        ]
    )
    fire()
    (run,) = runs()
    triggered: TriggeredAction = triggered_action(run)
    executor = executor_for("run-deployment")
    first, second = Attempt(), Attempt()
    executor.execute(triggered, first)
    executor.execute(triggered, second)  # the same invocation again (a retry)
    assert first.details["flow_run"] == second.details["flow_run"]
    flow_runs = prefect.post(
        "flow_runs/filter",
        json={"flow_runs": {"deployment_id": {"any_": [prefect.deployment["id"]]}}},
    ).json()
    assert len(flow_runs) == 1


def test_inferred_targets_pause_the_deployment_resume_the_pool_change_the_flow_run(prefect):
    prefect.patch(f"work_pools/{prefect.pool['name']}", json={"is_paused": True})
    flow_run = prefect.post(
        f"deployments/{prefect.deployment['id']}/create_flow_run",
        json={"state": {"type": "SCHEDULED"}},
    ).json()
    store(
        [
            {"type": "pause-deployment", "source": "inferred"},
            {"type": "resume-work-pool", "source": "inferred"},
            # Prefect refuses to cancel a Scheduled run that has no infrastructure: the
            # history says why, in Prefect's words.
            {"type": "cancel-flow-run"},
            {"type": "change-flow-run-state", "state": "CANCELLED", "message": "by eventsui"},
        ]
    )
    fire(
        resource_id=f"prefect.flow-run.{flow_run['id']}",
        related=[
            related("deployment", f"prefect.deployment.{prefect.deployment['id']}"),
            related("work-pool", f"prefect.work-pool.{prefect.pool['id']}"),
        ],
    )
    run_jobs()
    statuses = [r.status for r in runs()]
    assert statuses == ["executed", "executed", "failed", "executed"], [r.reason for r in runs()]
    assert runs()[2].reason.startswith("Failed to set state: ")
    assert prefect.get(f"deployments/{prefect.deployment['id']}").json()["paused"] is True
    assert prefect.get(f"work_pools/{prefect.pool['name']}").json()["is_paused"] is False
    state = prefect.get(f"flow_runs/{flow_run['id']}").json()["state"]
    assert (state["type"], state["message"]) == ("CANCELLED", "by eventsui")


def test_a_missing_deployment_fails_without_a_retry(prefect):
    store(
        [
            {
                "type": "pause-deployment",
                "source": "selected",
                "deployment_id": "00000000-0000-4000-8000-000000000001",
            }
        ]
    )
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts, run.status_code) == (ActionRun.FAILED, 1, 404)
    assert run.reason == "Unexpected status from 'pause-deployment' action: 404"
