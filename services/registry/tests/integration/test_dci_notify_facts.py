"""DCI subscription filters on status and attribute match every event type: each event carries
the household's status and attribute at its change, and an event recorded before it did is
matched on the household as it is now."""

import uuid
from datetime import date

from sqlalchemy import select

from fupin_events.envelope import new_event
from fupin_events.registry import HouseholdStatusChanged, HouseholdUpdated
from fupin_kit.auth import Caller
from fupin_registry.config import Settings
from fupin_registry.dci.models import Notification, Partner, Subscription
from fupin_registry.dci.notify import on_household_event
from fupin_registry.dci.query import parse_query, to_json
from fupin_registry.households.schemas import HouseholdCreate
from fupin_registry.households.service import HouseholdService
from fupin_registry.privacy import Privacy
from fupin_registry.regions.directory import load_directory
from fupin_registry.regions.repository import RegionRepository
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload

VILLAGE = "220622105200"
OFFICER = Caller(
    subject="notify-test", roles=frozenset({"officer"}), scopes=frozenset(), jurisdiction="22"
)


async def applicant(session) -> str:
    """A household just applied for, in the register (status ``applied``)."""
    settings = Settings()
    service = HouseholdService(
        session,
        privacy=Privacy(settings),
        regions=await load_directory(RegionRepository(session)),
        settings=settings,
    )
    people = PeopleFactory("220622", seed=uuid.uuid4().int)
    members = [member_payload(people.id_number(), "吴一", "head")]
    body = HouseholdCreate.model_validate(household_payload(VILLAGE, uuid.uuid4().hex[:8], members))
    return str((await service.create(body, OFFICER)).id)


def equals(attribute: str, value: str) -> dict:
    return to_json(
        parse_query(
            "predicate",
            [
                {
                    "expression1": {
                        "attribute_name": attribute,
                        "operator": "eq",
                        "attribute_value": value,
                    }
                }
            ],
        )
    )


async def subscribe(session, sender: str, event_type: str, filter_: dict) -> str:
    code = uuid.uuid4().hex
    session.add(
        Subscription(
            code=code,
            sender_id=sender,
            transaction_id=f"txn-{code[:8]}",
            reference_id="ref-1",
            reg_event_type=event_type,
            filter=filter_,
            filter_key=code,
            notify_record_type="Group",
            sender_uri="http://127.0.0.1:9/callback",
            jurisdiction="220622",
        )
    )
    await session.flush()
    return code


def updated(household_id: str, status: str | None) -> HouseholdUpdated:
    return HouseholdUpdated(
        household_id=household_id,
        village_code=VILLAGE,
        changed=["phone"],
        attribute="ordinary_poor",
        support_type="development",
        member_count=2,
        status=status,
    )


async def notified(session, codes: list[str]) -> dict[str, list[dict]]:
    rows = (
        await session.execute(
            select(Notification.subscription_code, Notification.message).where(
                Notification.subscription_code.in_(codes)
            )
        )
    ).all()
    found: dict[str, list[dict]] = {code: [] for code in codes}
    for code, message in rows:
        found[code].append(message)
    return found


def record_of(message: dict) -> dict:
    [event] = message["notify_event"]
    return event["data"]["reg_records"]


async def test_update_and_status_change_events_match_status_and_attribute_filters(db_session):
    sender = f"agency-{uuid.uuid4().hex[:8]}"
    db_session.add(
        Partner(sender_id=sender, name=sender, client_id=sender, require_signature=False)
    )
    await db_session.flush()
    identified = await subscribe(db_session, sender, "UPDATE", equals("status", "identified"))
    applied = await subscribe(db_session, sender, "UPDATE", equals("status", "applied"))
    dibao = await subscribe(db_session, sender, "STATUS_CHANGE", equals("attribute", "dibao"))

    fresh = str(uuid.uuid4())  # no such household: the event alone must decide
    await on_household_event(db_session, new_event(updated(fresh, "identified"), subject=fresh))
    changed = HouseholdStatusChanged(
        household_id=fresh,
        village_code=VILLAGE,
        from_status="identified",
        to_status="exited",
        effective_on=date(2020, 12, 1),
        member_count=2,
        attribute="dibao",
    )
    await on_household_event(db_session, new_event(changed, subject=fresh))
    # An event recorded before events carried the status: the household's status now decides.
    older = await applicant(db_session)
    await on_household_event(db_session, new_event(updated(older, None), subject=older))

    found = await notified(db_session, [identified, applied, dibao])
    assert [record_of(m)["poverty_status"] for m in found[identified]] == ["identified"]
    assert [
        (record_of(m)["household_attribute"], record_of(m)["poverty_status"]) for m in found[dibao]
    ] == [("dibao", "exited")]
    assert [
        (record_of(m)["group_identifier"][0]["identifier_value"], record_of(m)["poverty_status"])
        for m in found[applied]
    ] == [(older, "applied")]
