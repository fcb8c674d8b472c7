"""A household's access log: who read its personal data in clear and which banks checked its
members (single checks and batch items), from the audit chain, for auditors only, inside their
jurisdiction, paged newest first, the read itself recorded."""

import pytest
from sqlalchemy import text

from fupin_kit.audit import verify_chain
from fupin_kit.testing.plugin import api_client, bearer
from fupin_registry.main import create_app
from fupin_registry.privacy import Privacy

from .test_eligibility_api import SCOPE, adult, check, resident_id, seed_household


@pytest.fixture
async def running(settings):
    app = create_app(settings)
    async with api_client(app) as client:
        yield app, client


def auditor(make_token, jurisdiction: str = "22"):
    return bearer(make_token(jurisdiction, roles=["auditor"]))


async def test_the_log_shows_clear_reads_and_every_check_about_the_members(
    running, make_token, engine, settings
):
    _, client = running
    privacy = Privacy(settings)
    head, spouse, stranger = (resident_id(adult()) for _ in range(3))
    household_id = await seed_household(engine, privacy, members=[(head, True), (spouse, True)])
    await seed_household(engine, privacy, members=[(stranger, True)])
    bank = bearer(make_token("22", scopes=[SCOPE], roles=["bank"], client_id="bank-log"))

    officer = bearer(make_token("220622", roles=["officer"], scopes=["pii:read"]))
    assert (await client.get(f"/v1/households/{household_id}", headers=officer)).is_success
    single = await client.post(
        "/v1/eligibility/checks", json=check(head, consent="C-1"), headers=bank
    )
    batch = await client.post(
        "/v1/eligibility/checks/batch",
        json={"items": [check(spouse, consent="C-2"), check(stranger), check(head)]},
        headers=bank,
    )
    assert single.status_code == 200 and batch.status_code == 200, batch.text
    spouse_answer, _, head_again = batch.json()["items"]

    response = await client.get(
        f"/v1/households/{household_id}/access-log", headers=auditor(make_token)
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    # Newest first: the batch's two items about this household (the stranger's is not shown),
    # the single check, then the officer's clear read.
    assert [(e["action"], e["details"].get("decision_id")) for e in items] == [
        ("eligibility.check", head_again["decision_id"]),
        ("eligibility.check", spouse_answer["decision_id"]),
        ("eligibility.check", single.json()["decision_id"]),
        ("pii.read_unmasked", None),
    ]
    head_check, spouse_check, single_check, clear_read = items
    assert spouse_check["details"]["consent_reference"] == "C-2"
    assert spouse_check["object_id"] == privacy.index.hex(spouse)
    assert head_check["member_id"] == single_check["member_id"] is not None
    assert spouse_check["member_id"] not in (None, head_check["member_id"])
    assert single_check["actor"] == "client:bank-log"
    assert clear_read["object_type"] == "household" and clear_read["object_id"] == str(household_id)
    assert "fields" in clear_read["details"]
    for person in (head, spouse, stranger):
        assert person not in response.text

    # Reading the log is recorded, and shows in the next read.
    again = await client.get(
        f"/v1/households/{household_id}/access-log?limit=1", headers=auditor(make_token)
    )
    [newest] = again.json()["items"]
    assert newest["action"] == "audit.read_access_log"
    assert newest["details"]["entries"] == 4
    async with engine.connect() as conn:
        assert (await verify_chain(conn)).ok


async def test_pages_follow_each_other_without_gaps(running, make_token, engine, settings):
    _, client = running
    people = [resident_id(adult()) for _ in range(3)]
    household_id = await seed_household(
        engine, Privacy(settings), members=[(p, True) for p in people]
    )
    bank = bearer(make_token("22", scopes=[SCOPE], roles=["bank"], client_id="bank-pages"))
    batch = await client.post(
        "/v1/eligibility/checks/batch", json={"items": [check(p) for p in people]}, headers=bank
    )
    decisions = [a["decision_id"] for a in batch.json()["items"]]
    seen, cursor = [], None
    for _ in range(5):
        url = f"/v1/households/{household_id}/access-log?limit=2"
        page = await client.get(
            url + (f"&cursor={cursor}" if cursor else ""), headers=auditor(make_token)
        )
        assert page.status_code == 200, page.text
        seen += [
            e["details"]["decision_id"]
            for e in page.json()["items"]
            if e["action"] == "eligibility.check"
        ]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    # Three items of one batch record: the page boundary falls inside the record.
    assert seen == decisions[::-1]


async def test_only_auditors_within_their_jurisdiction_read_the_log(
    running, make_token, engine, settings
):
    _, client = running
    household_id = await seed_household(
        engine, Privacy(settings), members=[(resident_id(adult()), True)]
    )
    url = f"/v1/households/{household_id}/access-log"
    officer = bearer(make_token("22", roles=["officer", "admin_assistant"], scopes=["pii:read"]))
    refused = await client.get(url, headers=officer)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    elsewhere = await client.get(url, headers=auditor(make_token, "220581"))
    assert elsewhere.status_code == 404
    bad_cursor = await client.get(url + "?cursor=bm90LWEtY3Vyc29y", headers=auditor(make_token))
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["pointer"] == "#/query/cursor"
    async with engine.connect() as conn:
        recorded = await conn.scalar(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'audit.read_access_log'"
                " AND object_id = :h"
            ),
            {"h": str(household_id)},
        )
    assert recorded == 0  # refused reads read nothing
    assert (await client.get(url, headers=auditor(make_token))).status_code == 200


async def test_admins_verify_the_audit_chain_over_http(running, make_token, engine, settings):
    _, client = running
    await seed_household(engine, Privacy(settings), members=[(resident_id(adult()), True)])
    async with engine.connect() as conn:
        rows = await conn.scalar(text("SELECT count(*) FROM audit_log"))
    admin = bearer(make_token("22", roles=["admin"]))
    verified = await client.get("/v1/audit/verify", headers=admin)
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True and verified.json()["problems"] == []
    assert verified.json()["checked"] >= rows > 0
    refused = await client.get("/v1/audit/verify", headers=auditor(make_token))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"


async def _new_version(engine, household_id, status: str, village_code: str) -> None:
    """Close the household's current version (if any) and open one in ``status`` from now."""
    async with engine.begin() as conn:
        version = await conn.scalar(
            text(
                "UPDATE household_versions SET valid_to = clock_timestamp() WHERE household_id = :h"
                " AND valid_to IS NULL RETURNING version"
            ),
            {"h": household_id},
        )
        await conn.execute(
            text(
                "INSERT INTO household_versions (household_id, version, village_code, status,"
                " valid_from, actor, action, snapshot) VALUES (:h, :v, :village, :status,"
                " clock_timestamp(), 'user:test', 'status_changed', '{}')"
            ),
            {"h": household_id, "v": (version or 0) + 1, "village": village_code, "status": status},
        )


async def test_the_log_lists_the_unmasked_exports_that_listed_the_household(
    running, make_token, engine, settings
):
    _, client = running
    village = "220622100201"
    household_id = await seed_household(
        engine, Privacy(settings), village_code=village, members=[(resident_id(adult()), True)]
    )

    async def export(jurisdiction: str, *, clear: bool = True, kind: str = "csv") -> None:
        token = make_token(jurisdiction, roles=["officer"], scopes=["pii:read"] if clear else [])
        response = await client.get(f"/v1/exports/households.{kind}", headers=bearer(token))
        assert response.status_code == 200, response.text

    await _new_version(engine, household_id, "applied", village)
    await export("220622")  # an applicant is not exported
    await _new_version(engine, household_id, "identified", village)
    await export("220622")  # listed it
    await export("220581")  # another county's
    await export("220622", clear=False)  # masked: no personal data left in clear
    await export("22", kind="xlsx")  # the province's, listed it
    await _new_version(engine, household_id, "removed", village)
    await export("2206")  # after its removal

    response = await client.get(
        f"/v1/households/{household_id}/access-log", headers=auditor(make_token)
    )
    assert response.status_code == 200, response.text
    exports = [e for e in response.json()["items"] if e["action"] == "pii.export_unmasked"]
    assert [(e["object_type"], e["object_id"], e["details"]["format"]) for e in exports] == [
        ("register", "22", "xlsx"),
        ("register", "220622", "csv"),
    ]
    assert all(e["member_id"] is None and e["actor"].startswith("user:") for e in exports)
