"""The anomaly rules. Each turns the rows of its query (supervision/repository.py) into hits with
evidence; a hit is recorded once per (rule, subject). Rules run from events (household status
changes, disbursements) and on demand (a scan, which also covers idle money)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from fupin_funds.common.dates import add_months
from fupin_funds.common.money import from_fen

PAYABLE_THEN = frozenset({"identified", "returned", "exited"})


class Rule(StrEnum):
    PAYMENT_TO_UNREGISTERED = "payment_to_unregistered"
    PAYMENT_AFTER_EXIT_TRANSITION = "payment_after_exit_transition"
    DUPLICATE_PAYMENT = "duplicate_payment"
    DISBURSED_BEFORE_ANNOUNCEMENT = "disbursed_before_announcement"
    IDLE_MONEY = "idle_money"
    PROJECT_OVER_BUDGET = "project_over_budget"


@dataclass(frozen=True)
class Hit:
    rule: Rule
    subject_key: str
    region_code: str
    source: str | None
    evidence: dict[str, str]
    household_id: str | None = None  # the household paid, for the household rules


def _text(values: dict[str, Any]) -> dict[str, str]:
    return {k: ("" if v is None else str(v)) for k, v in values.items()}


def unregistered_payments(rows: list[Any]) -> list[Hit]:
    hits = []
    for row in rows:
        if row.status_now is None:
            reason = "the household is unknown to the register"
        elif row.status_now == "removed":
            reason = f"the household was removed from the register on {row.removed_on}"
        elif row.status_then not in PAYABLE_THEN:
            status = row.status_then or "none"
            reason = f"the household was not registered on the payment date (status {status})"
        else:
            continue
        hits.append(
            Hit(
                Rule.PAYMENT_TO_UNREGISTERED,
                row.id,
                row.debit_region,
                row.source,
                _text(
                    {
                        "entry_id": row.id,
                        "household_id": row.household_id,
                        "project_id": row.project_id,
                        "booked_on": row.booked_on,
                        "amount": from_fen(row.amount_fen),
                        "status_now": row.status_now,
                        "status_on_payment_date": row.status_then,
                        "reason": reason,
                    }
                ),
                row.household_id,
            )
        )
    return hits


def payments_after_exit(rows: list[Any], transition_months: int) -> list[Hit]:
    hits = []
    for row in rows:
        # A loan's interest subsidy runs to its maturity: the loan was eligible when it began.
        if row.kind == "loan_subsidy" or row.status_then != "exited" or row.status_since is None:
            continue
        transition_end: date = add_months(row.status_since, transition_months)
        if row.booked_on <= transition_end:
            continue
        hits.append(
            Hit(
                Rule.PAYMENT_AFTER_EXIT_TRANSITION,
                row.id,
                row.debit_region,
                row.source,
                _text(
                    {
                        "entry_id": row.id,
                        "household_id": row.household_id,
                        "project_id": row.project_id,
                        "booked_on": row.booked_on,
                        "amount": from_fen(row.amount_fen),
                        "exited_on": row.status_since,
                        "transition_months": transition_months,
                        "transition_ended_on": transition_end,
                    }
                ),
                row.household_id,
            )
        )
    return hits


def duplicate_payments(rows: list[Any]) -> list[Hit]:
    return [
        Hit(
            Rule.DUPLICATE_PAYMENT,
            # Per latest payment: one paid again after a dismissal is a new anomaly.
            f"{row.project_id}:{row.household_id}:{row.entry_ids[-1]}",
            row.region_code,
            row.source,
            _text(
                {
                    "project_id": row.project_id,
                    "household_id": row.household_id,
                    "entry_ids": " ".join(row.entry_ids),
                    "payments": len(row.entry_ids),
                    "total": from_fen(row.total_fen),
                }
            ),
            row.household_id,
        )
        for row in rows
    ]


def disbursed_before_announcement(rows: list[Any]) -> list[Hit]:
    hits = []
    for row in rows:
        if row.ends_on is None:
            reason = f"the {row.subject_type} was never announced"
        elif row.booked_on <= row.ends_on:
            reason = f"booked during the notice period, which ran until {row.ends_on}"
        elif row.open_objections:
            reason = f"{row.open_objections} objection(s) were open on the booking date"
        else:
            continue
        hits.append(
            Hit(
                Rule.DISBURSED_BEFORE_ANNOUNCEMENT,
                row.id,
                row.region_code,
                row.source,
                _text(
                    {
                        "entry_id": row.id,
                        f"{row.subject_type}_id": row.subject_id,
                        "kind": row.kind,
                        "booked_on": row.booked_on,
                        "amount": from_fen(row.amount_fen),
                        "notice_ends_on": row.ends_on,
                        "reason": reason,
                    }
                ),
            )
        )
    return hits


def idle_money(rows: list[Any], on: date, idle_days: int) -> list[Hit]:
    return [
        Hit(
            Rule.IDLE_MONEY,
            f"{row.id}:{row.last_booked_on}",
            row.region_code,
            row.source or None,
            _text(
                {
                    "account_id": row.id,
                    "account_kind": row.kind,
                    "ref_id": row.ref_id,
                    "year": row.year,
                    "balance": from_fen(row.balance_fen),
                    "last_movement_on": row.last_booked_on,
                    "idle_days": (on - row.last_booked_on).days,
                    "threshold_days": idle_days,
                }
            ),
        )
        for row in rows
    ]


def over_budget(rows: list[Any]) -> list[Hit]:
    return [
        Hit(
            Rule.PROJECT_OVER_BUDGET,
            row.id,
            row.region_code,
            None,
            _text(
                {
                    "project_id": row.id,
                    "budget": from_fen(row.budget_fen),
                    "funded": from_fen(row.funded_fen),
                    "paid": from_fen(row.paid_fen),
                }
            ),
        )
        for row in rows
        if row.funded_fen > row.budget_fen or row.paid_fen > row.budget_fen
    ]
