"""The responsible cadre a pairing sets: only a change of cadre is a new version and event."""

import uuid
from datetime import date

from sqlalchemy import text

from fupin_kit.auth import Caller
from fupin_registry.households.schemas import HouseholdCreate
from fupin_registry.households.service import HouseholdService
from fupin_registry.privacy import Privacy
from fupin_registry.regions.directory import load_directory
from fupin_registry.regions.repository import RegionRepository
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload
from fupin_registry.vocabulary import HouseholdStatus

VILLAGE = "220622104200"
OFFICER = Caller(subject="officer-1", roles=frozenset({"officer"}), jurisdiction="22")
TEAMS = "service:teams"


async def versions_and_events(session, household_id):
    versions = (
        await session.execute(
            text("SELECT action FROM household_versions WHERE household_id = :h ORDER BY id"),
            {"h": household_id},
        )
    ).scalars()
    events = (
        await session.execute(
            text("SELECT payload->>'type' FROM outbox WHERE key = :h ORDER BY id"),
            {"h": str(household_id)},
        )
    ).scalars()
    return list(versions), list(events)


async def test_repairing_the_same_cadre_or_a_closed_household_changes_nothing(settings, db_session):
    people = PeopleFactory("220622", seed=uuid.uuid4().int)
    body = HouseholdCreate.model_validate(
        household_payload(
            VILLAGE, uuid.uuid4().hex[:10], [member_payload(people.id_number(), "周大福", "head")]
        )
    )
    regions = await load_directory(RegionRepository(db_session))
    service = HouseholdService(
        db_session, privacy=Privacy(settings), regions=regions, settings=settings
    )
    household = await service.create(body, OFFICER)
    assert await service.set_cadre(household, "cadre-7", "张书记", date(2016, 5, 1), TEAMS)
    assert household.version == 2

    # the same cadre again, later: still paired since the first date, no new version
    assert not await service.set_cadre(household, "cadre-7", "张书记", date(2017, 1, 1), TEAMS)
    assert household.version == 2 and household.cadre_paired_on == date(2016, 5, 1)

    await service.change_status(
        household, HouseholdStatus.REMOVED, actor="officer-1", effective_on=date(2018, 1, 1)
    )
    closed_version = household.version
    assert not await service.set_cadre(household, "cadre-9", "李干部", date(2019, 1, 1), TEAMS)
    assert household.version == closed_version and household.responsible_cadre_id == "cadre-7"

    versions, events = await versions_and_events(db_session, household.id)
    assert versions.count("cadre_paired") == 1
    assert events.count("fupin.registry.household.updated.v1") == 1
