"""The parts of an .xlsx archive, read within the import's bounds.

Every part the import reads goes through :class:`WorkbookParts`, which counts the bytes it
really unpacks to (not the size the archive declares) and refuses the file once all parts
together unpack to more than ``max_unpacked_bytes`` or one part unpacks to more than
``max_ratio`` times its compressed size: spreadsheets a program saves compress 10–30 to one,
a file built to exhaust the reader a thousand to one. Parts parsed whole are bounded on their
own. python-calamine reads parts itself, so :func:`unpacked_size` inflates a part's compressed
bytes to learn its true size before calamine is given the file.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from types import TracebackType
from typing import IO

from fupin_registry.imports.limits import RATIO_GRACE_BYTES, WHOLE_PART_BYTES, ReadLimits
from fupin_registry.imports.readers import UnreadableFile

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature … file name length, extra field length
_READ_BLOCK = 1024 * 1024
_INFLATE_BLOCK = 4 * 1024 * 1024


class WorkbookParts:
    """An open .xlsx archive whose parts are counted as they are read."""

    def __init__(self, archive: zipfile.ZipFile, limits: ReadLimits) -> None:
        self.archive = archive
        self.limits = limits
        self.names = frozenset(archive.namelist())
        self._unpacked: dict[str, int] = {}  # the most bytes any read of each part gave
        self._total = 0

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def close(self) -> None:
        self.archive.close()

    def refuse_declared(self, names: list[str]) -> None:
        """Refuse at once a file whose parts declare sizes beyond the bounds: the counts made
        while reading are what holds, but most such files say so before a row is read."""
        total = 0
        for name in names:
            if name in self.names:
                info = self.archive.getinfo(name)
                self._check_ratio(info, info.file_size)
                total += info.file_size
        if total > self.limits.max_unpacked_bytes:
            raise UnreadableFile(self._too_large())

    def open(self, name: str) -> CountedPart:
        return CountedPart(self, self.archive.getinfo(name))

    def read(self, name: str) -> bytes:
        """A part parsed whole (workbook, relationships, styles), at most ``WHOLE_PART_BYTES``."""
        with self.open(name) as handle:
            data = handle.read(WHOLE_PART_BYTES + 1)
        if len(data) > WHOLE_PART_BYTES:
            raise UnreadableFile(
                f"the workbook's part {name} unpacks to more than {WHOLE_PART_BYTES:,} bytes;"
                " a spreadsheet program never writes one that large"
            )
        return data

    def counted(self, info: zipfile.ZipInfo, unpacked: int) -> None:
        """Record that a read of the part has unpacked ``unpacked`` bytes so far."""
        before = self._unpacked.get(info.filename, 0)
        if unpacked > before:  # a part read twice (merged cells, then rows) counts once
            self._unpacked[info.filename] = unpacked
            self._total += unpacked - before
            if self._total > self.limits.max_unpacked_bytes:
                raise UnreadableFile(self._too_large())
        self._check_ratio(info, unpacked)

    def _check_ratio(self, info: zipfile.ZipInfo, unpacked: int) -> None:
        if unpacked > RATIO_GRACE_BYTES and unpacked > self.limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise UnreadableFile(
                f"the workbook's part {info.filename} unpacks to more than"
                f" {self.limits.max_ratio:,} times its compressed size"
                " (import_xlsx_max_ratio); spreadsheets never compress that well, so the file"
                " is refused"
            )

    def _too_large(self) -> str:
        return (
            f"the workbook unpacks to more than {self.limits.max_unpacked_bytes:,} bytes"
            " (import_xlsx_max_unpacked_bytes); split it into smaller files"
        )


class CountedPart:
    """A part of the archive being read, its unpacked bytes counted after every read."""

    def __init__(self, parts: WorkbookParts, info: zipfile.ZipInfo) -> None:
        self._parts = parts
        self._info = info
        self._unpacked = 0
        try:
            self._handle: IO[bytes] = parts.archive.open(info)
        except (zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError) as exc:
            raise _damaged(info, exc) from exc

    def read(self, size: int) -> bytes:
        try:
            data = self._handle.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise _damaged(self._info, exc) from exc
        self._unpacked += len(data)
        self._parts.counted(self._info, self._unpacked)
        return data

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CountedPart:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _damaged(info: zipfile.ZipInfo, exc: Exception) -> UnreadableFile:
    return UnreadableFile(f"the workbook is damaged: its part {info.filename}: {exc}")


def unpacked_size(path: Path, info: zipfile.ZipInfo, stop_after: int) -> int | None:
    """The bytes a stored or deflated part really unpacks to, inflated from its compressed
    bytes and counted up to ``stop_after + 1``; None for another compression method."""
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size
    if info.compress_type != zipfile.ZIP_DEFLATED:
        return None
    with path.open("rb") as raw:
        raw.seek(info.header_offset)
        header = raw.read(_LOCAL_HEADER.size)
        if len(header) < _LOCAL_HEADER.size:
            raise UnreadableFile(f"the workbook is damaged: its part {info.filename} is cut off")
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
        if signature != b"PK\x03\x04":
            raise UnreadableFile(f"the workbook is damaged: its part {info.filename} is missing")
        raw.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
        try:
            return _inflated_size(raw, info.compress_size, stop_after)
        except zlib.error as exc:
            raise _damaged(info, exc) from exc


def _inflated_size(raw: IO[bytes], compressed: int, stop_after: int) -> int:
    """Bytes the raw deflate stream of ``compressed`` bytes inflates to, counted a block at a
    time (never held) until more than ``stop_after``."""
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    size = 0
    pending = b""
    while size <= stop_after and not inflate.eof:
        if not pending:
            if compressed <= 0:
                break
            pending = raw.read(min(_READ_BLOCK, compressed))
            if not pending:
                break
            compressed -= len(pending)
        size += len(inflate.decompress(pending, _INFLATE_BLOCK))
        pending = inflate.unconsumed_tail
    return size


__all__ = ["CountedPart", "WorkbookParts", "unpacked_size"]
