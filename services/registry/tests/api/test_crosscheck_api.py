"""Reference lists → flags → review, and the comparison reports (real PostgreSQL via the app)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from fupin_kit.pagination import encode_cursor
from fupin_kit.testing.plugin import api_client
from fupin_registry.imports.samples import HouseholdMaker, header
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload

VILLAGES = ["220102001001", "220102001002"]


def register_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header(), *rows])
    return buffer.getvalue().encode("utf-8-sig")


def sample(count: int, seed: int, attribute: str | None = None) -> list[list[str]]:
    rows = [r for h in HouseholdMaker(VILLAGES, seed=seed).households(count) for r in h]
    if attribute:
        for r in rows:
            r[2] = attribute
    return rows


def list_csv(header_row: list[str], rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header_row, *rows])
    return buffer.getvalue().encode(encoding)


async def import_rows(client, rows) -> dict:
    response = await client.post(
        "/v1/imports", files={"file": ("r.csv", register_csv(rows), "text/csv")}
    )
    assert response.status_code == 202, response.text
    job = (await client.get(f"/v1/imports/{response.json()['id']}")).json()
    assert job["state"] == "completed" and job["rows_rejected"] == 0, job
    return job


async def upload_list(client, kind: str, content: bytes, **extra):
    return await client.post(
        "/v1/crosscheck/lists",
        files={"file": ("list.csv", content, "text/csv")},
        data={"kind": kind, **extra},
    )


def agency(app, make_token, jurisdiction="22"):
    return api_client(
        app, make_token(jurisdiction, scopes=["crosscheck:upload"], roles=[], client_id="gaj-22")
    )


async def outbox_types(app) -> list[str]:
    async with app.state.sessionmaker() as session:
        return list(
            (await session.execute(text("SELECT event_type FROM outbox ORDER BY id"))).scalars()
        )


async def test_crosscheck_vehicle_list_raises_flags_and_events(app, client, make_token):
    rows = sample(3, seed=31)
    await import_rows(client, rows)
    owner = rows[0]
    content = list_csv(
        ["证件号码", "姓名", "号牌号码", "车辆类型"],
        [
            [owner[23], owner[22], "吉A12345", "小型轿车"],
            ["220102199001010113", "某", "吉B1", "轿车"],
            ["not-an-id", "x", "y", "z"],
        ],
    )
    async with agency(app, make_token) as partner:
        response = await upload_list(partner, "vehicles", content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["match_count"] == 1
    assert body["row_count"] == 2 and body["rejected_rows"] == 1
    assert body["problems"][0]["row"] == 4
    async with app.state.sessionmaker() as session:
        details = list(
            (
                await session.execute(
                    text("SELECT detail FROM reference_entries WHERE list_id = :l"),
                    {"l": body["id"]},
                )
            ).scalars()
        )
        stored = json.dumps(details, ensure_ascii=False)
    assert owner[23] not in stored and owner[22] not in stored and "小型轿车" in stored
    flags = (await client.get("/v1/flags", params={"kind": "vehicle", "status": "open"})).json()[
        "items"
    ]
    assert len(flags) == 1 and flags[0]["source"] == body["id"]
    assert "fupin.registry.flag.raised.v1" in await outbox_types(app)


async def stored_details(app, list_id: str) -> list[dict]:
    async with app.state.sessionmaker() as session:
        return list(
            (
                await session.execute(
                    text("SELECT detail FROM reference_entries WHERE list_id = :l ORDER BY id"),
                    {"l": list_id},
                )
            ).scalars()
        )


async def test_crosscheck_a_list_keeps_only_the_detail_columns_its_kind_allows(
    app, client, make_token
):
    rows = sample(1, seed=71)
    await import_rows(client, rows)
    owner = rows[0]
    content = list_csv(
        ["证件号码", "车主", "手机号码", "银行卡号", "联系方式", "号牌号码"],
        [
            [owner[23], owner[22], "13812345678", "6222020200112233445", "王 13900001111", "吉A1"],
            ["220102199001010113", "王小明", "13812345678", "6222020200112233445", "宅电", "吉B2"],
        ],
    )
    async with agency(app, make_token) as partner:
        response = await upload_list(partner, "vehicles", content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["row_count"] == 2 and body["match_count"] == 1
    assert await stored_details(app, body["id"]) == [{"号牌号码": "吉A1"}, {"号牌号码": "吉B2"}]


async def test_crosscheck_a_kept_column_holding_a_phone_or_account_is_not_stored(app, make_token):
    person = "220102199001010113"
    employees = list_csv(
        ["证件号码", "工作单位", "岗位", "参加工作日期"],
        [[person, "县财政局 139-0000-1111", "科员", "20140302"]],
    )
    companies = list_csv(
        ["证件号码", "企业名称", "统一社会信用代码", "职务"],
        [
            [person, "某某农机合作社", "91220101MA0Y2K3X1B", "股东 6222020200112233445"],
            [person, "某某商贸公司", "１３８１２３４５６７８", "监事"],
        ],
    )
    async with agency(app, make_token) as partner:
        employed = (await upload_list(partner, "public_employees", employees)).json()
        registered = (await upload_list(partner, "companies", companies)).json()
    assert await stored_details(app, employed["id"]) == [{"职务": "科员", "入职日期": "20140302"}]
    assert sorted(await stored_details(app, registered["id"]), key=lambda d: d["企业名称"]) == [
        {"企业名称": "某某农机合作社", "统一社会信用代码": "91220101MA0Y2K3X1B"},
        {"企业名称": "某某商贸公司", "职务": "监事"},
    ]


async def test_crosscheck_an_undecodable_byte_is_reported_on_its_own_line(app, make_token):
    lines = ["证件号码,号牌号码"] + [f"bad-{n},吉A{n % 10}" for n in range(2, 12002)]
    content = ("\n".join(lines) + "\n").encode() + b"220102199001010113,\xff\xfe\n"
    async with agency(app, make_token) as partner:
        response = await upload_list(partner, "vehicles", content)
    assert response.status_code == 422, response.text
    detail = response.json()["errors"][0]["detail"]
    assert "line 12002 " in detail and "0xFF" in detail, detail


async def test_crosscheck_lines_ending_in_a_bare_carriage_return_are_read(app, make_token):
    content = "证件号码,号牌号码\r220102199001010113,吉A1\r220102199001010121,吉A2\r".encode()
    async with agency(app, make_token) as partner:
        response = await upload_list(partner, "vehicles", content)
    assert response.status_code == 201, response.text
    assert response.json()["row_count"] == 2


async def test_crosscheck_a_quote_left_open_refuses_the_file_and_stores_nothing(app, make_token):
    # Read leniently, the open quote would take the lines after it into one cell: their people
    # would be lost without a word.
    content = '证件号码,号牌号码\n220102199001010113,"吉A1\n220102199001010121,吉A2\n'.encode()
    async with agency(app, make_token) as partner:
        response = await upload_list(partner, "vehicles", content)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["pointer"] == "#/body/file" and "unexpected end of data" in error["detail"]
    async with app.state.sessionmaker() as session:
        assert await session.scalar(text("SELECT count(*) FROM reference_lists")) == 0


async def test_crosscheck_an_agency_name_with_a_nul_byte_is_refused_by_name(app, make_token):
    async with agency(app, make_token) as partner:
        response = await upload_list(
            partner, "vehicles", list_csv(["证件号码"], [["220102199001010113"]]), agency="a\x00b"
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    error = response.json()["errors"][0]
    assert error["pointer"] == "#/body/agency" and "control characters" in error["detail"]


async def test_crosscheck_an_agency_name_not_in_utf8_is_refused_by_name(app, make_token):
    async with agency(app, make_token) as partner:
        response = await upload_list(
            partner,
            "vehicles",
            list_csv(["证件号码"], [["220102199001010113"]]),
            agency="吉林省公安厅".encode("gbk"),
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    error = response.json()["errors"][0]
    assert error == {"pointer": "#/body/agency", "detail": "the field is not utf-8 text"}
    async with app.state.sessionmaker() as session:
        assert await session.scalar(text("SELECT count(*) FROM reference_lists")) == 0


async def test_crosscheck_upload_needs_the_scope(client):
    response = await upload_list(client, "vehicles", list_csv(["证件号码"], []))
    assert response.status_code == 403


async def test_crosscheck_bad_list_files(app, make_token):
    async with agency(app, make_token) as partner:
        no_id = await upload_list(partner, "deaths", list_csv(["姓名", "日期"], [["a", "b"]]))
        assert no_id.status_code == 422 and "证件号码" in no_id.json()["errors"][0]["detail"]
        binary = await upload_list(partner, "deaths", b"\x00\x01\x02binary")
        assert binary.status_code == 422 and binary.json()["errors"][0]["pointer"] == "#/body/file"
        wrong_kind = await upload_list(partner, "planes", list_csv(["证件号码"], []))
        assert wrong_kind.status_code == 422


async def test_crosscheck_confirm_opens_a_removal_case_and_dismiss_needs_reason(
    app, client, make_token
):
    rows = sample(2, seed=32)
    await import_rows(client, rows)
    numbers = sorted({r[1] for r in rows})
    first = next(r for r in rows if r[1] == numbers[0])
    second = next(r for r in rows if r[1] == numbers[1])
    async with agency(app, make_token) as partner:
        await upload_list(
            partner,
            "public_employees",
            list_csv(["证件号码", "单位"], [[first[23], "某局"], [second[23], "某局"]]),
        )
    flags = (await client.get("/v1/flags", params={"status": "open"})).json()["items"]
    assert len(flags) == 2
    for field, value in (("died_on", "2016-01-01"), ("new_head_member_id", str(uuid.uuid4()))):
        refused = await client.post(f"/v1/flags/{flags[0]['id']}/confirm", json={field: value})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["pointer"] == f"#/body/{field}"
    confirm = await client.post(
        f"/v1/flags/{flags[0]['id']}/confirm",
        json={"reason": "在编人员"},
        headers={"Idempotency-Key": "confirm-1"},
    )
    assert confirm.status_code == 200, confirm.text
    confirmed = confirm.json()
    assert confirmed["status"] == "confirmed" and confirmed["follow_up_case_id"]
    replay = await client.post(
        f"/v1/flags/{flags[0]['id']}/confirm",
        json={"reason": "在编人员"},
        headers={"Idempotency-Key": "confirm-1"},
    )
    assert replay.status_code == 200 and replay.json() == confirmed
    async with app.state.sessionmaker() as session:
        resolved = (
            (
                await session.execute(
                    text("SELECT payload FROM outbox WHERE payload->>'type' LIKE '%flag.resolved%'")
                )
            )
            .scalars()
            .all()
        )
    # The reviewer's words stay on the flag: the event carries no free text.
    assert [e["data"]["reason"] for e in resolved] == [None]
    assert "在编人员" not in json.dumps(resolved, ensure_ascii=False)
    again = await client.post(f"/v1/flags/{flags[0]['id']}/confirm", json={})
    assert again.status_code == 409
    async with app.state.sessionmaker() as session:
        case = (
            await session.execute(
                text("SELECT kind, state, household_id FROM cases WHERE id = :id"),
                {"id": confirmed["follow_up_case_id"]},
            )
        ).one()
        steps = (
            await session.execute(
                text("SELECT count(*) FROM case_steps WHERE case_id = :id"),
                {"id": confirmed["follow_up_case_id"]},
            )
        ).scalar_one()
    assert (
        case.kind == "removal" and str(case.household_id) == flags[0]["household_id"] and steps == 1
    )
    missing_reason = await client.post(f"/v1/flags/{flags[1]['id']}/dismiss", json={})
    assert missing_reason.status_code == 422
    dismissed = await client.post(
        f"/v1/flags/{flags[1]['id']}/dismiss", json={"reason": "同名不同人"}
    )
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    types = await outbox_types(app)
    assert types.count("fupin.registry.flag.resolved.v1") == 2
    # A reviewed match (confirmed or dismissed) is not raised again by the next list.
    async with agency(app, make_token) as partner:
        body = (
            await upload_list(
                partner, "public_employees", list_csv(["证件号码"], [[first[23]], [second[23]]])
            )
        ).json()
    assert body["match_count"] == 0


async def test_crosscheck_death_confirm_records_the_death_in_the_household(app, client, make_token):
    rows = sample(5, seed=33)
    await import_rows(client, rows)
    by_household: dict[str, list[list[str]]] = {}
    for row in rows:
        by_household.setdefault(row[1], []).append(row)
    families = list(by_household.values())
    large = next(f for f in families if len(f) > 2)  # the head dies, others remain
    couple = next(f for f in families if len(f) == 2)  # the spouse dies
    alone = next(f for f in families if len(f) == 1)  # the only member dies
    spouse = next(r for r in couple if r[26] == "配偶")
    deaths = [
        [large[0][23], "2016-01-01"],
        [spouse[23], "2016-01-01"],
        [alone[0][23], "2016-01-01"],
    ]
    async with agency(app, make_token) as partner:
        await upload_list(partner, "deaths", list_csv(["证件号码", "死亡日期"], deaths))
    flags = (await client.get("/v1/flags", params={"kind": "death"})).json()["items"]
    assert len(flags) == 3

    async def household_of(flag):
        return (await client.get(f"/v1/households/{flag['household_id']}")).json()

    def flag_for(id_number):
        for flag in flags:
            if flag["member_id"] in ids_by_number.get(id_number, ()):
                return flag
        raise AssertionError(id_number)

    ids_by_number: dict[str, set[str]] = {}
    for flag in flags:
        for member in (await household_of(flag))["members"]:
            ids_by_number.setdefault(member["id_number"], set()).add(member["id"])

    # a member other than the head: only that member leaves (and names no new head)
    flag = flag_for(spouse[23])
    someone = (await household_of(flag))["members"][0]["id"]
    refused = await client.post(
        f"/v1/flags/{flag['id']}/confirm",
        json={"died_on": "2016-01-01", "new_head_member_id": someone},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["pointer"] == "#/body/new_head_member_id"
    confirmed = await client.post(f"/v1/flags/{flag['id']}/confirm", json={"died_on": "2016-01-01"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["follow_up_case_id"] is None
    household = await household_of(flag)
    assert household["status"] == "identified" and household["member_count"] == 1
    changes = (await client.get(f"/v1/households/{household['id']}/changes")).json()["items"]
    assert changes[-1]["action"] == "member_left"

    # the head: the confirmation needs the new head, and both changes happen together
    flag = flag_for(large[0][23])
    household = await household_of(flag)
    refused = await client.post(f"/v1/flags/{flag['id']}/confirm", json={})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["pointer"] == "#/body/new_head_member_id"
    heir = household["members"][1]
    confirmed = await client.post(
        f"/v1/flags/{flag['id']}/confirm", json={"new_head_member_id": heir["id"]}
    )
    assert confirmed.status_code == 200, confirmed.text
    after = await household_of(flag)
    assert after["status"] == "identified" and after["member_count"] == len(large) - 1
    assert [m["id"] for m in after["members"] if m["relation"] == "head"] == [heir["id"]]

    # the only member: the household closes through a natural-decrease case, which keeps the
    # date of death; a date before the member's birth is refused as for any member
    flag = flag_for(alone[0][23])
    before_birth = await client.post(
        f"/v1/flags/{flag['id']}/confirm", json={"died_on": "1800-01-01"}
    )
    assert before_birth.status_code == 422, before_birth.text
    assert before_birth.json()["errors"][0]["pointer"] == "#/body/died_on"
    confirmed = await client.post(f"/v1/flags/{flag['id']}/confirm", json={"died_on": "2016-01-01"})
    assert confirmed.status_code == 200, confirmed.text
    case = (await client.get(f"/v1/cases/{confirmed.json()['follow_up_case_id']}")).json()
    assert case["kind"] == "natural_decrease"
    assert case["reason"].startswith("death on 2016-01-01")
    assert case["steps"][0]["evidence"]["died_on"] == "2016-01-01"


async def test_crosscheck_flags_are_jurisdiction_checked(app, client, make_token):
    rows = sample(1, seed=34)
    await import_rows(client, rows)
    async with agency(app, make_token) as partner:
        await upload_list(partner, "companies", list_csv(["证件号码"], [[rows[0][23]]]))
    flag = (await client.get("/v1/flags", params={"kind": "company"})).json()["items"][0]
    async with api_client(app, make_token("220581", roles=["officer"])) as other:
        assert (await other.get(f"/v1/flags/{flag['id']}")).status_code == 404
        assert (
            await other.post(f"/v1/flags/{flag['id']}/dismiss", json={"reason": "x"})
        ).status_code == 404
        assert (await other.get("/v1/flags")).json()["items"] == []
    # An agency of another county matches nothing here.
    async with agency(app, make_token, "220581") as partner:
        body = (
            await upload_list(partner, "vehicles", list_csv(["证件号码"], [[rows[0][23]]]))
        ).json()
    assert body["match_count"] == 0


async def test_crosscheck_flag_pagination(app, client, make_token):
    rows = sample(5, seed=35)
    await import_rows(client, rows)
    heads = [r for r in rows if r[26] == "户主"]
    async with agency(app, make_token) as partner:
        await upload_list(
            partner, "urban_housing", list_csv(["证件号码"], [[r[23]] for r in heads])
        )
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "kind": "urban_housing", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/flags", params=params)).json()
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == len(heads)
    assert (await client.get("/v1/flags", params={"cursor": "!!"})).status_code == 422


@pytest.mark.parametrize(
    "headers",
    [
        ["低保户编号", "行政区划代码", "证件号码"],
        # English names in any case, as the detail columns'.
        ["Household_Ref", "VILLAGE_CODE", "Id_Number"],
    ],
)
async def test_crosscheck_dibao_report_both_directions(app, client, make_token, headers):
    dibao_rows = sample(2, seed=36, attribute="低保贫困户")
    ordinary = sample(1, seed=37)
    for r in ordinary:
        r[1] = "900001"
    await import_rows(client, dibao_rows + ordinary)
    dibao_numbers = sorted({r[1] for r in dibao_rows})
    on_list = [r for r in dibao_rows if r[1] == dibao_numbers[0]]
    entries = [["MZ-1", VILLAGES[0], r[23]] for r in on_list]
    entries.append(["MZ-2", VILLAGES[0], ordinary[0][23]])  # registered, but not as dibao
    entries.append(["MZ-3", VILLAGES[1], "22010219500101014X"])  # not registered at all
    async with agency(app, make_token) as partner:
        response = await upload_list(partner, "dibao", list_csv(headers, entries))
    assert response.status_code == 201, response.text
    report = (await client.get("/v1/crosscheck/reports/dibao")).json()
    assert [e["household_ref"] for e in report["missing_from_register"]] == ["MZ-3"]
    assert [e["household_ref"] for e in report["registered_without_dibao_attribute"]] == ["MZ-2"]
    assert [h["household_number"] for h in report["missing_from_dibao_list"]] == [dibao_numbers[1]]


async def test_an_applicant_household_is_not_in_the_register_of_the_dibao_report(
    app, client, make_token
):
    people = PeopleFactory("220102", seed=20160402)
    head = people.id_number(date(1968, 2, 2), "male")
    body = household_payload(
        VILLAGES[0], "applicant-dibao", [member_payload(head, "孙低保", "head")], year=2016
    )
    body["attribute"] = "dibao_poor"
    applied = await client.post("/v1/households", json=body)
    assert applied.status_code == 201 and applied.json()["status"] == "applied", applied.text
    async with agency(app, make_token) as partner:
        response = await upload_list(
            partner,
            "dibao",
            list_csv(["低保户编号", "行政区划代码", "证件号码"], [["MZ-20", VILLAGES[0], head]]),
        )
    assert response.status_code == 201, response.text
    report = (await client.get("/v1/crosscheck/reports/dibao")).json()
    missing = {e["household_ref"]: e for e in report["missing_from_register"]}
    # On the dibao list and only applying: not yet in the register, the application shown.
    assert [h["status"] for h in missing["MZ-20"]["register_households"]] == ["applied"]
    assert "MZ-20" not in [e["household_ref"] for e in report["registered_without_dibao_attribute"]]
    # Nor is the applicant a register household missing from the dibao list.
    assert "applicant-dibao" not in [
        h["household_number"] for h in report["missing_from_dibao_list"]
    ]


async def test_a_dibao_entrys_village_code_must_place_it(app, make_token):
    good = "220102195001010158"
    entries = [
        ["MZ-50", "abc", good],
        ["MZ-51", "2201020010011", good],
        ["MZ-52", "229999999999", good],
        ["MZ-53", "220581100200", good],  # a village of another county
        ["MZ-54", VILLAGES[0], good],
    ]
    title = "低保名单（2016年12月）\n".encode()  # a title line above the header is passed over
    async with agency(app, make_token, jurisdiction="2201") as partner:
        listed = await upload_list(
            partner,
            "dibao",
            title + list_csv(["低保户编号", "行政区划代码", "证件号码"], entries),
        )
    assert listed.status_code == 201, listed.text
    body = listed.json()
    assert body["row_count"] == 1 and body["rejected_rows"] == 4
    assert [p["row"] for p in body["problems"]] == [3, 4, 5, 6]
    reasons = [p["reason"] for p in body["problems"]]
    assert "not 12 digits" in reasons[0] and "not 12 digits" in reasons[1]
    assert "not a village" in reasons[2] and "outside the uploader's jurisdiction" in reasons[3]


async def test_a_dibao_person_registered_in_another_county_is_not_missing_there(
    app, client, make_token
):
    rows = sample(1, seed=41)
    await import_rows(client, rows)  # registered in 220102
    elsewhere = "220103002001"
    entries = [["MZ-40", elsewhere, rows[0][23]]]
    async with agency(app, make_token, jurisdiction="2201") as partner:
        listed = await upload_list(
            partner, "dibao", list_csv(["低保户编号", "行政区划代码", "证件号码"], entries)
        )
    assert listed.status_code == 201, listed.text
    async with api_client(app, make_token("220103", roles=["officer"])) as county:
        report = (await county.get("/v1/crosscheck/reports/dibao")).json()
    assert report["list_id"] == listed.json()["id"]
    assert report["missing_from_register"] == []
    assert report["registered_without_dibao_attribute"] == []
    assert report["registered_outside_region"] == 1
    async with api_client(app, make_token("2201", roles=["officer"])) as city:
        report = (
            await city.get("/v1/crosscheck/reports/dibao", params={"list_id": listed.json()["id"]})
        ).json()
    # The city sees both counties: the person is registered, under another attribute.
    assert report["registered_outside_region"] == 0
    assert [e["household_ref"] for e in report["registered_without_dibao_attribute"]] == ["MZ-40"]


async def test_the_dibao_report_compares_with_a_list_covering_the_jurisdiction(
    app, client, make_token
):
    entries = [["MZ-30", VILLAGES[0], "220102195001010158"]]
    content = list_csv(["低保户编号", "行政区划代码", "证件号码"], entries)
    async with agency(app, make_token, jurisdiction="220102") as partner:
        own = (await upload_list(partner, "dibao", content)).json()
    assert own["jurisdiction"] == "220102"
    # Another county's list, uploaded later, is not this county's default.
    async with agency(app, make_token, jurisdiction="220581") as partner:
        other = (await upload_list(partner, "dibao", content)).json()
    async with api_client(app, make_token("220102", roles=["officer"])) as county:
        report = await county.get("/v1/crosscheck/reports/dibao")
        assert report.status_code == 200, report.text
        assert report.json()["list_id"] == own["id"] and report.json()["region"] == "220102"
        refused = await county.get("/v1/crosscheck/reports/dibao", params={"list_id": other["id"]})
        assert refused.status_code == 404
    async with api_client(app, make_token("220581", roles=["officer"])) as county:
        report = (await county.get("/v1/crosscheck/reports/dibao")).json()
        assert report["list_id"] == other["id"] and report["missing_from_register"] == []
    # A province officer naming a county's list compares that county only.
    named = (await client.get("/v1/crosscheck/reports/dibao", params={"list_id": own["id"]})).json()
    assert named["region"] == "220102"
    assert [e["household_ref"] for e in named["missing_from_register"]] == ["MZ-30"]


async def test_crosscheck_dibao_entries_without_a_village_stay_province_wide(
    app, client, make_token
):
    entries = [["MZ-9", "", "22010219500101014X"], ["MZ-8", VILLAGES[0], "220102195001010158"]]
    async with agency(app, make_token) as partner:
        response = await upload_list(
            partner, "dibao", list_csv(["低保户编号", "行政区划代码", "证件号码"], entries)
        )
    assert response.status_code == 201, response.text
    province = (await client.get("/v1/crosscheck/reports/dibao")).json()
    assert sorted(e["household_ref"] for e in province["missing_from_register"]) == ["MZ-8", "MZ-9"]
    for jurisdiction in (VILLAGES[0][:6], "220581"):
        async with api_client(app, make_token(jurisdiction, roles=["officer"])) as county:
            report = (await county.get("/v1/crosscheck/reports/dibao")).json()
        expected = ["MZ-8"] if jurisdiction == VILLAGES[0][:6] else []
        assert [e["household_ref"] for e in report["missing_from_register"]] == expected


async def test_crosscheck_duplicate_id_report(app, client, make_token):
    rows = sample(2, seed=38)
    await import_rows(client, rows)
    numbers = sorted({r[1] for r in rows})
    async with app.state.sessionmaker() as session:
        # Legacy data: the same person left on the list of a second household (inactive there).
        await session.execute(
            text("""
            INSERT INTO members (id, household_id, id_index, id_number_enc, name_enc, sex,
                                 birth_date, relation, active)
            SELECT gen_random_uuid(), h2.id, m.id_index, m.id_number_enc, m.name_enc, m.sex,
                   m.birth_date, 'other', false
              FROM members m JOIN households h1 ON h1.id = m.household_id
              JOIN households h2 ON h2.household_number = :second
             WHERE h1.household_number = :first AND m.relation = 'head'
             LIMIT 1"""),
            {"first": numbers[0], "second": numbers[1]},
        )
        await session.commit()
    report = (await client.get("/v1/crosscheck/reports/duplicate-ids")).json()
    assert len(report["items"]) == 1
    # A crafted cursor is refused, never read as the end of the report.
    for position in ("%%%", "AAAA", "A" * 43 + "!"):
        crafted = await client.get(
            "/v1/crosscheck/reports/duplicate-ids", params={"cursor": encode_cursor([position])}
        )
        assert crafted.status_code == 422, (position, crafted.text)
        assert crafted.json()["errors"][0]["pointer"] == "#/query/cursor"
    households = report["items"][0]["households"]
    assert sorted(h["household_number"] for h in households) == numbers
    assert sorted(h["member_active"] for h in households) == [False, True]

    # The duplicate flagged: both households, once; confirming names no case (the member list
    # is corrected, the household is not removed).
    raised = await client.post("/v1/crosscheck/reports/duplicate-ids/flags")
    assert raised.status_code == 200 and raised.json() == {"flags_raised": 2}, raised.text
    again = await client.post("/v1/crosscheck/reports/duplicate-ids/flags")
    assert again.json() == {"flags_raised": 0}
    flags = (await client.get("/v1/flags", params={"kind": "duplicate_id"})).json()["items"]
    assert sorted(f["household_id"] for f in flags) == sorted(h["household_id"] for h in households)
    assert {f["source"] for f in flags} == {"rule:duplicate_id"}
    confirmed = await client.post(f"/v1/flags/{flags[0]['id']}/confirm", json={"reason": "fixed"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["follow_up_case_id"] is None
    assert (await outbox_types(app)).count("fupin.registry.flag.raised.v1") >= 2
    async with api_client(app, make_token("220581", roles=["officer"])) as elsewhere:
        assert (await elsewhere.post("/v1/crosscheck/reports/duplicate-ids/flags")).json() == {
            "flags_raised": 0
        }


async def test_a_confirmed_flag_on_an_applicant_blocks_its_identification(app, client, make_token):
    people = PeopleFactory("220102", seed=20160301)
    owner = people.id_number(date(1975, 4, 4), "male")
    members = [
        member_payload(owner, "赵有车", "head"),
        member_payload(people.id_number(date(1977, 6, 6), "female"), "钱秀", "spouse"),
    ]
    body = household_payload(VILLAGES[0], "applicant-car", members, year=2016)
    household = await client.post("/v1/households", json=body)
    assert household.status_code == 201, household.text
    start = date(2016, 3, 1)

    def on(days: int) -> str:
        return (start + timedelta(days=days)).isoformat()

    case = await client.post(
        "/v1/cases",
        json={"kind": "identification", "household_id": household.json()["id"], "on": on(0)},
    )
    assert case.status_code == 201, case.text
    url = f"/v1/cases/{case.json()['id']}"
    for name, step in [
        ("appraisal", {"votes_for": 20, "votes_against": 3, "on": on(0)}),
        ("notice-completion", {"on": on(8)}),
        ("review", {"decision": "approve", "on": on(8)}),
        ("notice-completion", {"on": on(16)}),
    ]:
        assert (await client.post(f"{url}/{name}", json=step)).status_code == 200

    async with agency(app, make_token) as partner:
        listed = await upload_list(
            partner, "vehicles", list_csv(["证件号码", "号牌号码"], [[owner, "吉A54321"]])
        )
    assert listed.status_code == 201 and listed.json()["match_count"] == 1, listed.text
    [flag] = (
        await client.get(
            "/v1/flags", params={"household_id": household.json()["id"], "status": "open"}
        )
    ).json()["items"]
    confirmed = await client.post(f"/v1/flags/{flag['id']}/confirm", json={"reason": "seen"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["follow_up_case_id"] is None  # an applicant has nothing to remove

    refused = await client.post(f"{url}/approval", json={"decision": "approve", "on": on(16)})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "vehicle" in refused.json()["flags"]


async def test_a_confirmed_flag_of_a_member_who_left_no_longer_blocks(app, client, make_token):
    people = PeopleFactory("220102", seed=20160311)
    son = people.id_number(date(1995, 5, 5), "male")
    members = [
        member_payload(people.id_number(date(1966, 1, 1), "male"), "周父", "head"),
        member_payload(son, "周子", "child"),
    ]
    household = (
        await client.post(
            "/v1/households", json=household_payload(VILLAGES[0], "son-car", members, year=2016)
        )
    ).json()
    start = date(2016, 3, 1)

    def on(days: int) -> str:
        return (start + timedelta(days=days)).isoformat()

    case = await client.post(
        "/v1/cases", json={"kind": "identification", "household_id": household["id"], "on": on(0)}
    )
    url = f"/v1/cases/{case.json()['id']}"
    for name, step in [
        ("appraisal", {"votes_for": 20, "votes_against": 3, "on": on(0)}),
        ("notice-completion", {"on": on(8)}),
        ("review", {"decision": "approve", "on": on(8)}),
        ("notice-completion", {"on": on(16)}),
    ]:
        assert (await client.post(f"{url}/{name}", json=step)).status_code == 200
    async with agency(app, make_token) as partner:
        listed = await upload_list(
            partner, "vehicles", list_csv(["证件号码", "号牌号码"], [[son, "吉A11111"]])
        )
    assert listed.json()["match_count"] == 1, listed.text
    [flag] = (
        await client.get("/v1/flags", params={"household_id": household["id"], "status": "open"})
    ).json()["items"]
    assert (await client.post(f"/v1/flags/{flag['id']}/confirm", json={})).status_code == 200
    refused = await client.post(f"{url}/approval", json={"decision": "approve", "on": on(16)})
    assert refused.status_code == 409 and "vehicle" in refused.json()["flags"], refused.text

    current = await client.get(f"/v1/households/{household['id']}")
    son_id = next(m["id"] for m in current.json()["members"] if m["relation"] == "child")
    left = await client.delete(
        f"/v1/households/{household['id']}/members/{son_id}",
        params={"reason": "separate_household", "on": on(16)},
        headers={"If-Match": current.headers["etag"]},
    )
    assert left.status_code in (200, 204), left.text
    approved = await client.post(f"{url}/approval", json={"decision": "approve", "on": on(17)})
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"


def resident_id_for(seed: int) -> str:
    return PeopleFactory("220581", seed=seed).id_number(date(1970, 1, 1), "male")


async def test_a_county_sees_its_people_still_listed_in_another_countys_household(
    app, client, make_token
):
    rows = sample(1, seed=43)
    await import_rows(client, rows)
    head_number = next(r[23] for r in rows if r[26] == "户主")
    async with app.state.sessionmaker() as session:
        # The household closed (its members left the register with it, still on its list).
        closing = {"v": rows[0][0], "n": rows[0][1]}
        await session.execute(
            text(
                "UPDATE households SET status = 'natural_decrease'"
                " WHERE village_code = :v AND household_number = :n"
            ),
            closing,
        )
        await session.execute(
            text(
                "UPDATE members SET active = false WHERE household_id IN (SELECT id FROM"
                " households WHERE village_code = :v AND household_number = :n)"
            ),
            closing,
        )
        await session.commit()
    body = household_payload(
        "220103002001", "moved-in", [member_payload(head_number, "新户主", "head")]
    )
    async with api_client(app, make_token("220103", roles=["officer"])) as county:
        moved = await county.post("/v1/households", json=body)
        assert moved.status_code == 201, moved.text
        report = (
            await county.get(
                "/v1/crosscheck/reports/duplicate-ids", params={"include_closed": True}
            )
        ).json()
        live_only = (await county.get("/v1/crosscheck/reports/duplicate-ids")).json()
    [item] = report["items"]
    here, there = item["households"]
    assert here["household_id"] == moved.json()["id"] and not here["outside_jurisdiction"]
    assert there == {
        "household_id": None,
        "village_code": None,
        "household_number": None,
        "status": "natural_decrease",
        "attribute": None,
        "member_active": False,
        "outside_jurisdiction": True,
    }
    assert live_only["items"] == []

    # Legacy data: the person also left on a live household's list in a third county. The
    # first county, whose own household of them is closed, is not shown the other two.
    third = household_payload(
        "220581100200", "third", [member_payload(resident_id_for(43), "第三户", "head")]
    )
    async with api_client(app, make_token("220581", roles=["officer"])) as other:
        created = await other.post("/v1/households", json=third)
        assert created.status_code == 201, created.text
    async with app.state.sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO members (id, household_id, id_index, id_number_enc, name_enc, sex,"
                " birth_date, relation, active)"
                " SELECT gen_random_uuid(), :other, id_index, id_number_enc, name_enc, sex,"
                " birth_date, 'other', false FROM members WHERE household_id = :moved"
            ),
            {"other": created.json()["id"], "moved": moved.json()["id"]},
        )
        await session.commit()
    async with api_client(app, make_token("220102", roles=["officer"])) as first:
        report = (await first.get("/v1/crosscheck/reports/duplicate-ids")).json()
    assert report["items"] == []
    async with api_client(app, make_token("220103", roles=["officer"])) as county:
        report = (await county.get("/v1/crosscheck/reports/duplicate-ids")).json()
    [item] = report["items"]
    holders = [(h["outside_jurisdiction"], h["status"]) for h in item["households"]]
    assert holders[0] == (False, "applied")
    assert sorted(holders[1:]) == [(True, "applied"), (True, "natural_decrease")]


async def test_a_countys_dibao_list_without_village_codes_is_compared_for_the_county(
    app, client, make_token
):
    entries = [["MZ-60", "220102195001010158"]]
    async with agency(app, make_token, jurisdiction="220102") as partner:
        listed = await upload_list(partner, "dibao", list_csv(["低保户编号", "证件号码"], entries))
    assert listed.status_code == 201, listed.text
    async with api_client(app, make_token("220102", roles=["officer"])) as county:
        report = (await county.get("/v1/crosscheck/reports/dibao")).json()
    assert [e["household_ref"] for e in report["missing_from_register"]] == ["MZ-60"]
    # Named by the province, it compares the county it covers, the entry with it.
    named = (
        await client.get("/v1/crosscheck/reports/dibao", params={"list_id": listed.json()["id"]})
    ).json()
    assert [e["household_ref"] for e in named["missing_from_register"]] == ["MZ-60"]
    # A township inside the county cannot place it.
    async with api_client(app, make_token("220102001", roles=["officer"])) as township:
        report = (await township.get("/v1/crosscheck/reports/dibao")).json()
    assert report["missing_from_register"] == []
