"""What the import tells callers who may not read personal data: the error report masked by
content as well as by column, refusals that do not say where a person is registered, bounded
job listings and reports, and a file of byte order marks refused as empty."""

from __future__ import annotations

import csv
import io
import re
import uuid
from types import SimpleNamespace

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import text

from fupin_kit.testing.plugin import api_client
from fupin_registry.config import Settings
from fupin_registry.imports.export import ErrorReport
from fupin_registry.imports.repository import REGISTERED_ELSEWHERE
from fupin_registry.imports.samples import HouseholdMaker, header
from fupin_registry.imports.service import ERROR_VALUE_FIELD
from fupin_registry.privacy import Privacy, get_privacy_of

COUNTY = "220102"
VILLAGE = "220102001001"
COLUMN = {name: index for index, name in enumerate(header())}
SEVEN_DIGITS = re.compile(r"\d{7}")


def csv_bytes(rows: list[list[str]], head: list[str] | None = None) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([head or header(), *rows])
    return buffer.getvalue().encode("utf-8-sig")


def one_household(seed: int) -> list[list[str]]:
    """A household of ``VILLAGE`` numbered after the seed (samples all start at 000001)."""
    rows = [list(r) for r in next(HouseholdMaker([VILLAGE], seed=seed).households(1))]
    for row in rows:
        row[COLUMN["户编号"]] = f"T{seed:05d}"
    return rows


async def run(client, content: bytes) -> dict:
    response = await client.post(
        "/v1/imports", files={"file": ("register.csv", content, "text/csv")}
    )
    assert response.status_code == 202, response.text
    return (await client.get(f"/v1/imports/{response.json()['id']}")).json()


async def report(client, job_id: str) -> list[list[str]]:
    response = await client.get(f"/v1/imports/{job_id}/errors.csv")
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]


async def report_xlsx(client, job_id: str) -> list[list[str]]:
    response = await client.get(f"/v1/imports/{job_id}/errors.xlsx")
    assert response.status_code == 200, response.text
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    return [[str(cell) for cell in line] for line in book.get_sheet_by_index(0).to_python()[1:]]


def officer(make_token, *, pii: bool, jurisdiction: str = COUNTY) -> str:
    return make_token(jurisdiction, roles=["officer"], scopes=["pii:read"] if pii else [])


# --- the report masks values by their content -------------------------------------------------


async def test_import_report_masks_numbers_in_any_column_without_pii_scope(app, make_token):
    """A shifted row puts an ID number, a phone and a bank account into columns that are not
    personal: a caller without pii:read sees their digits starred, one with it in clear."""
    rows = one_household(seed=71)
    id_number = rows[0][COLUMN["证件号码"]]
    shifted = {"民族": id_number, "文化程度": "139-0435-1234", "劳动技能": "6222 0212 3456 7890"}
    for column, value in shifted.items():
        rows[0][COLUMN[column]] = value
    async with api_client(app, officer(make_token, pii=False)) as masked:
        job = await run(masked, csv_bytes(rows))
        cells = {r[1]: r[2] for r in await report(masked, job["id"])}
        assert cells["民族"] == "*" * 18
        assert cells["文化程度"] == "***-****-****"
        assert cells["劳动技能"] == "**** **** **** ****"
        for line in [*await report(masked, job["id"]), *await report_xlsx(masked, job["id"])]:
            assert not any(
                SEVEN_DIGITS.search(cell.replace("-", "").replace(" ", "")) for cell in line
            ), line
    async with api_client(app, officer(make_token, pii=True)) as clear:
        cells = {r[1]: r[2] for r in await report(clear, job["id"])}
        assert {column: cells[column] for column in shifted} == shifted


def test_import_report_reasons_star_long_numbers_but_keep_row_numbers():
    report = ErrorReport(Privacy(Settings(_env_file=None)), ERROR_VALUE_FIELD, clear=False)
    reason = (
        "household 220102001001/220102199001010113 appeared earlier in the file;"
        " the rows of one household must be next to each other"
    )
    # The village code is the household's reference; an ID number as its number is starred.
    assert report.reason(reason).startswith("household 220102001001/****************** appeared")
    kept = "not imported: the household's row(s) 1048575, 1048576 have errors"
    assert report.reason(kept) == kept
    clear = ErrorReport(Privacy(Settings(_env_file=None)), ERROR_VALUE_FIELD, clear=True)
    assert clear.reason(reason) == reason


REPEATED = (
    "household {} appeared earlier in the file; the rows of one household must be next to each"
    " other"
)


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        # The household's reference: its village code and number, as the file has them.
        (REPEATED.format("220102001002/000123"), REPEATED.format("220102001002/000123")),
        (REPEATED.format("220102001002/A-17"), REPEATED.format("220102001002/A-17")),
        ("region 229999999999 is not a village in the region table",) * 2,
        ("village 220581001001 is outside your jurisdiction 220102",) * 2,
        # A number that could be an ID number, a phone or a bank account is starred as a value.
        (
            REPEATED.format("220102001002/22010219900101011X"),
            REPEATED.format("220102001002/" + "*" * 18),
        ),
        (REPEATED.format("220102001002/13904351234"), REPEATED.format("220102001002/" + "*" * 11)),
        (REPEATED.format("220102001002/0001234"), REPEATED.format("220102001002/" + "*" * 7)),
        (
            REPEATED.format("220102001002/6222021234567890123"),
            REPEATED.format("220102001002/" + "*" * 19),
        ),
        # A village cell that is not a village code's shape is starred whole, as before.
        (REPEATED.format("22010219900101011X/0001"), REPEATED.format("*" * 18 + "/0001")),
        # An ID number split over the two cells does not pass for a village code and number.
        (REPEATED.format("220102199001/0101/1X"), REPEATED.format("************/0101/1X")),
        (REPEATED.format("220102199001/0101 1X"), REPEATED.format("************/0101 1X")),
        # The form's words around other text are not the form.
        (
            "note: " + REPEATED.format("220102001002/000123"),
            "note: " + REPEATED.format("************/000123"),
        ),
        (
            REPEATED.format("220102001002/000123") + ".",
            REPEATED.format("************/000123") + ".",
        ),
    ],
)
def test_import_report_reasons_show_the_households_reference_and_star_the_rest(reason, shown):
    report = ErrorReport(Privacy(Settings(_env_file=None)), ERROR_VALUE_FIELD, clear=False)
    assert report.reason(reason) == shown
    clear = ErrorReport(Privacy(Settings(_env_file=None)), ERROR_VALUE_FIELD, clear=True)
    assert clear.reason(reason) == reason


async def test_import_report_names_a_household_met_twice_by_its_village_code(app, make_token):
    """The household that appears twice is named by its village code and number to a caller
    without pii:read, so the rows can be found; its personal numbers stay starred."""
    first, second = one_household(seed=78), one_household(seed=79)
    again = [list(row) for row in one_household(seed=80)]
    for row in again:
        row[COLUMN["户编号"]] = first[0][COLUMN["户编号"]]
    async with api_client(app, officer(make_token, pii=False)) as masked:
        job = await run(masked, csv_bytes(first + second + again))
        lines = await report(masked, job["id"])
    row = 2 + len(first) + len(second)
    assert [row, "户编号", "T00078", REPEATED.format(f"{VILLAGE}/T00078")] in [
        [int(line[0]), *line[1:]] for line in lines
    ], lines
    assert not any(SEVEN_DIGITS.search(line[2].replace("-", "")) for line in lines), lines


def test_import_report_shows_a_village_code_as_it_is_and_nothing_else_in_its_column():
    # 12 digits are no ID number, phone or bank account: the officer correcting the file sees the
    # village code that was refused; an ID number in that column is still starred.
    privacy = Privacy(Settings(_env_file=None))
    report = ErrorReport(privacy, ERROR_VALUE_FIELD, clear=False)

    def error(column: str, value: str) -> SimpleNamespace:
        return SimpleNamespace(
            column_name=column,
            value_enc=privacy.seal(value, ERROR_VALUE_FIELD),
            value_bytes=len(value),
        )

    assert report.value(error("行政区划代码(村)", "229999999999")) == "229999999999"
    assert report.value(error("行政区划代码(村)", "220102199001010113")) == "*" * 18
    assert report.value(error("民族", "229999999999")) == "*" * 12


def test_import_report_shows_no_digit_of_a_number_in_the_name_column():
    # A name keeps its first character masked, but a number typed there keeps none of its digits.
    privacy = Privacy(Settings(_env_file=None))
    report = ErrorReport(privacy, ERROR_VALUE_FIELD, clear=False)

    def masked(value: str) -> str:
        blob = privacy.seal(value, ERROR_VALUE_FIELD)
        return report.value(SimpleNamespace(column_name="姓名", value_enc=blob, value_bytes=9))

    assert masked("13904351234") == "*" * 11
    assert masked("王3") == "王*"
    assert masked("王建国") == "王**"


# --- a refusal does not say where a person is registered --------------------------------------


def with_person_of(rows: list[list[str]], source: list[list[str]]) -> list[list[str]]:
    """``rows`` whose first member is the first member of ``source``."""
    for column in ("证件号码", "性别", "出生日期"):
        rows[0][COLUMN[column]] = source[0][COLUMN[column]]
    return rows


async def test_import_refusal_names_the_household_only_to_callers_with_pii_scope(app, make_token):
    registered = one_household(seed=73)
    number = registered[0][COLUMN["户编号"]]
    async with api_client(app, officer(make_token, pii=True)) as clear:
        assert (await run(clear, csv_bytes(registered)))["households_created"] == 1
        named_job = await run(clear, csv_bytes(with_person_of(one_household(seed=74), registered)))
        named = [r[3] for r in await report(clear, named_job["id"]) if r[1] == "证件号码"]
        assert named == [f"member already registered in household {VILLAGE}/{number}"]

    async with api_client(app, officer(make_token, pii=False)) as masked:
        candidates = await run(
            masked, csv_bytes(with_person_of(one_household(seed=75), registered))
        )
        assert candidates["households_created"] == 0
        for job in (candidates, named_job):  # its own report, and the one stored named
            lines = await report(masked, job["id"])
            assert [r[3] for r in lines if r[1] == "证件号码"] == [REGISTERED_ELSEWHERE]
            assert number not in str(lines) and VILLAGE not in str(lines)

    async with api_client(app, officer(make_token, pii=True)) as clear:
        lines = await report(clear, candidates["id"])  # stored without the household: not named
        assert [r[3] for r in lines if r[1] == "证件号码"] == [REGISTERED_ELSEWHERE]


# --- bounded listings and reports -------------------------------------------------------------


async def test_import_jobs_list_ignored_headers_shortened(app, make_token):
    rows = one_household(seed=76)
    long_name = "备" * 5_000
    content = csv_bytes([r + ["x"] for r in rows], head=header() + [long_name])
    async with api_client(app, officer(make_token, pii=True)) as client:
        job = await run(client, content)
        assert job["ignored_columns"] == ["备" * 200 + "…(truncated, 5,000 characters)"]
        # A job stored before names were shortened is listed shortened as well.
        async with app.state.sessionmaker() as session:
            await session.execute(
                text("UPDATE import_jobs SET ignored_columns = :names WHERE id = :id"),
                {"names": ["y" * 1_000_000] * 3 + ["z"] * 100, "id": uuid.UUID(job["id"])},
            )
            await session.commit()
        listed = (await client.get("/v1/imports", params={"limit": 1})).json()["items"][0]
        assert listed["id"] == job["id"]
        assert listed["ignored_columns"][0] == "y" * 200 + "…(truncated, 1,000,000 characters)"
        assert len(listed["ignored_columns"]) == 51
        assert listed["ignored_columns"][-1] == "…(and 53 more columns)"


async def test_import_report_never_opens_a_huge_stored_value(app, make_token):
    """A value or reason stored whole before they were shortened is cut when the report is
    read: the value shown as its size (never decrypted), the reason to its first characters."""
    rows = one_household(seed=77)
    rows[0][COLUMN["民族"]] = "火星族"
    async with api_client(app, officer(make_token, pii=True)) as client:
        job = await run(client, csv_bytes(rows))
        sealed = get_privacy_of(app).seal("q" * 200_000, ERROR_VALUE_FIELD)
        assert sealed is not None
        async with app.state.sessionmaker() as session:
            await session.execute(
                text(
                    "UPDATE import_errors SET value_enc = :value, reason = :reason"
                    " WHERE job_id = :id AND column_name = '民族'"
                ),
                {"value": sealed, "reason": "r" * 100_000, "id": uuid.UUID(job["id"])},
            )
            await session.commit()
        cells = [r for r in await report(client, job["id"]) if r[1] == "民族"]
        assert cells[0][2] == f"…(truncated, {len(sealed):,} bytes stored)", cells
        assert cells[0][3] == "r" * 500 + "…(truncated, 100,000 characters)"


# --- byte order marks only --------------------------------------------------------------------


async def test_import_a_file_of_a_byte_order_mark_only_is_refused_as_empty(client):
    response = await client.post(
        "/v1/imports", files={"file": ("register.csv", b"\xef\xbb\xbf", "text/csv")}
    )
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["pointer"] == "#/body/file" and error["detail"] == "the file is empty"
