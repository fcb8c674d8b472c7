"""Uploads over HTTP: one file per request, error cells and stray NUL bytes reported by row."""

from __future__ import annotations

import csv
import io

import xlsxwriter

from fupin_registry.imports.samples import HouseholdMaker, header

VILLAGES = ["220102001001", "220102001002"]  # county 220102
COLUMN = {name: index for index, name in enumerate(header())}


def rows_of(count: int, seed: int) -> list[list[str]]:
    maker = HouseholdMaker(VILLAGES, seed=seed)
    return [list(row) for household in maker.households(count) for row in household]


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header(), *rows])
    return buffer.getvalue().encode("utf-8-sig")


async def report(client, job_id: str) -> list[list[str]]:
    response = await client.get(f"/v1/imports/{job_id}/errors.csv")
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]


async def test_imports_an_upload_of_two_files_is_refused(client):
    before = (await client.get("/v1/imports")).json()["items"]
    response = await client.post(
        "/v1/imports",
        files=[
            ("file", ("a.csv", csv_bytes(rows_of(1, seed=800)), "text/csv")),
            ("file", ("b.csv", csv_bytes(rows_of(1, seed=801)), "text/csv")),
        ],
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    error = response.json()["errors"][0]
    assert error["pointer"] == "#/body/file"
    assert "send one file" in error["detail"]
    assert (await client.get("/v1/imports")).json()["items"] == before  # no job


async def test_imports_one_file_is_still_accepted(client):
    response = await client.post(
        "/v1/imports", files=[("file", ("a.csv", csv_bytes(rows_of(1, seed=802)), "text/csv"))]
    )
    assert response.status_code == 202, response.text


async def test_imports_an_error_cell_of_a_small_workbook_is_reported(client):
    rows = rows_of(2, seed=810)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header())
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value and column != COLUMN["工资性收入"]:
                sheet.write_string(number, column, value)
    sheet.write_formula(1, COLUMN["工资性收入"], "=1/0", None, "#DIV/0!")
    book.close()
    response = await client.post(
        "/v1/imports", files={"file": ("register.xlsx", buffer.getvalue(), "application/x")}
    )
    assert response.status_code == 202, response.text
    job = (await client.get(f"/v1/imports/{response.json()['id']}")).json()
    assert job["state"] == "completed", job
    found = await report(client, job["id"])
    assert ["2", "工资性收入", "", "the cell holds the error #DIV/0!; enter the value"] in found
    first = rows[0][:2]
    assert job["rows_rejected"] == sum(1 for row in rows if row[:2] == first)


async def test_imports_a_stray_nul_byte_is_a_row_error_not_a_refused_file(client):
    rows = rows_of(2, seed=820)
    rows[0][COLUMN["健康状况"]] = "残疾"
    rows[0][COLUMN["残疾情况"]] = "肢体\x00二级"
    response = await client.post(
        "/v1/imports", files={"file": ("register.csv", csv_bytes(rows), "text/csv")}
    )
    assert response.status_code == 202, response.text
    job = (await client.get(f"/v1/imports/{response.json()['id']}")).json()
    assert job["state"] == "completed", job
    assert ["2", "残疾情况", "肢体\\x00二级", "contains control characters"] in await report(
        client, job["id"]
    )
    assert job["households_created"] == 1
