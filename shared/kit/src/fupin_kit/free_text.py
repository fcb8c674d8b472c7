"""Personal numbers typed into free text: a phone, ID or account number in an objection, a plan
or a note.

What reads as one: ten digits or more with at most two spaces or punctuation marks between any
two of them (an 11-digit mobile, a landline with its area code, an 18-character ID number, an
account), however written — dots, dashes, slashes, underscores, tabs, zero-width characters,
full-width or other scripts' digits. Dates (2026-03-01, 2026.3.1, 2026年3月1日) are not counted,
and shorter numbers pass (amounts, a project number such as 2026-001-02).
"""

from __future__ import annotations

import re

# Matched on the text as written: \d takes every script's decimal digits and \W every
# punctuation mark, space and invisible formatting character.
_DATE = re.compile(r"\d{4}\s*[-./年]\s*\d{1,2}\s*[-./月]\s*\d{1,2}\s*日?")
_NUMBER = re.compile(r"\d(?:[\W_]{0,2}\d){9,}")
_DIGIT = re.compile(r"\d")
SHOWN_DIGITS = 2  # at each end of a masked number, as a clerk reads it back on the phone


def _dates_covered(text: str) -> str:
    """The text with each date replaced by as many letters: positions kept, runs broken."""
    return _DATE.sub(lambda match: "D" * len(match.group()), text)


def holds_personal_number(text: str) -> bool:
    return _NUMBER.search(_dates_covered(text)) is not None


def mask_personal_numbers(text: str) -> str:
    """The text with each personal number's digits starred but its first and last two."""
    spans = [match.span() for match in _NUMBER.finditer(_dates_covered(text))]
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
