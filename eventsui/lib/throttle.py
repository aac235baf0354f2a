"""Login throttling (django-axes) for every way in with a password: the login form, HTTP Basic
on the API, and the `auth` message of Prefect's websockets.

Axes counts failed logins per client address; after AXES_FAILURE_LIMIT failures that address
is refused for AXES_COOLOFF_TIME without checking the password at all, so guessing costs the
server nothing (a PBKDF2 check is about 0.5 s of CPU). A success resets the count.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

LOCKED_MESSAGE = "Too many failed logins from this address; try again in {minutes} minutes."


def retry_after_seconds() -> int:
    from axes.helpers import get_cool_off

    cool_off = get_cool_off()
    return max(1, int(cool_off.total_seconds())) if cool_off else 3600


def locked_message() -> str:
    return LOCKED_MESSAGE.format(minutes=max(1, round(retry_after_seconds() / 60)))


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After, JSON for the API, a page otherwise."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": locked_message()}, status=429)
    else:
        response = HttpResponse(
            f"<!doctype html><title>Too many attempts</title><h1>Too many attempts</h1>"
            f"<p>{locked_message()}</p>",
            status=429,
        )
    response["Retry-After"] = str(retry_after_seconds())
    return response


def request_for_socket(scope) -> HttpRequest:
    """What axes needs to know of a websocket's client: its address and user agent."""
    request = HttpRequest()
    request.path = scope.get("path", "")
    client = scope.get("client") or ("", 0)
    request.META["REMOTE_ADDR"] = client[0] or ""
    for key, value in scope.get("headers", []):
        if key.lower() == b"user-agent":
            request.META["HTTP_USER_AGENT"] = value.decode("latin-1")
    return request


def is_locked(request: HttpRequest | None) -> bool:
    return bool(getattr(request, "axes_locked_out", False))
