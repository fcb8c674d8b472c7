"""CloudEvents 1.0 envelope (structured mode, JSON) carrying a pydantic ``data`` model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from fupin_events.ids import uuid4_text

DataT = TypeVar("DataT", bound=BaseModel)


class EventData(BaseModel):
    """Base of every event payload: closed to unknown fields on the producing side."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CloudEvent(BaseModel, Generic[DataT]):
    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=uuid4_text)
    source: str = Field(description="URI reference of the producing service, e.g. /fupin/registry")
    type: str = Field(description="event type, e.g. fupin.registry.household.registered.v1")
    subject: str = Field(description="the aggregate id; also the Kafka message key")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    data: DataT


def new_event(data: EventData, *, subject: str, event_id: str | None = None) -> CloudEvent[Any]:
    """Wrap a payload in an envelope; the type, source and topic come from the catalog."""
    from fupin_events.catalog import spec_for_model

    spec = spec_for_model(type(data))
    return CloudEvent[Any](
        id=event_id or uuid4_text(),
        source=f"/fupin/{spec.producer}",
        type=spec.type,
        subject=subject,
        dataschema=spec.dataschema,
        data=data,
    )


def decode(raw: bytes | str) -> CloudEvent[Any]:
    """Decode a wire envelope and validate its ``data`` against the catalog model.

    Unknown event types decode with ``data`` left as a plain dict, and fields a newer producer
    added to a known type are ignored (forward compatibility: a version's changes are additive,
    so a consumer not yet upgraded keeps applying what it knows instead of dead-lettering).
    """
    from fupin_events.catalog import CATALOG

    envelope = CloudEvent[dict[str, Any]].model_validate_json(raw)  # type: ignore[type-var]
    spec = CATALOG.get(envelope.type)
    if spec is None:
        return envelope  # type: ignore[return-value]
    data = spec.model.model_validate(envelope.data, extra="ignore")
    return CloudEvent[Any].model_validate({**envelope.model_dump(), "data": data})
