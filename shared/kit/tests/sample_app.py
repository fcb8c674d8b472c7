"""A small service built on the kit, used to test the kit's behaviour end to end."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Text, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fupin_events.registry import QuotaSet
from fupin_events.values import Money, ResidentId, VillageCode
from fupin_kit.app import create_service_app
from fupin_kit.auth import Caller, CallerDep, open_to_partners
from fupin_kit.db import SessionDep, new_metadata
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.outbox import add_event
from fupin_kit.problems import InvalidTransition, NotFound
from fupin_kit.settings import ServiceSettings


class Base(DeclarativeBase):
    metadata = new_metadata()


class Widget(Base):
    __tablename__ = "widgets"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    region_code: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[str] = mapped_column(Text)
    amount: Mapped[str] = mapped_column(Text)


class WidgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_code: VillageCode
    owner_id: ResidentId
    amount: Money
    count: int = Field(1, ge=1, le=1000)


class WidgetRead(BaseModel):
    id: str
    region_code: str
    amount: str


async def load_widget(widget_id: str, session: SessionDep, caller: CallerDep) -> Widget:
    widget = (await session.execute(select(Widget).where(Widget.id == widget_id))).scalar()
    if widget is None:
        raise NotFound("widget not found")
    caller.require_region(widget.region_code, "widget")
    return widget


WidgetDep = Annotated[Widget, Depends(load_widget)]
router = APIRouter(prefix="/v1/widgets")


@router.post("", status_code=201)
async def create_widget(
    body: WidgetCreate, session: SessionDep, caller: CallerDep, key: IdempotencyKey = None
) -> WidgetRead:
    return await _create_widget(body, session, caller, key)


@router.post("/spares", status_code=201)
async def create_spare_widget(
    body: WidgetCreate, session: SessionDep, caller: CallerDep, key: IdempotencyKey = None
) -> WidgetRead:
    """Another operation taking the same body (an Idempotency-Key names one of them)."""
    return await _create_widget(body, session, caller, key)


async def _create_widget(
    body: WidgetCreate, session: SessionDep, caller: CallerDep, key: str | None
) -> WidgetRead:
    async def command() -> WidgetRead:
        caller.require_region_write(body.region_code)
        widget = Widget(
            id=str(uuid.uuid4()),
            region_code=body.region_code,
            owner_id=body.owner_id,
            amount=str(body.amount),
        )
        session.add(widget)
        await session.flush()
        await add_event(
            session,
            QuotaSet(region_code=body.region_code[:6], year=2026, quota=body.count),
            subject=widget.id,
        )
        return WidgetRead(id=widget.id, region_code=widget.region_code, amount=widget.amount)

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint(body, caller),
        command=command,
    )


@router.get("/{widget_id}")
@open_to_partners
async def read_widget(widget: WidgetDep) -> WidgetRead:
    return WidgetRead(id=widget.id, region_code=widget.region_code, amount=widget.amount)


@router.post("/{widget_id}/retirement")
async def retire_widget(widget: WidgetDep) -> WidgetRead:
    """A state conflict raised without naming a field (the object's state is at fault)."""
    raise InvalidTransition(f"widget {widget.id} is in service and cannot be retired")


@router.post("/notes")
async def add_note(
    note: Annotated[str, Form(max_length=100)], caller: CallerDep, file: UploadFile | None = None
) -> dict[str, str | None]:
    """A multipart form: a text field beside a file."""
    return {"note": note, "file": None if file is None else file.filename}


@router.post("/attachments")
async def attach(file: UploadFile, caller: CallerDep) -> dict[str, str | None]:
    """A multipart form whose file is required."""
    return {"file": file.filename}


@router.get("")
async def count_widgets(session: SessionDep, caller: CallerDep) -> dict[str, int]:
    rows = (
        await session.execute(select(Widget).where(caller.region_filter(Widget.region_code)))
    ).scalars()
    return {"count": len(list(rows))}


# Statements the database refuses, reached through the ORM session and the plain driver: a value
# it cannot store (numeric overflow, SQLSTATE 22003), a statement it cannot run (42P01), and the
# server's answers to concurrent transactions (a deadlock 40P01, a serialization failure 40001,
# a lock not available 55P03), raised by the server itself.
probes = APIRouter(prefix="/v1/probes")
REFUSED = {
    "overflow": "SELECT CAST(1000 AS numeric(4, 2))",
    "missing-table": "SELECT * FROM no_such_table",
    **{
        name: f"DO $$ BEGIN RAISE EXCEPTION '{name}' USING ERRCODE = '{code}'; END $$"
        for name, code in (
            ("deadlock", "deadlock_detected"),
            ("serialization", "serialization_failure"),
            ("lock-timeout", "lock_not_available"),
        )
    },
}


@probes.get("/session/{name}")
async def probe_session(name: str, session: SessionDep, caller: CallerDep) -> dict[str, str]:
    await session.execute(text(REFUSED[name]))
    return {"ran": name}


@probes.get("/driver/{name}")
async def probe_driver(name: str, request: Request, caller: CallerDep) -> dict[str, str]:
    async with request.app.state.driver_connections.acquire() as connection:
        await connection.execute(REFUSED[name])
    return {"ran": name}


def create_app(settings: ServiceSettings) -> FastAPI:
    return create_service_app(
        settings, title="sample", description="kit test service", routers=[router, probes]
    )


__all__ = ["Caller", "create_app"]
