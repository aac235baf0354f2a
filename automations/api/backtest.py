"""`POST /api/automations/backtest`: when would this trigger have fired over stored events?

Body: `{"trigger": <trigger JSON>, "occurred": {"since": ISO, "until": ISO}}`, or
`"automation_id"` instead of `trigger`. Answers 200 `{"firings": [{"occurred", "state",
"triggering_labels", "triggering_event"}], "events_read", "truncated"}`; an invalid trigger
422 with the schema's messages. Nothing is stored and no action runs.

For a metric trigger the firings are its breaches (Triggered) and resolutions (Resolved),
each with the metric's `value` then, and `metric` holds the value series over the range (the
samples the hold was judged on) with the operator and threshold it was compared with.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from drf_spectacular.utils import OpenApiResponse, extend_schema
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from automations import schemas
from automations.api.views import INVALID
from automations.engine.backtest import BacktestBusy, backtest
from automations.errors import schema_errors
from automations.models import Automation
from eventsui.events.schemas import UtcDatetime
from eventsui.lib.api_errors import InvalidInput

MAX_RANGE = timedelta(days=31)


class BacktestRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: UtcDatetime
    until: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> BacktestRange:
        if self.until <= self.since:
            raise PydanticCustomError("backtest_range", "until must be after since")
        if self.until - self.since > MAX_RANGE:
            raise PydanticCustomError("backtest_range", "a backtest covers at most 31 days")
        return self


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: schemas.TriggerTypes | None = None
    automation_id: UUID | None = None
    occurred: BacktestRange = Field(description="The range of event times to replay")

    @model_validator(mode="after")
    def _one_source(self) -> BacktestRequest:
        if (self.trigger is None) == (self.automation_id is None):
            raise PydanticCustomError(
                "backtest_source", "give either a trigger or an automation_id"
            )
        return self


class BacktestFiring(BaseModel):
    occurred: UtcDatetime = Field(description="Event time of the state change")
    state: Literal["Triggered", "Resolved"]
    trigger_id: UUID = Field(description="The trigger that fired (the automation's, or a child's)")
    triggering_labels: dict[str, str]
    triggering_event: dict[str, Any] | None = Field(description="ReceivedEvent, or null")
    child_firings: list[dict[str, Any]] = Field(description="Composites: the child firings")
    value: float | None = Field(
        default=None, description="Metric triggers: the metric's value at the state change"
    )


class MetricPoint(BaseModel):
    occurred: UtcDatetime
    value: float | None = Field(description="The metric then; null when no run counted")


class BacktestMetric(BaseModel):
    name: schemas.PrefectMetric
    operator: schemas.MetricTriggerOperator
    threshold: float
    range: float = Field(description="Seconds: the lookback of each sample")
    firing_for: float = Field(description="Seconds the condition must hold, or fail, to change")
    step: float = Field(description="Seconds between samples")
    series: list[MetricPoint] = Field(description="The metric over the backtest's range")


class BacktestAnswer(BaseModel):
    histogram: list[int] = Field(description="Empty here (the builder asks for buckets)")
    firings: list[BacktestFiring]
    events_read: int = Field(description="Candidate events read from the store")
    truncated: bool = Field(description="True when the range held more than the backtest reads")
    metric: BacktestMetric | None = Field(
        default=None, description="Metric triggers only: the value series and its threshold"
    )


class BacktestView(APIView):
    schema_errors = staticmethod(schema_errors)

    @extend_schema(
        request={"application/json": BacktestRequest},
        responses={
            200: BacktestAnswer,
            422: INVALID,
            503: OpenApiResponse(description="Too many backtests at once; Retry-After"),
        },
    )
    def post(self, request: Request) -> Response:
        body = BacktestRequest.model_validate(request.data)
        trigger: Any = body.trigger
        automation_id = body.automation_id
        if automation_id is not None:
            automation = Automation.objects.filter(id=automation_id).first()
            if automation is None:
                raise InvalidInput(
                    [
                        {
                            "field": "automation_id",
                            "loc": ["automation_id"],
                            "type": "not_found",
                            "msg": "no automation has this id",
                        }
                    ]
                )
            try:
                trigger = automation.to_schema().trigger
            except ValidationError:
                raise InvalidInput(
                    [
                        {
                            "field": "automation_id",
                            "loc": ["automation_id"],
                            "type": "invalid",
                            "msg": "this automation's stored trigger no longer passes the schema",
                        }
                    ]
                ) from None
        try:
            answer = backtest(
                trigger, body.occurred.since, body.occurred.until, automation_id=automation_id
            )
        except BacktestBusy:
            return Response(
                {"detail": "Other backtests are running; try again in a few seconds."},
                status=503,
                headers={"Retry-After": "5"},
            )
        return Response(answer)
