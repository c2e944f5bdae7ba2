"""A delimited file split into records one at a time, for the files DuckDB's strict reader finds
malformed: every record comes out either whole (written to a clean CSV) or rejected with a
Japanese reason, and the ones put right say how.

DuckDB reads the usual file in one parallel pass (staging.stage). When that pass rejects a record,
cannot go on (line endings mixed within the file), sees a record swallowed by an unclosed quote,
or the decode found NUL bytes, staging hands the file to split_records instead, then reads the
clean CSV it writes with the same query. Records are split the way the strict reader splits them
(RFC 4180: a quote opens a quoted field only at the start of a field, `""` inside one is a quote),
with these differences:

- a line inside a quoted field that begins like every other record (sources.record_start) ends the
  unclosed field: the record with the unclosed quote is rejected, the one swallowed is recovered;
- a bare LF outside quotes (not CRLF) followed by a line that does not start a record, where
  the two lines together make no more than the header's fields, is a line break inside a cell:
  the record is recovered whole;
- NUL bytes are removed; records of any length are read (DuckDB's default stops at 2 MB);
- a one-line record whose cell starts with a quote that closes before more text (`"至急"と…`,
  written by an exporter that quotes nothing) is read with its quotes as text, when that gives
  the header's fields;
- a record with too many or too few fields, any other misplaced quote, and a quoted field still
  open at the end of the file (a truncated download) are rejected.

Line numbers count records as DuckDB does (blank lines included; the header is `header_line`).
"""
from __future__ import annotations

import csv
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path

# DuckDB's default max_line_size: longer records are rejected by the fast read.
DUCKDB_MAX_LINE = 2_097_152
# The content of a quoted field up to its closing quote (or to the end of the text so far).
_QUOTED_RUN = re.compile(r'[^"]*(?:""[^"]*)*')

DONE, OPEN, BAD = "done", "open", "bad"

# What was put right to read a record whole: (Japanese for the page, English for the CLI).
NUL_REMOVED = ("NUL 文字（制御文字）を取り除きました", "NUL bytes removed")
LINE_BREAK_JOINED = ("引用符で囲まれていない改行を、セル内の改行として読みました",
                     "an unquoted line break read as a line break inside the cell")
SWALLOWED_SEPARATED = ("前の行の閉じられていない引用符（\"）に取り込まれていた行を、独立した行として読みました",
                       "a row swallowed by the unclosed quote of the row before it, read as a row of its own")
LONG_READ = ("2 MB を超える長い行を、そのまま読みました", "a row longer than 2 MB read whole")
QUOTE_AS_TEXT = ("セルの先頭の引用符（\"）を、文字として読みました", "a quotation mark at the start of a cell read as text")


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str           # Japanese
    fields: list[str]     # as split; for an unsplittable record, [its text]
    split: bool           # False: fields is the record's text, not its cells


@dataclass
class Split:
    """What split_records wrote and found."""

    path: Path                                   # clean CSV, no header: the records to load
    lines: array = field(default_factory=lambda: array("q"))   # line in the file of each record written
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[tuple[int, tuple[str, str]]] = field(default_factory=list)  # (line, (ja, en)): what was put right
    longest: int = 0                             # bytes of the longest record written


@dataclass(slots=True)
class _Record:
    """One record's text as it grows line by line, scanned incrementally."""

    delimiter: str
    parts: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    state: str = DONE
    first: int = 0          # physical line (1-based) where the record starts
    last: int = 0
    open_at: int = -1       # where the open quoted field starts (state OPEN)
    checked: int = 0        # no closing quote before this offset (state OPEN)

    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def add(self, number: int, line: str) -> None:
        if not self.parts:
            self.first = number
        self.parts.append(line)
        self.last = number
        if self.state == OPEN and '"' not in line:
            return                           # an open quoted field cannot close on a line without quotes
        self._scan()

    def _scan(self) -> None:
        text = self.text()
        body = text.removesuffix("\n").removesuffix("\r")
        if self.state != OPEN:
            # Most records: no quote at all, or well-formed quoting the C parser reads (its strict
            # mode errs where DuckDB's strict reader does); the rest are scanned below.
            if '"' not in body:
                self.state, self.fields = DONE, body.split(self.delimiter)
                return
            try:
                self.state, self.fields = DONE, next(csv.reader((body,), delimiter=self.delimiter, strict=True))
                return
            except (csv.Error, StopIteration):
                self.state = DONE
        if self.state == OPEN:
            pos, fields = self.open_at, self.fields
            closing = _QUOTED_RUN.match(body, max(self.checked, pos + 1)).end()
        else:
            pos, fields, closing = 0, [], -1
        n, delimiter = len(body), self.delimiter
        while True:
            if closing >= 0 or (pos < n and body[pos] == '"'):
                if closing < 0:
                    closing = _QUOTED_RUN.match(body, pos + 1).end()
                if closing >= n:                # no closing quote yet
                    self.state, self.fields, self.open_at, self.checked = OPEN, fields, pos, n
                    return
                fields.append(body[pos + 1:closing].replace('""', '"'))
                pos, closing = closing + 1, -1
                if pos < n and body[pos] != delimiter:
                    self.state, self.fields = BAD, fields
                    return
            else:
                end = body.find(delimiter, pos)
                end = n if end < 0 else end
                fields.append(body[pos:end])
                pos = end
            if pos >= n:
                self.state, self.fields = DONE, fields
                return
            pos += 1


def split_records(src: Path, out: Path, delimiter: str, header_line: int, width: int,
                  record_start: str = "") -> Split:
    """Write the records after the header of `src` (UTF-8) that have `width` fields to `out`."""
    starts = re.compile(record_start) if record_start else None
    result = Split(out)
    with src.open(encoding="utf-8-sig", newline="\n") as fh, out.open("w", encoding="utf-8", newline="") as dst:
        writer = csv.writer(dst, delimiter=delimiter, lineterminator="\n")
        lines = _Lines(fh)
        number = 0
        for first, line in lines:
            number += 1
            if number > header_line and _plain(line, lines, delimiter, width, starts):
                dst.write(line.removesuffix("\n").removesuffix("\r") + "\n")
                result.lines.append(number)
                continue
            record = _Record(delimiter)
            record.add(first, line)
            how = _complete(record, lines, width, starts)
            if number <= header_line or record.text().strip("\r\n") == "":
                continue                         # title rows, the header, blank lines
            _settle(record, how, number, width, writer, dst, result)
            while how == "unclosed":             # the next line starts a record of its own: say so there
                number += 1
                record = _Record(delimiter)
                record.add(*next(lines))
                how = _complete(record, lines, width, starts)
                _settle(record, how or "separated", number, width, writer, dst, result)
    return result


def _plain(line: str, lines: _Lines, delimiter: str, width: int, starts: re.Pattern | None) -> bool:
    """The usual record of a broken file, written as it is: one line with the header's number of
    cells, no NUL, no CR inside, and either CRLF-ended or followed by what starts a record."""
    body = line.removesuffix("\n")
    crlf = body.endswith("\r")
    body = body.removesuffix("\r")
    if "\r" in body or "\x00" in body or len(body) > DUCKDB_MAX_LINE // 4:
        return False
    if '"' not in body:
        if body.count(delimiter) + 1 != width:
            return False
    else:
        try:
            if len(next(csv.reader((body,), delimiter=delimiter, strict=True))) != width:
                return False
        except (csv.Error, StopIteration):
            return False
    if crlf or not line.endswith("\n"):
        return True
    nxt = lines.peek()
    return nxt is None or not nxt.strip() or _starts_record(nxt, starts, delimiter, width)


def _settle(record: _Record, how: str, number: int, width: int, writer, dst, result: Split) -> None:
    """Write a whole record, or reject it with its reason; note how a written one was put right."""
    text = record.text()
    notes = []
    if "\x00" in text:
        notes.append(NUL_REMOVED)
        record.fields = [cell.replace("\x00", "") for cell in record.fields]
        text = text.replace("\x00", "")
    if record.state == BAD and record.first == record.last and how == "":
        literal = text.rstrip("\r\n").split(record.delimiter)
        if len(literal) == width:                # quotes as text: an exporter that quotes nothing
            record.state, record.fields = DONE, literal
            notes.append(QUOTE_AS_TEXT)
    fields = record.fields
    if record.state == DONE and len(fields) > width and not any(fields[width:]):
        fields = fields[:width]                  # trailing delimiters, as DuckDB allows
    span = "" if record.first == record.last else f"（ファイルの {record.first}〜{record.last} 行目）"
    if how == "unclosed":
        reason = ('引用符（"）が閉じられていません。次の行からは別の行として読みました' + span +
                  '。セル内の " を "" と書くか、閉じる " を補ってください')
    elif how == "truncated":
        reason = ('ファイルの最後の行が途中で切れています（引用符 " が閉じられないまま終わっています）' + span +
                  '。ダウンロードや書き出しが途中で止まった可能性があります。もう一度書き出してください')
    elif record.state == BAD:
        reason = ('引用符（"）の使い方が正しくありません（閉じる " の後に区切り文字がありません）' + span +
                  '。セル内の " は "" と書く必要があります')
    elif len(fields) > width:
        reason = (f"列が多すぎます（{width} 列のはずが {len(fields)} 列）。本文の区切り文字が引用符で"
                  "囲まれていない可能性があります。区切り文字を含むセルを \" で囲んで書き出し直してください")
    elif len(fields) < width:
        reason = (f"列が足りません（{width} 列のはずが {len(fields)} 列）。行が途中で切れているか、"
                  "セル内の改行が引用符で囲まれていない可能性があります")
    else:
        if how == "joined":
            notes.append(LINE_BREAK_JOINED)
        if how == "separated":
            notes.append(SWALLOWED_SEPARATED)
        # Characters ≤ bytes ≤ 4 × characters: encode only a record that may be over DuckDB's limit.
        size = len(text.encode("utf-8")) if 4 * len(text) > DUCKDB_MAX_LINE else len(text)
        if size > DUCKDB_MAX_LINE:
            notes.append(LONG_READ)
        body = text.removesuffix("\n").removesuffix("\r")
        if notes or how or fields is not record.fields or "\r" in body:
            writer.writerow(fields)              # changed, or a CR the reader could take for a line end
        else:
            dst.write(body + "\n")               # as it was: the usual record of a broken file
        result.lines.append(number)
        result.longest = max(result.longest, size)
        result.notes.extend((number, note) for note in notes)
        return
    split = record.state == DONE
    result.rejected.append(Rejected(number, reason, fields if split else [text.rstrip("\r\n")], split))


def _complete(record: _Record, lines: _Lines, width: int, starts: re.Pattern | None) -> str:
    """Read lines into `record` until it ends; returns how: "" or unclosed (its quote never closed:
    the next line starts a record), truncated (open at the end of the file), or joined (bare LFs
    read as line breaks inside a cell)."""
    how = ""
    while True:
        if record.state == OPEN:
            nxt = lines.peek()
            if nxt is None:
                return "truncated"
            if starts is not None and starts.match(nxt):
                return "unclosed"
            record.add(*next(lines))
            continue
        last = record.parts[-1]
        if record.state == DONE and last.endswith("\n") and not last.endswith("\r\n"):
            nxt = lines.peek()
            if nxt is not None and nxt.strip() and not _starts_record(nxt, starts, record.delimiter, width):
                joined = _Record(record.delimiter)
                joined.add(record.first, record.text() + nxt)
                if joined.state == DONE and len(joined.fields) <= width:
                    record.add(*next(lines))
                    how = "joined"
                    continue
        return how


def _starts_record(line: str, starts: re.Pattern | None, delimiter: str, width: int) -> bool:
    if starts is not None:
        return bool(starts.match(line))
    if '"' not in line:
        return line.count(delimiter) + 1 == width
    probe = _Record(delimiter)
    probe.add(0, line)
    return probe.state == DONE and len(probe.fields) == width


class _Lines:
    """Numbered physical lines (split at LF only) with one line of look-ahead."""

    def __init__(self, fh) -> None:
        self._lines = enumerate(fh, start=1)
        self._next: tuple[int, str] | None = None

    def __iter__(self):
        return self

    def __next__(self) -> tuple[int, str]:
        if self._next is not None:
            item, self._next = self._next, None
            return item
        return next(self._lines)

    def peek(self) -> str | None:
        if self._next is None:
            self._next = next(self._lines, None)
        return None if self._next is None else self._next[1]


__all__ = ["DUCKDB_MAX_LINE", "Rejected", "Split", "split_records"]
