"""Answering eligibility checks: blind-index lookup, the rules, the audit record, the answer."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import date

from fupin_events.values import business_today
from fupin_kit.audit import AuditRecord
from fupin_kit.auth import Caller
from fupin_kit.crypto import BlindIndex
from fupin_registry.eligibility.audit_batch import AuditBatcher
from fupin_registry.eligibility.repository import StandingRepository
from fupin_registry.eligibility.rules import EligibilityRules, Standing, decide
from fupin_registry.eligibility.schemas import (
    EligibilityBatchRead,
    EligibilityCheckCreate,
    EligibilityCheckRead,
)

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
        [answer] = await self._answer(caller, [request], [id_index], {id_index: standing})
        return EligibilityCheckRead.model_validate(answer)

    async def check_many(
        self, caller: Caller, requests: Sequence[EligibilityCheckCreate]
    ) -> EligibilityBatchRead:
        id_indexes = [self.index.of(r.id_number) for r in requests]
        found = await self.standings.find_many(list(set(id_indexes)), caller.jurisdiction)
        answers = await self._answer(caller, requests, id_indexes, found)
        return EligibilityBatchRead.model_validate({"items": answers})

    async def _answer(
        self,
        caller: Caller,
        requests: Sequence[EligibilityCheckCreate],
        id_indexes: list[bytes],
        found: Mapping[bytes, Standing | None],
    ) -> list[dict[str, object]]:
        """The answers (plain dicts, validated once as a whole by the caller) after their
        audit records are committed."""
        today = business_today()
        actor = caller.actor
        answers: list[dict[str, object]] = []
        records: list[AuditRecord] = []
        randomness = os.urandom(16 * len(requests))  # one system call for all decision ids
        for position, (request, id_index) in enumerate(zip(requests, id_indexes, strict=True)):
            born = birth_date_in(request.id_number)
            eligible, reason, valid_until = decide(found.get(id_index), born, today, self.rules)
            decision_id = str(
                uuid.UUID(bytes=randomness[16 * position : 16 * position + 16], version=4)
            )
            answer = {
                "decision_id": decision_id,
                "eligible": eligible,
                "reason_code": reason.value,
                "valid_until": valid_until.isoformat(),
            }
            answers.append(answer)
            # Who asked (actor) about whom (blind index, never the ID number), why, what was said.
            records.append(
                AuditRecord(
                    actor,
                    AUDIT_ACTION,
                    "member",
                    id_index.hex(),
                    {
                        **answer,
                        "purpose": request.purpose.value,
                        "consent_reference": request.consent_reference,
                    },
                )
            )
        await self.audit.write(records)
        return answers


def birth_date_in(resident_id: str) -> date:
    """The birth date of an already validated resident ID number (GB 11643: digits 7-14)."""
    return date(int(resident_id[6:10]), int(resident_id[10:12]), int(resident_id[12:14]))
