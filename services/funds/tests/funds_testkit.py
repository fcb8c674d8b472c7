"""Helpers of the funds tests: registry facts in the read model, funds, announced projects."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from fupin_events.registry import (
    HouseholdAttribute,
    HouseholdRegistered,
    HouseholdStatus,
    HouseholdStatusChanged,
    SupportType,
)
from fupin_events.values import business_today, id_check_character
from fupin_funds.households import service as households

COUNTY = "220622"  # 靖宇县
VILLAGE = "220622100001"
OTHER_VILLAGE = "220622101200"
OTHER_COUNTY = "220581"  # 梅河口市
OTHER_COUNTY_VILLAGE = "220581001001"
PROBLEM = "application/problem+json"


def resident_id(birth: date, seq: int = 123, region: str = COUNTY) -> str:
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_character(first17)


def assert_problem(
    response: httpx.Response, status: int, pointer: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    if pointer is not None:
        assert pointer in [e["pointer"] for e in body.get("errors", [])], body
    return body


async def register_household(
    app: FastAPI,
    *,
    household_id: str | None = None,
    village: str = VILLAGE,
    status: str = "identified",
    members: int = 3,
    member_indexes: list[str] | None = None,
    registered_on: date = date(2024, 1, 2),
) -> str:
    household_id = household_id or f"hh-{uuid.uuid4().hex[:10]}"
    async with app.state.sessionmaker() as session:
        await households.apply_registered(
            session,
            HouseholdRegistered(
                household_id=household_id,
                village_code=village,
                household_number=household_id,
                attribute=HouseholdAttribute.ORDINARY_POOR,
                support_type=SupportType.DEVELOPMENT,
                primary_cause="illness",
                status=HouseholdStatus(status),
                member_count=members,
                member_indexes=member_indexes or [],
                registered_on=registered_on,
                year=registered_on.year,
            ),
            registered_on,
        )
        await session.commit()
    return household_id


async def change_status(
    app: FastAPI,
    household_id: str,
    status: str,
    effective_on: date,
    village: str = VILLAGE,
    member_indexes: list[str] | None = None,
) -> None:
    async with app.state.sessionmaker() as session:
        await households.apply_status_changed(
            session,
            HouseholdStatusChanged(
                household_id=household_id,
                village_code=village,
                from_status=None,
                to_status=HouseholdStatus(status),
                effective_on=effective_on,
                member_count=3,
                member_indexes=member_indexes or [],
            ),
        )
        await session.commit()


async def open_fund(
    client: httpx.AsyncClient,
    region: str = COUNTY,
    source: str = "central",
    year: int = 2024,
    amount: str = "100000.00",
    on: date = date(2024, 1, 5),
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/v1/funds",
        json={
            "region_code": region,
            "source": source,
            "year": year,
            "name": f"{source} {year}",
            "amount": amount,
            "on": on.isoformat(),
        },
        headers=headers or {},
    )
    assert response.status_code == 201, response.text
    return response.json()


def project_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "cattle cooperative",
        "project_type": "industry",
        "year": 2024,
        "region_code": COUNTY,
        "village_codes": [VILLAGE],
        "implementing_unit": "Jingyu agricultural bureau",
        "budget": [{"source": "central", "amount": "50000.00"}],
        "beneficiaries": [],
        "on": "2024-02-01",
    }
    body.update(overrides)
    return body


async def announced_project(
    client: httpx.AsyncClient,
    *,
    beneficiaries: list[str] | None = None,
    announce_on: date = date(2024, 2, 10),
    budget: str = "50000.00",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A project approved and announced; its notice ends 7 days after ``announce_on``."""
    headers = headers or {}
    created = await client.post(
        "/v1/projects",
        json=project_body(
            beneficiaries=beneficiaries or [], budget=[{"source": "central", "amount": budget}]
        ),
        headers=headers,
    )
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    approved = await client.post(
        f"/v1/projects/{project_id}/approve", json={"on": "2024-02-05"}, headers=headers
    )
    assert approved.status_code == 200, approved.text
    announced = await client.post(
        f"/v1/projects/{project_id}/announce", json={"on": announce_on.isoformat()}, headers=headers
    )
    assert announced.status_code == 200, announced.text
    return announced.json()


def after_notice(project: dict[str, Any]) -> str:
    return (date.fromisoformat(project["notice_ends_on"]) + timedelta(days=1)).isoformat()


def today() -> date:
    return business_today()
