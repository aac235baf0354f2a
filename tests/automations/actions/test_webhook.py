"""call-webhook: the block's request with the rendered payload, the answer recorded, retries
for what may pass (5xx, 429, no connection) and none for what will not (4xx, no block, a
template that does not render)."""

from __future__ import annotations

import json
import uuid

import pytest
from werkzeug import Response

from automations.actions.models import ActionRun
from tests.automations.actions.conftest import action_events, fire, run_jobs, runs, store, webhook

pytestmark = pytest.mark.django_db


def hook_action(
    block, payload='{"flow_run": "{{ event.resource.id }}", "name": "{{ automation.name }}"}'
):
    return {"type": "call-webhook", "block_document_id": str(block.pk), "payload": payload}


def test_a_firing_calls_the_webhook_with_the_rendered_payload_and_records_the_answer(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("thanks", status=200)
    block = webhook(
        httpserver.url_for("/hook"), headers={"X-Token": "t", "Authorization": "secret"}
    )
    automation = store([hook_action(block)], name="Failures")
    event = fire(resource_id="prefect.flow-run.abc")
    assert run_jobs() == 1
    ((request, _response),) = httpserver.log
    assert json.loads(request.data) == {"flow_run": "prefect.flow-run.abc", "name": "Failures"}
    assert request.headers["X-Token"] == "t"
    (run,) = runs()
    assert run.status == ActionRun.EXECUTED
    assert run.attempts == 1
    assert run.status_code == 200 and run.response_body == "thanks"
    assert run.request["headers"]["Authorization"] == "••••"  # never shown
    assert run.firing.automation_id == automation.pk
    triggered, executed = action_events()
    assert triggered.event == "prefect.automation.action.triggered"
    assert executed.event == "prefect.automation.action.executed"
    assert executed.follows == triggered.id
    assert triggered.follows == uuid.UUID(event["id"])
    assert executed.resource.id == f"prefect.automation.{automation.pk}"
    assert executed.payload["action_index"] == 0
    assert executed.payload["action_type"] == "call-webhook"
    assert executed.payload["invocation"] == str(run.pk)
    assert executed.payload["status_code"] == 200
    assert executed.payload["response_body"] == "thanks"
    roles = {r.role: r.id for r in executed.related}
    assert roles["triggering-event"] == f"prefect.event.{event['id']}"
    assert roles["automation-triggered-event"] == f"prefect.event.{run.firing.event_id}"
    assert roles["block"] == f"prefect.block-document.{block.pk}"


def test_a_4xx_fails_at_once_without_a_retry(httpserver):
    httpserver.expect_request("/hook").respond_with_data("nope", status=404)
    store([hook_action(webhook(httpserver.url_for("/hook")))])
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts, run.status_code) == (ActionRun.FAILED, 1, 404)
    assert run.reason == "Webhook returned status 404"
    assert len(httpserver.log) == 1
    failed = action_events("prefect.automation.action.failed")
    assert [e.payload["reason"] for e in failed] == ["Webhook returned status 404"]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_5xx_or_429_is_retried_until_it_passes(httpserver, status):
    answers = iter([Response("busy", status=status), Response("ok", status=200)])
    httpserver.expect_request("/hook").respond_with_handler(lambda request: next(answers))
    store([hook_action(webhook(httpserver.url_for("/hook")))])
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts, run.status_code) == (ActionRun.EXECUTED, 2, 200)
    events = action_events()
    names = sorted(e.event.rsplit(".", 1)[1] for e in events)
    assert names == ["executed", "failed", "triggered", "triggered"]  # an attempt, a pair
    triggered_ids = {e.id for e in events if e.event.endswith(".triggered")}
    assert {e.follows for e in events if not e.event.endswith(".triggered")} == triggered_ids


def test_a_webhook_that_keeps_failing_gives_up_after_the_last_attempt(httpserver, settings):
    httpserver.expect_request("/hook").respond_with_data("down", status=502)
    store([hook_action(webhook(httpserver.url_for("/hook")))])
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts) == (ActionRun.FAILED, settings.ACTIONS_MAX_ATTEMPTS)
    assert len(httpserver.log) == settings.ACTIONS_MAX_ATTEMPTS


def test_a_refused_connection_is_transient(settings):
    settings.ACTIONS_MAX_ATTEMPTS = 2
    store([hook_action(webhook("http://127.0.0.1:9/hook"))])
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts) == (ActionRun.FAILED, 2)
    assert "could not be reached" in run.reason


def test_a_missing_block_fails_without_a_retry(httpserver):
    block = webhook(httpserver.url_for("/hook"))
    store([hook_action(block)])
    block_id = block.pk
    block.delete()
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts) == (ActionRun.FAILED, 1)
    assert run.reason == f"Webhook block {block_id} not found"


def test_a_template_that_does_not_render_fails_without_a_retry(httpserver):
    block = webhook(httpserver.url_for("/hook"))
    store([hook_action(block, payload="{{ event.resource.id | nosuchfilter }}")])
    fire()
    run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts) == (ActionRun.FAILED, 1)
    assert run.reason.startswith("Template rendering failed")
    assert httpserver.log == []


def test_a_text_payload_is_sent_as_text(httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    store([hook_action(webhook(httpserver.url_for("/hook")), payload="failed: {{ event.event }}")])
    fire()
    run_jobs()
    ((request, _),) = httpserver.log
    assert request.data == b"failed: prefect.flow-run.Failed"


def test_a_busy_host_defers_the_attempt_without_counting_it(httpserver, settings):
    from automations.actions.executors import host_slot

    settings.ACTIONS_PER_HOST_CONCURRENCY = 1
    httpserver.expect_request("/hook").respond_with_data("ok")
    store([hook_action(webhook(httpserver.url_for("/hook")))])
    fire()
    with host_slot(httpserver.url_for("/hook")):  # another attempt holds the host's slot
        run_jobs()
    (run,) = runs()
    assert (run.status, run.attempts) == (ActionRun.PENDING, 0)
    assert httpserver.log == []
    run.refresh_from_db()
    ActionRun.objects.update(next_attempt_at=None)
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(status="READY").update(run_after=run.created)
    run_jobs()
    run.refresh_from_db()
    assert (run.status, run.attempts) == (ActionRun.EXECUTED, 1)


def test_a_hanging_webhook_holds_an_attempt_no_longer_than_its_timeout(settings):
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_POST(self):
            release.wait(30)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.ACTIONS_WEBHOOK_TIMEOUT_SECONDS = 1
    settings.ACTIONS_MAX_ATTEMPTS = 1
    try:
        store([hook_action(webhook(f"http://127.0.0.1:{server.server_address[1]}/hook"))])
        fire()
        started = time.monotonic()
        run_jobs()
        took = time.monotonic() - started
    finally:
        release.set()
        server.shutdown()
    (run,) = runs()
    assert run.status == ActionRun.FAILED
    assert "did not answer in time" in run.reason
    assert took < 5  # the 1 s timeout, not the target's 30 s


def test_credentials_are_not_sent_on_to_another_origin_by_a_redirect(settings):
    """A webhook's Authorization goes to its own host only; a redirect elsewhere drops it."""
    from pytest_httpserver import HTTPServer

    from eventsui.lib import outbound

    with HTTPServer(host="127.0.0.1") as first, HTTPServer(host="127.0.0.1") as other:
        other.expect_request("/landed").respond_with_data("ok")
        first.expect_request("/hook").respond_with_data(
            "", status=307, headers={"Location": other.url_for("/landed")}
        )
        sent = outbound.send(
            "POST",
            first.url_for("/hook"),
            headers={"Authorization": "Bearer secret", "X-Kept": "yes"},
            content="{}",
        )
        assert sent.response.status_code == 200 and sent.redirects == 1
        (hook, _), (landed, _) = first.log[0], other.log[0]
        assert hook.headers.get("Authorization") == "Bearer secret"
        assert landed.headers.get("Authorization") is None
        assert landed.headers.get("X-Kept") == "yes"


def test_only_the_start_of_a_huge_answer_is_read(httpserver):
    from eventsui.lib import outbound

    httpserver.expect_request("/big").respond_with_data("x" * (outbound.MAX_RESPONSE_BYTES * 8))
    sent = outbound.send("GET", httpserver.url_for("/big"))
    assert sent.response.status_code == 200
    assert len(sent.response.content) == outbound.MAX_RESPONSE_BYTES
    assert sent.response.text.startswith("xxx")


def test_a_compressed_answer_is_recorded_as_text(httpserver):
    import gzip

    from eventsui.lib import outbound

    httpserver.expect_request("/gz").respond_with_data(
        gzip.compress(b'{"accepted": true}'), headers={"Content-Encoding": "gzip"}
    )
    sent = outbound.send("GET", httpserver.url_for("/gz"))
    assert sent.response.text == '{"accepted": true}'
