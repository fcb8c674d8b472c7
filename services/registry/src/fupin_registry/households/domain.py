"""Pure rules of the household register: identity from the ID number, causes, incomes.

No I/O here; the service turns the findings into problem responses.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from fupin_events.values import CENT, birth_date_of, sex_of
from fupin_kit.free_text import holds_personal_number
from fupin_registry.vocabulary import HouseholdStatus, IncomeSource

# The households a register export lists: those in the register now or before.
EXPORTED_STATUSES = ("identified", "exited", "returned")
# A closed household no longer holds its members: they may be registered elsewhere.
CLOSED_STATUSES = frozenset(
    {HouseholdStatus.REMOVED, HouseholdStatus.NATURAL_DECREASE, HouseholdStatus.REJECTED}
)
# Symbols no name holds, though Unicode calls them punctuation.
NAME_SYMBOLS = re.compile(r"[@#$%\\＠＃＄％]")
NAME_REASON = "a name has no digits or symbols"
NAME_INVISIBLE_REASON = (
    "a name has no control or invisible formatting characters and at least one letter"
)
NAME_START_REASON = "a name starts with a letter"
NAME_MARK_REASON = (
    "a combining mark stands only on a letter of a script that takes it, at most two on one"
    " letter (not on a Chinese character)"
)
MAX_MARKS_PER_LETTER = 2


def _is_han(character: str) -> bool:
    return unicodedata.name(character, "").startswith("CJK ")


def _misplaced_mark(name: str, categories: list[str]) -> bool:
    """A combining mark on a Chinese character or a non-letter, or marks stacked on one letter
    (the look-alike "zalgo" text); scripts whose vowels are marks (Tibetan, Korean jamo) keep
    theirs."""
    base, marks = "", 0
    for character, category in zip(name, categories, strict=True):
        if category[0] != "M":
            base, marks = character, 0
            continue
        marks += 1
        if marks > MAX_MARKS_PER_LETTER or not base or not base.isalpha() or _is_han(base):
            return True
    return False


# The usual name: Chinese characters, with a middle dot between the parts of a minority name.
_PLAIN_NAME = re.compile(r"^[\u4e00-\u9fff][\u4e00-\u9fff·]*$")


def name_problem(name: str) -> str | None:
    r"""Why ``name`` cannot be a person's name, or None: the same rule for the API and for
    imports. No digits of any script (full-width, superscript, circled, Roman numerals), no
    symbols (``@#$%\``, currency, mathematical, emoji), no control or formatting characters
    (a right-to-left override, a zero-width space), at least one letter, and a letter first."""
    if _PLAIN_NAME.match(name):
        return None
    categories = [unicodedata.category(character) for character in name]
    if any(c[0] in "NS" for c in categories) or NAME_SYMBOLS.search(name):
        return NAME_REASON
    if any(c[0] in "CZ" and c != "Zs" for c in categories) or not any(
        c[0] == "L" for c in categories
    ):
        return NAME_INVISIBLE_REASON
    if any(c == "Zs" for c in categories) and (
        name != name.strip()
        or any(a == b == "Zs" for a, b in itertools.pairwise(categories))  # of any width
    ):
        return NAME_INVISIBLE_REASON
    if any(c[0] == "M" for c in categories) and _misplaced_mark(name, categories):
        return NAME_MARK_REASON
    if categories[0][0] != "L":
        # Nor can a name then pass for a formula in an export ("-", "+", "=" or "@" first).
        return NAME_START_REASON
    return None


def check_person_name(name: str) -> str:
    """The name, or ValueError (``name_problem``)."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


PLAN_TEXT_WITH_NUMBER = (
    "holds a long number (a phone, account or ID number?): a plan's text goes to other"
    " services with the plan; people's details belong in their own fields, and the cadre is"
    " named by responsible_cadre_id"
)


def check_plan_text(text: str) -> str:
    """A measure's description, or ValueError when it holds what looks like personal data."""
    if holds_personal_number(text):
        raise ValueError(PLAN_TEXT_WITH_NUMBER)
    return text


INCOME_SOURCES = (
    IncomeSource.WAGES,
    IncomeSource.PRODUCTION,
    IncomeSource.PROPERTY,
    IncomeSource.TRANSFER,
)


@dataclass(frozen=True)
class Finding:
    """A rule broken by the input: where (JSON pointer below the body) and why."""

    pointer: str
    detail: str


def identity_findings(
    id_number: str, birth_date: date | None, sex: str | None, pointer: str
) -> list[Finding]:
    """Birth date and sex derive from the ID number; given values must agree with it."""
    findings = []
    if birth_date is not None and birth_date != birth_date_of(id_number):
        findings.append(
            Finding(f"{pointer}/birth_date", "does not match the birth date in the ID number")
        )
    if sex is not None and sex != sex_of(id_number):
        findings.append(
            Finding(f"{pointer}/sex", "does not match the sex encoded in the ID number")
        )
    return findings


def cause_findings(
    primary: str, secondary: Sequence[str], pointer: str = "#/body"
) -> list[Finding]:
    """One primary cause and at most two secondary ones, none repeated."""
    findings = []
    if len(secondary) > 2:
        findings.append(Finding(f"{pointer}/secondary_causes", "at most two secondary causes"))
    if primary in secondary:
        findings.append(
            Finding(f"{pointer}/secondary_causes", "the primary cause cannot also be secondary")
        )
    if len(set(secondary)) != len(secondary):
        findings.append(Finding(f"{pointer}/secondary_causes", "a secondary cause is repeated"))
    return findings


def head_findings(relations: Iterable[str], pointer: str) -> list[Finding]:
    heads = sum(1 for relation in relations if relation == "head")
    if heads != 1:
        return [Finding(pointer, f"a household has exactly one head (found {heads})")]
    return []


def head_change_findings(
    *,
    new_head_relation: str | None,
    former_head_relation: str | None,
    former_head_departure: str | None,
) -> list[Finding]:
    """A head change names a current member other than the head, and says either the former
    head's new relation (not head) or why the former head leaves, not both."""
    findings = []
    if new_head_relation is None:
        findings.append(Finding("#/body/member_id", "not a current member of the household"))
    elif new_head_relation == "head":
        findings.append(Finding("#/body/member_id", "this member is already the head"))
    if (former_head_relation is None) == (former_head_departure is None):
        findings.append(
            Finding(
                "#/body/former_head_relation",
                "give either the former head's new relation or former_head_departure",
            )
        )
    elif former_head_relation == "head":
        findings.append(Finding("#/body/former_head_relation", "the former head cannot stay head"))
    return findings


def duplicate_positions(keys: Sequence[bytes]) -> list[int]:
    """Positions of entries whose key already appeared earlier in the list."""
    seen: set[bytes] = set()
    duplicates = []
    for position, key in enumerate(keys):
        if key in seen:
            duplicates.append(position)
        seen.add(key)
    return duplicates


def net_income(amounts: Mapping[str, Decimal]) -> Decimal:
    """Household net income: every income source minus production costs."""
    gross = sum((amounts.get(source, Decimal(0)) for source in INCOME_SOURCES), Decimal(0))
    return gross - amounts.get(IncomeSource.PRODUCTION_COSTS, Decimal(0))


def per_capita_net_income(amounts: Mapping[str, Decimal], household_size: int) -> Decimal | None:
    """Net income divided by the number of members, to the fen; None for an empty household."""
    if household_size <= 0:
        return None
    return (net_income(amounts) / household_size).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class MemberPeriod:
    """When a member belonged to a household: born, joined (None: from before its registration)
    and left (None: still there)."""

    born: date | None
    left: date | None
    joined: date | None = None


def household_size_at_year_end(members: Iterable[MemberPeriod], year: int) -> int:
    """How many of the household's members belonged to it at the end of ``year``: born and
    joined by then and not yet gone (a member who died the next year still counts for this
    year's income; a child born or a spouse who married in the next year does not)."""
    end = date(year, 12, 31)
    return sum(
        1
        for m in members
        if (m.born is None or m.born <= end)
        and (m.joined is None or m.joined <= end)
        and (m.left is None or m.left > end)
    )


def income_findings(
    amounts: Mapping[str, Decimal], ceiling: Decimal, pointer: str
) -> list[Finding]:
    """Amounts are never negative and never absurd (above the configured ceiling)."""
    findings = []
    for source, amount in amounts.items():
        if amount < 0:
            findings.append(Finding(f"{pointer}/{source}", "an income amount cannot be negative"))
        elif amount > ceiling:
            findings.append(
                Finding(f"{pointer}/{source}", f"implausibly large (above {ceiling} yuan)")
            )
    gross = sum((amounts.get(source, Decimal(0)) for source in INCOME_SOURCES), Decimal(0))
    if not findings and gross > ceiling:
        findings.append(
            Finding(pointer, f"total income is implausibly large (above {ceiling} yuan)")
        )
    return findings
