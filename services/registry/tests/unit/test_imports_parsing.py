"""Pure import rules: header mapping, encoding detection, cell text, row validation, readers."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import random
import re
import zipfile
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import xlsxwriter
from import_support import RULES as BASE_RULES
from import_support import TODAY, column
from import_support import producer_config as file_config

from fupin_kit.crypto import BlindIndex, FieldCipher, parse_keyring
from fupin_registry.config import Settings
from fupin_registry.imports.columns import (
    HEADERS,
    HeaderError,
    column_letter,
    map_headers,
    normalise_header,
)
from fupin_registry.imports.pipeline import (
    COPY_COLUMNS,
    Finished,
    Opened,
    PreparedChunk,
    ProducerConfig,
    Sealer,
    produce,
)
from fupin_registry.imports.readers import (
    LOSSY_NUMBER,
    FileFacts,
    UnreadableFile,
    cell_text,
    detect_encoding,
    open_sheet,
    sniff,
)
from fupin_registry.imports.rows import (
    RawRow,
    check_id_number,
    check_rows,
    household_errors,
    row_dicts,
)
from fupin_registry.imports.samples import HouseholdMaker, header, resident_id

RULES = replace(BASE_RULES, villages=BASE_RULES.villages | {"220581001001"})


# --- headers ----------------------------------------------------------------------------------


def test_imports_headers_map_with_aliases_full_width_and_marks():
    cells = list(HEADERS)
    cells[0] = "＊村行政区划代码"
    cells[HEADERS.index("务工时间(月)")] = "务工时间（月）"
    cells[HEADERS.index("证件号码")] = " 身份证号码\n"
    cells.append("备注")
    mapping = map_headers(cells)
    assert mapping.positions["village_code"] == 0
    assert mapping.positions["migrant_months"] == HEADERS.index("务工时间(月)")
    assert mapping.positions["id_number"] == HEADERS.index("证件号码")
    assert mapping.ignored == ("备注",)


def test_imports_missing_and_duplicate_headers_are_named():
    cells = [h for h in HEADERS if h not in ("姓名", "户编号")] + ["身份证号"]
    with pytest.raises(HeaderError) as error:
        map_headers(cells)
    message = str(error.value)
    assert "missing required columns: 户编号, 姓名" in message
    assert "证件号码 (columns" in message


def test_imports_header_normalisation_and_letters():
    assert normalise_header("务工时间（月）") == "务工时间(月)"
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


# --- encodings and file kinds -------------------------------------------------------------------


def test_imports_encoding_detection():
    text = "证件号码,姓名\n220102199001010113,张三\n"
    assert detect_encoding(text.encode("utf-8")) == "utf-8-sig"
    assert detect_encoding(("\ufeff" + text).encode("utf-8")) == "utf-8-sig"
    assert detect_encoding(text.encode("gbk")) == "gb18030"
    assert detect_encoding(text.encode("gb18030")) == "gb18030"
    # A UTF-8 sample cut inside a character is still UTF-8.
    assert detect_encoding(text.encode("utf-8")[:4]) == "utf-8-sig"


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_imports_a_few_lines_in_another_encoding_do_not_make_a_utf8_file_unreadable(end):
    """A UTF-8 file (with or without BOM) with one cell pasted in GBK: the file reads as UTF-8
    and only that line is refused later; a GBK file stays GBK; whatever ends its lines."""
    lines = [",".join(header())] + [f"220102001001,{i:06d},低保户,吴{i}" for i in range(40)]
    mixed = (
        end.join(lines).encode("utf-8") + f"{end}张三,配偶{end}".encode("gbk") + b"x" + end.encode()
    )
    assert detect_encoding(mixed) == "utf-8-sig"
    assert detect_encoding(codecs.BOM_UTF8 + b"a\xff\xfe" + end.encode()) == "utf-8-sig"
    assert detect_encoding(end.join(lines).encode("gbk") + end.encode()) == "gb18030"


@pytest.mark.parametrize("name", ["郑伟", "谢平", "叶志"])
def test_imports_a_short_gbk_file_with_a_name_that_is_also_utf8_stays_gbk(name):
    """These names' GBK bytes are valid UTF-8: one such line beside a GBK header is no sign of
    a UTF-8 file."""
    name.encode("gbk").decode("utf-8")  # the premise
    short = f"证件号码,姓名\n220102199001010113,{name}\n".encode("gbk")
    assert detect_encoding(short) == "gb18030"
    with_title = f"低保名单\n证件号码,姓名\n220102199001010113,{name}\n".encode("gbk")
    assert detect_encoding(with_title) == "gb18030"


def test_imports_unreadable_encoding_is_reported_precisely():
    with pytest.raises(UnreadableFile) as error:
        detect_encoding(b"abc\x80\xff\xfe")
    assert "neither UTF-8 nor GB18030" in str(error.value)
    assert "0x80 at line 1 (position 4)" in str(error.value)
    for ends in (b"\r", b"\r\n", b"\n"):
        with pytest.raises(UnreadableFile) as error:
            detect_encoding(b"ab" + ends + b"c" + ends + b"de\x80\xff\xfe")
        assert "0x80 at line 3 (position 3)" in str(error.value), ends
    with pytest.raises(UnreadableFile) as error:
        detect_encoding("证件号码,号牌号码\n1,吉A12345\n".encode() + b"\xff\xfe,zz\n")
    assert "0xFF at line 3 (position 1)" in str(error.value), error.value


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"%PDF-1.7", "PDF"),
        (b"\xff\xfeA\x00", "UTF-16"),
        ("证件号码".encode("utf-32"), "UTF-32"),  # its BOM starts with UTF-16's
        ("证件号码".encode("utf-32-be"), "binary"),  # without a BOM
        (b"GIF89a\x00\x01", "binary"),
    ],
)
def test_imports_sniff_refuses_non_spreadsheets(tmp_path, content, needle):
    path = tmp_path / "f"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile, match=needle):
        sniff(path)


def test_imports_sniff_refuses_a_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "f.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(UnreadableFile, match="not an .xlsx workbook"):
        sniff(path)


def test_imports_csv_undecodable_line_rejects_only_that_row(tmp_path):
    path = tmp_path / "f.csv"
    good = ",".join(HEADERS).encode("gb18030") + b"\n"
    path.write_bytes(good + "a,b\n".encode("gb18030") + b"c,\x81\x30\n" + "d,e\n".encode("gb18030"))
    facts = FileFacts("csv", encoding="gb18030")
    rows = list(open_sheet(path, facts, 0))
    assert [r.problem is not None for r in rows] == [False, True, False]
    assert "line 3 is not valid GB18030" in rows[1].problem


CSV_CASES = [
    "220102001001,0001, 张三 ,\t户主\n",
    "\n",
    "   \n",
    ",,,\r\n",
    '220102001001,"0002",李四\n',
    '220102001001,0003,"王五, 之子",\n',
    '220102001001,0004,"第一行\n第二行",末\n',
    '220102001001,0005,"he said ""hi""",x\n',
    "220102001001,0006,\x01,\u3000全角空格\u3000\n",
    '220102001001,0008,"一\r\n二"\r\n',
    # Lines ending in a bare carriage return (classic Mac), also inside a quoted cell.
    "220102001001,0009,旧\r220102001001,0010,式\r",
    '220102001001,0011,"三\r四"\n',
    "220102001001,0007,最后一行无换行",
]


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_imports_csv_records_are_those_of_the_csv_module(tmp_path, encoding, delimiter):
    lines = [",".join(HEADERS) + "\n", *CSV_CASES]
    text = "".join(line.replace(",", delimiter) for line in lines)
    path = tmp_path / "f.csv"
    path.write_bytes(("\ufeff" if encoding == "utf-8" else "").encode() + text.encode(encoding))
    facts = sniff(path)
    rows = list(open_sheet(path, facts, 0))
    expected = [
        [cell.strip() for cell in record]
        # Lines end as the csv module reads a file opened with newline="" (LF, CR LF, CR).
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    ][1:]
    assert [r.cells for r in rows] == expected
    assert [r.number for r in rows] == list(range(2, len(expected) + 2))
    assert all(r.problem is None for r in rows)
    # A process reading past a row reads the same household key as the one that owns it.
    for row in open_sheet(path, facts, 0):
        passed = row.keys(0, 1, whole=False)
        assert passed == row.keys(0, 1) == tuple((row.cells + ["", ""])[:2])


@pytest.mark.parametrize(
    "line",
    [
        b"22010\x81\x30,0001,x\n",  # GB18030 would take the comma into the bad sequence
        b"220102001001,00\xff1,x\n",
        b"220102001001,0001,\x81\x30\x81\n",
    ],
)
def test_imports_csv_undecodable_key_reads_alike_in_every_process(tmp_path, line):
    path = tmp_path / "f.csv"
    path.write_bytes(",".join(HEADERS).encode("gb18030") + b"\n" + line)
    facts = FileFacts("csv", encoding="gb18030")
    (passing,) = list(open_sheet(path, facts, 0))
    (owned,) = list(open_sheet(path, facts, 0))
    assert passing.keys(0, 1, whole=False) == owned.keys(0, 1)
    assert owned.problem is not None and "line 2 is not valid GB18030" in owned.problem
    assert len(owned.cells) == 3


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'a,"b"c\n', "',' expected after '\"'"),
        # A quoted cell beyond the csv module's own limit (unquoted: a row error, as any cell
        # longer than Excel allows).
        (b'a,"' + b"b" * (csv.field_size_limit() + 1) + b'"\n', "field larger than field limit"),
    ],
)
def test_imports_csv_malformed_text_fails_the_file_at_its_line(tmp_path, content, reason):
    path = tmp_path / "f.csv"
    path.write_bytes(",".join(HEADERS).encode() + b"\n" + b"x,y\n" + content)
    sheet = open_sheet(path, sniff(path), 0)
    with pytest.raises(UnreadableFile, match=f"malformed at line 3: {reason}"):
        list(sheet)


# --- cell text ------------------------------------------------------------------------------------


def test_imports_cell_text_never_goes_through_float():
    assert cell_text(220102.0) == "220102"
    assert cell_text(13904351234.0) == "13904351234"
    assert cell_text(1.5) == "1.5"
    assert cell_text(2.20102199001011e17).startswith(LOSSY_NUMBER)
    assert cell_text(dt.datetime(2015, 6, 30)) == "2015-06-30"
    assert cell_text(dt.date(2015, 6, 30)) == "2015-06-30"
    assert cell_text(True) == "是"
    assert cell_text(None) == ""


# --- ID numbers ---------------------------------------------------------------------------


def test_imports_id_number_reasons():
    valid = resident_id("220102", 1990, 1, 1, 5, "male")
    assert check_id_number(valid, TODAY) is None
    assert check_id_number(valid.lower(), TODAY) is None
    wrong = valid[:17] + ("0" if valid[17] != "0" else "1")
    assert "wrong check character" in check_id_number(wrong, TODAY)
    # Reasons name no date: digits 7-14 are what a masked ID number hides.
    not_real = check_id_number("220102199002300011", TODAY)
    assert "is not a real date" in not_real and "1990" not in not_real
    future = check_id_number(resident_id("220102", 2030, 1, 1, 1, "male"), TODAY)
    assert "impossible" in future and "2030" not in future
    assert "exponent form" in check_id_number("2.20102E+17", TODAY)
    assert "17 digits" in check_id_number("22010219900101", TODAY)


# --- rows and households ------------------------------------------------------------------


def household_rows(count: int = 1, seed: int = 1) -> list[list[str]]:
    maker = HouseholdMaker(["220102001001"], seed=seed)
    return [row for h in maker.households(count) for row in h]


def check(rows: list[list[str]]):
    raws = [RawRow(number, row) for number, row in enumerate(rows, start=2)]
    return check_rows(row_dicts(raws, map_headers(header())), RULES)


def test_imports_valid_rows_convert_to_register_values():
    rows = household_rows()
    checked = check(rows)
    assert all(not c.errors for c in checked), [c.errors for c in checked]
    first = checked[0]
    assert first.household is not None and first.member is not None
    assert first.household.attribute in {"ordinary_poor", "dibao_poor", "wubao"}
    assert first.member.relation == "head"
    assert first.member.birth_date == dt.date(
        int(rows[0][23][6:10]), int(rows[0][23][10:12]), int(rows[0][23][12:14])
    )
    assert isinstance(first.household.incomes["wages"], Decimal)


@pytest.mark.parametrize(
    ("header_name", "value", "reason"),
    [
        ("户属性", "贫困户", "not one of: 一般贫困户、低保户、五保户、低保贫困户"),
        ("行政区划代码(村)", "2201020010", "exactly 12 digits"),
        ("行政区划代码(村)", "220102999999", "not a village"),
        ("行政区划代码(村)", "220581001001", "outside your jurisdiction 220102"),
        ("工资性收入", "-5", "cannot be negative"),
        ("工资性收入", "99999999", "implausibly large"),
        ("工资性收入", "12.345", "two decimal places"),
        ("务工时间(月)", "13", "a whole number of months from 0 to 12"),
        ("识别年度", "2012", "between 2013 and 2026"),
        ("登记日期", "2015-02-30", "not a real date"),
        ("出生日期", "1901-01-01", "does not match the birth date"),
        ("性别", "女", "does not match the sex"),
        ("次要致贫原因", "因病、因病", "given twice"),
        ("姓名", "", "required: the cell is empty"),
        ("姓名", "张三１", "no digits or symbols"),  # full-width digit
        ("联系电话", "12345", "not a phone number"),
        ("民族", "火星族", "汉族"),
        ("健康状况", "残疾", "required when 健康状况 is 残疾"),
        ("证件号码", LOSSY_NUMBER + "2.20102199001011E+17", "kept only 15 significant digits"),
    ],
)
def test_imports_row_errors_name_column_and_reason(header_name, value, reason):
    rows = household_rows()
    rows[0][column(header_name)] = value
    if header_name == "出生日期" or header_name == "性别":
        pass
    errors = check(rows)[0].errors
    assert errors, "expected an error"
    assert any(reason in e.reason for e in errors), errors
    named = "残疾情况" if header_name == "健康状况" else header_name
    assert any(e.column == named for e in errors), errors
    assert all(e.row == 2 for e in errors)


def test_imports_dates_in_common_forms_are_accepted():
    rows = household_rows()
    for form in ("2015/6/30", "2015.06.30", "2015年6月30日", "20150630"):
        rows[0][column("登记日期")] = form
        checked = check(rows)[0]
        assert not checked.errors, (form, checked.errors)
        assert checked.household.registered_on == dt.date(2015, 6, 30)


def test_imports_household_rules_over_rows():
    rows = household_rows(1, seed=3)
    while len(rows) < 2:
        rows = household_rows(1, seed=len(rows) + 4)
    rows[1][column("户属性")] = "五保户" if rows[0][column("户属性")] != "五保户" else "低保户"
    rows[1][column("与户主关系")] = "户主"
    checked = check(rows)
    errors = household_errors(checked, 20)
    reasons = " | ".join(e.reason for e in errors)
    assert "differs from row 2 of the same household" in reasons
    assert "exactly one head" in reasons


def test_imports_a_differing_phone_or_account_is_not_quoted_in_the_reason():
    rows = household_rows(1, seed=3)
    while len(rows) < 2:
        rows = household_rows(1, seed=len(rows) + 4)
    first_phone, first_account = rows[0][column("联系电话")], rows[0][column("开户银行账号")]
    rows[1][column("联系电话")] = "13800000000" if first_phone != "13800000000" else "13900000000"
    rows[1][column("开户银行账号")] = "6228480000000000001"
    errors = household_errors(check(rows), 20)
    differing = [e for e in errors if e.column in ("联系电话", "开户银行账号")]
    assert len(differing) == 2, errors
    for error in differing:
        assert error.reason == "differs from row 2 of the same household"
        assert first_phone not in error.reason and first_account not in error.reason


def test_imports_blank_household_cells_repeat_the_first_row():
    rows = household_rows(1, seed=5)
    while len(rows) < 2:
        rows = household_rows(1, seed=len(rows) + 6)
    for name in ("户属性", "主要致贫原因", "工资性收入"):
        rows[1][column(name)] = ""
    checked = check(rows)
    assert not household_errors(checked, 20)


# --- encryption compatibility ---------------------------------------------------------------------


def test_imports_bulk_sealer_matches_the_kit_cipher_and_index():
    settings = Settings()
    sealer = Sealer(settings.pii_keys, settings.blind_index_key)
    cipher = FieldCipher(parse_keyring(settings.pii_keys))
    number = resident_id("220102", 1990, 1, 1, 5, "male")
    assert cipher.decrypt(sealer.seal(number, b"id_number"), "id_number") == number
    import base64

    assert sealer.index(number) == BlindIndex(base64.b64decode(settings.blind_index_key)).of(number)


# --- xlsx readers ---------------------------------------------------------------------------------


def workbook(
    tmp_path: Path, rows: list[list[object]], *, merge: bool = False, title: bool = False
) -> Path:
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    offset = 0
    if title:
        sheet.write_string(0, 0, "某县建档立卡贫困户信息表")
        offset = 1
    sheet.write_row(offset, 0, header())
    for number, row in enumerate(rows, start=offset + 1):
        for index, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(
                    number, index, dt.datetime.combine(value, dt.time()), date_format
                )
            elif isinstance(value, str):
                if value:
                    sheet.write_string(number, index, value)
            else:
                sheet.write_number(number, index, value)
    sheet.write_formula(offset + 1, len(header()) + 1, "=1+1", None, 2)
    if merge:
        sheet.merge_range(offset + 1, 40, offset + 2, 40, "merged")
    book.close()
    return path


def test_imports_calamine_and_streaming_readers_agree(tmp_path):
    rows: list[list[object]] = [list(r) for r in household_rows(3, seed=7)]
    rows[0][column("登记日期")] = dt.date(2015, 6, 30)
    rows[0][column("工资性收入")] = 3200
    rows[0][column("联系电话")] = 13904351234
    rows[1][column("证件号码")] = 2.20102199001011e17
    path = workbook(tmp_path, rows, title=True)
    facts = sniff(path)
    whole = open_sheet(path, facts, calamine_max_bytes=10**9)
    streamed = open_sheet(path, FileFacts("xlsx"), calamine_max_bytes=0)
    assert whole.header_row == streamed.header_row == 2
    a = [(r.number, r.cells[: len(HEADERS)]) for r in whole]
    b = [(r.number, r.cells[: len(HEADERS)]) for r in streamed]
    assert a == b
    assert a[0][1][column("登记日期")] == "2015-06-30"
    assert a[0][1][column("工资性收入")] == "3200"
    assert a[0][1][column("联系电话")] == "13904351234"
    assert a[1][1][column("证件号码")].startswith(LOSSY_NUMBER)


def test_imports_streaming_reader_refuses_long_numbers_and_notes(tmp_path):
    rows = household_rows(1, seed=8)
    path = workbook(tmp_path, rows, merge=True)
    # Rewrite the first ID cell as a number holding all 18 digits in the XML text: Excel keeps
    # 15 significant digits, so 16 or more may be its rounding, and the cell is refused.
    source = zipfile.ZipFile(path)
    sheet = source.read("xl/worksheets/sheet1.xml").decode()
    number = rows[0][column("证件号码")]
    import re

    pattern = re.compile(r'<c r="X2"[^>]*>.*?</c>')
    assert pattern.search(sheet)
    rebuilt = tmp_path / "rebuilt.xlsx"
    with zipfile.ZipFile(rebuilt, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = pattern.sub(f'<c r="X2"><v>{number}</v></c>', sheet).encode()
            out.writestr(item, data)
    facts = FileFacts("xlsx")
    streamed = open_sheet(rebuilt, facts, calamine_max_bytes=0)
    first = next(iter(streamed))
    assert first.cells[column("证件号码")] == LOSSY_NUMBER + number
    list(streamed)
    assert any("merged cells" in n for n in facts.notes)
    assert any("formulas" in n for n in facts.notes)


def test_imports_calamine_reports_merged_rows(tmp_path):
    path = workbook(tmp_path, household_rows(2, seed=9), merge=True)
    sheet = open_sheet(path, sniff(path), calamine_max_bytes=10**9)
    assert sheet.merged and sheet.merged[0][0] == 2


__all__ = ["io"]


# --- chunks from one or several parser processes ----------------------------------------------


def config_for(
    path: Path, chunk_rows: int, calamine_max_bytes: int | None = None
) -> ProducerConfig:
    return file_config(
        path,
        rules=RULES,
        chunk_rows=chunk_rows,
        calamine_max_bytes=(
            Settings().import_calamine_max_bytes
            if calamine_max_bytes is None
            else calamine_max_bytes
        ),
    )


def producer_config(tmp_path: Path, rows: list[list[str]], chunk_rows: int) -> ProducerConfig:
    path = tmp_path / "upload.csv"
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header(), *rows])
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    return config_for(path, chunk_rows)


def chunks_of(config: ProducerConfig, worker: int = 0, workers: int = 1) -> list[PreparedChunk]:
    items = list(produce(config, worker, workers))
    assert isinstance(items[0], Opened) and isinstance(items[-1], Finished)
    return [item for item in items if isinstance(item, PreparedChunk)]


def shape(chunk: PreparedChunk) -> tuple:
    """A chunk without its random parts (ids, nonces): what must not depend on the process."""
    return (
        chunk.number,
        chunk.household_keys,
        chunk.member_rows,
        chunk.member_households,
        chunk.member_indexes,
        chunk.errors,
        (chunk.rows_read, chunk.rows_valid, chunk.rows_rejected, chunk.rows_empty),
    )


def test_imports_two_parser_processes_produce_the_chunks_of_one(tmp_path):
    rows = household_rows(30, seed=41)
    first_key = rows[0][:2]
    first_household = [r for r in rows if r[:2] == first_key]
    assert len(first_household) >= 2 or pytest.skip("the sample's first household has one row")
    # The first household's last row again at the very end: "appeared earlier in the file",
    # detected in a chunk of the other process.
    rows.remove(first_household[-1])
    rows.append(first_household[-1])
    rows.insert(len(rows) // 2, [""] * len(header()))  # an empty row is counted, not read
    rows[5][23] = rows[5][23][:17] + ("1" if rows[5][23][17] != "1" else "2")  # check digit
    config = producer_config(tmp_path, rows, chunk_rows=12)
    alone = chunks_of(config)
    split = sorted(chunks_of(config, 0, 2) + chunks_of(config, 1, 2), key=lambda c: c.number)
    assert len(alone) > 4
    assert [shape(c) for c in split] == [shape(c) for c in alone]
    assert [c.number for c in alone] == list(range(1, len(alone) + 1))
    reasons = [e.reason for c in alone for e in c.errors]
    assert any("appeared earlier in the file" in r for r in reasons), reasons
    assert any("wrong check character" in r for r in reasons), reasons
    assert sum(c.rows_empty for c in alone) == 1
    assert sum(c.rows_read for c in alone) == len(rows) - 1


def test_imports_chunk_copies_leave_out_whole_households(tmp_path):
    (chunk,) = chunks_of(producer_config(tmp_path, household_rows(6, seed=42), chunk_rows=1000))
    count = len(chunk.household_ids)
    lines = {t: blob.decode().splitlines() for t, blob in chunk.copies.items()}
    assert len(lines["households"]) == len(lines["household_versions"]) == count
    assert len(lines["outbox"]) == count and len(lines["members"]) == len(chunk.member_rows)
    kept = chunk.copies_without({1, count - 1})
    left_out = {chunk.household_ids[1], chunk.household_ids[count - 1]}
    for table, blob in kept.items():
        name = {"households": "id", "outbox": "key"}.get(table, "household_id")
        column = COPY_COLUMNS[table].index(name)
        expected = [line for line in lines[table] if line.split("\t")[column] not in left_out]
        assert blob.decode().splitlines() == expected
    assert chunk.copies_without(set()) is chunk.copies
    assert chunk.rows_by_household()[1] == [
        r for r, h in zip(chunk.member_rows, chunk.member_households, strict=True) if h == 1
    ]


def test_imports_id_digits_are_ascii():
    number = resident_id("220102", 1990, 1, 1, 5, "male")
    full_width = number.translate({ord(d): ord(d) - ord("0") + ord("０") for d in "0123456789"})
    assert check_id_number(number, TODAY) is None
    assert "half-width" in check_id_number(full_width, TODAY)


def test_imports_streaming_reader_finds_rows_by_their_tags():
    from fupin_registry.imports.xlsx_stream import _row_parts

    body = (
        b'<sheetData><row r="1" spans="1:2"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>'
        b'<row r="2"/><row r="3">'
        b'<c r="B3" t="inlineStr"><is><t xml:space="preserve"> b </t></is></c></row>'
        b'</sheetData><rowBreaks count="1"><brk id="3"/></rowBreaks>'
    )
    parts = list(_row_parts(body))
    assert [attrs for attrs, _ in parts] == [b' r="1" spans="1:2"', b' r="2"', b' r="3"']
    assert parts[1][1] == b""
    assert parts[2][1].endswith(b"</c>") and b"<row" not in parts[2][1]


# --- streamed rows read only as far as needed ---------------------------------------------------

SHARED = ["220622100001", "0007"]


@pytest.mark.parametrize(
    ("inner", "first", "second"),
    [
        # Inline strings with references, and a cell after the key.
        (
            b'<c r="A5" t="inlineStr"><is><t>220622100001</t></is></c>'
            b'<c r="B5" t="inlineStr"><is><t> 0007 </t></is></c><c r="C5"><v>3</v></c>',
            0,
            1,
        ),
        # Shared strings, attributes in another order, a number key.
        (b'<c t="s" r="A5"><v>0</v></c><c s="1" r="B5"><v>7</v></c>', 0, 1),
        # Cells without a reference follow the one before.
        (b'<c t="s"><v>0</v></c><c t="s"><v>1</v></c><c><v>9</v></c>', 0, 1),
        # A key cell missing, one beyond the row's end.
        (b'<c r="A5" t="s"><v>0</v></c><c r="C5"><v>3</v></c>', 1, 4),
        # Keys further right, an empty styled cell between.
        (b'<c r="A5" s="2"/><c r="C5" t="s"><v>1</v></c><c r="F5" t="s"><v>0</v></c>', 2, 5),
        # Out of order, or a key column named again later: the whole row is read instead.
        (b'<c r="B5" t="s"><v>1</v></c><c r="A5" t="s"><v>0</v></c>', 0, 1),
        (
            b'<c r="A5" t="s"><v>0</v></c><c r="B5" t="s"><v>1</v></c><c r="D5"><v>4</v></c>'
            b'<c t="s" r="A5"><v>1</v></c>',
            0,
            1,
        ),
        # The same with other white space before the later reference, and past column Z.
        (
            b'<c r="A5" t="s"><v>0</v></c><c r="B5" t="s"><v>1</v></c>'
            b'<c\n t="s"\tr="B5"><v>0</v></c>',
            0,
            1,
        ),
        (
            b'<c r="AA5" t="s"><v>0</v></c><c r="AB5" t="s"><v>1</v></c><c r="AC5"><v>4</v></c>'
            b'<c r="AB5"><v>9</v></c>',
            26,
            27,
        ),
        # Text that looks like a reference to a key column changes nothing.
        (
            b'<c r="A5" t="s"><v>0</v></c><c r="B5" t="s"><v>1</v></c>'
            b'<c r="C5" t="inlineStr"><is><t>r="A1" r="B2"</t></is></c>',
            0,
            1,
        ),
        # A formula: the whole row is read (formulas are counted).
        (b'<c r="A5" t="s"><v>0</v></c><c r="B5"><f>1+1</f><v>2</v></c>', 0, 1),
        # A blank row.
        (b"", 0, 1),
    ],
)
def test_imports_streamed_row_keys_are_those_of_the_whole_row(inner, first, second):
    from fupin_registry.imports.xlsx_stream import CellFormats, SheetRow, _Decoder

    lazy = SheetRow(5, inner, _Decoder(SHARED, CellFormats({1}, {}), dt.date(1899, 12, 30)))
    keys = lazy.keys(first, second, whole=False)
    whole = RawRow(5, _Decoder(SHARED, CellFormats({1}, {}), dt.date(1899, 12, 30)).cells(inner))
    assert keys == whole.keys(first, second)
    assert lazy.cells == whole.cells


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b'<c r="B5" t="s"><v>99999</v></c>', "shared string '99999' is not in"),
        (b'<c r="B5" t="s"><v>abc</v></c>', "shared string 'abc' is not in"),
        (b'<c r="B5" t="b"><v>2</v></c>', "a true/false cell holds '2', neither 0 nor 1"),
        (b'<c r="B5" t="inlineStr"><is><t>&lol9;</t></is></c>', "the text holds '&lol9;'"),
        (b'<c r="B5" t="inlineStr"><is><t>&#0;</t></is></c>', "the text holds '&#0;'"),
    ],
)
def test_imports_a_streamed_cell_whose_text_cannot_be_read_is_named_on_its_column(bad, reason):
    from fupin_registry.imports.limits import is_too_long, too_long_reason
    from fupin_registry.imports.xlsx_stream import CellFormats, SheetRow, _Decoder

    decoder = _Decoder(SHARED, CellFormats({1}, {}), dt.date(1899, 12, 30))
    inner = b'<c r="A5" t="s"><v>0</v></c>' + bad + b'<c r="C5" t="inlineStr"><is><t>x</t></is></c>'
    row = SheetRow(5, inner, decoder)
    assert row.cells[0] == "220622100001" and row.cells[2] == "x"
    # a marker the row validation reports on the cell's column, never as an empty cell
    assert is_too_long(row.cells[1]) and too_long_reason(row.cells[1]).startswith(reason)
    assert row.problem is None


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b'<c t="s" r="1A"><v>1</v></c>', "a cell's reference '1A' is not valid"),
        (b'<c t="s" s="x" r="B5"><v>1</v></c>', "a cell's style 'x' is not valid"),
    ],
)
def test_imports_a_streamed_cell_described_wrongly_is_a_row_problem(bad, reason):
    from fupin_registry.imports.xlsx_stream import CellFormats, SheetRow, _Decoder

    decoder = _Decoder(SHARED, CellFormats({1}, {}), dt.date(1899, 12, 30))
    inner = b'<c r="A5" t="s"><v>0</v></c>' + bad + b'<c r="C5"><is><t>x</t></is></c>'
    inner = inner.replace(b'<c r="C5"><is>', b'<c r="C5" t="inlineStr"><is>')
    row = SheetRow(5, inner, decoder)
    assert row.keys(0, 1, whole=False) == ("220622100001", "")  # read whole: the cell is bad
    assert row.cells[0] == "220622100001" and row.cells[2] == "x"
    assert row.problem is not None and row.problem.startswith(reason), row.problem
    good = SheetRow(6, b'<c r="A6" t="s"><v>1</v></c>', decoder)
    assert good.cells == ["0007"] and good.problem is None  # the next row starts afresh


def streamed_config(tmp_path: Path, rows: list[list[str]], chunk_rows: int) -> ProducerConfig:
    """A workbook read by the streaming reader, the first household's village cells merged."""
    path = tmp_path / "upload.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header())
    for number, row in enumerate(rows, start=1):
        for index, value in enumerate(row):
            if value:
                sheet.write_string(number, index, value)
    first = [i for i, row in enumerate(rows, start=1) if row[:2] == rows[0][:2]]
    if len(first) > 1:
        sheet.merge_range(first[0], 0, first[-1], 0, rows[0][0])
    book.close()
    return config_for(path, chunk_rows, calamine_max_bytes=0)


def test_imports_parser_processes_decode_only_their_rows_of_a_streamed_sheet(tmp_path, monkeypatch):
    from fupin_registry.imports import xlsx_stream

    rows = household_rows(40, seed=43)
    rows.insert(len(rows) // 2, [""] * len(header()))
    rows[7][23] = rows[7][23][:17] + ("1" if rows[7][23][17] != "1" else "2")  # check digit
    config = streamed_config(tmp_path, rows, chunk_rows=12)
    decode = xlsx_stream._Decoder.cells
    decoded: list[int] = []

    def counting(self, inner):
        decoded.append(1)
        return decode(self, inner)

    monkeypatch.setattr(xlsx_stream._Decoder, "cells", counting)
    alone = chunks_of(config)
    read_alone = len(decoded)
    split = []
    read_by = []
    for worker in (0, 1):
        decoded.clear()
        split += chunks_of(config, worker, 2)
        read_by.append(len(decoded))
    split.sort(key=lambda c: c.number)
    assert len(alone) > 6
    assert [shape(c) for c in split] == [shape(c) for c in alone]
    assert any("wrong check character" in e.reason for c in alone for e in c.errors)
    assert read_alone >= len(rows)  # the header and every row
    # Each process reads its own chunks' rows (and the header, the merged rows, the blank row)
    # but not the other process's.
    assert all(count < read_alone * 0.75 for count in read_by), (read_alone, read_by)


BAD_CELLS = [
    (rb'<c r="C2" t="s"><v>99999</v></c>', "shared string '99999' is not in"),
    (rb'<c r="C2" t="s"><v>-1</v></c>', "shared string '-1' is not in"),
    (rb'<c r="C2" t="s"><v>abc</v></c>', "shared string 'abc' is not in"),
    (rb'<c r="C2" t="b"><v>2</v></c>', "a true/false cell holds '2', neither 0 nor 1"),
]


@pytest.mark.parametrize(("cell", "reason"), BAD_CELLS)
# python-calamine reads such an index as the first shared string, and refuses the workbook
# for such a boolean: the workbook is streamed whatever its size.
@pytest.mark.parametrize("calamine_max_bytes", [0, 10**9], ids=["streamed", "small"])
def test_imports_a_sheet_with_a_cell_described_wrongly_rejects_that_row_only(
    tmp_path, cell, reason, calamine_max_bytes
):
    rows = household_rows(3, seed=48)
    book = tmp_path / "upload.xlsx"
    writer = xlsxwriter.Workbook(str(book))  # text cells as shared strings, as Excel writes them
    sheet = writer.add_worksheet()
    sheet.write_row(0, 0, header())
    for number, row in enumerate(rows, start=1):
        sheet.write_row(number, 0, row)
    writer.close()
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(book) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, count = re.subn(rb'<c r="C2"[^>]*>.*?</c>', cell, data)
                assert count == 1
            target.writestr(item, data)
    chunks = chunks_of(config_for(broken, chunk_rows=100, calamine_max_bytes=calamine_max_bytes))
    errors = [e for c in chunks for e in c.errors]
    # on its column, with the column's header, and not also as a required cell left empty
    [error] = [e for e in errors if e.row == 2]
    assert error.column == header()[2] and error.reason.startswith(reason), errors
    first_household = {i for i, r in enumerate(rows) if r[:2] == rows[0][:2]}
    assert sum(c.rows_valid for c in chunks) == len(rows) - len(first_household)


def test_imports_a_file_without_its_header_fails_without_quoting_a_person(tmp_path):
    rows = household_rows(1, seed=49)
    path = tmp_path / "no-header.csv"
    path.write_text("\n".join(",".join(row) for row in rows) + "\n", encoding="utf-8")
    with pytest.raises(HeaderError) as error:
        open_sheet(path, sniff(path), 0)
    reason = str(error.value)
    assert "no template header row found" in reason and "证件号码" in reason
    for personal in ("证件号码", "姓名", "联系电话", "开户银行账号"):
        value = rows[0][column(personal)]
        assert value not in reason, personal


def test_imports_a_sixteen_digit_number_cell_is_refused_on_both_paths(tmp_path):
    """Excel keeps 15 significant digits: a 16-digit bank account typed into a General column
    may already be rounded, on the calamine path as on the streaming one."""
    rows = household_rows(1, seed=50)
    path = tmp_path / "accounts.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header())
    for number, row in enumerate(rows, start=1):
        for index, value in enumerate(row):
            if index == column("开户银行账号"):
                sheet.write_number(number, index, 6228480012345670)
            elif value:
                sheet.write_string(number, index, value)
    book.close()
    for calamine_max_bytes in (10**9, 0):
        sheet_rows = list(open_sheet(path, sniff(path), calamine_max_bytes))
        account = sheet_rows[0].cells[column("开户银行账号")]
        assert account.startswith(LOSSY_NUMBER), (calamine_max_bytes, account)


def test_imports_a_number_shown_with_leading_zeros_reads_as_shown(tmp_path):
    """Counties keep 户编号 as numbers formatted "000000": the sheet shows 000123, and that is
    the household number read (python-calamine gives the bare number, so such a workbook is
    streamed); other number cells keep their value."""
    rows = household_rows(2, seed=52)
    path = tmp_path / "padded.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    padded = book.add_format({"num_format": "000000"})
    sheet.write_row(0, 0, header())
    numbers = {}
    for number, row in enumerate(rows, start=1):
        for index, value in enumerate(row):
            if index == column("户编号"):
                numbers.setdefault(value, len(numbers) + 7)
                sheet.write_number(number, index, numbers[value], padded)
            elif index == column("工资性收入"):
                sheet.write_number(number, index, 3200)
            elif value:
                sheet.write_string(number, index, value)
    book.close()
    read = list(open_sheet(path, sniff(path), 10**9))
    assert [r.cells[column("户编号")] for r in read] == [
        f"{numbers[row[column('户编号')]]:06d}" for row in rows
    ]
    assert {r.cells[column("工资性收入")] for r in read} == {"3200"}
    chunks = chunks_of(config_for(path, chunk_rows=100, calamine_max_bytes=10**9))
    assert sum(c.rows_valid for c in chunks) == len(rows)
    assert sorted(key[1] for c in chunks for key in c.household_keys) == ["000007", "000008"]


@pytest.mark.parametrize(
    ("status", "accepted"), [("已脱贫", True), ("返贫", True), ("未脱贫", False)]
)
def test_imports_an_exit_date_belongs_to_exited_and_returned_households(status, accepted):
    """An export of a returned household (返贫) carries the date it exited before: it imports."""
    rows = household_rows(1, seed=51)
    for row in rows:
        row[column("贫困户状态")] = status
        row[column("脱贫日期")] = "2019-12-01"
    checked = check(rows)
    errors = [e for c in checked for e in c.errors if e.column == "脱贫日期"]
    assert (errors == []) == accepted, errors


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_imports_the_delimiter_is_the_header_rows_below_a_title_line(tmp_path, delimiter):
    rows = household_rows(1, seed=52)
    path = tmp_path / "titled.csv"
    lines = ["德惠市2015年建档立卡贫困户信息表", delimiter.join(header())]
    lines += [delimiter.join(row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("gb18030"))
    sheet = open_sheet(path, sniff(path), 0)
    assert sheet.header_row == 2
    first = next(iter(sheet))
    assert first.cells[column("证件号码")] == rows[0][column("证件号码")]


def test_imports_a_footer_in_a_column_the_import_ignores_is_an_empty_row(tmp_path):
    rows = household_rows(3, seed=53)
    path = tmp_path / "footer.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*header(), "备注", ""])
    writer.writerows([*rows])
    writer.writerow([""] * len(header()) + ["制表人：张三", ""])  # under 备注
    writer.writerow([""] * len(header()) + ["", "2016年3月"])  # under no header
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    chunks = chunks_of(config_for(path, 100))
    assert [e for c in chunks for e in c.errors] == []
    assert sum(c.rows_valid for c in chunks) == len(rows)
    assert sum(c.rows_empty for c in chunks) == 2


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_imports_the_delimiter_is_the_header_rows_whatever_a_remark_holds(tmp_path, delimiter):
    rows = household_rows(2, seed=54)
    other = ";" if delimiter != ";" else ","
    path = tmp_path / "remarks.csv"
    lines = [delimiter.join([*header(), "备注"])]
    lines += [delimiter.join([*row, f'"{other * 40}\t{other * 40}"']) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    sheet = open_sheet(path, sniff(path), 0)
    assert sheet.header_row == 1
    assert [r.cells[: len(header())] for r in sheet] == rows


@pytest.mark.parametrize("max_line_bytes", [8, 13, 64, 1 << 20])
def test_imports_file_lines_end_where_the_csv_module_ends_them(max_line_bytes):
    """Lines end in LF, CR LF or a bare CR wherever the reads that find them stop: the lines
    are those of a text file opened with newline="" (a CR LF split between two reads, a CR as
    the last byte but one), every byte kept."""
    from fupin_registry.imports.readers import _file_lines

    rng = random.Random(max_line_bytes)
    pieces = [b"a", b"bc", b",", b"\r", b"\n", b"\r\n", b"\r\r\n", b" "]
    for _ in range(300):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12)))
        lines = list(_file_lines(io.BytesIO(data), max_line_bytes))
        assert b"".join(lines) == data
        text = io.TextIOWrapper(io.BytesIO(data), encoding="latin-1", newline="")
        expected = [line.encode("latin-1") for line in text]
        if all(len(line) <= max_line_bytes for line in expected):
            assert lines == expected, data
