"""One executor class per action type, registered by `type` (`EXECUTORS`).

An executor does one attempt: `execute(triggered, attempt)` returns when the action did its
work, or raises `PermanentError` / `TransientError` (automations.actions.errors). What it sent
and what came back go on `attempt` (shown in the history, and in the payload of Prefect's
`prefect.automation.action.executed` / `.failed` events as Prefect's `_result_details`).

Each Prefect API action makes the REST call Prefect's own action makes
(`prefect.server.events.actions`), with its headers and idempotency key.

Adding an action type: its schema in `automations/schemas/actions.py`, an executor here
(registered with `@register`), its label in `automations/web/labels.py`. Nothing else.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from django.conf import settings

from automations.actions import prefect_api
from automations.actions.context import TriggeredAction, first_id_of_kind, id_from_resource_id
from automations.actions.errors import Deferred, PermanentError, TransientError, for_status
from eventsui.lib import outbound

RESPONSE_BODY_LIMIT = 1000
WEBHOOK_TIMEOUT_SECONDS = 10.0  # Prefect's webhook block's default; ACTIONS_WEBHOOK_TIMEOUT_SECONDS
# Header names whose values the history never shows.
SECRET_HEADERS = ("authorization", "cookie", "x-api-key", "api-key", "proxy-authorization")


@dataclass
class Attempt:
    """What one attempt sent and got back."""

    request: dict[str, Any] | None = None
    status_code: int | None = None
    response_body: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    related: list[dict[str, str]] = field(default_factory=list)

    def answered(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.response_body = response.text[:RESPONSE_BODY_LIMIT]
        self.details["status_code"] = response.status_code


class HostSlots:
    """At most ACTIONS_PER_HOST_CONCURRENCY webhook attempts to one host at once in this
    process: 100 webhooks to a target that hangs hold a few threads, not the whole pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}

    @contextmanager
    def __call__(self, url: str):
        host = (urlsplit(url).hostname or "").lower()
        limit = getattr(settings, "ACTIONS_PER_HOST_CONCURRENCY", 8)
        with self._lock:
            if self._busy.get(host, 0) >= limit:
                raise Deferred(host)
            self._busy[host] = self._busy.get(host, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[host] -= 1


host_slot = HostSlots()

EXECUTORS: dict[str, type[Executor]] = {}


def register(cls: type[Executor]) -> type[Executor]:
    EXECUTORS[cls.type] = cls
    return cls


class Executor:
    type: ClassVar[str] = ""

    def execute(self, triggered: TriggeredAction, attempt: Attempt) -> None:
        raise NotImplementedError


def executor_for(action_type: str) -> Executor:
    try:
        return EXECUTORS[action_type]()
    except KeyError:
        raise PermanentError(f"no executor for action type {action_type!r}") from None


def redacted(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("••••" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


# -- ours ------------------------------------------------------------------------------------------


@register
class DoNothing(Executor):
    type = "do-nothing"

    def execute(self, triggered, attempt):
        attempt.details["did"] = "nothing"


class AutomationExecutor(Executor):
    enabled: ClassVar[bool]

    def execute(self, triggered, attempt):
        from automations import services
        from automations.models import Automation

        action = triggered.action
        if action.source == "selected":
            target = action.automation_id
        else:
            target = first_id_of_kind(triggered.triggering_event, "prefect.automation")
            if target is None:
                raise PermanentError("No automation could be inferred")
        attempt.related.append(
            {
                "prefect.resource.id": f"prefect.automation.{target}",
                "prefect.resource.role": "target",
            }
        )
        automation = Automation.objects.filter(pk=target).first()
        if automation is None:
            raise PermanentError(f"Automation {target} not found")
        services.set_enabled(automation, self.enabled)
        attempt.details["automation"] = str(target)


@register
class PauseAutomation(AutomationExecutor):
    type = "pause-automation"
    enabled = False


@register
class ResumeAutomation(AutomationExecutor):
    type = "resume-automation"
    enabled = True


@register
class DeclareIncident(Executor):
    """Prefect Cloud only; ours opens an incident that the automation's resolve closes."""

    type = "declare-incident"

    def execute(self, triggered, attempt):
        from automations.actions.models import Incident

        event = triggered.triggering_event
        firing_id = (triggered.firing or {}).get("id")
        bucket = (triggered.firing or {}).get("bucket", "")
        open_ = Incident.objects.filter(
            automation_id=triggered.automation_id, bucket=bucket, resolved=None
        )
        if (triggered.firing or {}).get("trigger_state") == "Resolved":
            # The resolve closed it when the firing was stored (automations.actions.enqueue).
            attempt.details["incident"] = "resolved"
            return
        incident = open_.first()
        if incident is None:
            name = event.event if event else ""
            incident = Incident.objects.create(
                automation_id=triggered.automation_id,
                firing_id=firing_id,
                bucket=bucket,
                title=(
                    f"{triggered.automation_name}: {name}" if name else triggered.automation_name
                )[:500],
                triggering_event_id=event.id if event else None,
                triggering_event_name=name[:1024],
                opened=triggered.triggered,
            )
        attempt.details["incident"] = str(incident.id)
        attempt.related.append(
            {
                "prefect.resource.id": f"eventsui.incident.{incident.id}",
                "prefect.resource.role": "incident",
            }
        )


# -- blocks ----------------------------------------------------------------------------------------


@register
class CallWebhook(Executor):
    type = "call-webhook"

    def execute(self, triggered, attempt):
        from automations.blocks import WebhookBlock

        block = WebhookBlock.objects.filter(pk=triggered.action.block_document_id).first()
        if block is None:
            raise PermanentError(f"Webhook block {triggered.action.block_document_id} not found")
        attempt.related += [
            {
                "prefect.resource.id": f"prefect.block-document.{block.pk}",
                "prefect.resource.role": "block",
                "prefect.resource.name": block.name,
            },
            {
                "prefect.resource.id": "prefect.block-type.webhook",
                "prefect.resource.role": "block-type",
            },
        ]
        (payload,) = triggered.render([triggered.action.payload])
        headers = dict(block.headers or {})
        # The same on every attempt of this action for this firing: a receiver can drop a
        # delivery it already has (an attempt whose worker died after sending is sent again).
        headers.setdefault("Idempotency-Key", triggered.idempotency_key())
        body: dict[str, Any] = {}
        # Prefect's CallWebhook: a payload that is JSON is sent as JSON, other text as is.
        try:
            body["json"] = json.loads(payload) if payload else None
        except ValueError:
            body["content"] = payload
        attempt.request = {
            "method": block.method,
            "url": block.url,
            "headers": redacted(headers),
            "body": payload[:RESPONSE_BODY_LIMIT],
        }
        try:
            with host_slot(block.url):
                sent = outbound.send(
                    block.method,
                    block.url,
                    headers=headers,
                    timeout=getattr(
                        settings, "ACTIONS_WEBHOOK_TIMEOUT_SECONDS", WEBHOOK_TIMEOUT_SECONDS
                    ),
                    **{k: v for k, v in body.items() if v is not None},
                )
        except outbound.OutboundRefused as exc:
            raise PermanentError(f"Refused to call the webhook: {exc.reason}") from None
        except httpx.TimeoutException as exc:
            raise TransientError(f"The webhook did not answer in time ({exc!r})") from None
        except httpx.TransportError as exc:
            raise TransientError(f"The webhook could not be reached ({exc!r})") from None
        attempt.answered(sent.response)
        attempt.details["response_body"] = attempt.response_body
        if sent.redirects:
            attempt.details["final_url"] = sent.url
        if sent.response.status_code >= 300:
            raise for_status(
                sent.response.status_code,
                f"Webhook returned status {sent.response.status_code}",
            )


@register
class SendNotification(Executor):
    type = "send-notification"

    def execute(self, triggered, attempt):
        from automations.blocks import NotificationBlock

        block = NotificationBlock.objects.filter(pk=triggered.action.block_document_id).first()
        if block is None:
            raise PermanentError(
                f"Notification block {triggered.action.block_document_id} not found"
            )
        attempt.related += [
            {
                "prefect.resource.id": f"prefect.block-document.{block.pk}",
                "prefect.resource.role": "block",
                "prefect.resource.name": block.name,
            },
            {
                "prefect.resource.id": f"prefect.block-type.{block.service}",
                "prefect.resource.role": "block-type",
            },
        ]
        subject, body = triggered.render([triggered.action.subject, triggered.action.body])
        attempt.request = {"service": block.service, "subject": subject, "body": body[:1000]}
        notify(block.url, subject, body, attempt)


def notify(url: str, subject: str, body: str, attempt: Attempt | None = None) -> None:
    """Send through Apprise (also the block page's "Send a test notification")."""
    import apprise

    try:
        plugin = outbound.parse_apprise_url(url)
    except outbound.OutboundRefused as exc:
        raise PermanentError(f"Refused to notify: {exc.reason}") from None
    sender = apprise.Apprise()
    sender.add(plugin)
    with apprise.LogCapture(level=apprise.logging.WARNING) as log:
        ok = sender.notify(body=body, title=subject)
        logged = log.getvalue().strip()
    if not ok:
        # Apprise says only that delivery failed (a refused connection, a 5xx, a bad token
        # look the same): worth another attempt; its log lines say why.
        raise TransientError(
            f"The notification was not delivered{': ' + logged[-500:] if logged else ''}"
        )
    if attempt is not None:
        attempt.details["delivered"] = True


# -- the Prefect API -------------------------------------------------------------------------------


class PrefectExecutor(Executor):
    """An action against the Prefect server the settings name."""

    def call(self, triggered, attempt, method: str, path: str, **kwargs) -> httpx.Response:
        with prefect_api.client(triggered) as http:
            attempt.request = {"method": method, "url": f"{http.base_url}{path.lstrip('/')}"}
            if "json" in kwargs:
                attempt.request["body"] = kwargs["json"]
            response = prefect_api.call(http, method, path, **kwargs)
        attempt.answered(response)
        return response

    def check(self, triggered, attempt, response: httpx.Response) -> None:
        if response.status_code >= 300:
            raise for_status(
                response.status_code,
                prefect_api.reason_from_response(self.type, response),
            )

    def inferred(self, triggered, kind: str, what: str) -> UUID:
        event = triggered.triggering_event
        if event is None:
            raise PermanentError(f"No event to infer the {what}")
        found = first_id_of_kind(event, kind)
        if found is None:
            raise PermanentError(f"No {what} could be inferred")
        return found


class DeploymentExecutor(PrefectExecutor):
    def deployment_id(self, triggered) -> UUID:
        action = triggered.action
        if action.source == "selected":
            return action.deployment_id
        return self.inferred(triggered, "prefect.deployment", "deployment")

    def execute(self, triggered, attempt):
        deployment_id = self.deployment_id(triggered)
        attempt.related.append(
            {
                "prefect.resource.id": f"prefect.deployment.{deployment_id}",
                "prefect.resource.role": "target",
            }
        )
        response = self.command(triggered, attempt, deployment_id)
        self.check(triggered, attempt, response)


@register
class RunDeployment(DeploymentExecutor):
    type = "run-deployment"

    def command(self, triggered, attempt, deployment_id):
        action = triggered.action
        scheduled = datetime.now(UTC) + (action.schedule_after or timedelta(0))
        body = {
            # Prefect's Scheduled(scheduled_time=...) as a StateCreate.
            "state": {
                "type": "SCHEDULED",
                "name": "Scheduled",
                "message": None,
                "state_details": {"scheduled_time": scheduled.isoformat()},
            },
            "parameters": render_parameters(triggered, action.parameters or {}),
            "idempotency_key": triggered.idempotency_key(),
            "job_variables": action.job_variables,
        }
        response = self.call(
            triggered, attempt, "POST", f"deployments/{deployment_id}/create_flow_run", json=body
        )
        if response.status_code < 300:
            flow_run = response.json()
            attempt.related.append(
                {
                    "prefect.resource.id": f"prefect.flow-run.{flow_run['id']}",
                    "prefect.resource.role": "flow-run",
                    "prefect.resource.name": flow_run.get("name") or "",
                }
            )
            attempt.details["flow_run"] = flow_run["id"]
        if response.status_code == 409:
            try:
                attempt.details["validation_error"] = response.json().get("detail")
            except ValueError:
                pass
        return response


def render_parameters(triggered: TriggeredAction, parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters with their Jinja strings rendered (Prefect's v1-style templates: a string
    that is one `{{ expression }}` keeps the type of its value, other strings stay text)."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("__prefect_kind") == "jinja":
                return triggered.render([value.get("template", "")])[0]
            if value.get("__prefect_kind") == "json":
                return json.loads(walk(value.get("value")))
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            stripped = value.strip()
            if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
                rendered = triggered.render(["{{ " + stripped[2:-2].strip() + " | tojson }}"])[0]
                return json.loads(rendered)
            return triggered.render([value])[0]
        return value

    return walk(parameters)


@register
class PauseDeployment(DeploymentExecutor):
    type = "pause-deployment"

    def command(self, triggered, attempt, deployment_id):
        return self.call(
            triggered, attempt, "POST", f"deployments/{deployment_id}/pause_deployment"
        )


@register
class ResumeDeployment(DeploymentExecutor):
    type = "resume-deployment"

    def command(self, triggered, attempt, deployment_id):
        return self.call(
            triggered, attempt, "POST", f"deployments/{deployment_id}/resume_deployment"
        )


class WorkPoolExecutor(PrefectExecutor):
    is_paused: ClassVar[bool]

    def execute(self, triggered, attempt):
        action = triggered.action
        if action.source == "selected":
            pool_id = action.work_pool_id
        else:
            pool_id = self.inferred(triggered, "prefect.work-pool", "work pool")
        # Prefect's actions address a pool by name: read it by id first.
        found = self.call(
            triggered,
            attempt,
            "POST",
            "work_pools/filter",
            json={"work_pools": {"id": {"any_": [str(pool_id)]}}},
        )
        self.check(triggered, attempt, found)
        pools = found.json()
        if not pools:
            raise PermanentError(f"Work pool {pool_id} not found")
        name = pools[0]["name"]
        attempt.related.append(
            {
                "prefect.resource.id": f"prefect.work-pool.{pool_id}",
                "prefect.resource.name": name,
                "prefect.resource.role": "target",
            }
        )
        from urllib.parse import quote

        response = self.call(
            triggered,
            attempt,
            "PATCH",
            f"work_pools/{quote(name)}",
            json={"is_paused": self.is_paused},
        )
        self.check(triggered, attempt, response)


@register
class PauseWorkPool(WorkPoolExecutor):
    type = "pause-work-pool"
    is_paused = True


@register
class ResumeWorkPool(WorkPoolExecutor):
    type = "resume-work-pool"
    is_paused = False


class WorkQueueExecutor(PrefectExecutor):
    is_paused: ClassVar[bool]

    def execute(self, triggered, attempt):
        action = triggered.action
        if action.source == "selected":
            queue_id = action.work_queue_id
        else:
            queue_id = self.inferred(triggered, "prefect.work-queue", "work queue")
        attempt.related.append(
            {
                "prefect.resource.id": f"prefect.work-queue.{queue_id}",
                "prefect.resource.role": "target",
            }
        )
        response = self.call(
            triggered,
            attempt,
            "PATCH",
            f"work_queues/{queue_id}",
            json={"is_paused": self.is_paused},
        )
        self.check(triggered, attempt, response)


@register
class PauseWorkQueue(WorkQueueExecutor):
    type = "pause-work-queue"
    is_paused = True


@register
class ResumeWorkQueue(WorkQueueExecutor):
    type = "resume-work-queue"
    is_paused = False


class FlowRunStateExecutor(PrefectExecutor):
    """Prefect's `FlowRunStateChangeAction`: the flow run from the firing's labels (a
    Proactive trigger's bucket), else from the triggering event."""

    def flow_run_id(self, triggered) -> UUID:
        resource_id = triggered.triggering_labels.get("prefect.resource.id")
        if resource_id and (found := id_from_resource_id(resource_id, "prefect.flow-run")):
            return found
        found = first_id_of_kind(triggered.triggering_event, "prefect.flow-run")
        if found is None:
            raise PermanentError("No flow run could be inferred")
        return found

    def new_state(self, triggered) -> dict[str, Any]:
        raise NotImplementedError

    def execute(self, triggered, attempt):
        flow_run_id = self.flow_run_id(triggered)
        attempt.related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "target",
            }
        )
        response = self.call(
            triggered,
            attempt,
            "POST",
            f"flow_runs/{flow_run_id}/set_state",
            json={
                "state": self.new_state(triggered),
                "force": bool(getattr(triggered.action, "force", False)),
            },
        )
        self.check(triggered, attempt, response)
        result = response.json()
        details = result.get("details") or {}
        if details.get("type") != "accept_details":
            raise PermanentError(f"Failed to set state: {details.get('reason')}")


@register
class ChangeFlowRunState(FlowRunStateExecutor):
    type = "change-flow-run-state"

    def new_state(self, triggered):
        action = triggered.action
        return {
            "name": action.name,
            "type": action.state.value if hasattr(action.state, "value") else action.state,
            "message": action.message or f"State changed by Automation {triggered.automation_id}",
        }


@register
class CancelFlowRun(FlowRunStateExecutor):
    type = "cancel-flow-run"

    def new_state(self, triggered):
        return {
            "type": "CANCELLING",
            "message": f"Cancelled by Automation {triggered.automation_id}",
        }


@register
class SuspendFlowRun(FlowRunStateExecutor):
    type = "suspend-flow-run"

    def new_state(self, triggered):
        # Prefect's Suspended(timeout_seconds=3600): a Paused state named "Suspended".
        until = datetime.now(UTC) + timedelta(seconds=3600)
        return {
            "type": "PAUSED",
            "name": "Suspended",
            "message": f"Suspended by Automation {triggered.automation_id}",
            "state_details": {"pause_timeout": until.isoformat(), "pause_reschedule": True},
        }
