"""What an action knows when it runs: Prefect's `TriggeredAction` (the automation, the firing,
the triggering event and labels, the action and its index), and the template context and
rendering Prefect gives it (`prefect.server.events.actions.JinjaTemplateAction`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from automations import schemas
from automations.actions.errors import PermanentError
from automations.schemas.templating import _template_environment, maybe_template
from eventsui.events import schemas as event_schemas


class LabelDiver:
    """Labels as a graph of attributes for templates, as Prefect's `LabelDiver`:
    `{{ labels.prefect.resource.id }}` is the label `prefect.resource.id`."""

    def __init__(self, labels: dict[str, str], value: str = "") -> None:
        self._labels = dict(labels)
        self._value = value
        nested: dict[str, dict[str, str]] = {}
        values: dict[str, str] = {}
        for key, label in labels.items():
            head, _, tail = key.partition(".")
            if tail:
                nested.setdefault(head, {})[tail] = label
            else:
                values[head] = label
        self._divers = {
            k: LabelDiver(nested.get(k, {}), values.get(k, "")) for k in set(nested) | set(values)
        }

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._divers[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> str:
        return self._labels[key]

    def __str__(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"LabelDiver(value={self._value!r})"


@dataclass
class TriggeredAction:
    """One action to run, with what it was triggered by. `invocation` is the ActionRun id."""

    automation_id: UUID
    automation_name: str
    automation: dict[str, Any]  # Prefect's automation JSON, with its id
    trigger_type: str
    posture: str | None
    action: schemas.Action
    action_index: int
    invocation: UUID
    triggered: datetime
    triggering_event: event_schemas.ReceivedEvent | None
    triggering_labels: dict[str, str] = field(default_factory=dict)
    firing: dict[str, Any] | None = None
    firings: list[dict[str, Any]] = field(default_factory=list)
    events: list[event_schemas.ReceivedEvent] = field(default_factory=list)
    automation_triggered_event_id: UUID | None = None

    def idempotency_key(self) -> str:
        """Prefect's `TriggeredAction.idempotency_key()`, word for word."""
        return ", ".join(
            [
                f"automation {self.automation_id}",
                f"action {self.action_index}",
                f"invocation {self.invocation}",
            ]
        )

    def template_context(self) -> dict[str, Any]:
        """Prefect's `_template_context` (without the orchestration objects it reads from
        its own database: those live in the Prefect server, not here)."""
        return {
            "automation": self.automation,
            "event": self.triggering_event,
            "labels": LabelDiver(self.triggering_labels),
            "firing": self.firing,
            "firings": self.firings,
            "events": self.events,
        }

    def render(self, templates: list[str]) -> list[str]:
        """Render in the sandbox; a template that fails is a permanent error with Prefect's
        `template_error` / `template_source` details."""
        context = self.template_context()
        out = []
        for template in templates:
            if not maybe_template(template):
                out.append(template)
                continue
            try:
                out.append(_template_environment.from_string(template).render(context))
            except Exception as exc:  # anything a user's template can raise
                raise PermanentError(
                    f"Template rendering failed: {exc!r}",
                    template_error=str(exc),
                    template_source=template,
                ) from None
        return out


# -- inferring a target, as Prefect does -----------------------------------------------------------


def id_from_resource_id(resource_id: str, expected_kind: str) -> UUID | None:
    kind, _, value = resource_id.rpartition(".")
    if kind == expected_kind:
        try:
            return UUID(value)
        except ValueError:
            return None
    return None


def first_id_of_kind(event: event_schemas.ReceivedEvent | None, kind: str) -> UUID | None:
    """The id of the first involved resource (the event's resource, then related resources,
    in order) of `kind`, e.g. `prefect.deployment` (Prefect's `_id_of_first_resource_of_kind`)."""
    if event is None:
        return None
    for resource in event.involved_resources:
        found = id_from_resource_id(resource.id, kind)
        if found:
            return found
    return None
