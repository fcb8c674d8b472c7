"""The households read model keeps the newest registry version: an older event that arrives
late (a redelivery, or one that overtook another) does not undo it."""

from datetime import date

from sqlalchemy import select

from fupin_events.registry import (
    HouseholdAttribute,
    HouseholdRegistered,
    HouseholdStatus,
    HouseholdUpdated,
    SupportType,
)
from fupin_funds.households import service as households
from fupin_funds.households.models import HouseholdView

OLD_VILLAGE, NEW_VILLAGE = "220622100201", "220622100202"


def registered(version: int | None) -> HouseholdRegistered:
    return HouseholdRegistered(
        household_id="hh-ordered",
        village_code=OLD_VILLAGE,
        household_number="0001",
        attribute=HouseholdAttribute.ORDINARY_POOR,
        support_type=SupportType.DEVELOPMENT,
        primary_cause="illness",
        status=HouseholdStatus.APPLIED,
        member_count=2,
        member_indexes=["a", "b"],
        year=2016,
        version=version,
    )


def moved(version: int | None) -> HouseholdUpdated:
    return HouseholdUpdated(
        household_id="hh-ordered",
        village_code=NEW_VILLAGE,
        changed=["village_code", "members"],
        attribute=HouseholdAttribute.ORDINARY_POOR,
        support_type=SupportType.DEVELOPMENT,
        member_count=3,
        member_indexes=["a", "b", "c"],
        version=version,
    )


async def view(session) -> HouseholdView:
    return (
        await session.execute(
            select(HouseholdView).where(HouseholdView.household_id == "hh-ordered")
        )
    ).scalar_one()


async def test_a_late_older_event_does_not_undo_a_newer_one(db_session):
    day = date(2016, 5, 1)
    await households.apply_registered(db_session, registered(1), day)
    await households.apply_updated(db_session, moved(3), day)
    await households.apply_registered(db_session, registered(1), day)  # redelivered late
    await households.apply_updated(
        db_session, moved(2).model_copy(update={"village_code": OLD_VILLAGE}), day
    )  # an older change arriving after a newer one
    db_session.expire_all()
    row = await view(db_session)
    assert (row.village_code, row.member_count, row.registry_version) == (NEW_VILLAGE, 3, 3)


async def test_events_without_a_version_still_apply(db_session):
    day = date(2016, 5, 1)
    await households.apply_registered(db_session, registered(None), day)
    await households.apply_updated(db_session, moved(None), day)
    db_session.expire_all()
    row = await view(db_session)
    assert (row.village_code, row.registry_version) == (NEW_VILLAGE, None)
