"""The Prefect server that run-deployment, pause/resume-deployment, -work-pool, -work-queue
and the flow-run actions act on: `PREFECT_API_URL` (e.g. http://prefect:4200/api) with
`PREFECT_API_KEY` (a bearer token, Prefect Cloud) or `PREFECT_API_AUTH_STRING` (user:password,
a self-hosted server's basic auth). The calls and headers are those of Prefect's own
`prefect.server.api.clients.OrchestrationClient` as its actions use it."""

from __future__ import annotations

import base64

import httpx
from django.conf import settings

from automations.actions.context import TriggeredAction
from automations.actions.errors import PermanentError, TransientError

TIMEOUT_SECONDS = 10.0


def automation_headers(triggered: TriggeredAction) -> dict[str, str]:
    """Prefect's `ExternalDataAction._automation_request_headers`."""
    return {
        "Prefect-Automation-ID": str(triggered.automation_id),
        "Prefect-Automation-Name": base64.b64encode(triggered.automation_name.encode()).decode(),
    }


def client(triggered: TriggeredAction) -> httpx.Client:
    url = (getattr(settings, "PREFECT_API_URL", "") or "").rstrip("/")
    if not url:
        raise PermanentError("no Prefect API configured (set PREFECT_API_URL)")
    headers = automation_headers(triggered)
    if key := getattr(settings, "PREFECT_API_KEY", ""):
        headers["Authorization"] = f"Bearer {key}"
    elif auth := getattr(settings, "PREFECT_API_AUTH_STRING", ""):
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return httpx.Client(base_url=url + "/", headers=headers, timeout=TIMEOUT_SECONDS)


def call(http: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response:
    """One call; a connection error or timeout is transient."""
    try:
        return http.request(method, path.lstrip("/"), **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientError(f"the Prefect API did not answer in time ({exc!r})") from None
    except httpx.TransportError as exc:
        raise TransientError(f"the Prefect API could not be reached ({exc!r})") from None


def reason_from_response(action_type: str, response: httpx.Response) -> str:
    """Prefect's `ExternalDataAction.reason_from_response`."""
    error_detail = None
    if response.status_code in {409, 422}:
        try:
            error_detail = response.json().get("detail")
        except Exception:  # not JSON: Prefect ignores it too
            pass
        if response.status_code == 422 or error_detail:
            return f"Validation error occurred for {action_type!r}" + (
                f" - {error_detail}" if error_detail else ""
            )
        return f"Conflict (409) occurred for {action_type!r} - {error_detail or response.text!r}"
    return f"Unexpected status from {action_type!r} action: {response.status_code}"
