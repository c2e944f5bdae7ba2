"""pipelines.ingest.formats: a file's format and encoding in the words the upload page and
取り込み履歴 show (never a codec name, never a delimiter for a workbook)."""
from __future__ import annotations

import pytest

from pipelines.ingest.formats import FormatWords, format_words


@pytest.mark.parametrize(("encoding", "file_format", "delimiter", "shown"), [
    ("utf-8-sig", "csv", ",", ("CSV（カンマ区切り）", "UTF-8 (BOM付き)")),
    ("utf-8", "csv", ",", ("CSV（カンマ区切り）", "UTF-8")),
    ("cp932", "csv", ",", ("CSV（カンマ区切り）", "Shift_JIS (CP932)")),
    ("utf-16", "tsv", "\t", ("TSV（タブ区切り）", "UTF-16 (Excel の Unicode テキスト)")),
    ("utf-8", "csv", ";", ("CSV（セミコロン区切り）", "UTF-8")),
    ("cp932", "csv", "|", ("CSV（縦棒 | 区切り）", "Shift_JIS (CP932)")),
    ("xlsx", "xlsx", ",", ("Excel (.xlsx)", "")),          # the delimiter of the CSV a workbook was turned into
    (None, None, None, ("", "")),                          # refused before it was read
    ("latin-1", "csv", ",", ("CSV（カンマ区切り）", "latin-1")),   # unknown: shown, not hidden
])
def test_format_words(encoding, file_format, delimiter, shown):
    assert format_words(encoding, file_format, delimiter) == FormatWords(*shown)
