"""Multipart form fields are text in the form's charset, or the request is refused.

Starlette decodes a field its charset cannot decode as Latin-1 instead, so a list's
``agency`` sent in GBK would be stored as mojibake. Telling that apart from real Latin-1 text
needs the field's bytes, which only the parser holds: this parser refuses such a field by
name. Files are not decoded here (their readers judge their encodings), but a file name that is
not text in the charset, or holds control or invisible formatting characters (a NUL, a C1
control, a right-to-left override), is refused on the file's field.
"""

from __future__ import annotations

import unicodedata

import starlette.requests
from python_multipart.multipart import parse_options_header
from starlette.formparsers import MultiPartParser

from fupin_kit.problems import Unprocessable

# What a file name may not hold: control characters (C0 with NUL, which the database refuses,
# and C1), invisible formatting characters (a right-to-left override that shows "exe.csv" as
# "vsc.exe", zero-width spaces) and line or paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


class StrictTextMultiPartParser(MultiPartParser):
    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is None:
            return
        pointer = _field_pointer(part.field_name)
        charset = self._charset or "utf-8"
        _, options = parse_options_header(part.content_disposition)
        raw = options.get(b"filename", b"")
        try:
            raw.decode(charset)  # Starlette would fall back to Latin-1: mojibake
        except (UnicodeDecodeError, LookupError):
            raise Unprocessable(pointer, f"the file name is not {charset} text") from None
        name = part.file.filename or ""
        if any(unicodedata.category(char) in _HIDDEN_CATEGORIES for char in name):
            raise Unprocessable(
                pointer, "the file name holds control or invisible formatting characters"
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
