"""Project library and public notice: beneficiaries checked against the register, approval
authority by level and amount, the lifecycle, the notice gate, objections and rate limits."""

from datetime import date, timedelta

import pytest
from funds_testkit import (
    COUNTY,
    OTHER_VILLAGE,
    VILLAGE,
    after_notice,
    announced_project,
    assert_problem,
    change_status,
    open_fund,
    project_body,
    register_household,
    today,
)
from sqlalchemy import text

from fupin_kit.testing.plugin import api_client


async def test_beneficiaries_are_checked_against_the_register(app, client):
    registered = await register_household(app)
    elsewhere = await register_household(app, village=OTHER_VILLAGE)
    applied = await register_household(app, status="applied")
    removed = await register_household(app)
    await change_status(app, removed, "removed", date(2024, 1, 10))
    # committed data of concurrency tests may be listed too: compare with what was there
    before = (await client.get("/v1/projects", params={"limit": 200})).json()["items"]
    for household, reason in [
        ("ghost", "unknown"),
        (elsewhere, "not in the project's villages"),
        (applied, "not registered"),
        (removed, "removed"),
    ]:
        response = await client.post(
            "/v1/projects", json=project_body(beneficiaries=[registered, household])
        )
        body = assert_problem(response, 422, "#/body/beneficiaries/1")
        assert reason.split()[0] in body["detail"], body
    assert (await client.get("/v1/projects", params={"limit": 200})).json()["items"] == before
    ok = await client.post("/v1/projects", json=project_body(beneficiaries=[registered]))
    assert ok.status_code == 201, ok.text
    assert ok.json()["category"] == "key_task" and ok.json()["status"] == "proposed"
    service = await client.post(
        "/v1/projects", json=project_body(project_type="purchased_public_service")
    )
    assert service.json()["category"] == "measure"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"village_codes": ["220581001001"]}, "#/body/village_codes/0"),
        ({"village_codes": [VILLAGE, VILLAGE]}, "#/body/village_codes/1"),
        ({"project_type": "casino"}, "#/body/project_type"),
        ({"budget": [{"source": "central", "amount": "0"}]}, "#/body/budget/0/amount"),
        (
            {
                "budget": [
                    {"source": "central", "amount": "1"},
                    {"source": "central", "amount": "2"},
                ]
            },
            "#/body/budget/1/source",
        ),
        (
            {
                "budget": [
                    {"source": "central", "amount": "999999999999.00"},
                    {"source": "provincial", "amount": "1.00"},
                ]
            },
            "#/body/budget",
        ),
        ({"region_code": "2206"}, "#/body/region_code"),
        ({"year": 1999}, "#/body/year"),
    ],
)
async def test_bad_projects_are_refused(client, change, pointer):
    response = await client.post("/v1/projects", json=project_body(**change))
    assert_problem(response, 422, pointer)


async def test_approval_authority_by_level_and_amount(app, client, make_token):
    small = (await client.post("/v1/projects", json=project_body())).json()
    large = (
        await client.post(
            "/v1/projects",
            json=project_body(budget=[{"source": "central", "amount": "1000000.01"}]),
        )
    ).json()
    township_project = (
        await client.post("/v1/projects", json=project_body(region_code="220622100"))
    ).json()
    async with api_client(app, make_token("220622100")) as township:
        assert_problem(
            await township.post(f"/v1/projects/{small['id']}/approve", json={}), 404
        )  # not its region
        body = assert_problem(
            await township.post(f"/v1/projects/{township_project['id']}/approve", json={}), 403
        )
        assert "township level may not approve" in body["detail"]
        # Nor turn it down: rejecting is the approving level's decision too.
        body = assert_problem(
            await township.post(
                f"/v1/projects/{township_project['id']}/reject", json={"note": "no"}
            ),
            403,
            "#/header/Authorization",
        )
        assert "township level may not decide on" in body["detail"]
    async with api_client(app, make_token(COUNTY)) as county:
        approved = await county.post(
            f"/v1/projects/{small['id']}/approve", json={"on": "2024-02-02"}
        )
        assert approved.status_code == 200 and approved.json()["approved_level"] == "county"
        body = assert_problem(
            await county.post(f"/v1/projects/{large['id']}/approve", json={}), 403
        )
        assert "higher level" in body["detail"]
        rejected = await county.post(f"/v1/projects/{large['id']}/reject", json={"note": "no"})
        assert "higher level" in assert_problem(rejected, 403)["detail"]
        backdated = await county.post(
            f"/v1/projects/{township_project['id']}/reject",
            json={"note": "no", "on": "2024-01-31"},  # proposed on 2024-02-01
        )
        assert "dates out of order" in assert_problem(backdated, 422, "#/body/on")["detail"]
    async with api_client(app, make_token("2206")) as city:
        approved = await city.post(f"/v1/projects/{large['id']}/approve", json={"on": "2024-02-02"})
        assert approved.status_code == 200 and approved.json()["approved_level"] == "city"
    # The limit is data: the province lowers the county limit.
    etag_get = await client.get("/v1/approval-authorities")
    county_row = next(a for a in etag_get.json() if a["level"] == "county")
    changed = await client.put(
        "/v1/approval-authorities/county",
        json={"max_budget": "100.00"},
        headers={"If-Match": f'"authority-county-{county_row["version"]}"'},
    )
    assert changed.status_code == 200 and changed.json()["max_budget"] == "100.00"


async def test_lifecycle_with_notice_gate_and_illegal_transitions(client):
    await open_fund(client, amount="100000.00")
    project = await announced_project(client)
    pid = project["id"]
    assert project["status"] == "announced" and project["notice_ends_on"] == "2024-02-17"
    assert_problem(
        await client.post(f"/v1/projects/{pid}/complete", json={"on": "2024-03-01"}), 409
    )
    assert_problem(await client.post(f"/v1/projects/{pid}/start", json={"on": "2024-02-17"}), 409)
    started = await client.post(f"/v1/projects/{pid}/start", json={"on": after_notice(project)})
    assert started.status_code == 200, started.text
    assert_problem(
        await client.post(f"/v1/projects/{pid}/complete", json={"on": "2024-02-01"}),
        422,
        "#/body/on",
    )
    for action, on in [("complete", "2024-05-01"), ("accept", "2024-05-10")]:
        assert (
            await client.post(f"/v1/projects/{pid}/{action}", json={"on": on})
        ).status_code == 200
    assert_problem(
        await client.post(f"/v1/projects/{pid}/evaluate", json={"on": "2024-06-01"}),
        422,
        "#/body/note",
    )
    evaluated = await client.post(
        f"/v1/projects/{pid}/evaluate", json={"on": "2024-06-01", "note": "income +12%"}
    )
    assert evaluated.json()["status"] == "evaluated"
    assert_problem(await client.post(f"/v1/projects/{pid}/approve", json={}), 409)


async def test_etag_update_only_while_proposed(client):
    created = await client.post("/v1/projects", json=project_body())
    pid = created.json()["id"]
    read = await client.get(f"/v1/projects/{pid}")
    # The proposal's answer carries the ETag a first PATCH sends back.
    assert created.headers["etag"] == read.headers["etag"] == f'"project-{pid}-1"'

    assert_problem(
        await client.patch(f"/v1/projects/{pid}", json={"name": "x"}), 428, "#/header/If-Match"
    )
    assert_problem(
        await client.patch(
            f"/v1/projects/{pid}", json={"name": "x"}, headers={"If-Match": 'W/"stale"'}
        ),
        412,
        "#/header/If-Match",
    )
    for required in ("name", "implementing_unit"):
        cleared = await client.patch(
            f"/v1/projects/{pid}", json={required: None}, headers={"If-Match": read.headers["etag"]}
        )
        assert "cannot be null" in assert_problem(cleared, 422, f"#/body/{required}")["detail"]
        blank = await client.patch(
            f"/v1/projects/{pid}",
            json={required: "   "},
            headers={"If-Match": read.headers["etag"]},
        )
        assert_problem(blank, 422, f"#/body/{required}")
        proposed = await client.post("/v1/projects", json=project_body(**{required: " "}))
        assert_problem(proposed, 422, f"#/body/{required}")
    for note in ("", "   "):
        unreasoned = await client.post(f"/v1/projects/{pid}/reject", json={"note": note})
        assert_problem(unreasoned, 422, "#/body/note")
    changed = await client.patch(
        f"/v1/projects/{pid}", json={"name": "renamed"}, headers={"If-Match": read.headers["etag"]}
    )
    assert changed.status_code == 200 and changed.json()["name"] == "renamed"
    await client.post(f"/v1/projects/{pid}/approve", json={})
    fresh = await client.get(f"/v1/projects/{pid}")
    refused = await client.patch(
        f"/v1/projects/{pid}", json={"name": "y"}, headers={"If-Match": fresh.headers["etag"]}
    )
    assert_problem(refused, 409)


async def test_open_objection_blocks_money_until_resolved(app, client):
    await open_fund(client, amount="1000.00", on=today() - timedelta(days=30))
    announce_on = today() - timedelta(days=3)
    project = await announced_project(client, announce_on=announce_on)
    async with api_client(app) as anyone:
        public = await anyone.get(f"/v1/public/announcements/{project['id']}")
        assert public.status_code == 404  # announcements have their own ids
        listing = (
            await anyone.get(
                "/v1/public/announcements",
                params={"region": COUNTY, "active_on": today().isoformat()},
            )
        ).json()
        notice = next(n for n in listing["items"] if n["subject_id"] == project["id"])
        filed = await anyone.post(
            f"/v1/public/announcements/{notice['id']}/objections",
            json={"text": "the cooperative is a relative's", "contact": "13800001111"},
        )
        assert filed.status_code == 201, filed.text
    later = (today() + timedelta(days=10)).isoformat()
    blocked = await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": "10.00", "on": later},
    )
    body = assert_problem(blocked, 409)
    assert body["open_objections"] == 1
    objections = (await client.get(f"/v1/announcements/{notice['id']}/objections")).json()
    assert objections[0]["contact"] == "13800001111"  # the test caller holds pii:read
    resolved = await client.post(
        f"/v1/objections/{filed.json()['id']}/resolution",
        json={"outcome": "dismissed", "resolution": "checked: no relation"},
    )
    assert resolved.status_code == 200 and resolved.json()["outcome"] == "dismissed"
    assert resolved.json()["contact"] == "13800001111"  # shown in clear: audited like a read
    async with app.state.sessionmaker() as session:
        audited = await session.scalar(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'pii.read_unmasked'"
                " AND details->>'objection_id' = :id"
            ),
            {"id": filed.json()["id"]},
        )
    assert audited == 1
    again = await client.post(
        f"/v1/objections/{filed.json()['id']}/resolution",
        json={"outcome": "upheld", "resolution": "x"},
    )
    assert_problem(again, 409)
    funded = await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": "10.00", "on": later},
    )
    assert funded.status_code == 201, funded.text


async def test_personal_numbers_typed_into_an_objection_are_masked_and_their_reads_audited(
    app, client, make_token
):
    """The public types what it likes: an ID or phone number in the text is masked without
    pii:read, and shown in clear only with an audit record."""
    project = await announced_project(client, announce_on=today() - timedelta(days=3))
    async with api_client(app) as anyone:
        notice = await _running_notice(anyone, project)
        filed = await anyone.post(
            f"/v1/public/announcements/{notice['id']}/objections",
            json={"text": "我是户主，身份证220622197703043799，电话137 1234 5678"},
        )
        assert filed.status_code == 201, filed.text
    url = f"/v1/announcements/{notice['id']}/objections"
    async with api_client(app, make_token("22", roles=["officer"])) as without_pii:
        [masked] = (await without_pii.get(url)).json()
    assert masked["text"] == "我是户主，身份证22**************99，电话13* **** **78"
    async with app.state.sessionmaker() as session:
        before = await session.scalar(text("SELECT count(*) FROM audit_log"))
    [clear] = (await client.get(url)).json()  # the test caller holds pii:read
    assert "220622197703043799" in clear["text"]
    async with app.state.sessionmaker() as session:
        fields = await session.scalar(
            text(
                "SELECT details->'fields' FROM audit_log WHERE action = 'pii.read_unmasked'"
                " AND object_id = :id AND seq > :before"
            ),
            {"id": notice["id"], "before": before},
        )
    assert fields == ["text"]


async def _running_notice(client, project: dict) -> dict:
    listing = (
        await client.get(
            "/v1/public/announcements", params={"region": COUNTY, "active_on": today().isoformat()}
        )
    ).json()
    return next(n for n in listing["items"] if n["subject_id"] == project["id"])


async def _file_objection(app, client, project: dict) -> str:
    notice = await _running_notice(client, project)
    async with api_client(app) as anyone:
        filed = await anyone.post(
            f"/v1/public/announcements/{notice['id']}/objections", json={"text": "not needed"}
        )
    assert filed.status_code == 201, filed.text
    return filed.json()["id"]


async def test_money_is_not_booked_on_days_an_objection_was_open(app, client):
    """The gate judges a booking by its own date, as the supervision rule does: a booking dated
    before a (later dated) resolution is refused though the objection is closed now."""
    await open_fund(client, amount="1000.00", on=today() - timedelta(days=30))
    project = await announced_project(client, announce_on=today() - timedelta(days=3))
    objection = await _file_objection(app, client, project)
    inside, after = today() + timedelta(days=10), today() + timedelta(days=15)
    resolved = await client.post(
        f"/v1/objections/{objection}/resolution",
        json={"outcome": "dismissed", "resolution": "checked", "on": after.isoformat()},
    )
    assert resolved.status_code == 200, resolved.text

    def funding(on: date) -> dict:
        return {"source": "central", "amount": "10.00", "on": on.isoformat()}

    blocked = await client.post(f"/v1/projects/{project['id']}/fundings", json=funding(inside))
    assert assert_problem(blocked, 409)["open_objections"] == 1
    funded = await client.post(f"/v1/projects/{project['id']}/fundings", json=funding(after))
    assert funded.status_code == 201, funded.text
    # the payment path reads the gate its own way (one statement for many payments)
    paid = await client.post(
        f"/v1/projects/{project['id']}/payments",
        json={"payee": "supplier", "amount": "1.00", "on": inside.isoformat()},
    )
    assert assert_problem(paid, 409)["open_objections"] == 1


async def test_an_objection_is_not_upheld_over_booked_money(app, client):
    await open_fund(client, amount="1000.00", on=today() - timedelta(days=30))
    project = await announced_project(client, announce_on=today())
    ahead = (today() + timedelta(days=30)).isoformat()
    funded = await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": "40.00", "on": ahead},
    )
    assert funded.status_code == 201, funded.text
    objection = await _file_objection(app, client, project)
    refused = await client.post(
        f"/v1/objections/{objection}/resolution",
        json={"outcome": "upheld", "resolution": "confirmed", "on": ahead},
    )
    assert "reverse its fundings" in assert_problem(refused, 409)["detail"]
    read = (await client.get(f"/v1/projects/{project['id']}")).json()
    assert read["status"] != "rejected" and read["funded"] == "40.00"
    async with app.state.sessionmaker() as session:
        status = await session.scalar(
            text("SELECT status FROM objections WHERE id = :id"), {"id": objection}
        )
    assert status == "open"
    # As the refusal says: with the money reversed, the objection is upheld.
    reversed_ = await client.post(
        f"/v1/entries/{funded.json()['entry_id']}/reversal",
        json={"reason": "objection under review", "on": ahead},
    )
    assert reversed_.status_code == 201, reversed_.text
    upheld = await client.post(
        f"/v1/objections/{objection}/resolution",
        json={"outcome": "upheld", "resolution": "confirmed", "on": ahead},
    )
    assert upheld.status_code == 200, upheld.text
    assert (await client.get(f"/v1/projects/{project['id']}")).json()["status"] == "rejected"


async def test_a_started_project_holding_no_money_is_withdrawn_by_an_upheld_objection(app, client):
    project = await announced_project(client, announce_on=today())
    started = await client.post(
        f"/v1/projects/{project['id']}/start", json={"on": after_notice(project)}
    )
    assert started.status_code == 200, started.text
    objection = await _file_objection(app, client, project)
    upheld = await client.post(
        f"/v1/objections/{objection}/resolution",
        json={"outcome": "upheld", "resolution": "confirmed", "on": after_notice(project)},
    )
    assert upheld.status_code == 200, upheld.text
    assert (await client.get(f"/v1/projects/{project['id']}")).json()["status"] == "rejected"


async def test_upheld_objection_rejects_the_project(app, client, make_token):
    project = await announced_project(client, announce_on=today())
    notice = await _running_notice(client, project)
    async with api_client(app) as anyone:
        filed = await anyone.post(
            f"/v1/public/announcements/{notice['id']}/objections",
            json={"text": "fake beneficiaries"},
        )
        second = await anyone.post(
            f"/v1/public/announcements/{notice['id']}/objections",
            json={"text": "the road goes nowhere"},
        )
        assert second.status_code == 201, second.text
        # An anonymous filing is dated today: it may not name a day inside a closed notice.
        dated = await anyone.post(
            f"/v1/public/announcements/{notice['id']}/objections",
            json={"text": "backdated", "on": today().isoformat()},
        )
        assert_problem(dated, 422, "#/body/on")
    async with api_client(app, make_token("220581")) as neighbour:
        assert_problem(
            await neighbour.post(
                f"/v1/objections/{filed.json()['id']}/resolution",
                json={"outcome": "upheld", "resolution": "x"},
            ),
            404,
        )
        objections = await neighbour.get(f"/v1/announcements/{notice['id']}/objections")
        assert_problem(objections, 404)
    async with api_client(app, make_token(COUNTY, scopes=[])) as county:
        masked = (await county.get(f"/v1/announcements/{notice['id']}/objections")).json()
        assert masked[0]["contact"] is None
        upheld = await county.post(
            f"/v1/objections/{filed.json()['id']}/resolution",
            json={"outcome": "upheld", "resolution": "confirmed"},
        )
        assert upheld.status_code == 200, upheld.text
    read = (await client.get(f"/v1/projects/{project['id']}")).json()
    assert read["status"] == "rejected" and "objection upheld" in read["rejected_reason"]
    # The notice shows the withdrawal, takes no more objections, and the other one is closed.
    async with api_client(app) as anyone:
        public = (await anyone.get(f"/v1/public/announcements/{notice['id']}")).json()
        assert public["withdrawn_on"] == today().isoformat() and public["open_objections"] == 0
        late = await anyone.post(
            f"/v1/public/announcements/{notice['id']}/objections", json={"text": "and more"}
        )
        assert_problem(late, 409)
    others = (await client.get(f"/v1/announcements/{notice['id']}/objections")).json()
    closed = next(o for o in others if o["id"] == second.json()["id"])
    assert (closed["status"], closed["outcome"]) == ("resolved", "withdrawn")


async def test_objections_outside_the_notice_and_rate_limited(app, client, settings):
    project = await announced_project(client, announce_on=today() - timedelta(days=30))
    listing = (await client.get("/v1/public/announcements", params={"region": COUNTY})).json()
    old = next(n for n in listing["items"] if n["subject_id"] == project["id"])
    async with api_client(app) as anyone:
        assert_problem(
            await anyone.post(
                f"/v1/public/announcements/{old['id']}/objections", json={"text": "late"}
            ),
            409,
        )
        assert_problem(
            await anyone.post(
                f"/v1/public/announcements/{old['id']}/objections", json={"text": ""}
            ),
            422,
            "#/body/text",
        )
    current = await announced_project(client, announce_on=today())
    listing = (
        await client.get(
            "/v1/public/announcements", params={"region": COUNTY, "active_on": today().isoformat()}
        )
    ).json()
    notice = next(n for n in listing["items"] if n["subject_id"] == current["id"])
    async with api_client(app) as anyone:
        statuses = [
            (
                await anyone.post(
                    f"/v1/public/announcements/{notice['id']}/objections",
                    json={"text": f"objection {i}"},
                )
            ).status_code
            for i in range(settings.objection_rate_limit + 1)
        ]
    assert statuses[:-1] == [201] * settings.objection_rate_limit
    assert statuses[-1] == 429


async def test_a_project_is_completed_and_accepted_after_its_money_moved(client):
    await open_fund(client, amount="100000.00")
    project = await announced_project(client)
    pid, start = project["id"], date.fromisoformat(after_notice(project))
    day = lambda n: (start + timedelta(days=n)).isoformat()  # noqa: E731
    assert (await client.post(f"/v1/projects/{pid}/start", json={"on": day(0)})).status_code == 200
    funded = await client.post(
        f"/v1/projects/{pid}/fundings", json={"source": "central", "amount": "10.00", "on": day(2)}
    )
    assert funded.status_code == 201, funded.text
    paid = await client.post(
        f"/v1/projects/{pid}/payments", json={"amount": "5.00", "payee": "builder", "on": day(4)}
    )
    assert paid.status_code == 201, paid.text
    early = await client.post(f"/v1/projects/{pid}/complete", json={"on": day(3)})
    assert (
        "booked to this project on " + day(4) in assert_problem(early, 422, "#/body/on")["detail"]
    )
    assert (
        await client.post(f"/v1/projects/{pid}/complete", json={"on": day(4)})
    ).status_code == 200
    # A payment reversed later no longer holds the acceptance back.
    reversed_ = await client.post(
        f"/v1/entries/{paid.json()['entry_id']}/reversal", json={"reason": "wrong", "on": day(5)}
    )
    assert reversed_.status_code == 201, reversed_.text
    accepted = await client.post(f"/v1/projects/{pid}/accept", json={"on": day(4)})
    assert accepted.status_code == 200, accepted.text
