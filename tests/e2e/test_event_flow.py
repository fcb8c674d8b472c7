"""Cross-service flow over the real broker: a household registered in the registry reaches the
funds service's read model through outbox → relay → Kafka → inbox consumer."""

import asyncio
import uuid
from pathlib import Path

import pytest

from fupin_events.values import id_check_character
from fupin_funds.config import Settings as FundsSettings
from fupin_funds.consumers import TOPICS as FUNDS_TOPICS
from fupin_funds.main import create_app as create_funds
from fupin_kit.testing.database import migrated_database
from fupin_kit.testing.kafka import start_group_at_end
from fupin_kit.testing.plugin import api_client
from fupin_registry.config import Settings as RegistrySettings
from fupin_registry.main import create_app as create_registry

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


def resident_id(county: str, born: str, sequence: int) -> str:
    first17 = f"{county}{born}{sequence:03d}"
    return first17 + id_check_character(first17)


@pytest.fixture(scope="module")
def databases():
    registry_base, funds_base = RegistrySettings().database_url, FundsSettings().database_url
    with migrated_database(
        registry_base, ROOT / "services/registry/alembic.ini", "e2e"
    ) as registry_url:
        with migrated_database(funds_base, ROOT / "services/funds/alembic.ini", "e2e") as funds_url:
            yield registry_url, funds_url


async def test_registered_household_reaches_funds(
    databases, signing_keys, make_token, kafka_bootstrap
):
    registry_url, funds_url = databases
    group_suffix = f"-e2e-{uuid.uuid4().hex[:8]}"
    common = {
        "jwt_public_key": signing_keys[1],
        "kafka_bootstrap": kafka_bootstrap,
        "environment": "test",
        "log_json": False,
        "consumer_group_suffix": group_suffix,
    }
    # The funds consumers join as a new group: from the topics' ends, not a long-used broker's
    # whole history (the demo's, imports'), which could take longer than the wait below.
    await start_group_at_end(kafka_bootstrap, "funds" + group_suffix, list(FUNDS_TOPICS))
    registry = create_registry(
        RegistrySettings(database_url=registry_url, run_consumers=False, **common)
    )
    funds = create_funds(FundsSettings(database_url=funds_url, run_relay=False, **common))
    token = make_token("220622", scopes=["pii:read"], roles=["officer"])
    household = {
        "village_code": "220622100201",
        "household_number": f"E2E-{uuid.uuid4().hex[:6]}",
        "attribute": "ordinary_poor",
        "support_type": "development",
        "primary_cause": "illness",
        "members": [
            {
                "id_number": resident_id("220622", "19800101", uuid.uuid4().int % 900 + 100),
                "name": "王五",
                "relation": "head",
            },
        ],
    }
    async with api_client(registry, token) as registry_api, api_client(funds, token) as funds_api:
        created = await registry_api.post("/v1/households", json=household)
        assert created.status_code == 201, created.text
        household_id = created.json()["id"]
        seen = None
        for _ in range(240):
            response = await funds_api.get(f"/v1/households/{household_id}")
            if response.status_code == 200:
                seen = response.json()
                break
            await asyncio.sleep(0.5)
    assert seen is not None, "the household never reached the funds read model"
    assert seen["village_code"] == "220622100201"
    assert seen["member_count"] == 1
