"""Answering eligibility checks: blind-index lookup, the rules, the audit record, the answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fupin_events.values import birth_date_of, business_today
from fupin_kit.audit import AuditRecord
from fupin_kit.auth import Caller
from fupin_kit.crypto import BlindIndex

from fupin_registry.eligibility.audit_batch import AuditBatcher
from fupin_registry.eligibility.repository import StandingRepository
from fupin_registry.eligibility.rules import EligibilityRules, Standing, decide
from fupin_registry.eligibility.schemas import EligibilityCheckCreate, EligibilityCheckRead

AUDIT_ACTION = "eligibility.check"


class EligibilityService:
    def __init__(
        self,
        standings: StandingRepository,
        audit: AuditBatcher,
        rules: EligibilityRules,
        index: BlindIndex,
    ) -> None:
        self.standings = standings
        self.audit = audit
        self.rules = rules
        self.index = index

    async def check(self, caller: Caller, request: EligibilityCheckCreate) -> EligibilityCheckRead:
        id_index = self.index.of(request.id_number)
        standing = await self.standings.find_one(id_index, caller.jurisdiction)
        return (await self._answer(caller, [request], [id_index], {id_index: standing}))[0]

    async def check_many(
        self, caller: Caller, requests: Sequence[EligibilityCheckCreate]
    ) -> list[EligibilityCheckRead]:
        id_indexes = [self.index.of(r.id_number) for r in requests]
        found = await self.standings.find_many(list(set(id_indexes)), caller.jurisdiction)
        return await self._answer(caller, requests, id_indexes, found)

    async def _answer(
        self,
        caller: Caller,
        requests: Sequence[EligibilityCheckCreate],
        id_indexes: list[bytes],
        found: dict[bytes, Standing | None],
    ) -> list[EligibilityCheckRead]:
        today = business_today()
        answers: list[EligibilityCheckRead] = []
        records: list[AuditRecord] = []
        for request, id_index in zip(requests, id_indexes, strict=True):
            decision = decide(
                found.get(id_index), birth_date_of(request.id_number), today, self.rules
            )
            answer = EligibilityCheckRead(
                decision_id=uuid.uuid4(),
                eligible=decision.eligible,
                reason_code=decision.reason,
                valid_until=decision.valid_until,
            )
            answers.append(answer)
            # Who asked about whom (blind index, never the ID number), why, and what was said.
            records.append(
                AuditRecord(
                    caller.actor,
                    AUDIT_ACTION,
                    "member",
                    id_index.hex(),
                    {
                        "decision_id": str(answer.decision_id),
                        "purpose": request.purpose.value,
                        "consent_reference": request.consent_reference,
                        "eligible": answer.eligible,
                        "reason_code": answer.reason_code.value,
                        "valid_until": answer.valid_until.isoformat(),
                        "checked_on": today.isoformat(),
                        "jurisdiction": caller.jurisdiction,
                    },
                )
            )
        await self.audit.write(records)
        return answers
