"""SQL of supervision: the anomaly rules (each a query returning its evidence), findings,
anomalies and the report's aggregates."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.households.models import HouseholdView
from fupin_funds.supervision.models import Anomaly, Finding

# Every rule ignores entries that a reversing entry cancelled (NOT EXISTS ... reverses_entry_id).

# Payments to households are booked under the county's account. A rule run over a region below
# the county (a township) looks at the payments to households of its villages.

# Household payments with the household's status on the booking date (from the status history).
_HOUSEHOLD_PAYMENTS = """
SELECT e.id, e.kind, e.household_id, e.project_id, e.booked_on, e.amount_fen, e.debit_region,
       e.source, h.status AS status_now, h.removed_on, point.status AS status_then,
       point.effective_on AS status_since
  FROM ledger_entries e
  LEFT JOIN household_view h ON h.household_id = e.household_id
  LEFT JOIN LATERAL (
        SELECT s.status, s.effective_on FROM household_status_history s
         WHERE s.household_id = e.household_id AND s.effective_on <= e.booked_on
         ORDER BY s.registry_version DESC NULLS LAST, s.id DESC LIMIT 1) point ON true
 WHERE e.kind IN ('household_payment', 'direct_subsidy', 'loan_subsidy') AND
     NOT EXISTS (SELECT 1 FROM ledger_entries r
         WHERE r.reverses_entry_id = e.id)
   AND (e.debit_region LIKE :prefix || '%' OR h.village_code LIKE :prefix || '%')
   AND (CAST(:household_id AS text) IS NULL OR e.household_id = :household_id)
   AND (CAST(:entry_id AS text) IS NULL OR e.id = :entry_id)
"""

_DUPLICATES = """
SELECT e.project_id, e.household_id, min(e.debit_region) AS region_code, min(e.source) AS source,
       array_agg(e.id ORDER BY e.booked_on, e.id) AS entry_ids, sum(e.amount_fen) AS total_fen
  FROM ledger_entries e
  LEFT JOIN household_view h ON h.household_id = e.household_id
 WHERE e.kind = 'household_payment' AND
     NOT EXISTS (SELECT 1 FROM ledger_entries r
         WHERE r.reverses_entry_id = e.id)
   AND (e.debit_region LIKE :prefix || '%' OR h.village_code LIKE :prefix || '%')
   AND (CAST(:household_id AS text) IS NULL OR e.household_id = :household_id)
   AND (CAST(:project_id AS text) IS NULL OR e.project_id = :project_id)
 GROUP BY e.project_id, e.household_id
HAVING count(*) > 1
"""

# Money moved for a project, or an allocation released, before its public notice completed.
_BEFORE_ANNOUNCEMENT = """
SELECT e.id, 'project' AS subject_type, e.project_id AS subject_id, e.kind, e.booked_on,
       e.amount_fen, e.source, p.region_code, a.ends_on,
       (SELECT count(*) FROM objections o
         WHERE o.announcement_id = a.id AND o.filed_on <= e.booked_on
           AND (o.resolved_on IS NULL OR o.resolved_on > e.booked_on)) AS open_objections
  FROM ledger_entries e
  JOIN projects p ON p.id = e.project_id
  LEFT JOIN announcements a ON a.subject_type = 'project' AND a.subject_id = e.project_id
 WHERE e.kind IN ('project_funding', 'project_payment', 'household_payment') AND
     NOT EXISTS (SELECT 1 FROM ledger_entries r
         WHERE r.reverses_entry_id = e.id)
   AND p.region_code LIKE :prefix || '%'
   AND (CAST(:entry_id AS text) IS NULL OR e.id = :entry_id)
UNION ALL
SELECT e.id, 'allocation', e.allocation_id, e.kind, e.booked_on, e.amount_fen, e.source,
       l.parent_region, a.ends_on,
       (SELECT count(*) FROM objections o
         WHERE o.announcement_id = a.id AND o.filed_on <= e.booked_on
           AND (o.resolved_on IS NULL OR o.resolved_on > e.booked_on))
  FROM ledger_entries e
  JOIN allocations l ON l.id = e.allocation_id
  LEFT JOIN announcements a ON a.subject_type = 'allocation' AND a.subject_id = e.allocation_id
 WHERE e.kind = 'allocation_release' AND
     NOT EXISTS (SELECT 1 FROM ledger_entries r
         WHERE r.reverses_entry_id = e.id)
   AND l.parent_region LIKE :prefix || '%'
   AND (CAST(:entry_id AS text) IS NULL OR e.id = :entry_id)
"""

_IDLE = """
SELECT a.id, a.kind, a.region_code, a.source, a.year, a.ref_id, a.balance_fen, a.last_booked_on
  FROM accounts a
 WHERE a.kind IN ('fund_pool', 'allocation', 'project') AND a.balance_fen > 0
   AND a.region_code LIKE :prefix || '%'
   AND a.last_booked_on < CAST(:on AS date) - CAST(:days AS integer)
"""

_OVER_BUDGET = """
SELECT p.id, p.region_code, p.budget_fen,
       coalesce((SELECT sum(e.amount_fen) FROM ledger_entries e
                  WHERE e.project_id = p.id AND e.kind = 'project_funding' AND
                          NOT EXISTS (SELECT 1 FROM ledger_entries r
                              WHERE r.reverses_entry_id = e.id)), 0) AS funded_fen,
       coalesce((SELECT sum(e.amount_fen) FROM ledger_entries e
                  WHERE e.project_id = p.id AND e.kind IN ('project_payment',
                      'household_payment') AND
                          NOT EXISTS (SELECT 1 FROM ledger_entries r
                              WHERE r.reverses_entry_id = e.id)), 0)
         AS paid_fen
  FROM projects p
 WHERE p.region_code LIKE :prefix || '%'
   AND (CAST(:project_id AS text) IS NULL OR p.id = :project_id)
"""


def anomalies_within(jurisdiction: str) -> ColumnElement[bool]:
    """Anomalies a jurisdiction sees: those of its regions, and those about a payment to a
    household living in one of its villages (booked under the county's account, so a township
    sees the anomalies about its households)."""
    return or_(
        Anomaly.region_code.startswith(jurisdiction, autoescape=True),
        exists().where(
            HouseholdView.household_id == Anomaly.household_id,
            HouseholdView.village_code.startswith(jurisdiction, autoescape=True),
        ),
    )


class SupervisionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return list(await self.session.execute(text(sql), params))

    async def household_payments(
        self, prefix: str, household_id: str | None, entry_id: str | None
    ) -> list[Any]:
        return await self._rows(
            _HOUSEHOLD_PAYMENTS,
            {"prefix": prefix, "household_id": household_id, "entry_id": entry_id},
        )

    async def duplicate_payments(
        self, prefix: str, household_id: str | None, project_id: str | None
    ) -> list[Any]:
        return await self._rows(
            _DUPLICATES, {"prefix": prefix, "household_id": household_id, "project_id": project_id}
        )

    async def project_entries(self, prefix: str, entry_id: str | None) -> list[Any]:
        return await self._rows(_BEFORE_ANNOUNCEMENT, {"prefix": prefix, "entry_id": entry_id})

    async def idle_accounts(self, prefix: str, on: date, days: int) -> list[Any]:
        return await self._rows(_IDLE, {"prefix": prefix, "on": on, "days": days})

    async def project_totals(self, prefix: str, project_id: str | None) -> list[Any]:
        return await self._rows(_OVER_BUDGET, {"prefix": prefix, "project_id": project_id})

    async def record_anomaly(self, values: dict[str, Any]) -> bool:
        """Insert unless the same rule already fired for the same subject."""
        result = await self.session.execute(
            insert(Anomaly)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["rule", "subject_key"])
            .returning(Anomaly.id)
        )
        return result.first() is not None

    async def anomaly(
        self, anomaly_id: str, *, within: str | None = None, lock: bool = False
    ) -> Anomaly | None:
        """The anomaly, if it lies ``within`` a jurisdiction when one is given."""
        statement = select(Anomaly).where(Anomaly.id == anomaly_id)
        if within is not None:
            statement = statement.where(anomalies_within(within))
        if lock:
            statement = statement.with_for_update(of=Anomaly)
        return (await self.session.execute(statement)).scalar()

    async def anomalies(
        self,
        within: str,
        rule: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[Anomaly]:
        statement = select(Anomaly).where(anomalies_within(within))
        if rule is not None:
            statement = statement.where(Anomaly.rule == rule)
        if status is not None:
            statement = statement.where(Anomaly.status == status)
        if after is not None:
            statement = statement.where(Anomaly.id > after)
        rows = await self.session.execute(statement.order_by(Anomaly.id).limit(limit))
        return list(rows.scalars())

    async def add_finding(self, finding: Finding) -> Finding:
        self.session.add(finding)
        await self.session.flush()
        return finding

    async def finding(self, finding_id: str, *, lock: bool = False) -> Finding | None:
        statement = select(Finding).where(Finding.id == finding_id)
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar()

    async def findings(
        self, jurisdiction_filter: Any, status: str | None, after: str | None, limit: int
    ) -> list[Finding]:
        statement = select(Finding).where(jurisdiction_filter)
        if status is not None:
            statement = statement.where(Finding.status == status)
        if after is not None:
            statement = statement.where(Finding.id > after)
        rows = await self.session.execute(statement.order_by(Finding.id).limit(limit))
        return list(rows.scalars())

    # --- report aggregates, grouped by a child region prefix of length ``size`` ---
    async def money_by_region(
        self, prefix: str, size: int, year: int | None, on: date
    ) -> list[Any]:
        # Booked up to ``on`` and not reversed by then (a reversal booked later leaves the entry
        # standing on the day reported, as the postings of ``held`` do). Money a region's row
        # receives is what came from outside it: a release between two regions of the same row
        # (a city to its counties) is counted once, where it entered, not again where it went
        # down. Money set aside in a county's risk-compensation fund left the year's pool then
        # (a deposit carries the pool's source and year); the fund's later payments to banks
        # are not counted again.
        return await self._rows(
            """
            SELECT left(region, :size) AS region_code, source,
                   sum(CASE WHEN flow = 'in' THEN amount ELSE 0 END) AS allocated_fen,
                   sum(CASE WHEN flow = 'out' THEN amount ELSE 0 END) AS disbursed_fen
              FROM (
                SELECT e.debit_region AS region, e.credit_region AS giver, e.kind, e.source,
                       e.amount_fen AS amount, 'in' AS flow
                  FROM ledger_entries e
                 WHERE e.kind IN ('appropriation', 'donation', 'allocation_release') AND
                     NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_entry_id = e.id
                                        AND r.booked_on <= :on)
                   AND (CAST(:year AS integer) IS NULL OR e.year = :year)
                   AND e.booked_on <= :on
                UNION ALL
                SELECT e.credit_region, NULL, e.kind, e.source, e.amount_fen, 'out'
                  FROM ledger_entries e
                 WHERE e.kind IN ('project_payment', 'household_payment', 'direct_subsidy',
                                  'loan_subsidy', 'risk_deposit') AND
                     NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_entry_id = e.id
                                        AND r.booked_on <= :on)
                   AND (CAST(:year AS integer) IS NULL OR e.year = :year)
                   AND e.booked_on <= :on
              ) flows
             WHERE region LIKE :prefix || '%' AND length(region) >= :size
               AND NOT (kind = 'allocation_release'
                        AND left(giver, :size) = left(region, :size))
             GROUP BY 1, 2 ORDER BY 1, 2
            """,
            {"prefix": prefix, "size": size, "year": year, "on": on},
        )

    async def held_by_region(
        self, prefix: str, size: int, year: int | None, on: date, idle_days: int
    ) -> list[Any]:
        # Balances and last bookings as of ``on`` (from the postings, not the current balance);
        # a project account counts for its project's year.
        return await self._rows(
            """
            WITH held AS (
                SELECT a.region_code, a.source,
                       sum(CASE WHEN p.side = a.normal_side THEN p.amount_fen
                                ELSE -p.amount_fen END) AS balance_fen,
                       max(p.booked_on) AS last_booked_on
                  FROM accounts a
                  JOIN ledger_postings p ON p.account_id = a.id AND p.booked_on <= :on
                 WHERE a.kind IN ('fund_pool', 'allocation', 'project')
                   AND a.region_code LIKE :prefix || '%' AND length(a.region_code) >= :size
                   AND (CAST(:year AS integer) IS NULL OR a.year = :year
                        OR (a.kind = 'project' AND EXISTS (
                            SELECT 1 FROM projects j WHERE j.id = a.ref_id AND j.year = :year)))
                 GROUP BY a.id, a.region_code, a.source
            )
            SELECT left(region_code, :size) AS region_code, source,
                   sum(balance_fen) AS held_fen,
                   sum(CASE WHEN last_booked_on < CAST(:on AS date) - CAST(:days AS integer)
                       THEN balance_fen ELSE 0 END)
                     AS idle_fen
              FROM held
             GROUP BY 1, 2 ORDER BY 1, 2
            """,
            {"prefix": prefix, "size": size, "year": year, "on": on, "days": idle_days},
        )

    async def oversight_by_region(self, prefix: str, size: int, on: date) -> list[Any]:
        return await self._rows(
            """
            SELECT region_code,
                   sum(anomalies_open) AS anomalies_open, sum(anomalies_total) AS anomalies_total,
                   sum(findings_total) AS findings_total, sum(findings_open) AS findings_open,
                   sum(findings_rectified) AS findings_rectified, sum(findings_overdue) AS
                       findings_overdue,
                   sum(findings_amount_fen) AS findings_amount_fen
              FROM (
                SELECT left(region_code, :size) AS region_code,
                       count(*) FILTER (WHERE status = 'open') AS anomalies_open, count(*) AS
                           anomalies_total,
                       0 AS findings_total, 0 AS findings_open, 0 AS findings_rectified, 0 AS
                           findings_overdue,
                       0 AS findings_amount_fen
                  FROM (
                    -- An anomaly about a household of the region counts where the household
                    -- lives (as anomalies_within lists it), else in its own region.
                    SELECT CASE WHEN h.village_code LIKE :prefix || '%' THEN h.village_code
                                ELSE a.region_code END AS region_code,
                           a.status
                      FROM anomalies a
                      LEFT JOIN household_view h ON h.household_id = a.household_id
                     WHERE a.region_code LIKE :prefix || '%' OR h.village_code LIKE :prefix || '%'
                  ) reported
                 WHERE length(region_code) >= :size GROUP BY 1
                UNION ALL
                SELECT left(region_code, :size), 0, 0, count(*),
                       count(*) FILTER (WHERE status <> 'rectified'),
                       count(*) FILTER (WHERE status = 'rectified'),
                       count(*) FILTER (WHERE status <> 'rectified' AND deadline < CAST(:on AS
                           date)),
                       coalesce(sum(amount_fen), 0)
                  FROM findings WHERE region_code LIKE :prefix || '%' AND length(region_code)
                      >= :size GROUP BY 1
              ) parts
             GROUP BY region_code ORDER BY region_code
            """,
            {"prefix": prefix, "size": size, "on": on},
        )
