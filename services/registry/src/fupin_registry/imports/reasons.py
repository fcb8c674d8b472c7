"""Reasons that name a household or a village, each built from its parts by one fixed form.

Without ``pii:read`` the error report stars the long digit runs of a reason, which would
also star the village code of the household a reason refers to. A reason made by a form here
is recognised whole by the same form (:func:`parts_of`): the form admits each part only in its
own shape (a village code of 12 digits, a household number of letters, digits and ``-``), so
a recognised reason is exactly the form's words around parts of those shapes, whatever text
a cell held, and the report masks each part by its own rule. Any other reason, and a reason
whose parts are not of their shapes, is masked by the general rule.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

# The shape each part must have for the reason to be recognised.
_SHAPES = {
    "village": "[0-9]{12}",
    "number": "[0-9A-Za-z-]{1,32}",
    "jurisdiction": "[0-9]{1,12}",
}


@dataclass(frozen=True)
class ReasonForm:
    template: str
    pattern: re.Pattern[str]

    def __call__(self, **parts: str) -> str:
        return self.template.format(**parts)

    def parts(self, reason: str) -> dict[str, str] | None:
        """The parts of ``reason`` if it is this form with parts of their shapes."""
        match = self.pattern.fullmatch(reason)
        return match.groupdict() if match else None


def _form(template: str) -> ReasonForm:
    pattern = []
    for literal, name, _, _ in string.Formatter().parse(template):
        pattern.append(re.escape(literal))
        if name is not None:
            pattern.append(f"(?P<{name}>{_SHAPES[name]})")
    return ReasonForm(template, re.compile("".join(pattern)))


REPEATED_HOUSEHOLD = _form(
    "household {village}/{number} appeared earlier in the file; the rows of one household must"
    " be next to each other"
)
ALREADY_REGISTERED = _form("household {village}/{number} is already registered")
NOT_A_VILLAGE = _form("region {village} is not a village in the region table")
OUTSIDE_JURISDICTION = _form("village {village} is outside your jurisdiction {jurisdiction}")

FORMS = (REPEATED_HOUSEHOLD, ALREADY_REGISTERED, NOT_A_VILLAGE, OUTSIDE_JURISDICTION)


def parts_of(reason: str) -> tuple[ReasonForm, dict[str, str]] | None:
    """The form that made ``reason`` and its parts, or None for any other text."""
    for form in FORMS:
        parts = form.parts(reason)
        if parts is not None:
            return form, parts
    return None


__all__ = [
    "ALREADY_REGISTERED",
    "FORMS",
    "NOT_A_VILLAGE",
    "OUTSIDE_JURISDICTION",
    "REPEATED_HOUSEHOLD",
    "ReasonForm",
    "parts_of",
]
