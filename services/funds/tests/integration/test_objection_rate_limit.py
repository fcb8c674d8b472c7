"""Objections under real concurrency (requests really commit): a burst of filings from one
client address passes only up to the limit; filings and resolutions of one notice follow one
another, so none slips in beside an upheld one and upholding several at once does not deadlock."""

import asyncio

import httpx
from asgi_lifespan import LifespanManager

from fupin_events.values import business_today
from fupin_funds.main import create_app
from fupin_kit.testing.plugin import bearer

COUNTY = "220621"  # 抚松县: its own region, so committed data does not meet other tests'
ADDRESS = ("198.51.100.23", 40123)  # one citizen's address, used by no other test


async def announced_today(client, headers) -> str:
    today = business_today().isoformat()
    project = await client.post(
        "/v1/projects",
        headers=headers,
        json={
            "name": "objection burst",
            "project_type": "water",
            "year": business_today().year,
            "region_code": COUNTY,
            "village_codes": ["220621100001"],
            "implementing_unit": "u",
            "budget": [{"source": "central", "amount": "1000.00"}],
        },
    )
    assert project.status_code == 201, project.text
    pid = project.json()["id"]
    for action in ("approve", "announce"):
        moved = await client.post(f"/v1/projects/{pid}/{action}", headers=headers, json={})
        assert moved.status_code == 200, moved.text
    listing = await client.get(
        "/v1/public/announcements", params={"region": COUNTY, "active_on": today, "limit": 500}
    )
    return next(n["id"] for n in listing.json()["items"] if n["subject_id"] == pid)


async def test_a_burst_from_one_address_passes_only_up_to_the_limit(
    settings, committed_client, make_token
):
    headers = bearer(make_token("22", roles=["officer", "admin"]))
    notice = await announced_today(committed_client, headers)
    burst = settings.objection_rate_limit * 3
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as citizen:
            responses = await asyncio.gather(
                *(
                    citizen.post(
                        f"/v1/public/announcements/{notice}/objections",
                        json={"text": f"objection {i}"},
                    )
                    for i in range(burst)
                )
            )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == settings.objection_rate_limit, statuses
    assert statuses.count(429) == burst - settings.objection_rate_limit, statuses


async def test_objections_of_one_notice_filed_and_decided_at_once_stay_consistent(
    settings, committed_client, make_token
):
    headers = bearer(make_token("22", roles=["officer", "admin"]))
    notice = await announced_today(committed_client, headers)
    async with LifespanManager(create_app(settings)) as manager:

        async def file(number: int) -> httpx.Response:
            address = (f"198.51.100.{100 + number}", 40000 + number)
            transport = httpx.ASGITransport(app=manager.app, client=address)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as citizen:
                return await citizen.post(
                    f"/v1/public/announcements/{notice}/objections",
                    json={"text": f"objection {number}"},
                )

        first = [await file(n) for n in range(3)]
        assert [r.status_code for r in first] == [201] * 3
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as office:

            async def uphold(objection: str) -> httpx.Response:
                return await office.post(
                    f"/v1/objections/{objection}/resolution",
                    json={"outcome": "upheld", "resolution": "confirmed"},
                )

            answers = await asyncio.gather(
                *(uphold(r.json()["id"]) for r in first), *(file(n) for n in range(3, 9))
            )
            public = (await office.get(f"/v1/public/announcements/{notice}")).json()
    decided = sorted(a.status_code for a in answers[:3])
    assert decided == [200, 409, 409], [a.text for a in answers[:3]]
    assert {a.status_code for a in answers[3:]} <= {201, 409}, [a.text for a in answers[3:]]
    # every objection filed beside the upheld one was refused or closed with the notice
    assert public["withdrawn_on"] is not None and public["open_objections"] == 0, public
