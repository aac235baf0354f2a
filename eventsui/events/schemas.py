"""The event schema: the one place that holds the rules of Prefect 3's events.

Everything that accepts events (the REST API, the ingest websocket, the demo generator, the
admin) validates through these models; nothing else restates a bound or a pattern. Rules come
from Prefect 3's API reference for `prefect.events` (Event, ReceivedEvent, Resource,
RelatedResource) and, where it is silent, Prefect 3's open-source server
(`prefect.server.events.schemas`). `ResourceSpecification` (the labels a filter or a trigger
expects) lives here too; how one expected value matches a label is `eventsui.events.matching`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
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
from pydantic_core import PydanticCustomError, core_schema, to_json

from eventsui.events import matching

__all__ = [
    "Event",
    "ReceivedEvent",
    "Resource",
    "RelatedResource",
    "ResourceSpecification",
    "ValidationError",
    "MAX_EVENT_NAME_LENGTH",
]

MAX_EVENT_NAME_LENGTH = 1024
# Text that PostgreSQL keeps in a btree index (the event name, a resource id, a related role):
# an index row holds at most 2,704 bytes, value, timestamp and headers together, so a longer
# value is refused when stored ("index row size exceeds btree maximum 2704"). The schema bounds
# those values in UTF-8 bytes below that: an event name alone in a key, a resource id and a role
# together in one (event_resource_counts). Prefect bounds none of them (its event name is 1,024
# characters, up to 4 KB of UTF-8); it moved its related-resource indexes to md5 hashes for the
# same error (PrefectHQ/prefect#17728, #17731) but still indexes `resource_id` as it is.
MAX_EVENT_NAME_BYTES = 2048
MAX_RESOURCE_KEY_BYTES = 1024  # prefect.resource.id and prefect.resource.role, each
# A JSON \u0000 escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
RESOURCE_ID = "prefect.resource.id"
RESOURCE_ROLE = "prefect.resource.role"
RESOURCE_NAME = "prefect.resource.name"


# Limits are read on every resource of every event: keep them in a plain dict, emptied when
# a setting changes (tests override them), instead of going through Django's lazy settings.
_limits: dict[str, int] = {}


def _limit(name: str) -> int:
    try:
        return _limits[name]
    except KeyError:
        value = _limits[name] = int(getattr(settings, name))
        return value


@receiver(setting_changed)
def _forget_limits(**kwargs) -> None:
    _limits.clear()


def _max_labels() -> int:
    return _limit("EVENTS_MAXIMUM_LABELS_PER_RESOURCE")


def _max_related() -> int:
    return _limit("EVENTS_MAXIMUM_RELATED_RESOURCES")


def _max_event_bytes() -> int:
    return _limit("EVENTS_MAXIMUM_SIZE_BYTES")


def _utc(value: datetime) -> datetime:
    """Timestamps without a zone are taken as UTC, as Prefect does; others are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_out_of_range", "The time is out of range once converted to UTC"
        ) from None


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


def check_resource_labels(labels: Mapping[str, str]) -> None:
    """The rules of every resource (primary or related)."""
    limit = _max_labels()
    if len(labels) > limit:
        raise PydanticCustomError(
            "too_many_labels",
            "The maximum number of labels per resource is {limit}",
            {"limit": limit},
        )
    if RESOURCE_ID not in labels:
        raise PydanticCustomError(
            "resource_id_missing", "Resources must include the prefect.resource.id label"
        )
    if not labels[RESOURCE_ID]:
        raise PydanticCustomError(
            "resource_id_empty", "The prefect.resource.id label must be non-empty"
        )
    check_indexed_text(f"The {RESOURCE_ID} label", labels[RESOURCE_ID], MAX_RESOURCE_KEY_BYTES)


def check_indexed_text(what: str, value: str, limit: int) -> None:
    if len(value) * 4 > limit and len(value.encode()) > limit:  # (no encoding if it cannot be)
        raise PydanticCustomError(
            "text_too_long_to_index",
            "{what} is {size} bytes (UTF-8); it can be at most {limit} bytes",
            {"what": what, "size": len(value.encode()), "limit": limit},
        )


def check_related_labels(labels: Mapping[str, str]) -> None:
    """The rules of a related resource: a resource's, plus a role."""
    check_resource_labels(labels)
    if RESOURCE_ROLE not in labels:
        raise PydanticCustomError(
            "resource_role_missing",
            "Related Resources must include the prefect.resource.role label",
        )
    if not labels[RESOURCE_ROLE]:
        raise PydanticCustomError(
            "resource_role_empty", "The prefect.resource.role label must be non-empty"
        )
    check_indexed_text(f"The {RESOURCE_ROLE} label", labels[RESOURCE_ROLE], MAX_RESOURCE_KEY_BYTES)


class Resource(Labelled):
    """An observable business object of interest to the user."""

    @model_validator(mode="after")
    def enforce_resource_rules(self) -> Resource:
        check_resource_labels(self.root)
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
        check_related_labels(self.root)
        return self

    @property
    def role(self) -> str:
        return self.root[RESOURCE_ROLE]


class _LabelsAs:
    """Validates a resource inside an event as a plain dict of strings (in pydantic-core),
    checks its rules with one call, and wraps it without validating again. Several times
    faster than building a RootModel per resource, on the hottest path of ingestion."""

    def __init__(self, cls: type[Resource], check) -> None:
        self.cls = cls
        self.check = check

    def __get_pydantic_core_schema__(self, source, handler):
        cls = self.cls
        check = self.check
        new = object.__new__
        setattr_ = object.__setattr__
        fields_set = frozenset({"root"})

        def wrap(labels: dict[str, str]) -> Resource:
            check(labels)
            # What RootModel.model_construct does, without its generic overhead.
            resource = new(cls)
            setattr_(resource, "__dict__", {"root": labels})
            setattr_(resource, "__pydantic_fields_set__", set(fields_set))
            setattr_(resource, "__pydantic_extra__", None)
            setattr_(resource, "__pydantic_private__", None)
            return resource

        labels = core_schema.dict_schema(core_schema.str_schema(), core_schema.str_schema())
        return core_schema.no_info_after_validator_function(
            wrap,
            labels,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda resource: resource.root, return_schema=labels
            ),
        )

    def __get_pydantic_json_schema__(self, schema, handler):
        return {"type": "object", "additionalProperties": {"type": "string"}}


ResourceField = Annotated[Resource, _LabelsAs(Resource, check_resource_labels)]
RelatedResourceField = Annotated[RelatedResource, _LabelsAs(RelatedResource, check_related_labels)]


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
    resource: ResourceField = Field(description="The primary Resource this event concerns")
    related: list[RelatedResourceField] = Field(
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

    @field_validator("event")
    @classmethod
    def enforce_indexable_name(cls, value: str) -> str:
        check_indexed_text("The event name", value, MAX_EVENT_NAME_BYTES)
        return value

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
        data = to_json(
            {
                "occurred": self.occurred,
                "event": self.event,
                "resource": self.resource.root,
                "related": [r.root for r in self.related],
                "payload": self.payload,
                "id": self.id,
                "follows": self.follows,
            }
        )
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


# -- resource specifications ------------------------------------------------------------------


# The work one specification may ask for (a filter's labels, a trigger's match): every label
# and value is a predicate on every candidate row, and a glob's `*`s are pieces matched in
# order. 1,000 stars in one value or thousands of values kept PostgreSQL busy for minutes.
# Prefect sets no such bounds; these are far above what its UI or client sends.
MAX_SPEC_LABELS = 50
MAX_SPEC_VALUES = 100  # per label
MAX_GLOB_WILDCARDS = 10  # `*` and `?` in one value


class ResourceSpecification(RootModel[dict[str, str | list[str]]]):
    """Labels a resource must have: each label's value must match one of the expected values.

    An empty specification matches every resource; an empty list of values matches nothing.
    """

    @model_validator(mode="after")
    def bound_the_work(self) -> ResourceSpecification:
        if len(self.root) > MAX_SPEC_LABELS:
            raise PydanticCustomError(
                "too_many_labels",
                "A resource specification can name at most {limit} labels",
                {"limit": MAX_SPEC_LABELS},
            )
        for label, values in self.items():
            if len(values) > MAX_SPEC_VALUES:
                raise PydanticCustomError(
                    "too_many_values",
                    "{label}: at most {limit} expected values",
                    {"label": label, "limit": MAX_SPEC_VALUES},
                )
            for value in values:
                if value.count("*") + value.count("?") > MAX_GLOB_WILDCARDS:
                    raise PydanticCustomError(
                        "glob_too_complex",
                        "{label}: a pattern can hold at most {limit} wildcards (* or ?)",
                        {"label": label, "limit": MAX_GLOB_WILDCARDS},
                    )
        return self

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
            if not any(matching.label_matches(candidate, value) for candidate in expected):
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


class PostedEvent(Event):
    """An event in the body of `POST /api/events`: Prefect's API requires its `id` there
    (the server's `Event` has no default id; a client that sends none gets 422, not an id
    it never knew)."""

    id: UUID = Field(description="The client-provided identifier of this event")


PostedEventList = TypeAdapter(list[PostedEvent])


def parse_frames(frames: Sequence[str]) -> tuple[list[Event], list[tuple[int, ValidationError]]]:
    """Validate event JSON texts (one per websocket frame): (valid events, [(index, error)]).

    The whole batch goes through pydantic in one call; only a batch with a bad frame in it
    is validated again frame by frame, to keep the good ones.
    """
    if not frames:
        return [], []
    try:
        events = EventList.validate_json("[" + ",".join(frames) + "]")
        if len(events) == len(frames):  # no frame smuggled in two events or none
            return events, []
    except ValidationError:
        pass
    events: list[Event] = []
    errors: list[tuple[int, ValidationError]] = []
    for index, frame in enumerate(frames):
        try:
            events.append(Event.model_validate_json(frame))
        except ValidationError as exc:
            errors.append((index, exc))
    return events, errors
