"""Upload → job → report, bad files, and jurisdiction for /v1/imports and /v1/exports."""

from __future__ import annotations

import csv
import io

import pytest
import xlsxwriter
from sqlalchemy import text

from fupin_events.values import business_today
from fupin_kit.testing.plugin import bearer
from fupin_registry.imports.repository import REGISTERED_ELSEWHERE
from fupin_registry.imports.samples import HouseholdMaker, header

CHANGCHUN_VILLAGES = ["220102001001", "220102001002"]  # county 220102
OTHER_COUNTY_VILLAGE = "220581001001"


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header(), *rows])
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]], head: list[str] | None = None) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, head or header())
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if isinstance(value, str):
                if value:
                    sheet.write_string(number, column, value)
            else:
                sheet.write(number, column, value)
    book.close()
    return buffer.getvalue()


def sample(count: int, villages: list[str] | None = None, seed: int = 1) -> list[list[str]]:
    maker = HouseholdMaker(villages or CHANGCHUN_VILLAGES, seed=seed)
    return [row for household in maker.households(count) for row in household]


async def upload(client, content: bytes, name: str = "register.csv", headers=None):
    return await client.post(
        "/v1/imports",
        files={"file": (name, content, "application/octet-stream")},
        headers=headers or {},
    )


async def run(client, content: bytes, name: str = "register.csv", headers=None) -> dict:
    response = await upload(client, content, name, headers)
    assert response.status_code == 202, response.text
    job = (await client.get(f"/v1/imports/{response.json()['id']}", headers=headers or {})).json()
    return job


async def error_report(client, job_id: str, headers=None) -> list[list[str]]:
    response = await client.get(f"/v1/imports/{job_id}/errors.csv", headers=headers or {})
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]


async def test_imports_csv_upload_commits_households_and_reports_progress(client, db_session):
    rows = sample(5)
    job = await run(client, csv_bytes(rows))
    assert job["state"] == "completed", job
    assert job["rows_read"] == len(rows)
    assert job["rows_committed"] == len(rows)
    assert job["rows_rejected"] == 0
    assert job["households_created"] == 5
    assert job["encoding"] == "utf-8-sig"
    search = await client.get("/v1/households", params={"region": "220102"})
    assert search.status_code == 200, search.text
    # Each household names the job and the file row it came from, now and as of today.
    starts = {}
    for position, row in enumerate(rows, start=2):
        starts.setdefault((row[0], row[1]), position)  # village code, household number
    for hit in search.json()["items"]:
        for params in ({}, {"as_of": business_today().isoformat()}):
            read = (await client.get(f"/v1/households/{hit['id']}", params=params)).json()
            assert read["imported_from"] == {
                "job_id": job["id"],
                "row": starts[(hit["village_code"], hit["household_number"])],
            }, read
    assert len(search.json()["items"]) == 5


async def test_imports_same_file_twice_creates_nothing_new(client):
    content = csv_bytes(sample(4, seed=2))
    first = await run(client, content)
    assert first["households_created"] == 4
    second = await run(client, content)
    assert second["state"] == "completed"
    assert second["households_created"] == 0
    assert second["rows_committed"] == 0
    assert second["households_unchanged"] == 4
    assert second["rows_unchanged"] == first["rows_committed"]


async def test_imports_gbk_csv_is_detected(client):
    job = await run(client, csv_bytes(sample(2, seed=3), encoding="gb18030"))
    assert job["state"] == "completed", job
    assert job["encoding"] == "gb18030"
    assert job["households_created"] == 2


async def test_imports_xlsx_with_numeric_ids_and_dates(client):
    rows: list[list[object]] = [list(r) for r in sample(2, seed=4)]
    rows[0][23] = float(rows[0][23])  # an 18-digit ID stored as a number: digits lost
    job = await run(client, xlsx_bytes(rows), "register.xlsx")
    assert job["state"] == "completed", job
    report = await error_report(client, job["id"])
    reasons = [r[3] for r in report if r[0] == "2"]
    assert any("stored as a number" in reason for reason in reasons), report
    first_household_size = sum(1 for r in rows if r[1] == rows[0][1])
    assert job["rows_rejected"] == first_household_size
    assert job["households_created"] == 1


async def test_imports_bad_rows_are_reported_and_whole_households_rejected(client):
    rows = sample(3, seed=5)
    bad = [list(r) for r in rows]
    first_number = bad[0][1]
    bad[0][23] = bad[0][23][:17] + ("0" if bad[0][23][17] != "0" else "1")  # wrong check char
    second = [r for r in bad if r[1] != first_number]
    second[0][0] = "220102999999"  # unknown village
    job = await run(client, csv_bytes(bad))
    assert job["state"] == "completed"
    report = await error_report(client, job["id"])
    by_row = {}
    for row, column, value, reason in report:
        by_row.setdefault(int(row), []).append((column, value, reason))
    assert any("check character" in r for _, _, r in by_row[2]), by_row
    assert any(
        c == "行政区划代码(村)" and "not a village" in r for c, _, r in sum(by_row.values(), [])
    )
    committed_numbers = {r[1] for r in bad} - {first_number, second[0][1]}
    assert job["households_created"] == len(committed_numbers)
    assert job["rows_rejected"] + job["rows_committed"] == job["rows_read"]


async def test_imports_missing_headers_fail_fast_with_names(client):
    head = [h for h in header() if h not in ("证件号码", "户属性")]
    content = ("\ufeff" + ",".join(head) + "\n").encode()
    job = await run(client, content)
    assert job["state"] == "failed"
    assert "证件号码" in job["failure_reason"] and "户属性" in job["failure_reason"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"%PDF-1.4 binary", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b"\xff\xfe" + "证件号码".encode("utf-16-le"), "UTF-16"),
        (b"PK\x03\x04not really a zip", "damaged"),
    ],
)
async def test_imports_non_spreadsheets_are_refused_at_upload(client, content, needle):
    response = await upload(client, content, "file.xlsx")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["errors"][0]["pointer"] == "#/body/file"
    assert needle in body["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nno colon header\r\n\r\nx\r\n--xyz--\r\n"),
        ("multipart/form-data", b"--xyz\r\n"),  # no boundary
    ],
)
async def test_imports_a_broken_form_is_refused_naming_the_body(client, content_type, body):
    response = await client.post(
        "/v1/imports", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in response.json()["errors"]] == ["#/body"], response.json()


async def test_imports_rows_outside_jurisdiction_are_rejected(app, make_token):
    from fupin_kit.testing.plugin import api_client

    token = make_token("220102", scopes=["pii:read"], roles=["officer"])
    async with api_client(app, token) as client:
        rows = sample(2, villages=[OTHER_COUNTY_VILLAGE], seed=6) + sample(1, seed=7)
        job = await run(client, csv_bytes(rows))
        assert job["state"] == "completed"
        report = await error_report(client, job["id"])
        assert any("outside your jurisdiction" in r[3] for r in report)
        assert job["households_created"] == 1


async def test_imports_report_names_no_household_outside_jurisdiction(app, make_token):
    from fupin_kit.testing.plugin import api_client

    elsewhere = sample(1, villages=[OTHER_COUNTY_VILLAGE], seed=46)
    async with api_client(app, make_token("220581", roles=["officer"])) as other:
        assert (await run(other, csv_bytes(elsewhere)))["households_created"] == 1
    rows = sample(1, villages=[CHANGCHUN_VILLAGES[0]], seed=47)
    for column in ("证件号码", "性别", "出生日期"):
        rows[0][HEADER_INDEX[column]] = elsewhere[0][HEADER_INDEX[column]]
    async with api_client(app, make_token("220102", roles=["officer"])) as county:
        job = await run(county, csv_bytes(rows))
        report = await error_report(county, job["id"])
    assert job["households_created"] == 0
    assert [r[3] for r in report if r[1] == "证件号码"] == [REGISTERED_ELSEWHERE]
    assert OTHER_COUNTY_VILLAGE not in str(report)


async def test_imports_jobs_are_invisible_outside_jurisdiction(app, make_token):
    from fupin_kit.testing.plugin import api_client

    async with api_client(app, make_token("220102", roles=["officer"])) as county:
        job = await run(county, csv_bytes(sample(1, seed=8)))
    async with api_client(app, make_token("220581", roles=["officer"])) as other:
        assert (await other.get(f"/v1/imports/{job['id']}")).status_code == 404
        assert (await other.get(f"/v1/imports/{job['id']}/errors.csv")).status_code == 404
    async with api_client(app, make_token("22", roles=["officer"])) as province:
        assert (await province.get(f"/v1/imports/{job['id']}")).status_code == 200


async def test_imports_export_reimports_and_masks_without_pii_scope(app, make_token):
    from fupin_kit.testing.plugin import api_client

    village = "220102001003"
    rows = sample(3, villages=[village], seed=9)
    # A village-level officer: the export holds exactly this village's register.
    token = make_token(village, scopes=["pii:read"], roles=["officer"])
    async with api_client(app, token) as client:
        await run(client, csv_bytes(rows))
        exported = await client.get("/v1/exports/households.csv")
        assert exported.status_code == 200
        # named by the register's date (Asia/Shanghai), not the host's
        day = business_today().strftime("%Y%m%d")
        assert f'filename="register-{village}-{day}.csv"' in exported.headers["content-disposition"]
        lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert lines[0] == header()
        assert {line[23] for line in lines[1:]} == {r[23] for r in rows}
        async with app.state.sessionmaker() as session:
            audited = await session.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'pii.export_unmasked'")
            )
            assert audited.scalar_one() >= 1
        again = await run(client, exported.content)
        assert again["households_created"] == 0
        assert again["households_unchanged"] == 3
        assert again["rows_rejected"] == 0, await error_report(client, again["id"])

    async with api_client(app, make_token(village, roles=["officer"])) as masked:
        body = (await masked.get("/v1/exports/households.csv")).content.decode("utf-8-sig")
        assert rows[0][23] not in body
        assert "********" in body
    other_token = make_token("220581", roles=["officer"], scopes=["pii:read"])
    async with api_client(app, other_token) as other:
        body = (await other.get("/v1/exports/households.csv")).content.decode("utf-8-sig")
        assert rows[0][23] not in body


async def test_imports_templates_download(client):
    response = await client.get("/v1/imports/template.xlsx")
    assert response.status_code == 200
    assert response.content[:2] == b"PK"
    response = await client.get("/v1/imports/template.csv")
    assert response.content.decode("utf-8-sig").strip().split(",") == header()


async def test_imports_requires_a_writer(app, make_token):
    from fupin_kit.testing.plugin import api_client

    async with api_client(app, make_token("220102", roles=["viewer"])) as viewer:
        response = await upload(viewer, csv_bytes(sample(1)))
        assert response.status_code == 403


async def test_imports_xlsx_export_has_text_cells(client):
    rows = sample(2, seed=10)
    await run(client, csv_bytes(rows))
    response = await client.get("/v1/exports/households.xlsx")
    assert response.status_code == 200
    from python_calamine import CalamineWorkbook

    sheet = (
        CalamineWorkbook.from_filelike(io.BytesIO(response.content))
        .get_sheet_by_index(0)
        .to_python()
    )
    assert sheet[0] == header()
    assert all(isinstance(cell, str) for cell in sheet[1])
    assert {r[23] for r in rows} <= {line[23] for line in sheet[1:]}


async def test_imports_events_and_history_written(client, db_session):
    rows = sample(2, seed=11)
    job = await run(client, csv_bytes(rows))
    assert job["households_created"] == 2
    response = await client.get("/v1/households", params={"region": "220102"})
    assert response.status_code == 200


__all__ = ["bearer"]


async def test_imports_oversized_upload_is_refused(app, client, tmp_path):
    app.state.settings = app.state.settings.model_copy(
        update={"import_max_file_bytes": 2048, "import_dir": tmp_path}
    )
    response = await upload(client, csv_bytes(sample(20, seed=12)))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert list(tmp_path.iterdir()) == []  # the partial copy is removed


# --- cursors, continuation rows, export safety and masking ----------------------------------


@pytest.mark.parametrize(
    "values",
    [
        ["2024-01-01T00:00:00+00:00", "not-a-uuid"],
        ["yesterday-ish", "6f1c0000-0000-4000-8000-000000000000"],
        ["2024-01-01T00:00:00", "6f1c0000-0000-4000-8000-000000000000"],
        [1, 2],
    ],
)
async def test_imports_malformed_cursor_is_a_422_naming_the_cursor(client, values):
    from fupin_kit.pagination import encode_cursor

    response = await client.get("/v1/imports", params={"cursor": encode_cursor(values)})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == "#/query/cursor"


async def test_imports_job_list_pages_with_its_cursor(client):
    for seed in (30, 31):
        await run(client, csv_bytes(sample(1, seed=seed)))
    first = (await client.get("/v1/imports", params={"limit": 1})).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = await client.get("/v1/imports", params={"limit": 1, "cursor": first["next_cursor"]})
    assert second.status_code == 200, second.text
    assert second.json()["items"][0]["id"] != first["items"][0]["id"]


def household_of_at_least(size: int, seed: int) -> list[list[str]]:
    for attempt in range(50):
        maker = HouseholdMaker(CHANGCHUN_VILLAGES, seed=seed + attempt)
        found = [h for h in maker.households(10) if len(h) >= size]
        if found:
            return [list(r) for r in found[0]]
    raise AssertionError("no household that large in the samples")


async def test_imports_rows_with_blank_household_keys_join_the_household_above(client):
    household = household_of_at_least(3, seed=40)
    for row in household[1:]:
        row[0] = row[1] = ""
    job = await run(client, csv_bytes(household))
    assert job["state"] == "completed", job
    assert job["rows_rejected"] == 0, await error_report(client, job["id"])
    assert job["households_created"] == 1
    assert job["rows_committed"] == len(household)


async def test_imports_a_household_spanning_more_rows_than_allowed_is_rejected(app, client):
    """Counties sometimes fill the household cells on the sheet's first row only: every row
    then continues one household. Only its first rows are held; the rest are counted and
    reported once, and the households after it import."""
    app.state.settings = app.state.settings.model_copy(update={"import_max_household_rows": 100})
    household = household_of_at_least(2, seed=191)
    endless = household + [["", "", *household[-1][2:]] for _ in range(300)]
    after = [r for r in sample(2, seed=192) if r[1] != household[0][1]]
    job = await run(client, csv_bytes(endless + after))
    assert job["state"] == "completed", job
    size = len(endless)
    assert job["rows_read"] == size + len(after)
    assert job["rows_rejected"] == size
    assert job["rows_committed"] == len(after)
    report = await error_report(client, job["id"])
    assert [r for r in report if int(r[0]) >= 102] == [
        [
            "102",
            "",
            "",
            f"the household continues over {size - 100:,} more rows (rows 102 to {size + 1});"
            " a household may span at most 100 rows of a file (import_max_household_rows):"
            " none of its rows is imported",
        ]
    ], report
    assert len(report) == 101


async def test_imports_formula_like_text_is_exported_inert(app, make_token):
    from python_calamine import CalamineWorkbook

    from fupin_kit.testing.plugin import api_client

    rows = sample(1, seed=41)
    rows[0][HEADER_INDEX["健康状况"]] = "残疾"
    rows[0][HEADER_INDEX["残疾情况"]] = '=cmd|"/c calc"!A0'
    token = make_token("220102", scopes=["pii:read"], roles=["officer"])
    async with api_client(app, token) as client:
        job = await run(client, csv_bytes(rows))
        assert job["households_created"] == 1, await error_report(client, job["id"])
        body = (await client.get("/v1/exports/households.csv")).content.decode("utf-8-sig")
        lines = list(csv.reader(io.StringIO(body)))
        exported = [line for line in lines[1:] if line[HEADER_INDEX["证件号码"]] == rows[0][23]]
        assert exported[0][HEADER_INDEX["残疾情况"]] == '\'=cmd|"/c calc"!A0'
        assert not any(cell.startswith(("=", "@")) for line in lines for cell in line)
        response = await client.get("/v1/exports/households.xlsx")
        import zipfile

        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")
        sheet = (
            CalamineWorkbook.from_filelike(io.BytesIO(response.content))
            .get_sheet_by_index(0)
            .to_python()
        )
        described = {line[HEADER_INDEX["残疾情况"]] for line in sheet[1:]}
        assert '=cmd|"/c calc"!A0' in described  # text, not a formula


async def test_imports_error_report_cells_are_inert(client):
    rows = sample(1, seed=42)
    rows[0][HEADER_INDEX["联系电话"]] = "=1+2"
    job = await run(client, csv_bytes(rows))
    report = await error_report(client, job["id"])
    assert ["2", "联系电话", "'=1+2"] == report[0][:3], report


async def test_imports_masked_export_leaves_the_birth_date_out(app, make_token):
    from fupin_kit.testing.plugin import api_client

    village = "220102002004"
    rows = sample(1, villages=[village], seed=43)
    head = rows[0][HEADER_INDEX["证件号码"]]
    born = f"{head[6:10]}-{head[10:12]}-{head[12:14]}"
    token = make_token(village, scopes=["pii:read"], roles=["officer"])
    async with api_client(app, token) as clear:
        await run(clear, csv_bytes(rows))
        body = (await clear.get("/v1/exports/households.csv")).content.decode("utf-8-sig")
        assert born in body
    async with api_client(app, make_token(village, roles=["officer"])) as masked:
        for suffix in ("csv", "xlsx"):
            response = await masked.get(f"/v1/exports/households.{suffix}")
            if suffix == "csv":
                lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
            else:
                from python_calamine import CalamineWorkbook

                lines = (
                    CalamineWorkbook.from_filelike(io.BytesIO(response.content))
                    .get_sheet_by_index(0)
                    .to_python()
                )
            exported = [line for line in lines[1:] if line[0] == village]
            assert exported and all(line[HEADER_INDEX["出生日期"]] == "" for line in exported)
            assert all(born not in str(cell) for line in lines for cell in line)


async def test_imports_error_report_stars_a_birth_date_without_pii_scope(app, make_token):
    from fupin_kit.testing.plugin import api_client

    village = "220102002005"
    rows = sample(1, villages=[village], seed=45)
    head = rows[0][HEADER_INDEX["证件号码"]]
    given = f"{int(head[6:10]) + 1}/{head[10:12]}/{head[12:14]}"  # not the ID number's date
    rows[0][HEADER_INDEX["出生日期"]] = given
    async with api_client(app, make_token(village, roles=["officer"])) as masked:
        job = await run(masked, csv_bytes(rows))
        cells = [r for r in await error_report(masked, job["id"]) if r[1] == "出生日期"]
        assert [r[2] for r in cells] == ["****/**/**"], cells
        from python_calamine import CalamineWorkbook

        book = (await masked.get(f"/v1/imports/{job['id']}/errors.xlsx")).content
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(book)).get_sheet_by_index(0).to_python()
        assert [line[2] for line in sheet[1:] if line[1] == "出生日期"] == ["****/**/**"]
    token = make_token(village, scopes=["pii:read"], roles=["officer"])
    async with api_client(app, token) as clear:
        cells = [r for r in await error_report(clear, job["id"]) if r[1] == "出生日期"]
        assert [r[2] for r in cells] == [given]


async def test_imports_failed_xlsx_export_leaves_no_temporary_file(client, monkeypatch, tmp_path):
    import tempfile

    from fupin_registry.imports import router

    await run(client, csv_bytes(sample(2, seed=44)))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    class Failing(router.RegisterRows):
        async def batches(self):
            async for rows in super().batches():
                yield rows
                raise ConnectionError("the database went away")

    monkeypatch.setattr(router, "RegisterRows", Failing)
    with pytest.raises(ConnectionError):
        await client.get("/v1/exports/households.xlsx")
    assert list(tmp_path.glob("fupin-export-*")) == []


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("register.xls", b"<!DOCTYPE html><html><table><tr><td>x</td></tr></table>", "HTML"),
        ("register.xlsx", "行政区划代码(村),户编号\n".encode(), "named .xlsx"),
    ],
)
async def test_imports_text_posing_as_a_workbook_is_refused_at_upload(
    client, name, content, needle
):
    response = await upload(client, content, name)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    error = response.json()["errors"][0]
    assert error["pointer"] == "#/body/file" and needle in error["detail"]


HEADER_INDEX = {name: index for index, name in enumerate(header())}
