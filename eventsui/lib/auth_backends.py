"""The authentication backend: django-axes' throttling (eventsui/lib/throttle.py) in front of
Django's ModelBackend."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class ThrottledBackend(AxesStandaloneBackend):
    """axes' standalone backend, except that a check without a request is not throttled.

    Every remote way in passes the client's request (the login form, HTTP Basic, and the
    websocket `auth` message through `throttle.request_for_socket`). Without one the caller is
    in-process (Django's test `Client.login`, management commands): axes would raise
    AxesBackendRequestParameterRequired there; this lets ModelBackend answer.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
