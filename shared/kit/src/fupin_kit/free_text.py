"""Personal numbers typed into free text: a phone, ID or account number in an objection, a plan
or a note.

What reads as one: ten digits or more with at most three spaces or punctuation marks between
any two of them (an 11-digit mobile, a landline with its area code, an 18-character ID number, an
account), however written — dots, dashes, slashes, underscores, tabs, zero-width characters,
full-width or other scripts' digits. A run of dates alone (2026-03-01, 2026.03.01-2026.12.31) is
not one, but a date joined to more digits is (an ID number with its birth date written as a
date); shorter numbers pass (amounts, a project number such as 2026-001-02).
"""

from __future__ import annotations

import re

# Matched on the text as written: \d takes every script's decimal digits and \W every
# punctuation mark, space and invisible formatting character.
_NUMBER = re.compile(r"\d(?:[\W_]{0,3}\d){9,}")
_DATE = r"\d{4}\s*[-./年]\s*\d{1,2}\s*[-./月]\s*\d{1,2}\s*日?"
# A run made of dates alone (2026-03-01, 2026.03.01-2026.12.31): a period, not a person. A date
# joined to other digits (an ID number with its birth date written as one) is still a number.
_DATES_ONLY = re.compile(rf"{_DATE}(?:[\W_]{{0,3}}{_DATE})*")
_DIGIT = re.compile(r"\d")
SHOWN_DIGITS = 2  # at each end of a masked number, as a clerk reads it back on the phone


# A UUID (an object's id in a note or a step's evidence) is an identifier, not a person's.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _numbers(text: str) -> list[tuple[int, int]]:
    # UUIDs covered by as many letters: positions kept, their digits out of every run.
    covered = _UUID.sub(lambda match: "u" * len(match.group()), text)
    return [
        match.span()
        for match in _NUMBER.finditer(covered)
        if not _DATES_ONLY.fullmatch(match.group().strip())
    ]


def holds_personal_number(text: str) -> bool:
    return bool(_numbers(text))


def mask_personal_numbers(text: str) -> str:
    """The text with each personal number's digits starred but its first and last two."""
    spans = _numbers(text)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        digits = [m.start() for m in _DIGIT.finditer(text, start, end)]
        hidden = set(digits[SHOWN_DIGITS:-SHOWN_DIGITS])
        parts.append(text[last:start])
        run = text[start:end]
        parts.append("".join("*" if start + i in hidden else c for i, c in enumerate(run)))
        last = end
    parts.append(text[last:])
    return "".join(parts)


SHARED_TEXT_WITH_NUMBER = (
    "holds what reads as a phone, ID or account number: this text is published or sent to other"
    " services; people's details belong in their own fields"
)


def refuse_personal_number(text: str) -> str:
    """A pydantic ``AfterValidator`` for text that is published (an announcement's title) or
    travels on events: the text, or ValueError."""
    if holds_personal_number(text):
        raise ValueError(SHARED_TEXT_WITH_NUMBER)
    return text
