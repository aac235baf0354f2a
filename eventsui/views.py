"""The dashboard's HTML pages."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from eventsui.models import Event


@login_required
def feed(request: HttpRequest) -> HttpResponse:
    events = Event.objects.order_by("-occurred", "-id")[:50]
    return render(request, "eventsui/feed.html", {"events": events})
