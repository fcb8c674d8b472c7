"""A reference list is read line by line, each line decoded on its own."""

import pytest

from fupin_registry.crosscheck import service
from fupin_registry.crosscheck.service import UndecodableLine, _lines

TEXT = "证件号码,号牌号码\r\n220102199001010113,吉A1\r220102199001010121,吉A2\n\n最后一行"


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64 * 1024])
def test_lines_end_at_lf_crlf_or_a_bare_cr_wherever_the_blocks_are_cut(
    tmp_path, monkeypatch, block
):
    monkeypatch.setattr(service, "LINE_BLOCK_BYTES", block)
    path = tmp_path / "list.csv"
    path.write_bytes(b"\xef\xbb\xbf" + TEXT.encode())
    assert list(_lines(path, "utf-8-sig")) == TEXT.splitlines(keepends=True)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_an_undecodable_byte_names_its_own_line(tmp_path, encoding):
    good = "".join(f"{n:018d},吉A{n % 10}\n" for n in range(1, 20_000)).encode(
        encoding.removesuffix("-sig")
    )
    path = tmp_path / "list.csv"
    path.write_bytes(good + b"220102199001010113,\xff\n" + good)
    with pytest.raises(
        UndecodableLine, match=r"^line 20000 is not valid .* \(byte 0xFF at position 20\)$"
    ):
        list(_lines(path, encoding))
