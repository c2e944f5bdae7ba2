"""Hostile or oversized exports are bounded (issue 13, item 2).

A sheet's declared size (<dimension>) is ignored: a stale one loses no rows, a huge one pads
nothing. Limits count what is actually read — rows, columns, characters in a cell, bytes, the
unpacked size of a workbook's parts — and a file past one is refused at once, with a Japanese
reason recorded in 取り込み履歴, an English CLI message and exit 2, the store's cases unchanged.
The workbooks are built here, byte by byte, as tiny zips.
"""
from __future__ import annotations

import io
import time
import tomllib
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from helpers import query

from pipelines.__main__ import main
from pipelines.ingest.load import LoadOptions, load_file
from pipelines.ingest.sources import open_source
from pipelines.store.errors import RefusedFile
from pipelines.store.settings import LIMIT_ENVS, ReadLimits, read_limits

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["受付番号", "受付日時", "受付チャネル", "商品名", "問い合わせ内容", "対応状況"]


def case_rows(count: int, text: str = "電源ボタンを押しても反応しません") -> list[list[str]]:
    return [[f"U-{i:05d}", f"2025/04/{i % 28 + 1:02d} 09:00", "電話", "加湿器", f"{text}（{i}件目）", "新規"]
             for i in range(1, count + 1)]


def _column(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def xlsx(rows: list[list[str]], dimension: str | None = None, extra_xml: dict[int, str] | None = None,
         parts: dict[str, bytes] | None = None) -> bytes:
    """A minimal workbook: one sheet of inline strings, its <dimension> as given (a lie, if wanted);
    `extra_xml` adds raw cell XML to a row (a cell far to the right); `parts` adds zip members."""
    sheet_rows = []
    for number, row in enumerate(rows, start=1):
        cells = "".join(f'<c r="{_column(i)}{number}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
                        for i, v in enumerate(row, start=1) if v != "")
        sheet_rows.append(f'<row r="{number}">{cells}{(extra_xml or {}).get(number, "")}</row>')
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             f'spreadsheetml/2006/main">{dim}<sheetData>{"".join(sheet_rows)}</sheetData></worksheet>')
    files = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
        'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        'worksheet+xml"/>' + (STRINGS_TYPE if "xl/sharedStrings.xml" in (parts or {}) else "") + "</Types>",
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="受付台帳" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.'
        'org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        for name, content in (parts or {}).items():
            archive.writestr(name, content)
    return out.getvalue()


STRINGS_TYPE = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                'officedocument.spreadsheetml.sharedStrings+xml"/>')
SST = '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def csv_bytes(rows: list[list[str]]) -> bytes:
    return "\r\n".join(",".join(row) for row in [HEADER, *rows]).encode("utf-8") + b"\r\n"


@pytest.fixture
def limit(monkeypatch):
    """Set one limit (by ReadLimits field) for this test, through its environment variable."""
    def set_limit(field: str, value: int) -> None:
        monkeypatch.setenv(LIMIT_ENVS[field], str(value))
    return set_limit


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused_load(path: Path, store: Path) -> tuple[RefusedFile, float]:
    started = time.monotonic()
    with pytest.raises(RefusedFile) as caught:
        load_file(path, store, LoadOptions(workers=1, morphology=False))
    return caught.value, time.monotonic() - started


def assert_recorded_and_unchanged(store: Path, words: str) -> None:
    (status, message), = query(store, "SELECT status, message FROM import_batches")
    assert status == "refused" and words in message
    assert query(store, "SELECT count(*) FROM cases") == [(0,)]


# ------------------------------------------------------------------------------------ declared size

def test_a_sheet_declaring_a_million_rows_by_16384_columns_pads_nothing(tmp_path, store):
    path = write(tmp_path, "huge_dimension.xlsx", xlsx([HEADER, *case_rows(5)], dimension="A1:XFD1048576"))
    assert path.stat().st_size < 5_000
    started = time.monotonic()
    source = open_source(path, tmp_path)
    assert time.monotonic() - started < 5
    assert source.csv_path.stat().st_size < 2_000       # the five rows, unpadded (it was ~17 GB)
    assert source.header == HEADER and source.data_rows_hint == 5
    result = load_file(path, store, LoadOptions(workers=1, morphology=False))
    assert (result.rows_read, result.inserted) == (5, 5)


def test_a_stale_dimension_loses_no_rows(tmp_path, store):
    path = write(tmp_path, "stale.xlsx", xlsx([HEADER, *case_rows(10)], dimension="A1:B2"))
    result = load_file(path, store, LoadOptions(workers=1, morphology=False))
    assert (result.rows_read, result.inserted, result.rejected) == (10, 10, 0)
    assert query(store, "SELECT count(*) FROM cases") == [(10,)]


def test_an_empty_styled_cell_far_right_pads_no_row(tmp_path):
    # Generators leave formatted empty cells at the sheet's edge: not data, and no reason to pad.
    far = {n: f'<c r="XFD{n}" s="0"/>' for n in range(1, 12)}
    path = write(tmp_path, "styled_edge.xlsx", xlsx([HEADER, *case_rows(10)], extra_xml=far))
    source = open_source(path, tmp_path)
    assert len(source.header) == 6 and source.csv_path.stat().st_size < 3_000


# ------------------------------------------------------------------------------------------ limits

def test_a_value_past_the_column_limit_is_refused_at_once(tmp_path, store):
    far = {3: '<c r="XFD3" t="inlineStr"><is><t>x</t></is></c>'}
    path = write(tmp_path, "far_cell.xlsx", xlsx([HEADER, *case_rows(5)], dimension="A1:XFD1048576", extra_xml=far))
    error, seconds = refused_load(path, store)
    assert seconds < 10 and error.code == "too_large"
    assert "16,384 列目" in error.ja and "1,000 列" in error.ja and "KAKEHASHI_MAX_COLUMNS" in error.hint_ja
    assert_recorded_and_unchanged(store, "列数の上限")


def test_a_workbook_cell_past_the_cell_limit_is_refused(tmp_path, store, limit):
    limit("max_cell_chars", 1_000)
    rows = case_rows(5)
    rows[2][4] = "長" * 1_001
    path = write(tmp_path, "long_cell.xlsx", xlsx([HEADER, *rows]))
    error, seconds = refused_load(path, store)
    assert seconds < 10
    assert "4 行目" in error.ja and "1,001 文字" in error.ja and "1,000 文字" in error.ja
    assert_recorded_and_unchanged(store, "1 セルの上限")


def test_a_csv_cell_past_the_cell_limit_is_refused_with_its_line(tmp_path, store, limit):
    limit("max_cell_chars", 100_000)
    rows = case_rows(2_000)
    rows[1_500][4] = "長" * 100_001      # far past the head the file is first judged on
    error, _ = refused_load(write(tmp_path, "long_cell.csv", csv_bytes(rows)), store)
    assert "1,502 行目" in error.ja and "100,001 文字" in error.ja
    assert_recorded_and_unchanged(store, "1 セルの上限")


def test_a_cell_longer_than_the_csv_modules_default_loads(tmp_path, store):
    # 131,072 characters is the csv module's default field limit: it once crashed the upload page.
    rows = case_rows(3)
    rows[0][4] = "あ" * 200_000          # the first record, longer than the head a file is judged on
    for name, data in (("long.csv", csv_bytes(rows)), ("long.xlsx", xlsx([HEADER, *rows]))):
        result = load_file(write(tmp_path, name, data), store, LoadOptions(workers=1, morphology=False))
        assert result.rejected == 0 and result.rows_read == 3


@pytest.mark.parametrize("name, make", [("rows.xlsx", lambda rows: xlsx([HEADER, *rows])), ("rows.csv", csv_bytes)])
def test_more_rows_than_the_limit_are_refused(tmp_path, store, limit, name, make):
    limit("max_rows", 20)
    error, seconds = refused_load(write(tmp_path, name, make(case_rows(30))), store)
    assert seconds < 10 and "行数の上限（20 行）" in error.ja
    assert_recorded_and_unchanged(store, "行数の上限")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, store, limit):
    limit("max_file_mb", 1)
    path = write(tmp_path, "big.csv", csv_bytes(case_rows(12_000)))
    assert path.stat().st_size > 1 << 20
    error, seconds = refused_load(path, store)
    assert seconds < 5 and "上限（1 MB）" in error.ja
    assert_recorded_and_unchanged(store, "上限（1 MB）")


def test_a_shared_strings_bomb_is_refused_before_it_is_unpacked(tmp_path, store, limit):
    limit("max_strings_mb", 1)
    bomb = SST.encode() + b"<si><t>" + b"A" * (4 << 20) + b"</t></si></sst>"
    path = write(tmp_path, "bomb.xlsx", xlsx([HEADER, *case_rows(3)], parts={"xl/sharedStrings.xml": bomb}))
    assert path.stat().st_size < 50_000          # 4 MB unpacked from a few KB
    error, seconds = refused_load(path, store)
    assert seconds < 5 and "sharedStrings.xml" in error.ja and "KAKEHASHI_MAX_STRINGS_MB" in error.hint_ja
    assert_recorded_and_unchanged(store, "展開後のサイズ")


def test_the_decoded_copy_is_bounded(tmp_path, limit):
    # Every row names the same long shared string: a small sheet that writes out big.
    limit("max_expanded_mb", 1)
    strings = SST + "<si><t>" + "長い文章" * 150 + "</t></si></sst>"
    refs = {n: f'<c r="G{n}" t="s"><v>0</v></c>' for n in range(2, 1_202)}
    path = write(tmp_path, "repeated.xlsx", xlsx([HEADER, *case_rows(1_200)], extra_xml=refs,
                                                 parts={"xl/sharedStrings.xml": strings.encode()}))
    with pytest.raises(RefusedFile) as caught:
        open_source(path, tmp_path)
    assert "表に展開したデータ" in caught.value.ja
    assert (tmp_path / "input.csv").stat().st_size < 2 << 20


def test_the_cli_says_it_in_english_and_exits_2(tmp_path, store, limit, capsys):
    limit("max_rows", 20)
    path = write(tmp_path, "rows.csv", csv_bytes(case_rows(30)))
    assert main(["ingest", str(path), "--db", str(store), "--quiet", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "more than 20 rows" in err and "KAKEHASHI_MAX_ROWS" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------ settings

def test_limits_come_from_the_environment_and_bad_values_are_errors(limit, monkeypatch):
    limit("max_rows", 5)
    assert read_limits().max_rows == 5 and read_limits().max_columns == ReadLimits().max_columns
    monkeypatch.setenv(LIMIT_ENVS["max_columns"], "lots")
    with pytest.raises(ValueError, match="KAKEHASHI_MAX_COLUMNS"):
        read_limits()


def test_the_upload_widget_cap_matches_the_file_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == ReadLimits().max_file_mb


def test_readme_lists_every_limit():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for env in LIMIT_ENVS.values():
        assert env in readme, env


def test_a_cell_bomb_in_one_row_is_refused_before_it_is_held_in_memory(tmp_path, store, limit):
    limit("max_strings_mb", 1)
    bomb = '<c r="G2" t="inlineStr"><is><t>' + "A" * (3 << 20) + "</t></is></c>"
    path = write(tmp_path, "cell_bomb.xlsx", xlsx([HEADER, *case_rows(3)], extra_xml={2: bomb}))
    assert path.stat().st_size < 50_000
    error, seconds = refused_load(path, store)
    assert seconds < 10 and "シートの 1 行の XML" in error.ja and "KAKEHASHI_MAX_STRINGS_MB" in error.hint_ja
    assert_recorded_and_unchanged(store, "1 行の XML")


def test_a_killed_checking_process_is_told_and_replaced(tmp_path):
    from pipelines.ingest import preview

    path = write(tmp_path, "cases.csv", csv_bytes(case_rows(5)))
    preview.warm_up()
    process = preview._checker.process          # the page's checking process (private: the test kills it)
    assert process is not None and process.poll() is None
    checked = preview.isolated(preview.check_upload, path, "cases", "cases.csv", None, ReadLimits())
    assert checked.validation.rows == 5
    process.kill()
    process.wait()
    # The next check starts a new process; a dead one never answers with a traceback.
    assert preview.isolated(preview.check_upload, path, "cases", "cases.csv", None, ReadLimits()).validation.rows == 5
    with pytest.raises(preview.IsolatedFailure, match="longer than"):
        preview.isolated(time.sleep, 5, timeout=0.5)
    assert preview.isolated(preview.check_upload, path, "cases", "cases.csv", None, ReadLimits()).validation.valid == 5
