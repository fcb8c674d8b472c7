"""Multipart form fields are text in the form's charset, or the request is refused.

Starlette decodes a field its charset cannot decode as Latin-1 instead, so a list's
``agency`` sent in GBK would be stored as mojibake. Telling that apart from real Latin-1 text
needs the field's bytes, which only the parser holds: this parser refuses such a field by
name. Files are not decoded here (their readers judge their encodings), but a file name holding
control characters (a NUL) is refused on the file's field.
"""

from __future__ import annotations

import re

import starlette.requests
from starlette.formparsers import MultiPartParser

from fupin_kit.problems import Unprocessable

# Control characters a file name may not hold: NUL above all, which the database refuses.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class StrictTextMultiPartParser(MultiPartParser):
    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is not None and _CONTROL.search(part.file.filename or ""):
            raise Unprocessable(
                _field_pointer(part.field_name), "the file name holds control characters"
            )

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            charset = self._charset or "utf-8"
            try:
                bytes(part.data).decode(charset)
            except (UnicodeDecodeError, LookupError):
                raise Unprocessable(
                    _field_pointer(part.field_name), f"the field is not {charset} text"
                ) from None
        super().on_part_end()


def _field_pointer(name: str) -> str:
    if not name or not name.isprintable():
        return "#/body"
    return "#/body/" + name.replace("~", "~0").replace("/", "~1")


def install_strict_form_text() -> None:
    """Every request's ``form()`` parses multipart bodies with the strict parser (Starlette's
    ``Request`` looks its parser up in its module when a form is read)."""
    starlette.requests.MultiPartParser = StrictTextMultiPartParser  # type: ignore[misc]
