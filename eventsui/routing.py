"""Websocket routes. API routes authenticate themselves; browser routes sit behind the session
login and the Origin check (see asgi.py)."""

from django.urls import path

from eventsui import consumers

api_websocket_urlpatterns = [
    path("api/events/in", consumers.EventsInConsumer.as_asgi()),
]

# Mounted under /ws/.
browser_websocket_urlpatterns: list = []
