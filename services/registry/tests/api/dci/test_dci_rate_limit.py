"""Each partner's DCI messages draw on its own token bucket (one token per value a search or
subscription tests, one per status query): beyond it the registry answers 429 with Retry-After,
in the DCI envelopes, and records nothing of the refused message."""

from datetime import date

import pytest
from sqlalchemy import text

from fupin_kit.testing.plugin import api_client
from fupin_registry.dci.runtime import check_limits
from fupin_registry.main import create_app

SYNC = "/registry/sync/search"


@pytest.fixture
async def registry(settings):
    """The registry with a small bucket: two items, refilled at one every 100 s."""
    app = create_app(
        settings.model_copy(
            update={
                "dci_rate_per_second": 0.01,
                "dci_rate_burst": 2,
                "dci_max_requests_per_message": 2,
            }
        )
    )
    async with api_client(app) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


def _search(partner, dci, household_id: str, criteria: int = 1) -> dict:
    query = dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household_id})
    message = dci.search_message(*([query] * criteria))
    return partner.envelope("search", message, total=criteria)


async def _transactions(engine, sender_id: str) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text("SELECT count(*) FROM dci_transactions WHERE sender_id = :s"),
                {"s": sender_id},
            )
        )


async def test_a_partner_beyond_its_rate_is_refused_in_dci_envelopes(
    registry, new_partner, seed, dci, jwks, engine
):
    partner = await new_partner()
    household = await seed(dci.fresh_township() + "601")
    body = _search(partner, dci, household.household_id, 2)
    full = await registry.post(SYNC, json=body, headers=partner.headers())
    assert full.status_code == 200, full.text  # the whole bucket in one message
    replay = await registry.post(SYNC, json=body, headers=partner.headers())
    assert replay.status_code == 400  # a replayed message_id is refused as such, at no cost
    assert replay.json()["header"]["status_reason_code"] == "rjct.message_id.duplicate"

    refused = await registry.post(
        SYNC, json=_search(partner, dci, household.household_id), headers=partner.headers()
    )
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 100
    dci.validate_response(SYNC, 429, refused.json())
    header = refused.json()["header"]
    assert header["status"] == "rjct"
    assert header["status_reason_message"].startswith("err.request.too_many_requests")
    assert dci.signature_ok(jwks, refused.json())

    later = await registry.post(
        "/registry/search",
        json=_search(partner, dci, household.household_id),
        headers=partner.headers(),
    )
    assert later.status_code == 429 and int(later.headers["Retry-After"]) >= 1
    dci.validate_ack(later.json())
    assert later.json()["message"]["ack_status"] == "ERR"
    assert later.json()["message"]["error"]["code"] == "err.request.too_many_requests"
    assert await _transactions(engine, partner.sender_id) == 1  # only the answered message

    other = await new_partner()  # another partner has its own bucket
    answered = await registry.post(
        SYNC, json=_search(other, dci, household.household_id), headers=other.headers()
    )
    assert answered.status_code == 200, answered.text


def test_a_bucket_smaller_than_one_message_is_refused_at_start(settings):
    with pytest.raises(ValueError, match="dci_rate_burst"):
        check_limits(
            settings.model_copy(update={"dci_rate_burst": 5, "dci_max_requests_per_message": 20})
        )


async def test_one_criterion_testing_many_values_weighs_them_all(
    registry, new_partner, dci, engine
):
    """A single criterion listing ID numbers in an ``in`` cannot test them at one token."""
    partner = await new_partner()
    ids = [dci.resident_id(date(1980, 7, day)) for day in (1, 2, 3)]
    query = [{"expression1": {"attribute_name": "UIN", "operator": "in", "attribute_value": ids}}]
    message = dci.search_message(dci.criteria("predicate", query))
    refused = await registry.post(
        SYNC, json=partner.envelope("search", message), headers=partner.headers(pii=True)
    )
    assert refused.status_code == 400
    dci.validate_response(SYNC, 400, refused.json())
    reason = refused.json()["header"]["status_reason_message"]
    assert "tests 3 values" in reason and "at most 2" in reason
    assert await _transactions(engine, partner.sender_id) == 0

    message = dci.search_message(
        dci.criteria(
            "predicate",
            [
                {
                    "expression1": {
                        "attribute_name": "UIN",
                        "operator": "in",
                        "attribute_value": ids[:2],
                    }
                }
            ],
        )
    )
    answered = await registry.post(
        SYNC, json=partner.envelope("search", message), headers=partner.headers(pii=True)
    )
    assert answered.status_code == 200, answered.text  # two values: the whole bucket
    again = await registry.post(
        SYNC,
        json=partner.envelope(
            "search",
            dci.search_message(
                dci.criteria(
                    "predicate",
                    [
                        {
                            "expression1": {
                                "attribute_name": "UIN",
                                "operator": "eq",
                                "attribute_value": ids[0],
                            }
                        }
                    ],
                )
            ),
        ),
        headers=partner.headers(pii=True),
    )
    assert again.status_code == 429
