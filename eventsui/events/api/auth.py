"""Credentials for the API and the ingest websockets.

Two kinds, both tied to a user:
- a per-user API token: `Authorization: Bearer <token>` (what Prefect sends for PREFECT_API_KEY);
- HTTP Basic with the user's username and password (what Prefect sends for
  PREFECT_API_AUTH_STRING=user:pass, on every HTTP call and the websocket upgrade).

Password hashing is deliberately slow (hundreds of milliseconds), and a Prefect client sends
Basic credentials on every request, so a successful check is remembered for a few minutes,
keyed by a keyed hash of the credentials and invalidated when the user's password changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.http import HttpRequest
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions

from eventsui.events.models import ApiToken, hash_token
from eventsui.lib import throttle

CACHE_SECONDS = 300
_cache: dict[str, tuple[int, str, float]] = {}
_cache_lock = threading.Lock()


def _cache_key(username: str, password: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{username}\0{password}".encode(), hashlib.sha256
    ).hexdigest()


def user_for_password(username: str, password: str, request: HttpRequest | None = None):
    """The active user with these credentials, or None.

    `request` is the client's (a websocket's is built by throttle.request_for_socket): django-
    axes counts failures per client address, and refuses a locked-out one before any hashing
    (then `request.axes_locked_out` is set)."""
    key = _cache_key(username, password)
    User = get_user_model()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and hit[2] > time.monotonic():
        user_id, password_hash, _ = hit
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is not None and user.password == password_hash:
            return user
    if request is None:
        request = HttpRequest()
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        with _cache_lock:
            _cache.pop(key, None)
        return None
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key] = (user.pk, user.password, time.monotonic() + CACHE_SECONDS)
    return user


def user_for_token(raw: str):
    """The active user owning this API token, or None."""
    if not raw:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(raw), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used is None or (now - token.last_used).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token.user


def user_for_authorization(header: str | None, request: HttpRequest | None = None):
    """The user named by an Authorization header value (Bearer token or Basic), or None."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme in {"bearer", "token"}:
        return user_for_token(credentials)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep:
            return None
        return user_for_password(username, password, request)
    return None


def user_for_auth_message(token: str | None, request: HttpRequest | None = None):
    """The user named by the `token` of Prefect's websocket auth message, or None.

    With PREFECT_API_AUTH_STRING the token is the raw "user:pass"; with PREFECT_API_KEY it
    is the API key itself.
    """
    if not token:
        return None
    if token.startswith(ApiToken.PREFIX):
        return user_for_token(token)
    username, sep, password = token.partition(":")
    if sep:
        return user_for_password(username, password, request)
    return user_for_token(token)


class TokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with a per-user API token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() not in {"bearer", "token"}:
            return None
        user = user_for_token(raw.strip())
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return (user, None)

    def authenticate_header(self, request):
        return self.keyword


class CachedBasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic with a user's password, remembered briefly (see the module docstring)."""

    def authenticate_credentials(self, userid, password, request=None):
        http_request = getattr(request, "_request", request)  # axes marks the Django request
        user = user_for_password(userid, password, http_request)
        if user is None:
            if throttle.is_locked(http_request):
                raise exceptions.Throttled(
                    wait=throttle.retry_after_seconds(), detail=throttle.locked_message()
                )
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        return (user, None)


class TokenScheme(OpenApiAuthenticationExtension):
    """The API schema's name for TokenAuthentication (drf-spectacular reads it on import)."""

    target_class = TokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object("Authorization", TokenAuthentication.keyword)


class CachedBasicScheme(OpenApiAuthenticationExtension):
    """HTTP Basic in the API schema, for CachedBasicAuthentication."""

    target_class = CachedBasicAuthentication
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic"}
