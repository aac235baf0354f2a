"""Websocket routes. API routes authenticate themselves; browser routes sit behind the session
login and the Origin check (see asgi.py)."""

from django.urls import path

from eventsui.events.live import consumers

api_websocket_urlpatterns = [
    path("api/events/in", consumers.EventsInConsumer.as_asgi()),
    path("api/events/out", consumers.EventsOutConsumer.as_asgi()),
]

# Mounted under /ws/.
browser_websocket_urlpatterns: list = [
    path("feed/", consumers.FeedConsumer.as_asgi()),
]
