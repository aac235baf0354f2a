"""Websocket routes. API routes authenticate themselves; browser routes sit behind the session
login and the Origin check (see asgi.py)."""

from django.urls import path

from eventsui import consumers, events_out, feed

api_websocket_urlpatterns = [
    path("api/events/in", consumers.EventsInConsumer.as_asgi()),
    path("api/events/out", events_out.EventsOutConsumer.as_asgi()),
]

# Mounted under /ws/.
browser_websocket_urlpatterns: list = [
    path("feed/", feed.FeedConsumer.as_asgi()),
]
