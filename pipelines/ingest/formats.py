"""A file's format and encoding in words an analyst knows, for the upload page and 取り込み履歴.

sources.Source (and import_batches) keep the codec names Python uses (utf-8-sig, cp932); people
know the names Excel and Notepad show them: 「UTF-8 (BOM付き)」「Shift_JIS (CP932)」「Excel (.xlsx)」.
A workbook has no text encoding and no delimiter, so its words say only that it is Excel.
"""
from __future__ import annotations

from typing import NamedTuple

ENCODING_WORDS = {
    "utf-8-sig": "UTF-8 (BOM付き)",
    "utf-8": "UTF-8",
    "cp932": "Shift_JIS (CP932)",
    "utf-16": "UTF-16 (Excel の Unicode テキスト)",
}
DELIMITED_WORDS = {
    ",": "CSV（カンマ区切り）",
    "\t": "TSV（タブ区切り）",
    ";": "CSV（セミコロン区切り）",
    "|": "CSV（縦棒 | 区切り）",
}
EXCEL = "Excel (.xlsx)"


class FormatWords(NamedTuple):
    format: str     # 「CSV（カンマ区切り）」「TSV（タブ区切り）」「Excel (.xlsx)」; "" when not known
    encoding: str   # 「UTF-8 (BOM付き)」「Shift_JIS (CP932)」; "" for a workbook or when not known


def format_words(encoding: str | None, file_format: str | None, delimiter: str | None = None) -> FormatWords:
    """The format and encoding of a read file in an analyst's words.

    >>> format_words("cp932", "csv", ",")
    FormatWords(format='CSV（カンマ区切り）', encoding='Shift_JIS (CP932)')
    >>> format_words("xlsx", "xlsx", ",")
    FormatWords(format='Excel (.xlsx)', encoding='')

    A file refused before it was read has neither (both ""); a value this module does not know is
    shown as it is rather than hidden.
    """
    if file_format == "xlsx" or encoding == "xlsx":
        return FormatWords(EXCEL, "")
    if file_format:
        shown = DELIMITED_WORDS.get(delimiter or "", "TSV（タブ区切り）" if file_format == "tsv" else file_format.upper())
    else:
        shown = ""
    return FormatWords(shown, ENCODING_WORDS.get(encoding or "", encoding or ""))
