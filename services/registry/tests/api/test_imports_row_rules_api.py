"""Row rules over HTTP: household dates, household numbers that survive an export, reasons."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import text

from fupin_events.values import business_today
from fupin_kit.testing.plugin import api_client
from fupin_registry.imports.rows import ETHNICITY_REASON
from fupin_registry.imports.samples import HouseholdMaker, header, resident_id

COLUMN = {name: index for index, name in enumerate(header())}


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header(), *rows])
    return buffer.getvalue().encode("utf-8-sig")


def single_households(count: int, village: str, seed: int) -> list[list[str]]:
    """``count`` households of one member each, numbered S0, S1, …"""
    found: list[list[str]] = []
    while len(found) < count:
        for household in HouseholdMaker([village], seed=seed).households(20):
            if len(household) == 1 and len(found) < count:
                found.append(list(household[0]))
        seed += 1
    for position, row in enumerate(found):
        row[COLUMN["户编号"]] = f"S{position}"
    return found


async def run(client, content: bytes) -> tuple[dict, list[list[str]]]:
    response = await client.post(
        "/v1/imports", files={"file": ("register.csv", content, "text/csv")}
    )
    assert response.status_code == 202, response.text
    job = (await client.get(f"/v1/imports/{response.json()['id']}")).json()
    report = await client.get(f"/v1/imports/{job['id']}/errors.csv")
    assert report.status_code == 200, report.text
    return job, list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))[1:]


async def test_imports_household_dates_outside_the_register_are_refused(app, make_token):
    village = "220102001001"
    rows = single_households(7, village, seed=620)
    cells = [
        {"登记日期": "1900-01-01"},
        {"贫困户状态": "已脱贫", "登记日期": "2015-09-01", "脱贫日期": "2015-06-01"},
        {"贫困户状态": "已脱贫", "脱贫日期": "1000-01-01"},
        {"识别年度": "2019", "登记日期": "2020-01-01"},
        {"贫困户状态": "已脱贫", "识别年度": "2019", "脱贫日期": "2016-05-01"},
        # Registered before its head was born (in 2016, below).
        {"证件号码": resident_id(village[:6], 2016, 3, 1, 7, "male"), "登记日期": "2015-06-30"},
        {"贫困户状态": "已脱贫", "登记日期": "2015-06-30", "脱贫日期": "2019-12-01"},  # imported
    ]
    for row, change in zip(rows, cells, strict=True):
        row[COLUMN["性别"]] = row[COLUMN["出生日期"]] = ""
        for name, value in change.items():
            row[COLUMN[name]] = value
    async with api_client(app, make_token(village, scopes=["pii:read"], roles=["officer"])) as c:
        job, report = await run(c, csv_bytes(rows))
    assert job["state"] == "completed", job
    assert (job["households_created"], job["rows_rejected"]) == (1, 6), report
    assert [(line[0], line[1], line[3]) for line in report] == [
        ("2", "登记日期", "lies before 2013, the register's first year (earliest_register_year)"),
        ("3", "脱贫日期", "lies before 登记日期: a household exits after it was registered"),
        ("4", "脱贫日期", "lies before 2013, the register's first year (earliest_register_year)"),
        (
            "5",
            "登记日期",
            "lies in 2020, not in 识别年度 2019: a household is registered in its"
            " identification year",
        ),
        (
            "6",
            "脱贫日期",
            "lies in 2016, before 识别年度 2019: a household exits after its identification",
        ),
        ("7", "登记日期", "lies before the birth of the head of the household (户主, row 7)"),
    ]


async def test_imports_a_plain_digits_year_is_required(client):
    rows = single_households(1, "220102001001", seed=640)
    rows[0][COLUMN["识别年度"]] = "2_015"
    job, report = await run(client, csv_bytes(rows))
    assert job["households_created"] == 0
    assert [line[1:] for line in report] == [
        ["识别年度", "2_015", "a year is written as four digits 0-9, e.g. 2015"]
    ]


async def test_imports_household_numbers_survive_an_export(app, make_token):
    """A number starting with '-' is refused (the CSV export would write it '-A1, which does
    not import); every number the import takes exports and imports again unchanged."""
    village = "220102001001"
    rows = single_households(6, village, seed=610)
    numbers = ["-A1", "--1", "-0001", "A-1", "0001-", "7"]
    for row, number in zip(rows, numbers, strict=True):
        row[COLUMN["户编号"]] = number
    token = make_token(village, scopes=["pii:read"], roles=["officer"])
    async with api_client(app, token) as client:
        job, report = await run(client, csv_bytes(rows))
        assert job["households_created"] == 3, report
        assert {(line[0], line[1]) for line in report} == {
            ("2", "户编号"),
            ("3", "户编号"),
            ("4", "户编号"),
        }
        assert all(line[3].startswith("starts with a letter or digit") for line in report)
        # The CSV export is the one that guards cells ('-A1); the XLSX export writes text cells.
        exported = await client.get("/v1/exports/households.csv")
        assert exported.status_code == 200
        again, again_report = await run(client, exported.content)
        assert (again["households_unchanged"], again["rows_rejected"]) == (3, 0), again_report
        lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert sorted(line[COLUMN["户编号"]] for line in lines[1:]) == ["0001-", "7", "A-1"]


async def test_imports_an_unknown_ethnic_group_has_a_short_reason(client):
    rows = single_households(1, "220102001001", seed=810)
    rows[0][COLUMN["民族"]] = "=1+1"
    job, report = await run(client, csv_bytes(rows))
    assert job["households_created"] == 0
    assert [line[1:] for line in report] == [["民族", "'=1+1", ETHNICITY_REASON]]


async def test_imports_an_exited_household_without_registration_date_exports_and_imports_again(
    app, make_token
):
    """Without 登记日期 a household is registered in its 识别年度: on the first day of that year
    (on the import date if identified this year and not exited), so that its export (with that
    date) imports again."""
    village = "220102001001"
    rows = single_households(4, village, seed=650)
    cells = [
        {"贫困户状态": "返贫", "脱贫日期": "20180101"},
        {"贫困户状态": "已脱贫", "识别年度": "2016", "脱贫日期": "2019-12-05"},
        {"识别年度": str(business_today().year)},
        {"识别年度": "2017"},
    ]
    for row, change in zip(rows, cells, strict=True):
        row[COLUMN["登记日期"]] = ""
        for name, value in change.items():
            row[COLUMN[name]] = value
    token = make_token(village, scopes=["pii:read"], roles=["officer"])
    async with api_client(app, token) as client:
        job, report = await run(client, csv_bytes(rows))
        assert job["households_created"] == 4, report
        exported = await client.get("/v1/exports/households.csv")
        lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        registered = {line[COLUMN["户编号"]]: line[COLUMN["登记日期"]] for line in lines[1:]}
        assert registered["S0"] == "2015-01-01" and registered["S1"] == "2016-01-01"
        assert registered["S2"] == business_today().isoformat()
        assert registered["S3"] == "2017-01-01"
        again, again_report = await run(client, exported.content)
        assert (again["households_unchanged"], again["rows_rejected"]) == (4, 0), again_report


@pytest.mark.parametrize(
    ("cells", "stored"),
    [
        (  # after the exit date
            {"贫困户状态": "已脱贫", "登记日期": "2015-01-01", "脱贫日期": "2019-12-05"},
            "2020-06-30",
        ),
        ({"识别年度": "2015", "登记日期": "2015-04-01"}, "2017-03-01"),  # after 识别年度
    ],
)
async def test_imports_export_leaves_out_a_registration_date_the_import_refuses(
    app, make_token, cells, stored
):
    """A register may hold a registration date after the exit date, or outside the
    identification year (written by an import that did not require either): the export leaves
    it empty, so that the row imports again."""
    village = "220102001001"
    rows = single_households(1, village, seed=660)
    for name, value in cells.items():
        rows[0][COLUMN[name]] = value
    token = make_token(village, scopes=["pii:read"], roles=["officer"])
    async with api_client(app, token) as client:
        job, report = await run(client, csv_bytes(rows))
        assert job["households_created"] == 1, report
        async with app.state.sessionmaker() as session:
            await session.execute(
                text(
                    "UPDATE households SET registered_on = :stored"
                    " WHERE village_code = :village AND household_number = 'S0'"
                ),
                {"village": village, "stored": dt.date.fromisoformat(stored)},
            )
            await session.commit()
        exported = await client.get("/v1/exports/households.csv")
        lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert [(line[COLUMN["登记日期"]], line[COLUMN["脱贫日期"]]) for line in lines[1:]] == [
            ("", cells.get("脱贫日期", ""))
        ]
        again, again_report = await run(client, exported.content)
        assert (again["households_unchanged"], again["rows_rejected"]) == (1, 0), again_report
