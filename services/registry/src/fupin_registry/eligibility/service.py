"""Answering eligibility checks: blind-index lookup, the rules, the audit record, the answer.

The answers leave as ready JSON bytes: they are built here from values the rules produced (a
decision id, a boolean, a reason code, a date), so validating them again through a response
model would only repeat work on every check.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import orjson

from fupin_events.ids import uuid4_text, uuid4_texts
from fupin_events.values import birth_date_of, business_today
from fupin_kit.audit import AuditRecord, canonical_plain
from fupin_kit.auth import Caller
from fupin_kit.crypto import BlindIndex
from fupin_registry.eligibility.audit_batch import AuditBatcher
from fupin_registry.eligibility.lookups import CoalescedLookups
from fupin_registry.eligibility.repository import StandingRepository
from fupin_registry.eligibility.rules import DayRules, EligibilityRules
from fupin_registry.eligibility.schemas import EligibilityCheckCreate

AUDIT_ACTION = "eligibility.check"
# A single check's audit record is about a member (object_id: the blind index); a batch
# request's one record (object_id: a batch id) lists every check in ``details``.
MEMBER_OBJECT = "member"
BATCH_OBJECT = "eligibility_batch"
# The columns of a batch record's details: item i of every list is the batch's check i.
BATCH_COLUMNS = (
    "members",
    "decision_ids",
    "eligible",
    "reason_codes",
    "valid_until",
    "purposes",
    "consent_references",
)


def birth_date_in(resident_id: str) -> date:
    """The birth date of an already validated resident ID number (GB 11643: digits 7-14)."""
    return birth_date_of(resident_id)


class EligibilityService:
    def __init__(
        self,
        standings: StandingRepository,
        audit: AuditBatcher,
        rules: EligibilityRules,
        index: BlindIndex,
        lookups: CoalescedLookups,
    ) -> None:
        self.standings = standings
        self.lookups = lookups
        self.audit = audit
        self.rules = rules
        self.index = index
        self._day: DayRules | None = None

    def day_rules(self) -> DayRules:
        """The rules for today's business date (rebuilt when the date changes)."""
        today = business_today()
        day = self._day
        if day is None or day.today != today:
            day = self._day = DayRules(self.rules, today)
        return day

    async def check(self, caller: Caller, request: EligibilityCheckCreate) -> bytes:
        id_number = request.id_number
        member = self.index.of(id_number)
        standing = await self.lookups.find(member, caller.jurisdiction)
        eligible, reason, valid_until = self.day_rules().decide(standing, birth_date_in(id_number))
        answer = {
            "decision_id": uuid4_text(),
            "eligible": eligible,
            "reason_code": reason.value,
            "valid_until": valid_until.isoformat(),
        }
        # Who asked (actor) about whom (blind index, never the ID number), why, what was said.
        details = {
            **answer,
            "purpose": request.purpose.value,
            "consent_reference": request.consent_reference,
        }
        record = AuditRecord(
            caller.actor,
            AUDIT_ACTION,
            MEMBER_OBJECT,
            member.hex(),
            details,
            canonical_plain(details),
        )
        await self.audit.write([record], checks=1)
        return orjson.dumps(answer)

    async def check_many(self, caller: Caller, requests: Sequence[EligibilityCheckCreate]) -> bytes:
        """Answers in request order, sent only after the batch's audit record is committed.

        Reason codes and purposes are string enums and go into the JSON as their values."""
        index = self.index.of
        numbers = [r.id_number for r in requests]
        members = [index(n) for n in numbers]
        found = await self.standings.find_many(list(set(members)), caller.jurisdiction)
        decide = self.day_rules().decide
        ids = uuid4_texts(len(numbers))
        eligible: list[bool] = []
        reasons: list[str] = []
        until: list[str] = []
        answers: list[dict[str, object]] = []
        dates: dict[date, str] = {}  # most answers share a handful of dates
        for number, member, decision_id in zip(numbers, members, ids, strict=True):
            yes, reason, valid_until = decide(found.get(member), birth_date_in(number))
            day = dates.get(valid_until)
            if day is None:
                day = dates[valid_until] = valid_until.isoformat()
            eligible.append(yes)
            reasons.append(reason)
            until.append(day)
            answers.append(
                {
                    "decision_id": decision_id,
                    "eligible": yes,
                    "reason_code": reason,
                    "valid_until": day,
                }
            )
        # One record for the whole batch, in columns (item i of each list is check i): the
        # chain hashes once per request rather than per item, and the record stays small to
        # encode. Every check remains findable by its member (docs/eligibility.md).
        details = dict(
            zip(
                BATCH_COLUMNS,
                (
                    [m.hex() for m in members],
                    ids,
                    eligible,
                    reasons,
                    until,
                    [r.purpose for r in requests],
                    [r.consent_reference for r in requests],
                ),
                strict=True,
            )
        )
        # Strings (printable ASCII by the schema, or enum values), booleans and lists of them.
        record = AuditRecord(
            caller.actor,
            AUDIT_ACTION,
            BATCH_OBJECT,
            uuid4_text(),
            details,
            canonical_plain(details),
        )
        await self.audit.write([record], checks=len(ids))
        return orjson.dumps({"items": answers})
