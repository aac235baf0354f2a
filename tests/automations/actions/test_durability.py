"""Workers are real processes (`manage.py run_actions`): two share the queue, and one killed
with kill -9 in the middle of an attempt loses nothing: another takes the run again once its
lease passes, and it is recorded as executed once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from automations.actions.models import ActionRun
from automations.actions.run import claim, run_action
from tests.automations.actions.conftest import action_events, fire, store, webhook
from tests.automations.engine.processes import Process, _env, _log, database_url, wait_until
from tests.live_server import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def start_worker(django_db_blocker, name: str, *, lease_seconds: float = 90) -> Process:
    """`manage.py run_actions`. A short lease makes a killed worker's run come back soon; it
    must stay longer than an attempt takes, or a live attempt would be taken over."""
    log = _log(name)
    env = _env(database_url(django_db_blocker, name))
    env.update(OUTBOUND_ALLOWED_NETWORKS="127.0.0.1/32", ACTIONS_LEASE_SECONDS=str(lease_seconds))
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_actions", "--threads", "4"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Process(name, process, log)


class Target:
    """A webhook receiver whose first delivery hangs until released."""

    def __init__(self) -> None:
        self.deliveries: list[dict] = []
        self.release = threading.Event()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                target.deliveries.append(dict(self.headers))
                if len(target.deliveries) == 1:
                    target.release.wait(30)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def test_a_worker_killed_mid_attempt_loses_nothing_and_executes_once(django_db_blocker):
    target = Target()
    try:
        store([{"type": "call-webhook", "block_document_id": str(webhook(target.url).pk)}])
        fire()
        first = start_worker(django_db_blocker, "actions-a", lease_seconds=8)
        try:
            wait_until(lambda: len(target.deliveries) == 1, 90, "the first delivery", process=first)
        finally:
            first.kill()  # kill -9 while the request is in flight
        run = ActionRun.objects.get()
        assert (run.status, run.attempts) == (ActionRun.RUNNING, 1)
        second = start_worker(django_db_blocker, "actions-b", lease_seconds=8)
        try:
            wait_until(
                lambda: ActionRun.objects.get().status == ActionRun.EXECUTED,
                90,
                "the run to be taken again and executed",
                process=second,
            )
        finally:
            second.stop()
        run.refresh_from_db()
        assert run.attempts == 2
        assert len(target.deliveries) == 2
        # Both deliveries say they are the same one: a receiver keeps one.
        keys = {d["Idempotency-Key"] for d in target.deliveries}
        assert keys == {f"automation {run.automation_id}, action 0, invocation {run.pk}"}
        assert len(action_events("prefect.automation.action.executed")) == 1
    finally:
        target.close()


def test_a_job_delivered_while_its_attempt_is_live_does_nothing():
    store([{"type": "do-nothing"}])
    fire()
    run = ActionRun.objects.get()
    assert claim(run.pk) is not None  # a worker holds it
    assert run_action(run.pk) == "skipped"  # the duplicate job
    run.refresh_from_db()
    assert (run.status, run.attempts) == (ActionRun.RUNNING, 1)


def test_two_workers_share_the_queue_and_run_each_action_once(django_db_blocker, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook = webhook(httpserver.url_for("/hook"))
    store([{"type": "call-webhook", "block_document_id": str(hook.pk)}])
    for n in range(20):
        fire(resource_id=f"prefect.flow-run.{n}")
    workers = [start_worker(django_db_blocker, f"actions-{n}") for n in (1, 2)]
    try:
        wait_until(
            lambda: ActionRun.objects.filter(status=ActionRun.EXECUTED).count() == 20,
            120,
            "20 executed runs",
            process=workers[0],
        )
    finally:
        for worker in workers:
            worker.stop()
    time.sleep(0.2)
    assert len(httpserver.log) == 20
    assert set(ActionRun.objects.values_list("attempts", flat=True)) == {1}
