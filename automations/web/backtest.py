"""The builder's "Test against history": the trigger as the form stands now (not as saved),
replayed over a recent range of stored events. Answers an HTML fragment: a histogram of the
candidate events with a mark where the trigger would have fired, and the list of firings; for
a metric trigger, the metric's value over the range plotted against its threshold."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST
from pydantic import TypeAdapter, ValidationError

from automations import schemas
from automations.engine import metrics
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
    plot = metric_plot(result["metric"], since, seconds) if result.get("metric") else None
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
            "plot": plot,
        },
    )


WIDTH, TOP, BOTTOM = BARS * 10, 6, 90  # the chart's drawing area (viewBox 0 0 480 100)


def metric_plot(metric: dict, since, seconds: float) -> dict:
    """A metric trigger's value series as SVG polylines (one per stretch with a value: no run
    in the range is a gap), with its threshold line, on the chart's 480 x 100 box."""
    values = [p["value"] for p in metric["series"] if p["value"] is not None]
    threshold = metric["threshold"]
    peak = max([*values, threshold, 0.0]) or 1.0
    low = min([*values, threshold, 0.0])
    scale = (BOTTOM - TOP) / ((peak - low) or 1.0)

    def y(value: float) -> float:
        return round(BOTTOM - (value - low) * scale, 1)

    lines: list[list[str]] = []
    current: list[str] | None = None
    for point in metric["series"]:
        if point["value"] is None:
            current = None
            continue
        x = round((point["occurred"] - since).total_seconds() / seconds * WIDTH, 1)
        if current is None:
            current = []
            lines.append(current)
        current.append(f"{x},{y(point['value'])}")
    unit = "" if metric["name"] == "successes" else " s"
    last = next((v for v in reversed(values)), None)
    return {
        "lines": [" ".join(line) for line in lines if line],
        "threshold_y": y(threshold),
        "threshold": threshold,
        "operator": metric["operator"],
        "name": metric["name"],
        "unit": unit,
        "peak": peak,
        "low": low,
        "last": last,
        "samples": len(metric["series"]),
        "step": metric["step"],
        "counted": metrics.IN_PROGRESS[metric["name"]],
    }
