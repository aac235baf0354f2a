"""The builder's "Test against history": the trigger as the form stands now (not as saved),
replayed over a recent range of stored events. Answers an HTML fragment: a histogram of the
candidate events with a mark where the trigger would have fired, and the list of firings."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST
from pydantic import TypeAdapter, ValidationError

from automations import schemas
from automations.engine.backtest import BacktestBusy, backtest
from automations.engine.evaluator import resolution_rule
from automations.errors import schema_errors
from automations.web import codec

RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_RANGE = "24h"
BARS = 48
_TRIGGER = TypeAdapter(schemas.TriggerTypes)


@login_required
@require_POST
def builder_backtest(request: HttpRequest) -> HttpResponse:
    span_key = request.POST.get("backtest_range", DEFAULT_RANGE)
    span = RANGES.get(span_key, RANGES[DEFAULT_RANGE])
    try:
        trigger = _TRIGGER.validate_python(codec.trigger_from_form(request.POST, "trigger"))
    except ValidationError as exc:
        errors = schema_errors(exc, loc_prefix=("trigger",))
        return render(request, "automations/_backtest.html", {"errors": errors}, status=422)
    until = timezone.now()
    since = until - span
    try:
        result = backtest(trigger, since, until, buckets=BARS)
    except BacktestBusy:
        response = render(request, "automations/_backtest.html", {"busy": True}, status=503)
        response["Retry-After"] = "5"
        return response
    peak = max(result["histogram"], default=0) or 1
    seconds = span.total_seconds()
    bars = []
    for i, count in enumerate(result["histogram"]):
        height = round(count / peak * 80, 1)
        bars.append(
            {
                "x": i * 10,
                "y": 90 - height,
                "height": height,
                "count": count,
                "start": since + span * i / BARS,
            }
        )
    marks = [
        {"x": round((f["occurred"] - since).total_seconds() / seconds * BARS * 10, 1), **f}
        for f in result["firings"]
    ]
    return render(
        request,
        "automations/_backtest.html",
        {
            "result": result,
            "bars": bars,
            "marks": marks,
            "peak": peak,
            "since": since,
            "until": until,
            "span_key": span_key,
            "triggered": sum(1 for f in result["firings"] if f["state"] == "Triggered"),
            "resolution": resolution_rule(trigger),
        },
    )
