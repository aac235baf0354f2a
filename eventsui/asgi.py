"""ASGI entry point (daphne): Django for HTTP, Channels for websockets.

Two kinds of websocket:
- `/api/events/...` speak Prefect's protocol. Prefect clients send no Origin header, so these
  authenticate themselves (Authorization header or the protocol's `auth` message).
- `/ws/...` are the browser's: session login plus the allowed-hosts Origin check.
"""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsui.settings")

from eventsui.server.handlers import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from eventsui.routing import api_websocket_urlpatterns, browser_websocket_urlpatterns  # noqa: E402
from eventsui.server.daphne_pings import DaphnePingsPatch  # noqa: E402

DaphnePingsPatch.install()

# Ingestion allocates many short-lived objects per event; with the default thresholds the
# collector runs every 700 allocations and rescans the whole long-lived heap (Django, the
# URL conf, templates) each time it reaches the oldest generation. Move what exists now out
# of its sight and let the youngest generation grow before it is collected.
gc.freeze()
gc.set_threshold(50_000, 50, 100)


def websocket_application():
    return URLRouter(
        [
            *api_websocket_urlpatterns,
            # A regex prefix: channels only treats path("ws/") as a prefix when its callback is
            # a bare URLRouter, and here the router is wrapped in the origin and auth checks.
            re_path(
                r"^ws/",
                AllowedHostsOriginValidator(
                    AuthMiddlewareStack(URLRouter(browser_websocket_urlpatterns))
                ),
            ),
        ]
    )


application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application()})
