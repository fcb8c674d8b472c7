"""Households, history and quota counting against real PostgreSQL."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from fupin_kit.auth import Caller
from fupin_registry.config import Settings
from fupin_registry.crosscheck.models import Flag
from fupin_registry.households.repository import (
    HistoryRepository,
    HouseholdFilter,
    HouseholdRepository,
)
from fupin_registry.households.schemas import HouseholdCreate, HouseholdUpdate
from fupin_registry.households.service import HouseholdService
from fupin_registry.identification.models import Case
from fupin_registry.privacy import Privacy
from fupin_registry.quotas.repository import QuotaRepository
from fupin_registry.regions.directory import load_directory
from fupin_registry.regions.repository import RegionRepository
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload
from fupin_registry.vocabulary import HouseholdStatus

VILLAGE = "220622105200"
OFFICER = Caller(
    subject="repo-test",
    roles=frozenset({"officer"}),
    scopes=frozenset({"pii:read"}),
    jurisdiction="22",
)


@pytest.fixture
async def service(db_session):
    settings = Settings()
    regions = await load_directory(RegionRepository(db_session))
    return HouseholdService(
        db_session, privacy=Privacy(settings), regions=regions, settings=settings
    )


async def create(service, people, size=2, village=VILLAGE, **fields):
    members = [member_payload(people.id_number(), "吴一", "head")]
    members += [member_payload(people.id_number(), "吴二", "child") for _ in range(size - 1)]
    body = HouseholdCreate.model_validate(
        household_payload(village, uuid.uuid4().hex[:8], members, **fields)
    )
    return await service.create(body, OFFICER)


@pytest.fixture
def people():
    return PeopleFactory("220622", seed=uuid.uuid4().int)


async def test_personal_data_is_encrypted_and_one_person_one_live_household(
    db_session, service, people
):
    household = await create(service, people)
    rows = (
        await db_session.execute(
            text("SELECT id_index, id_number_enc, name_enc FROM members WHERE household_id = :h"),
            {"h": household.id},
        )
    ).all()
    assert len(rows) == 2 and all(b"\xe5\x90\xb4" not in r.name_enc for r in rows)  # no clear 吴
    with pytest.raises(IntegrityError):  # the database guards the rule too
        async with db_session.begin_nested():
            await db_session.execute(
                text(
                    "INSERT INTO members (id, household_id, id_index, id_number_enc, name_enc, sex,"
                    " birth_date, relation)"
                    " VALUES (:i, :h, :x, 'x', 'x', 'male', '1970-01-01', 'child')"
                ),
                {"i": uuid.uuid4(), "h": household.id, "x": rows[0].id_index},
            )
    holders = await HouseholdRepository(db_session).active_holders([rows[0].id_index, b"nobody"])
    assert holders == {rows[0].id_index: household.id}


async def test_every_change_closes_the_previous_version(db_session, service, people):
    household = await create(service, people)
    await service.update(household, HouseholdUpdate(attribute="dibao"), OFFICER)
    await service.change_status(
        household, HouseholdStatus.IDENTIFIED, actor="user:x", effective_on=date(2016, 5, 1)
    )
    history = HistoryRepository(db_session)
    versions = await history.changes(household.id, after=None, limit=10)
    assert [(v.version, v.action, v.status) for v in versions] == [
        (1, "created", "applied"),
        (2, "updated", "applied"),
        (3, "status_changed", "identified"),
    ]
    assert [v.valid_to is None for v in versions] == [False, False, True]
    assert (
        versions[2].snapshot["registered_on"] == "2016-05-01"
        and versions[1].snapshot["attribute"] == "dibao"
    )
    page = await history.changes(household.id, after=versions[0].id, limit=1)
    assert [v.version for v in page] == [2]

    # spread the versions over time and read them back as of instants between them
    now = datetime.now(UTC)
    for version, (start, end) in zip(versions, [(30, 20), (20, 10), (10, None)], strict=True):
        await db_session.execute(
            text("UPDATE household_versions SET valid_from = :f, valid_to = :t WHERE id = :i"),
            {
                "f": now - timedelta(days=start),
                "t": None if end is None else now - timedelta(days=end),
                "i": version.id,
            },
        )
    household_id = household.id
    db_session.expire_all()
    assert await history.as_of(household_id, now - timedelta(days=31)) is None
    assert (await history.as_of(household_id, now - timedelta(days=25))).version == 1
    assert (
        await history.as_of(household_id, now - timedelta(days=20))
    ).version == 1  # just before the change
    assert (await history.as_of(household_id, now - timedelta(days=15))).version == 2
    assert (await history.as_of(household_id, now)).version == 3


async def test_search_filters(db_session, service, people):
    village = "220622105201"
    flagged = await create(
        service,
        people,
        village=village,
        attribute="wubao",
        primary_cause="disability",
        secondary_causes=[],
    )
    plain = await create(
        service,
        people,
        village=village,
        attribute="dibao",
        primary_cause="illness",
        secondary_causes=["disability"],
    )
    db_session.add(
        Flag(
            id=uuid.uuid4(),
            household_id=flagged.id,
            village_code=village,
            kind="vehicle",
            source="test",
        )
    )
    await db_session.flush()
    repository = HouseholdRepository(db_session)

    async def ids(caller=OFFICER, **where):
        rows = await repository.search(
            HouseholdFilter(region=village, **where), caller, after=None, limit=10
        )
        return {h.id for h, _ in rows}

    assert await ids() == {flagged.id, plain.id}
    assert await ids(has_open_flags=True) == {flagged.id}
    assert await ids(has_open_flags=False) == {plain.id}
    assert await ids(causes=("disability",)) == {flagged.id, plain.id}  # primary or secondary
    assert await ids(causes=("illness",)) == {plain.id}
    assert await ids(causes=("lack_of_land", "schooling")) == set()
    assert await ids(causes=("schooling", "disability")) == {flagged.id, plain.id}
    assert await ids(attributes=("dibao",)) == {plain.id}
    assert await ids(attributes=("dibao", "wubao")) == {flagged.id, plain.id}
    assert await ids(statuses=("identified",)) == set()
    assert await ids(caller=OFFICER.model_copy(update={"jurisdiction": "220581"})) == set()
    rows = await repository.search(HouseholdFilter(region=village), OFFICER, after=None, limit=10)
    assert {count for _, count in rows} == {2}


def approved_identification(household, people, on):
    return Case(
        id=uuid.uuid4(),
        kind="identification",
        household_id=household.id,
        village_code=household.village_code,
        state="approved",
        year=on.year,
        opened_on=on - timedelta(days=30),
        last_step_on=on,
        people_counted=people,
    )


async def test_quota_counts_the_people_each_approval_counted(db_session, service, people):
    village = "220622105202"
    counted = await create(service, people, size=3, village=village)
    other_year = await create(service, people, size=2, village=village)
    still_open = await create(service, people, size=4, village=village)
    db_session.add_all(
        [
            approved_identification(counted, 3, date(2017, 6, 1)),
            approved_identification(other_year, 2, date(2016, 12, 31)),
            Case(
                id=uuid.uuid4(),
                kind="identification",
                household_id=still_open.id,
                village_code=village,
                state="township_review",
                year=2017,
                opened_on=date(2017, 5, 1),
            ),
        ]
    )
    await db_session.flush()
    members = await service.households.members(counted.id)
    await service.remove_member(
        counted,
        next(m for m in members if m.relation != "head"),
        "death",
        date(2017, 8, 1),
        OFFICER,
    )
    quotas = QuotaRepository(db_session)
    assert await quotas.people_registered(village, 2017) == 3  # a departure frees no place
    assert await quotas.people_registered(village, 2016) == 2
    assert await quotas.people_registered(village[:9], 2017) == 3
    assert await quotas.people_registered(village[:9] + "9", 2017) == 0


async def test_versions_stay_ordered_when_an_earlier_transaction_writes_later(
    db_session, service, people
):
    household = await create(service, people)
    # the version in place was written by a transaction that started after this one (its
    # instant lies after this transaction's start time)
    await db_session.execute(
        text(
            "UPDATE household_versions SET valid_from = now() + interval '2 seconds'"
            " WHERE household_id = :h"
        ),
        {"h": household.id},
    )
    locked = await service.households.get(household.id, for_update=True)
    await service.update(locked, HouseholdUpdate(drinking_water_safe=False), OFFICER)
    await service.update(locked, HouseholdUpdate(drinking_water_safe=True), OFFICER)
    rows = (
        await db_session.execute(
            text(
                "SELECT version, valid_from, valid_to FROM household_versions"
                " WHERE household_id = :h ORDER BY id"
            ),
            {"h": household.id},
        )
    ).all()
    assert [r.version for r in rows] == [1, 2, 3]
    assert rows[0].valid_from < rows[1].valid_from < rows[2].valid_from
    assert rows[0].valid_to == rows[1].valid_from and rows[1].valid_to == rows[2].valid_from
    later = rows[2].valid_from + timedelta(seconds=1)
    assert (await HistoryRepository(db_session).as_of(household.id, later)).version == 3
