"""The event schema: the one place that holds the rules of Prefect 3's events.

Everything that accepts events (the REST API, the ingest websocket, the demo generator, the
admin) validates through these models; nothing else restates a bound or a pattern. Rules come
from the seed `004_bb1dbf3b3169efdb.txt` (prefect.events) and Prefect 3's open-source server
where the seed is silent. Label matching (`ResourceSpecification`, `label_matches`) lives here
too, because the event filters, the live feed and automation triggers all use it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any
from uuid import UUID, uuid4

from django.conf import settings
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "Event",
    "ReceivedEvent",
    "Resource",
    "RelatedResource",
    "ResourceSpecification",
    "label_matches",
    "ValidationError",
    "MAX_EVENT_NAME_LENGTH",
]

MAX_EVENT_NAME_LENGTH = 1024
# A JSON \u0000 escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
RESOURCE_ID = "prefect.resource.id"
RESOURCE_ROLE = "prefect.resource.role"
RESOURCE_NAME = "prefect.resource.name"


def _max_labels() -> int:
    return settings.EVENTS_MAXIMUM_LABELS_PER_RESOURCE


def _max_related() -> int:
    return settings.EVENTS_MAXIMUM_RELATED_RESOURCES


def _max_event_bytes() -> int:
    return settings.EVENTS_MAXIMUM_SIZE_BYTES


def _utc(value: datetime) -> datetime:
    """Timestamps without a zone are taken as UTC, as Prefect does."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def now_utc() -> datetime:
    return datetime.now(UTC)


class Labelled(RootModel[dict[str, str]]):
    """A flat mapping of label names to string values."""

    def get(self, label: str, default: str | None = None) -> str | None:
        return self.root.get(label, default)

    def __getitem__(self, label: str) -> str:
        return self.root[label]

    def __contains__(self, label: object) -> bool:
        return label in self.root

    def keys(self) -> Iterable[str]:
        return self.root.keys()

    def items(self) -> Iterable[tuple[str, str]]:
        return self.root.items()

    def labels(self) -> dict[str, str]:
        return self.root


class Resource(Labelled):
    """An observable business object of interest to the user."""

    @model_validator(mode="after")
    def enforce_resource_rules(self) -> Resource:
        limit = _max_labels()
        if len(self.root) > limit:
            raise PydanticCustomError(
                "too_many_labels",
                "The maximum number of labels per resource is {limit}",
                {"limit": limit},
            )
        if RESOURCE_ID not in self.root:
            raise PydanticCustomError(
                "resource_id_missing", "Resources must include the prefect.resource.id label"
            )
        if not self.root[RESOURCE_ID]:
            raise PydanticCustomError(
                "resource_id_empty", "The prefect.resource.id label must be non-empty"
            )
        return self

    @property
    def id(self) -> str:
        return self.root[RESOURCE_ID]

    @property
    def name(self) -> str | None:
        return self.root.get(RESOURCE_NAME)

    def prefect_object_id(self, kind: str) -> UUID:
        """The UUID in this resource's id, if it is a Prefect object of the given kind."""
        prefix = kind if kind.endswith(".") else f"{kind}."
        if not self.id.startswith(prefix):
            raise ValueError(f"Resource ID {self.id} does not start with {prefix}")
        return UUID(self.id[len(prefix) :])


class RelatedResource(Resource):
    """A Resource with a specific role in an Event."""

    @model_validator(mode="after")
    def requires_resource_role(self) -> RelatedResource:
        if RESOURCE_ROLE not in self.root:
            raise PydanticCustomError(
                "resource_role_missing",
                "Related Resources must include the prefect.resource.role label",
            )
        if not self.root[RESOURCE_ROLE]:
            raise PydanticCustomError(
                "resource_role_empty", "The prefect.resource.role label must be non-empty"
            )
        return self

    @property
    def role(self) -> str:
        return self.root[RESOURCE_ROLE]


class Event(BaseModel):
    """The client-side view of an event that has happened to a Resource."""

    model_config = ConfigDict(extra="ignore")

    occurred: UtcDatetime = Field(
        default_factory=now_utc,
        description="When the event happened from the sender's perspective",
    )
    event: str = Field(
        min_length=1,
        max_length=MAX_EVENT_NAME_LENGTH,
        description="The name of the event that happened",
    )
    resource: Resource = Field(description="The primary Resource this event concerns")
    related: list[RelatedResource] = Field(
        default_factory=list,
        description="A list of additional Resources involved in this event",
    )
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="An open-ended set of data describing what happened",
    )
    id: UUID = Field(
        default_factory=uuid4, description="The client-provided identifier of this event"
    )
    follows: UUID | None = Field(
        default=None,
        description="The ID of an event that is known to have occurred prior to this one",
    )

    @field_validator("related")
    @classmethod
    def enforce_maximum_related_resources(
        cls, value: list[RelatedResource]
    ) -> list[RelatedResource]:
        limit = _max_related()
        if len(value) > limit:
            raise PydanticCustomError(
                "too_many_related",
                "The maximum number of related resources is {limit}",
                {"limit": limit},
            )
        return value

    @model_validator(mode="after")
    def enforce_event_rules(self) -> Event:
        if self.follows is not None and self.follows == self.id:
            raise PydanticCustomError(
                "follows_self", "An event cannot follow itself: follows must name an earlier event"
            )
        limit = _max_event_bytes()
        data = self.__pydantic_serializer__.to_json(self)
        size = len(data)
        if b"\\u0000" in data and _NUL_ESCAPE.search(data):
            raise PydanticCustomError(
                "nul_character",
                "Text in an event cannot contain the NUL character (\\u0000)",
            )
        if size > limit:
            raise PydanticCustomError(
                "event_too_large",
                "The event is {size} bytes; the maximum size of an event is {limit} bytes",
                {"size": size, "limit": limit},
            )
        return self

    @property
    def involved_resources(self) -> Sequence[Resource]:
        return [self.resource, *self.related]

    @property
    def resource_in_role(self) -> Mapping[str, RelatedResource]:
        """Each role mapped to the first related resource in that role."""
        return {related.role: related for related in reversed(self.related)}

    @property
    def resources_in_role(self) -> Mapping[str, Sequence[RelatedResource]]:
        """Each role mapped to all related resources in that role, in order."""
        resources: dict[str, list[RelatedResource]] = defaultdict(list)
        for related in self.related:
            resources[related.role].append(related)
        return resources

    def find_resource_label(self, label: str) -> str | None:
        """The value of a label on the primary resource, or with `related:<role>:<label>`
        on the first related resource in that role."""
        directive, _, related_label = label.rpartition(":")
        directive, _, role = directive.partition(":")
        if directive == "related":
            for related in self.related:
                if related.role == role:
                    return related.get(related_label)
        return self.resource.get(label)


class ReceivedEvent(Event):
    """The server-side view of an event, once the server has received it."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")

    received: UtcDatetime = Field(
        default_factory=now_utc, description="When the event was received by the server"
    )

    @model_validator(mode="after")
    def enforce_event_rules(self) -> ReceivedEvent:
        # Stored events were checked when they arrived; re-serializing them to measure
        # their size again on every read would only cost time.
        return self


# -- label matching ---------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def label_matches(expected: str, value: str | None) -> bool:
    """Does a label value match an expected value?

    The expected value may be a glob (`*` any run of characters, `?` one character) and may
    start with `!` to negate it. A missing label (None) never matches, negated or not.
    """
    if value is None:
        return False
    positive = True
    if expected.startswith("!"):
        expected = expected[1:]
        positive = False
    if "*" in expected or "?" in expected:
        if expected.endswith("*") and "*" not in expected[:-1] and "?" not in expected:
            match = value.startswith(expected[:-1])
        else:
            match = _glob_regex(expected).fullmatch(value) is not None
    else:
        match = value == expected
    return match if positive else not match


class ResourceSpecification(RootModel[dict[str, str | list[str]]]):
    """Labels a resource must have: each label's value must match one of the expected values.

    An empty specification matches every resource; an empty list of values matches nothing.
    """

    def matches_every_resource(self) -> bool:
        return len(self.root) == 0

    def items(self) -> list[tuple[str, list[str]]]:
        return [
            (label, [value] if isinstance(value, str) else list(value))
            for label, value in self.root.items()
        ]

    def matches(self, resource: Labelled | Mapping[str, str]) -> bool:
        labels = resource.root if isinstance(resource, Labelled) else resource
        for label, expected in self.items():
            value = labels.get(label)
            if not any(label_matches(candidate, value) for candidate in expected):
                return False
        return True

    def includes(self, candidates: Iterable[Labelled]) -> bool:
        if self.matches_every_resource():
            return True
        return any(self.matches(candidate) for candidate in candidates)

    def __len__(self) -> int:
        return len(self.root)

    def __contains__(self, key: object) -> bool:
        return key in self.root


EventList = TypeAdapter(list[Event])
