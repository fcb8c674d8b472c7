"""SQL of the disbursement path: everything a project payment needs to know, for any number of
projects in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fupin_funds.announcements.gate import ObjectionPeriod
from fupin_funds.ledger.repository import AccountRef

_PAYMENT_CONTEXT = """
SELECT p.id, p.region_code, p.status, p.year, a.ends_on,
       (SELECT CASE WHEN count(*) = 1 THEN min(b.source) ELSE 'mixed' END
          FROM project_budgets b WHERE b.project_id = p.id) AS source,
       ARRAY(SELECT ARRAY[o.filed_on, o.resolved_on] FROM objections o
              WHERE o.announcement_id = a.id) AS objections,
       acc.id, acc.kind, acc.region_code, acc.source, acc.year, acc.ref_id, acc.normal_side,
           acc.balance_fen,
       bank.id, bank.kind, bank.region_code, bank.source, bank.year, bank.ref_id,
           bank.normal_side, bank.balance_fen,
       subsidy.id, subsidy.kind, subsidy.region_code, subsidy.source, subsidy.year, subsidy.ref_id,
       subsidy.normal_side, subsidy.balance_fen
  FROM projects p
  LEFT JOIN announcements a ON a.subject_type = 'project' AND a.subject_id = p.id
  LEFT JOIN accounts acc ON acc.kind = 'project' AND acc.region_code = p.region_code AND
      acc.source = ''
       AND acc.year = 0 AND acc.ref_id = p.id
  LEFT JOIN accounts bank ON bank.kind = 'bank_settlement' AND bank.region_code =
      left(p.region_code, 6)
       AND bank.source = '' AND bank.year = 0 AND bank.ref_id = ''
  LEFT JOIN accounts subsidy ON subsidy.kind = 'household_subsidy' AND subsidy.region_code =
      left(p.region_code, 6)
       AND subsidy.source = '' AND subsidy.year = 0 AND subsidy.ref_id = ''
 WHERE p.id = ANY ($1::text[])
"""


@dataclass(frozen=True)
class PaymentContext:
    """A project as the payment path sees it: state, notice, objections, its account."""

    project_id: str
    region_code: str
    status: str
    year: int
    notice_ends_on: date | None
    source: str  # the project's fund source, or "mixed" when its budget has several
    objections: list[ObjectionPeriod]
    account: AccountRef | None
    bank_settlement: AccountRef | None  # the county's accounts that payments go to, when they exist
    household_subsidy: AccountRef | None


class PaymentRepository:
    """On a plain asyncpg connection (``fupin_kit.db.DriverConnections``)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def contexts(self, project_ids: Sequence[str]) -> list[PaymentContext | None]:
        """Each project's context, in the order asked (None: no such project)."""
        rows = await self.connection.fetch(_PAYMENT_CONTEXT, list(set(project_ids)))
        found = {row[0]: _context(row) for row in rows}
        return [found.get(project_id) for project_id in project_ids]


def _context(row: Any) -> PaymentContext:
    def account(first: int) -> AccountRef | None:
        return None if row[first] is None else AccountRef(*row[first : first + 8])

    return PaymentContext(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        [ObjectionPeriod(filed, resolved) for filed, resolved in row[6]],
        account(7),
        account(15),
        account(23),
    )
