"""The households read model keeps the newest registry version: an older event that arrives
late (a redelivery, or one that overtook another) does not undo it."""

from datetime import date

from sqlalchemy import select

from fupin_events.registry import (
    HouseholdAttribute,
    HouseholdRegistered,
    HouseholdStatus,
    HouseholdStatusChanged,
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


def status_changed(
    version: int, from_status: HouseholdStatus, to_status: HouseholdStatus, on: date
) -> HouseholdStatusChanged:
    return HouseholdStatusChanged(
        household_id="hh-ordered",
        village_code=OLD_VILLAGE,
        from_status=from_status,
        to_status=to_status,
        effective_on=on,
        member_count=2,
        member_indexes=["a", "b"],
        version=version,
    )


async def test_a_late_older_status_does_not_overwrite_a_newer_one(db_session):
    """The exit (version 3) arrives before the identification (version 2): the household stays
    exited, and its status on a day follows the registry's order, not the arrival order."""
    await households.apply_registered(db_session, registered(1), date(2016, 3, 1))
    exited = status_changed(3, HouseholdStatus.IDENTIFIED, HouseholdStatus.EXITED, date(2019, 6, 1))
    identified = status_changed(
        2, HouseholdStatus.APPLIED, HouseholdStatus.IDENTIFIED, date(2016, 3, 20)
    )
    await households.apply_status_changed(db_session, exited)
    await households.apply_status_changed(db_session, identified)  # delivered late
    db_session.expire_all()
    row = await view(db_session)
    assert (row.status, row.exited_on, row.registry_version) == ("exited", date(2019, 6, 1), 3)
    assert await households.status_on(db_session, "hh-ordered", date(2017, 1, 1)) == "identified"
    assert await households.status_on(db_session, "hh-ordered", date(2020, 1, 1)) == "exited"


async def test_the_view_keeps_the_registrys_registration_and_exit_dates(db_session):
    """Registered when a case first identifies it; the last exit kept after a return."""
    await households.apply_registered(db_session, registered(1), date(2016, 3, 1))
    for version, (before, after, on) in enumerate(
        [
            (HouseholdStatus.APPLIED, HouseholdStatus.IDENTIFIED, date(2016, 3, 20)),
            (HouseholdStatus.IDENTIFIED, HouseholdStatus.EXITED, date(2018, 6, 1)),
            (HouseholdStatus.EXITED, HouseholdStatus.RETURNED, date(2019, 2, 1)),
        ],
        start=2,
    ):
        await households.apply_status_changed(
            db_session, status_changed(version, before, after, on)
        )
    db_session.expire_all()
    row = await view(db_session)
    assert (row.status, row.registered_on, row.exited_on) == (
        "returned",
        date(2016, 3, 20),
        date(2018, 6, 1),
    )


def imported(status: HouseholdStatus, household_id: str) -> HouseholdRegistered:
    """A household a county import registered already exited (or returned since)."""
    return registered(1).model_copy(
        update={
            "household_id": household_id,
            "status": status,
            "registered_on": date(2018, 3, 1),
            "exited_on": date(2020, 6, 30),
        }
    )


async def test_a_household_registered_exited_keeps_its_exit_day_and_transition(db_session):
    await households.apply_registered(
        db_session, imported(HouseholdStatus.EXITED, "hh-imported"), date(2026, 12, 1)
    )
    history = await households.points(db_session, "hh-imported")
    assert [(p.status, p.effective_on) for p in history] == [
        ("identified", date(2018, 3, 1)),
        ("exited", date(2020, 6, 30)),
    ]
    row = (
        await db_session.execute(
            select(HouseholdView).where(HouseholdView.household_id == "hh-imported")
        )
    ).scalar_one()
    assert (row.status, row.registered_on, row.exited_on) == (
        "exited",
        date(2018, 3, 1),
        date(2020, 6, 30),
    )
    # eligible through the 36 months after the real exit, not after the registration
    assert (await households.verdict_at(db_session, row, date(2023, 6, 30), 36)).eligible
    assert not (await households.verdict_at(db_session, row, date(2023, 7, 1), 36)).eligible


async def test_a_household_registered_returned_returns_on_the_day_it_was_recorded(db_session):
    await households.apply_registered(
        db_session, imported(HouseholdStatus.RETURNED, "hh-returned"), date(2026, 12, 1)
    )
    history = await households.points(db_session, "hh-returned")
    assert [(p.status, p.effective_on) for p in history] == [
        ("identified", date(2018, 3, 1)),
        ("exited", date(2020, 6, 30)),
        ("returned", date(2026, 12, 1)),
    ]
