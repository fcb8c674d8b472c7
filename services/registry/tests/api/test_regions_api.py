"""Region reference data over HTTP."""

from fupin_kit.testing.plugin import api_client


async def test_read_a_region_and_its_children(client):
    village = (await client.get("/v1/regions/220622100201")).json()
    assert village == {
        "code": "220622100201",
        "name": "靖安村",
        "level": "village",
        "parent_code": "220622100",
        "rural_population": None,
    }
    county = (await client.get("/v1/regions/220622")).json()
    assert (
        county["name"] == "靖宇县"
        and county["level"] == "county"
        and county["parent_code"] == "2206"
    )
    first = (await client.get("/v1/regions/220622/children", params={"limit": 3})).json()
    assert [r["code"] for r in first["items"]] == ["220622100", "220622101", "220622102"]
    codes = [r["code"] for r in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (
            await client.get("/v1/regions/220622/children", params={"limit": 3, "cursor": cursor})
        ).json()
        codes += [r["code"] for r in page["items"]]
        cursor = page["next_cursor"]
    assert (
        codes == sorted(codes)
        and len(codes) == len(set(codes))
        and all(c.startswith("220622") for c in codes)
    )
    for missing, detail in (
        ("229999", "region 229999 not found"),
        ("abc", "region abc not found"),
        # not cut to an existing village's code
        ("2206221002019", "a region code has at most 12 digits"),
    ):
        response = await client.get(f"/v1/regions/{missing}")
        assert (
            response.status_code == 404
            and response.headers["content-type"] == "application/problem+json"
        )
        assert detail in response.json()["detail"]
    assert (await client.get("/v1/regions/229999/children")).status_code == 404


async def test_rural_population_is_set_by_administrators(client, app, make_token):
    updated = await client.put(
        "/v1/regions/220622100201/rural-population", json={"rural_population": 1830}
    )
    assert updated.status_code == 200 and updated.json()["rural_population"] == 1830
    assert (await client.get("/v1/regions/220622100201")).json()["rural_population"] == 1830
    for bad in (
        {"rural_population": -1},
        {"rural_population": "many"},
        {"rural_population": "5"},
        {"rural_population": True},
        {"rural_population": 5.0},
        {"population": 1},
    ):
        response = await client.put("/v1/regions/220622100201/rural-population", json=bad)
        assert response.status_code == 422, bad
    assert (
        await client.put("/v1/regions/229999/rural-population", json={"rural_population": 1})
    ).status_code == 404
    async with api_client(app, make_token("220622", roles=["officer"])) as officer:
        response = await officer.put(
            "/v1/regions/220622100201/rural-population", json={"rural_population": 1}
        )
        assert response.status_code == 403
