"""Supervision: each anomaly rule fires on its case with evidence and stays silent otherwise;
findings and rectification; the report; the audit chain verify endpoint."""

from datetime import date, timedelta

from funds_testkit import (
    COUNTY,
    OTHER_VILLAGE,
    after_notice,
    announced_project,
    assert_problem,
    change_status,
    open_fund,
    project_body,
    register_household,
)

from fupin_funds.common.vocabulary import AccountKind, EntryKind
from fupin_funds.ledger.repository import AccountKey
from fupin_funds.ledger.service import Ledger, Transfer, fund_pool
from fupin_kit.testing.plugin import api_client


async def scan(client, on: str) -> list[dict]:
    response = await client.post("/v1/anomalies/scan", json={"on": on})
    assert response.status_code == 200, response.text
    return response.json()


def hits(anomalies: list[dict], rule: str, **evidence: str) -> list[dict]:
    return [
        a
        for a in anomalies
        if a["rule"] == rule and all(a["evidence"].get(k) == v for k, v in evidence.items())
    ]


async def write_directly(app, transfer_for):
    """Book an entry without the API's checks, as imported legacy data or a bug would."""
    async with app.state.sessionmaker() as session:
        ledger = Ledger(session)
        await ledger.transfer(await transfer_for(ledger))
        await session.commit()


async def funded_project(client, app, beneficiaries=(), amount="1000.00"):
    await open_fund(client, amount="100000.00")
    project = await announced_project(client, beneficiaries=list(beneficiaries))
    on = after_notice(project)
    funded = await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": amount, "on": on},
    )
    assert funded.status_code == 201, funded.text
    return project, on


async def test_payment_to_removed_or_unknown_household(app, client):
    paid_then_removed = await register_household(app)
    still_registered = await register_household(app)
    project, on = await funded_project(client, app, [paid_then_removed, still_registered])
    for household in (paid_then_removed, still_registered):
        r = await client.post(
            f"/v1/projects/{project['id']}/payments",
            json={"amount": "10.00", "household_id": household, "on": on},
        )
        assert r.status_code == 201, r.text
    assert hits(await scan(client, "2024-04-01"), "payment_to_unregistered") == []
    await change_status(app, paid_then_removed, "removed", date(2024, 3, 20))

    async def to_ghost(ledger):
        return Transfer(
            kind=EntryKind.DIRECT_SUBSIDY,
            to_account=await ledger.account(AccountKey(AccountKind.HOUSEHOLD_SUBSIDY, COUNTY)),
            from_account=await ledger.account(fund_pool(COUNTY, "central", 2024)),
            amount_fen=500,
            booked_on=date(2024, 3, 25),
            actor="legacy-import",
            household_id="ghost-household",
        )

    await write_directly(app, to_ghost)
    found = await scan(client, "2024-04-01")
    removed = hits(found, "payment_to_unregistered", household_id=paid_then_removed)
    assert len(removed) == 1 and "removed" in removed[0]["evidence"]["reason"]
    assert removed[0]["evidence"]["amount"] == "10.00"
    assert hits(found, "payment_to_unregistered", household_id="ghost-household")
    assert hits(found, "payment_to_unregistered", household_id=still_registered) == []
    assert (
        hits(await scan(client, "2024-04-02"), "payment_to_unregistered") == []
    )  # once per subject


async def test_payment_after_the_exit_transition(app, client):
    exited_long_ago = await register_household(app, registered_on=date(2019, 1, 1))
    exited_recently = await register_household(app, registered_on=date(2019, 1, 1))
    project, on = await funded_project(client, app, [exited_long_ago, exited_recently])
    for household in (exited_long_ago, exited_recently):
        r = await client.post(
            f"/v1/projects/{project['id']}/payments",
            json={"amount": "5.00", "household_id": household, "on": on},
        )
        assert r.status_code == 201, r.text
    # The registry later records exits, one backdated beyond the 36-month transition period.
    await change_status(app, exited_long_ago, "exited", date(2020, 1, 1))
    await change_status(app, exited_recently, "exited", date(2023, 6, 1))
    found = await scan(client, "2024-04-01")
    late = hits(found, "payment_after_exit_transition", household_id=exited_long_ago)
    assert len(late) == 1 and late[0]["evidence"]["transition_ended_on"] == "2023-01-01"
    assert hits(found, "payment_after_exit_transition", household_id=exited_recently) == []


async def test_duplicate_payment_for_household_and_project(app, client):
    twice, once = await register_household(app), await register_household(app)
    project, on = await funded_project(client, app, [twice, once])
    for household in (twice, twice, once):
        r = await client.post(
            f"/v1/projects/{project['id']}/payments",
            json={"amount": "7.00", "household_id": household, "on": on},
        )
        assert r.status_code == 201, r.text
    found = await scan(client, "2024-04-01")
    duplicate = hits(found, "duplicate_payment", household_id=twice, project_id=project["id"])
    assert (
        len(duplicate) == 1
        and duplicate[0]["evidence"]["payments"] == "2"
        and duplicate[0]["evidence"]["total"] == "14.00"
    )
    assert hits(found, "duplicate_payment", household_id=once) == []


async def test_money_before_the_announcement_completed(app, client):
    project, on = await funded_project(client, app)
    assert (
        hits(
            await scan(client, "2024-04-01"),
            "disbursed_before_announcement",
            project_id=project["id"],
        )
        == []
    )

    await open_fund(client, source="county", amount="10.00", on=date(2024, 1, 5))

    async def during_notice(ledger):
        return Transfer(
            kind=EntryKind.PROJECT_FUNDING,
            to_account=await ledger.account(
                AccountKey(AccountKind.PROJECT, COUNTY, "", 0, project["id"])
            ),
            from_account=await ledger.account(fund_pool(COUNTY, "county", 2024)),
            amount_fen=100,
            booked_on=date(2024, 2, 12),
            actor="legacy-import",
            project_id=project["id"],
        )

    await write_directly(app, during_notice)
    found = hits(
        await scan(client, "2024-04-02"), "disbursed_before_announcement", project_id=project["id"]
    )
    assert len(found) == 1 and found[0]["evidence"]["booked_on"] == "2024-02-12"
    assert "notice period" in found[0]["evidence"]["reason"]

    unannounced = await client.post(
        "/v1/projects",
        json={
            "name": "road",
            "project_type": "roads",
            "year": 2024,
            "region_code": COUNTY,
            "village_codes": ["220622100001"],
            "implementing_unit": "u",
            "budget": [{"source": "central", "amount": "10.00"}],
            "on": "2024-02-01",
        },
    )
    pid = unannounced.json()["id"]

    async def unannounced_funding(ledger):
        return Transfer(
            kind=EntryKind.PROJECT_FUNDING,
            to_account=await ledger.account(AccountKey(AccountKind.PROJECT, COUNTY, "", 0, pid)),
            from_account=await ledger.account(fund_pool(COUNTY, "central", 2024)),
            amount_fen=100,
            booked_on=date(2024, 3, 2),
            actor="legacy-import",
            project_id=pid,
        )

    await write_directly(app, unannounced_funding)
    flagged = hits(
        await scan(client, "2024-04-03"), "disbursed_before_announcement", project_id=pid
    )
    assert (
        len(flagged) == 1 and flagged[0]["evidence"]["reason"] == "the project was never announced"
    )


async def test_an_allocation_released_without_its_notice_is_an_anomaly(app, client):
    fund = await open_fund(client, region="2206", source="provincial", amount="100.00")
    proposed = await client.post(
        "/v1/allocations",
        json={
            "fund_id": fund["id"],
            "lines": [{"region_code": COUNTY, "amount": "10.00"}],
            "on": "2024-03-01",
        },
    )
    assert proposed.status_code == 201, proposed.text
    allocation = proposed.json()

    async def released_unannounced(ledger):
        return Transfer(
            kind=EntryKind.ALLOCATION_RELEASE,
            to_account=await ledger.account(fund_pool(COUNTY, "provincial", 2024)),
            from_account=await ledger.account(fund_pool("2206", "provincial", 2024)),
            amount_fen=1000,
            booked_on=date(2024, 3, 2),
            actor="legacy-import",
            allocation_id=allocation["id"],
        )

    await write_directly(app, released_unannounced)
    found = hits(
        await scan(client, "2024-04-01"),
        "disbursed_before_announcement",
        allocation_id=allocation["id"],
    )
    assert len(found) == 1 and found[0]["evidence"]["kind"] == "allocation_release"
    assert found[0]["evidence"]["reason"] == "the allocation was never announced"
    assert found[0]["region_code"] == "2206"


async def test_idle_money_and_over_budget(app, client):
    fund = await open_fund(client, source="county", amount="500.00", on=date(2024, 1, 5))
    pool = str(fund["pool_account_id"])
    assert hits(await scan(client, "2024-06-01"), "idle_money", account_id=pool) == []  # 148 days
    assert (
        hits(await scan(client, "2024-07-03"), "idle_money", account_id=pool) == []
    )  # exactly 180 days
    idle = hits(
        await scan(client, "2024-07-04"), "idle_money", account_id=pool
    )  # longer than 180 days
    assert (
        len(idle) == 1
        and idle[0]["evidence"]["balance"] == "500.00"
        and idle[0]["evidence"]["idle_days"] == "181"
    )

    project, on = await funded_project(client, app, amount="50000.00")
    assert (
        hits(await scan(client, "2024-04-01"), "project_over_budget", project_id=project["id"])
        == []
    )

    async def beyond_budget(ledger):
        return Transfer(
            kind=EntryKind.PROJECT_FUNDING,
            to_account=await ledger.account(
                AccountKey(AccountKind.PROJECT, COUNTY, "", 0, project["id"])
            ),
            from_account=await ledger.account(fund_pool(COUNTY, "central", 2024)),
            amount_fen=1,
            booked_on=date(2024, 3, 5),
            actor="legacy-import",
            project_id=project["id"],
        )

    await write_directly(app, beyond_budget)
    over = hits(await scan(client, "2024-04-01"), "project_over_budget", project_id=project["id"])
    assert len(over) == 1 and over[0]["evidence"]["funded"] == "50000.01"


async def test_anomaly_resolution_and_jurisdiction(app, client, make_token):
    await open_fund(client, source="social", amount="1.00", on=date(2023, 1, 1))
    anomaly = hits(await scan(client, "2024-01-01"), "idle_money")[0]
    async with api_client(app, make_token("220581")) as neighbour:
        assert_problem(await neighbour.get(f"/v1/anomalies/{anomaly['id']}"), 404)
        report = await neighbour.get("/v1/supervision/report", params={"region_code": COUNTY})
        assert_problem(report, 404, "#/query/region_code")
    before = (date.fromisoformat(anomaly["detected_on"]) - timedelta(days=1)).isoformat()
    backdated = await client.post(
        f"/v1/anomalies/{anomaly['id']}/resolution",
        json={"status": "dismissed", "resolution": "x", "on": before},
    )
    assert "dates out of order" in assert_problem(backdated, 422, "#/body/on")["detail"]
    resolved = await client.post(
        f"/v1/anomalies/{anomaly['id']}/resolution",
        json={"status": "confirmed", "resolution": "recover"},
    )
    assert resolved.json()["status"] == "confirmed"
    assert_problem(
        await client.post(
            f"/v1/anomalies/{anomaly['id']}/resolution",
            json={"status": "dismissed", "resolution": "x"},
        ),
        409,
    )


async def test_a_township_sees_the_anomalies_about_its_villages_households(app, client, make_token):
    """Payments to households are booked under the county's account; a township's office still
    scans, lists and reads the anomalies about households of its own villages, and nothing about
    another township's. Confirming or dismissing them is the county's."""
    ours = await register_household(app)  # a village of 靖宇镇 (220622100)
    theirs = await register_household(app, village=OTHER_VILLAGE)  # 三道湖镇 (220622101)
    project, on = await funded_project(client, app, [ours])
    for _ in range(2):  # paid twice from the same project: a duplicate
        paid = await client.post(
            f"/v1/projects/{project['id']}/payments",
            json={"amount": "5.00", "household_id": ours, "on": on},
        )
        assert paid.status_code == 201, paid.text
    for household in (ours, theirs):
        subsidy = await client.post(
            "/v1/household-subsidies",
            json={
                "household_id": household,
                "source": "central",
                "year": 2024,
                "amount": "3.00",
                "purpose": "heating",
                "on": on,
            },
        )
        assert subsidy.status_code == 201, subsidy.text
    await change_status(app, ours, "removed", date(2024, 3, 20))
    await change_status(app, theirs, "removed", date(2024, 3, 20), village=OTHER_VILLAGE)

    def about(anomalies: list[dict], household: str) -> list[dict]:
        return [a for a in anomalies if a["evidence"].get("household_id") == household]

    async with (
        api_client(app, make_token("220622100", subject="township-officer")) as township,
        api_client(app, make_token("220622101", subject="other-township")) as other_township,
    ):
        scanned = await scan(township, "2024-04-01")
        assert len(hits(scanned, "payment_to_unregistered", household_id=ours)) == 3
        assert len(hits(scanned, "duplicate_payment", household_id=ours)) == 1
        assert about(scanned, theirs) == []
        assert all(a["region_code"] == COUNTY for a in about(scanned, ours))
        # The county's own scan raises the rest; the township still sees only its households.
        everything = await scan(client, "2024-04-02")
        assert len(hits(everything, "payment_to_unregistered", household_id=theirs)) == 1
        listed = (await township.get("/v1/anomalies")).json()["items"]
        assert {a["id"] for a in about(listed, ours)} == {a["id"] for a in scanned}
        assert about(listed, theirs) == []
        mine, elsewhere = scanned[0], about(everything, theirs)[0]
        read = await township.get(f"/v1/anomalies/{mine['id']}")
        assert read.status_code == 200 and read.json() == mine
        assert_problem(await township.get(f"/v1/anomalies/{elsewhere['id']}"), 404)
        assert (await other_township.get(f"/v1/anomalies/{elsewhere['id']}")).status_code == 200
        assert_problem(await other_township.get(f"/v1/anomalies/{mine['id']}"), 404)
        assert about((await other_township.get("/v1/anomalies")).json()["items"], ours) == []
        # The report counts them where the households live: in the township's own report, and
        # in its row of the county's.
        own = (await township.get("/v1/supervision/report", params={"on": "2024-04-02"})).json()
        own_rows = {o["region_code"]: o["anomalies_total"] for o in own["oversight"]}
        assert own_rows["220622100"] == 4 and sum(own_rows.values()) == 4 + 4  # + its villages
        county = (
            await client.get(
                "/v1/supervision/report", params={"region_code": COUNTY, "on": "2024-04-02"}
            )
        ).json()
        rows = {o["region_code"]: o["anomalies_total"] for o in county["oversight"]}
        assert rows[COUNTY] == len({a["id"] for a in [*scanned, *everything]})
        assert rows["220622100"] == 4 and rows["220622101"] == 1
        # Seen, not decided: the payment is the county's booking, so is its resolution.
        decided = await township.post(
            f"/v1/anomalies/{mine['id']}/resolution",
            json={"status": "dismissed", "resolution": "paid before the removal"},
        )
        assert_problem(decided, 403)
        assert_problem(
            await township.post(
                f"/v1/anomalies/{elsewhere['id']}/resolution",
                json={"status": "dismissed", "resolution": "x"},
            ),
            404,
        )
    resolved = await client.post(
        f"/v1/anomalies/{mine['id']}/resolution",
        json={"status": "confirmed", "resolution": "recover the payment"},
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "confirmed"


async def test_findings_rectification_report_and_audit(app, client, make_token):
    raised = await client.post(
        "/v1/findings",
        json={
            "region_code": COUNTY,
            "finding_type": "irregular_payment",
            "amount": "1200.00",
            "source": "central",
            "responsible_unit": "Jingyu finance bureau",
            "description": "paid without acceptance",
            "deadline": "2024-06-30",
            "on": "2024-04-01",
        },
    )
    assert raised.status_code == 201, raised.text
    finding = raised.json()
    assert_problem(
        await client.post(
            "/v1/findings",
            json={
                **{
                    k: finding[k]
                    for k in ("region_code", "finding_type", "responsible_unit", "description")
                },
                "deadline": "2024-03-01",
                "on": "2024-04-01",
            },
        ),
        422,
        "#/body/deadline",
    )
    # A finding about a project names one that exists in the finding's region.
    elsewhere = await client.post(
        "/v1/projects",
        json=project_body(region_code="220621", village_codes=["220621100001"]),
    )
    assert elsewhere.status_code == 201, elsewhere.text
    for project_id in ("no-such-project", elsewhere.json()["id"]):
        about = {
            **{
                k: finding[k]
                for k in ("region_code", "finding_type", "responsible_unit", "description")
            },
            "deadline": "2024-06-30",
            "on": "2024-04-01",
            "project_id": project_id,
        }
        assert_problem(await client.post("/v1/findings", json=about), 422, "#/body/project_id")
    assert_problem(
        await client.post(f"/v1/findings/{finding['id']}/review", json={"accepted": True}), 409
    )
    submitted = await client.post(
        f"/v1/findings/{finding['id']}/rectification",
        json={"rectification": "money recovered", "on": "2024-05-01"},
    )
    assert submitted.json()["status"] == "submitted"
    # Whoever reported the rectification does not also accept it.
    own = await client.post(
        f"/v1/findings/{finding['id']}/review", json={"accepted": True, "on": "2024-05-02"}
    )
    assert_problem(own, 403)
    async with api_client(app, make_token("22", subject="finance-auditor")) as auditor:
        sent_back = await auditor.post(
            f"/v1/findings/{finding['id']}/review",
            json={"accepted": False, "note": "proof missing", "on": "2024-05-02"},
        )
        assert sent_back.json()["status"] == "open"
        await client.post(
            f"/v1/findings/{finding['id']}/rectification",
            json={"rectification": "receipts attached", "on": "2024-05-03"},
        )
        done = await auditor.post(
            f"/v1/findings/{finding['id']}/review", json={"accepted": True, "on": "2024-05-04"}
        )
    assert done.json()["status"] == "rectified" and done.json()["rectified_on"] == "2024-05-04"

    project, on = await funded_project(client, app)
    paid = await client.post(
        f"/v1/projects/{project['id']}/payments",
        json={"amount": "100.00", "payee": "builder", "on": on},
    )
    assert paid.status_code == 201, paid.text
    report = await client.get(
        "/v1/supervision/report", params={"region_code": "2206", "year": 2024, "on": "2024-04-01"}
    )
    assert report.status_code == 200, report.text
    rows = {(r["region_code"], r["source"]): r for r in report.json()["money"]}
    county = rows[(COUNTY, "central")]
    assert (
        county["allocated"] == "100000.00"
        and county["disbursed"] == "100.00"
        and county["held"] == "99000.00"
    )
    assert rows[(COUNTY, "-")]["held"] == "900.00"  # project accounts hold money of any source
    # As of the day before the project was funded and paid, the pool still held the money:
    # balances as of `on`, not as they are now.
    before = (date.fromisoformat(on) - timedelta(days=1)).isoformat()
    earlier = await client.get(
        "/v1/supervision/report", params={"region_code": "2206", "year": 2024, "on": before}
    )
    assert earlier.status_code == 200, earlier.text
    then = {(r["region_code"], r["source"]): r for r in earlier.json()["money"]}
    assert then[(COUNTY, "central")]["held"] == "100000.00" and (COUNTY, "-") not in then
    # A project account counts for its project's year only.
    other_year = await client.get(
        "/v1/supervision/report", params={"region_code": "2206", "year": 2023, "on": "2024-04-01"}
    )
    assert all(r["source"] != "-" for r in other_year.json()["money"] if r["region_code"] == COUNTY)
    # A payment reversed later still stood on the day reported.
    later = (date.fromisoformat(on) + timedelta(days=3)).isoformat()
    reversed_ = await client.post(
        f"/v1/entries/{paid.json()['entry_id']}/reversal", json={"reason": "twice", "on": later}
    )
    assert reversed_.status_code == 201, reversed_.text
    for day, disbursed in ((on, "100.00"), (later, "0.00")):
        shown = await client.get(
            "/v1/supervision/report", params={"region_code": COUNTY, "year": 2024, "on": day}
        )
        money = {(r["region_code"], r["source"]): r for r in shown.json()["money"]}
        assert money[(COUNTY, "central")]["disbursed"] == disbursed, (day, money)
    oversight = {o["region_code"]: o for o in report.json()["oversight"]}
    assert oversight[COUNTY]["findings_rectified"] >= 1
    xlsx = await client.get(
        "/v1/supervision/report", params={"region_code": "2206", "format": "xlsx"}
    )
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    as_csv = await client.get(
        "/v1/supervision/report", params={"region_code": "2206", "format": "csv"}
    )
    header, *lines = as_csv.text.lstrip("\ufeff").splitlines()
    columns = header.split(",")
    assert columns[-2:] == ["findings_overdue", "findings_amount"] and "findings_total" in columns
    county_line = next(line.split(",") for line in lines if line.startswith(f"{COUNTY},"))
    assert int(county_line[columns.index("findings_total")]) >= 1

    verified = await client.get("/v1/audit/verify")
    assert verified.status_code == 200 and verified.json()["ok"], verified.json()
    assert verified.json()["checked"] > 0
    async with api_client(app, make_token("22", roles=["officer"])) as officer:
        assert_problem(await officer.get("/v1/audit/verify"), 403)


async def test_a_household_approved_with_a_date_in_the_past_is_identified_now(app, client):
    """The read model follows the registry's order of record: an application registered today
    and then approved with a business date years back is identified, and may be paid."""
    household = await register_household(app, status="applied", registered_on=date(2026, 11, 30))
    await change_status(app, household, "identified", date(2016, 3, 17))
    read = await client.get(f"/v1/households/{household}")
    assert read.status_code == 200, read.text
    assert read.json()["status"] == "identified"


async def test_the_report_of_a_region_that_does_not_exist_is_refused(client):
    for code in ("22001", "220622999999"):
        response = await client.get("/v1/supervision/report", params={"region_code": code})
        assert "does not exist" in assert_problem(response, 422, "#/query/region_code")["detail"]


async def test_the_report_counts_money_passed_down_once_and_as_of_its_day(app, client, make_token):
    fund = await open_fund(client, region="2206", source="provincial", amount="1000.00")
    proposed = await client.post(
        "/v1/allocations",
        json={
            "fund_id": fund["id"],
            "lines": [{"region_code": COUNTY, "amount": "300.00"}],
            "on": "2024-03-01",
        },
    )
    assert proposed.status_code == 201, proposed.text
    allocation = proposed.json()["id"]
    async with api_client(app, make_token("2206")) as city:  # the city's office decides
        for step, on in (("approve", "2024-03-02"), ("release", "2024-03-20")):
            done = await city.post(f"/v1/allocations/{allocation}/{step}", json={"on": on})
            assert done.status_code == 200, done.text

    async def report(on: str) -> dict:
        response = await client.get(
            "/v1/supervision/report",
            params={"region_code": "2206", "year": 2024, "on": on},
        )
        assert response.status_code == 200, response.text
        rows = response.json()["money"]
        return {(r["region_code"], r["source"]): r for r in rows if r["source"] == "provincial"}

    after = await report("2024-04-01")
    # The city received 1,000 and passed 300 down to the county: 1,000 entered, not 1,300.
    assert after[("2206", "provincial")]["allocated"] == "1000.00"
    assert after[(COUNTY, "provincial")]["allocated"] == "300.00"
    before = await report("2024-03-10")  # approved, not yet released
    assert (COUNTY, "provincial") not in before or before[(COUNTY, "provincial")][
        "allocated"
    ] == "0.00"
    assert before[("2206", "provincial")]["allocated"] == "1000.00"
