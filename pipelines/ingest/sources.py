"""Reading an export file: detect format, encoding, delimiter and header; hand DuckDB a UTF-8 file.

Text files are decoded in Python (utf-8-sig first, then cp932; never the shift_jis codec, which
cannot encode ①, ㈱, 髙, ～) because DuckDB's reader has no CP932 without a downloaded extension.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import itertools
import multiprocessing as mp
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.ingest import limits as limit
from pipelines.ingest.mapping import header_score
from pipelines.store.errors import RefusedFile
from pipelines.store.settings import ReadLimits, read_limits

CHUNK = 1 << 22
HEAD = 1 << 16
LONG_HEAD = 1 << 22   # characters read when the first record does not end within HEAD
DELIMITERS = (",", "\t", ";", "|")
Progress = Callable[[str, int, int], None]

_MAGIC_BINARY = {
    b"\x89PNG": "PNG 画像", b"\xff\xd8\xff": "JPEG 画像", b"GIF8": "GIF 画像", b"%PDF": "PDF",
    b"\xd0\xcf\x11\xe0": "旧形式の Excel (.xls)", b"\x1f\x8b": "gzip 圧縮ファイル", b"Rar!": "RAR 圧縮ファイル",
}


@dataclass(frozen=True)
class Source:
    """A decoded export ready for DuckDB."""

    name: str
    sha256: str
    size: int
    encoding: str          # utf-8, utf-8-sig, cp932, utf-16, xlsx
    format: str            # csv, tsv, xlsx
    delimiter: str
    header: list[str]
    header_line: int       # 1-based record number of the header row
    csv_path: Path         # UTF-8 file for DuckDB
    data_rows_hint: int    # data records seen in the first 64 KiB (0 means header only)
    nul_bytes: bool = False  # stray NUL bytes, kept in csv_path: staging removes them record by record
    record_start: str = ""   # regex: how a line that starts a record begins ("" when the head shows no pattern)
    notes: tuple[tuple[str, str], ...] = ()  # (Japanese, English): what reading worked around (a stale sheet size)


def _refuse(code: str, ja: str, en: str, hint_ja: str = "", hint_en: str = "") -> RefusedFile:
    return RefusedFile(code, ja, en, hint_ja, hint_en)


def open_source(path: Path, workdir: Path, display_name: str | None = None,
                progress: Progress | None = None, workers: int = 1, limits: ReadLimits | None = None) -> Source:
    """Inspect `path`, write a UTF-8 copy into `workdir` when needed, and describe it.

    `workers` > 1 decodes large files on forked processes: only from a process that may fork
    (the CLI, a load's child process), never from inside the Streamlit server. A file past one of
    `limits` (default: settings.read_limits()) is refused as soon as the limit is reached."""
    name = display_name or path.name
    size = path.stat().st_size
    limits = limits or read_limits()
    # Cells up to the limit must parse (the csv module stops at 131,072 characters by default); the
    # limit itself is checked where cells are counted (_describe's head, limits.check_staged).
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    if size > limits.max_file_bytes:
        raise limit.file_too_large(name, size, limits)
    if size == 0:
        raise _refuse("empty", f"「{name}」は空のファイルです（0 バイト）。",
                      f"{name} is empty (0 bytes).",
                      "CRM や表計算ソフトからもう一度書き出してください。", "Export the file again from your CRM or spreadsheet.")
    with path.open("rb") as fh:
        head = fh.read(HEAD)
    if head.startswith(b"PK\x03\x04"):
        return _open_xlsx(path, workdir, name, size, progress, limits)
    for magic, label in _MAGIC_BINARY.items():
        if head.startswith(magic):
            hint = "Excel で「ブック (*.xlsx)」か「CSV UTF-8」で保存し直してください。" if "xls" in label else \
                "問い合わせの一覧を CSV か Excel (.xlsx) で書き出してください。"
            raise _refuse("binary", f"「{name}」は表のファイルではなく{label}です。", f"{name} is not a table but a binary file ({label}).",
                          hint, "Export the case list as CSV or .xlsx.")
    encoding = _detect_encoding(head, name)
    out = workdir / "input.csv"
    if workers > 1 and size > PARALLEL_MIN_BYTES and encoding in _SPLITTABLE:
        csv_path, sha, nul = _transcode_parallel(path, out, encoding, size, name, progress, workers)
        if csv_path != path and csv_path.stat().st_size > limits.max_expanded_bytes:
            raise _expanded(name, csv_path.stat().st_size, limits)
    else:
        (sha, nul), csv_path = _transcode(path, out, encoding, size, name, progress, limits), out
    return replace(_describe(csv_path, name, sha, size, encoding, limits), nul_bytes=nul)


# The csv module's field limit in this process: a cell of any length parses (records.split_records
# reads records DuckDB cannot), so one over the cell limit is refused in words, not by csv.Error.
CSV_FIELD_LIMIT = 1 << 30


def _expanded(name: str, size: int, limits: ReadLimits) -> RefusedFile:
    return limit.expands_too_much(name, "文字コードを変換したデータ", "the decoded (UTF-8) copy", size,
                                  limits.max_expanded_mb, "max_expanded_mb")


def _detect_encoding(head: bytes, name: str) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.count(b"\x00") > len(head) // 100:   # a few stray NULs are a damaged text file, not binary
        raise _refuse("binary", f"「{name}」はテキストではないデータ（バイナリ）を含んでいます。",
                      f"{name} contains binary data (NUL bytes), not text.",
                      "CSV・TSV・Excel (.xlsx) のいずれかで書き出してください。", "Export as CSV, TSV or .xlsx.")
    for encoding in ("utf-8", "cp932"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    raise _refuse("encoding", f"「{name}」の文字コードを判別できません（UTF-8 でも Shift_JIS(CP932) でもありません）。",
                  f"Cannot tell the encoding of {name}: it is neither UTF-8 nor CP932 (Shift_JIS).",
                  "Excel では「CSV UTF-8 (コンマ区切り)」で保存してください。", "Save it as 'CSV UTF-8' and check with `file FILE`.")


def _transcode(src: Path, out: Path, encoding: str, size: int, name: str,
               progress: Progress | None, limits: ReadLimits) -> tuple[str, bool]:
    """Decode the whole file (validating it) into UTF-8, hashing the original bytes on the way.
    Returns (sha256 of the original, NUL bytes seen): NULs are copied, for staging to report."""
    sha = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)()
    done, nul = 0, False
    with src.open("rb") as fh, out.open("w", encoding="utf-8", newline="") as dst:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise _encoding_error(name, encoding, done + exc.start) from None
            nul = nul or "\x00" in text
            dst.write(text)
            if dst.tell() > limits.max_expanded_bytes:   # a chunk at a time: never far past the limit
                raise _expanded(name, dst.tell(), limits)
            done += len(chunk)
            if progress:
                progress("decode", done, size)
        dst.write(decoder.decode(b"", final=True))
    return sha.hexdigest(), nul


# Encodings in which a b"\n" byte is always a line feed (never part of a multi-byte character), so
# a file can be cut at line feeds and the pieces decoded independently. Not UTF-16.
_SPLITTABLE = ("utf-8", "utf-8-sig", "cp932")
PARALLEL_MIN_BYTES = 16 << 20


def _encoding_error(name: str, encoding: str, offset: int) -> RefusedFile:
    return _refuse("encoding", f"「{name}」の {offset:,} バイト目付近を {encoding} として読めません。",
                   f"{name}: bytes near offset {offset:,} are not valid {encoding}.",
                   "文字コードが途中で混在しています。書き出し直すか、UTF-8 で保存してください。",
                   "The file mixes encodings; export it again as UTF-8 (check with `file FILE`).")


def _decode_range(job: tuple[str, int, int, str | None, str]) -> tuple[int | None, bool]:
    """Worker: decode bytes [start, end) of a file; write them as UTF-8 to `out` unless `out` is
    None (UTF-8 input is only validated). Returns (offset of the first undecodable byte, NUL seen)."""
    src, start, end, out, encoding = job
    decoder = codecs.getincrementaldecoder(encoding)()
    position, nul = start, False
    with open(src, "rb") as fh, (open(out, "w", encoding="utf-8", newline="") if out else io.StringIO()) as dst:
        fh.seek(start)
        while position < end:
            chunk = fh.read(min(CHUNK, end - position))
            if not chunk:
                break
            nul = nul or b"\x00" in chunk
            try:
                text = decoder.decode(chunk, final=position + len(chunk) >= end)
            except UnicodeDecodeError as exc:
                return position + exc.start, nul
            if out:
                dst.write(text)
            position += len(chunk)
    return None, nul


def _transcode_parallel(src: Path, out: Path, encoding: str, size: int, name: str, progress: Progress | None,
                        workers: int) -> tuple[Path, str, bool]:
    """Decode pieces of the file on forked workers while the parent hashes it. UTF-8 input is
    handed to DuckDB as is (no copy); other input is written as UTF-8 piece by piece and the pieces
    appended in order. Returns (file for DuckDB, sha256 of the original, NUL bytes seen)."""

    bounds = [0]
    with src.open("rb") as fh:
        for i in range(1, workers):
            fh.seek(max(size * i // workers, bounds[-1]))
            fh.readline()                       # cut after a line feed
            bounds.append(min(fh.tell(), size))
    bounds.append(size)
    utf8 = encoding != "cp932"
    parts = [None if utf8 else (out if i == 0 else out.with_name(f"{out.stem}.part{i}")) for i in range(workers)]
    jobs = [(str(src), bounds[i], bounds[i + 1], str(parts[i]) if parts[i] else None,
             "utf-8-sig" if utf8 and i == 0 else ("utf-8" if utf8 else encoding)) for i in range(workers)]
    with mp.get_context("fork").Pool(workers) as pool:
        pending = pool.map_async(_decode_range, jobs)
        sha, done = hashlib.sha256(), 0          # hashing releases the GIL: it overlaps the workers
        with src.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                sha.update(chunk)
                done += len(chunk)
                if progress:
                    progress("decode", done, size)
        results = pending.get()
    for bad, _ in results:
        if bad is not None:
            raise _encoding_error(name, encoding, bad)
    nul = any(seen for _, seen in results)
    if utf8:
        return src, sha.hexdigest(), nul
    # The first piece was decoded straight into `out`; append the others (in the kernel where
    # the platform can).
    with out.open("r+b") as dst:
        dst.seek(0, os.SEEK_END)
        for part in parts[1:]:
            with part.open("rb") as piece:
                _append(piece, dst)
            part.unlink()
    return out, sha.hexdigest(), nul


def _append(src, dst) -> None:
    """Append file `src` to `dst` (positioned at its end): copy_file_range where the kernel has it."""

    size, offset = os.fstat(src.fileno()).st_size, 0
    dst.flush()
    try:
        while offset < size:
            copied = os.copy_file_range(src.fileno(), dst.fileno(), size - offset, offset_src=offset)
            if not copied:
                break
            offset += copied
    except (AttributeError, OSError):   # no copy_file_range, or not between these files
        pass
    if offset < size:
        src.seek(offset)
        dst.seek(0, os.SEEK_END)
        shutil.copyfileobj(src, dst, CHUNK)


def _describe(csv_path: Path, name: str, sha: str, size: int, encoding: str,
              limits: ReadLimits | None = None) -> Source:
    limits = limits or read_limits()
    with csv_path.open(encoding="utf-8", newline="") as fh:
        head = fh.read(HEAD)
    head = head.removeprefix("\ufeff")
    if not head.strip():
        raise _refuse("empty", f"「{name}」には文字がありません。", f"{name} contains no text.")
    control = sum(1 for ch in head if ch < " " and ch not in "\t\r\n")
    if control > len(head) * 0.01:
        raise _refuse("binary", f"「{name}」はテキストではないデータ（バイナリ）です。", f"{name} is binary data, not text.",
                      "CSV・TSV・Excel (.xlsx) のいずれかで書き出してください。", "Export as CSV, TSV or .xlsx.")
    delimiter = _sniff_delimiter(head)
    rows = _head_rows(head, delimiter)
    header_index = _find_header(rows)
    header = [h.strip() for h in rows[header_index]] if rows else []
    _check_head(rows, name, limits)
    if len([h for h in header if h]) < 2:
        raise _refuse("not_a_table", f"「{name}」は表の形になっていません（列の区切りが見つかりません）。",
                      f"{name} is not a table: no column delimiter found.",
                      "1 行目に列名があり、カンマかタブで区切られたファイルを選んでください。",
                      "Choose a file with a header row and comma- or tab-separated columns.")
    data_rows = [r for r in rows[header_index + 1:] if any(c.strip() for c in r)]
    if not data_rows and len(head) >= HEAD - 1:
        # The first record is longer than the head (a long text): read on for it, boundedly.
        with csv_path.open(encoding="utf-8", newline="") as fh:
            longer = fh.read(LONG_HEAD).removeprefix("\ufeff")
        rows = _head_rows(longer, delimiter, LONG_HEAD)
        _check_head(rows, name, limits)
        data_rows = [r for r in rows[header_index + 1:] if any(c.strip() for c in r)]
    if not data_rows:
        raise _refuse("header_only", f"「{name}」には見出し行しかなく、データ行がありません。",
                      f"{name} has a header row but no data rows.",
                      "抽出条件や期間を確認して、ケースを含めて書き出し直してください。",
                      "Check the export's filter and period, and export again.")
    widths = [len(r) for r in data_rows[:50]]
    if sum(1 for w in widths if w < 2) > len(widths) / 2:
        raise _refuse("not_a_table", f"「{name}」は表の形になっていません（ほとんどの行が 1 列です）。",
                      f"{name} is not a table: most rows have a single column.",
                      "文章ではなく、ケースの一覧表を選んでください。", "Choose the case list, not a document.")
    fmt = "tsv" if delimiter == "\t" else "csv"
    return Source(name, sha, size, encoding, fmt, delimiter, header, header_index + 1, csv_path, len(data_rows),
                  record_start=record_start(data_rows, delimiter))


def _check_head(rows: list[list[str]], name: str, limits: ReadLimits) -> None:
    """Refuse at once a head row wider than the column limit or holding a cell over the cell limit."""
    for number, row in enumerate(rows, start=1):
        used = len(row)
        while used and not row[used - 1].strip():
            used -= 1
        if used > limits.max_columns:
            raise limit.too_many_columns(name, number, used, limits)
        longest = max((len(cell) for cell in row), default=0)
        if longest > limits.max_cell_chars:
            raise limit.cell_too_long(name, number, longest, limits)


# A run of ASCII digits, of ASCII letters, or any other single character.
_SHAPE_RUNS = re.compile(r"[0-9]+|[A-Za-z]+|.", re.DOTALL)


def _shape(value: str, exact: bool) -> str | None:
    """A regex for values written like this one: `K-0012` → `K-[0-9]{4}` (exact) or `K-[0-9]+`;
    `2025/4/1` → `[0-9]+/[0-9]+/[0-9]+`. Short letter runs stay literal (prefixes such as K-, INC)."""
    if not value or len(value) > 40 or "\n" in value:
        return None
    parts = []
    for run in _SHAPE_RUNS.findall(value):
        if run[0] in "0123456789":
            parts.append(f"[0-9]{{{len(run)}}}" if exact else "[0-9]+")
        elif run.isascii() and run.isalpha():
            parts.append(run if len(run) <= 3 else "[A-Za-z]+")
        else:
            parts.append(_literal(run))
    return "".join(parts)


def _literal(char: str) -> str:
    """One character as a regex both Python's re and DuckDB's RE2 read the same way."""
    return f"\\x{ord(char):02x}" if char.isascii() and not char.isalnum() else char


def _column_shape(values: list[str]) -> str | None:
    """The shape nine in ten of the values share, exact if it can be."""
    for exact in (True, False):
        seen = [_shape(value, exact) for value in values]
        common = max(set(seen), key=seen.count)
        if common is not None and seen.count(common) >= 0.9 * len(seen):
            return common
    return None


def record_start(rows: list[list[str]], delimiter: str) -> str:
    """How a line that starts a record begins, from the first fields of the head's data rows
    (`^"?K-[0-9]{4}"?,"?[0-9]+/[0-9]+/[0-9]+"?,`), or "" when they follow no telling pattern.

    Staging uses it to see records swallowed by an unclosed quote: a line inside a quoted field
    that begins like every other record is a record of its own."""
    rows = [r for r in rows if len(r) >= 2 and any(c.strip() for c in r)]
    if len(rows) < 3:
        return ""
    shapes = []
    for column in range(min(2, min(len(r) for r in rows) - 1)):
        shape = _column_shape([r[column] for r in rows])
        if shape is None:
            break
        shapes.append(shape)
    # One bare number or word says too little ("\n12," starts many a line of text); a number of
    # four or more fixed digits, or a shape with a prefix or separator, says enough.
    if not shapes or (len(shapes) == 1 and re.fullmatch(r"\[0-9\]\{[1-3]\}|\[0-9\]\+|\[A-Za-z\]\+", shapes[0])):
        return ""
    sep = _literal(delimiter)
    return "^" + "".join(f'"?{shape}"?{sep}' for shape in shapes)


def _sniff_delimiter(head: str) -> str:
    """The candidate that splits the first rows into the most consistent number of columns (>1).

    csv.Sniffer guesses wrong on real exports (quoted newlines, few rows), so parse and compare.
    """
    sample = head[: 32 * 1024]
    best, best_score = ",", (-1.0, 0)
    for delimiter in DELIMITERS:
        rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter)][:30]
        if len(rows) > 2 and len(sample) >= HEAD // 2 - 1:
            rows = rows[:-1]  # possibly cut in the middle
        widths = [len(r) for r in rows if any(cell.strip() for cell in r)]
        if not widths:
            continue
        mode = max(set(widths), key=widths.count)
        if mode < 2:
            continue
        score = (widths.count(mode) / len(widths), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _head_rows(head: str, delimiter: str, read: int = HEAD) -> list[list[str]]:
    # The last line of the head may be cut in the middle: drop it unless the file ended there.
    lines = io.StringIO(head)
    rows = list(csv.reader(lines, delimiter=delimiter))
    return rows[:-1] if len(head) >= read - 1 and len(rows) > 1 else rows


def _find_header(rows: list[list[str]]) -> int:
    """The header is the first of the first ten rows that names known columns (skips title rows)."""

    best, best_score = 0, 0
    for index, row in enumerate(rows[:10]):
        score = header_score(row)
        if score > best_score:
            best, best_score = index, score
        if score >= 2:
            break
    return best


def _open_xlsx(path: Path, workdir: Path, name: str, size: int, progress: Progress | None,
               limits: ReadLimits) -> Source:
    """Stream the first sheet that has rows into a UTF-8 CSV, within `limits`.

    The size a sheet declares (its <dimension>) is ignored: generators often leave it stale, and
    openpyxl's read-only rows would stop at a stale one (losing rows) or pad up to a huge one. The
    cells actually present are read, row by row, and padded to the width of the widest of the first
    rows. What reading may take is bounded before and while reading: each part of the workbook by its
    unpacked size (zipfile stops at the size the archive states), the rows, the columns that hold a
    value, the characters of a cell and the bytes written."""
    import openpyxl  # only for workbooks: it takes ~0.3 s to import

    sha = sha256_of(path)
    try:
        _check_parts(path, name, limits)
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _refuse("binary", f"「{name}」は Excel ブック (.xlsx) として開けません（{type(exc).__name__}）。",
                      f"{name} cannot be opened as an .xlsx workbook ({exc}).",
                      "Excel で開けるか確認し、「ブック (*.xlsx)」で保存し直してください。",
                      "Check that Excel opens it, and save it as .xlsx again.") from None
    out = workdir / "input.csv"
    try:
        (declared_rows, declared_columns), rows = _sheet_rows(book, name, limits)
        head = list(itertools.islice(rows, XLSX_WIDTH_ROWS))
        width = max((len(cells) for _, cells in head), default=0)
        read_rows = read_columns = unchecked = 0
        check_every = min(XLSX_CHECK_CHARS, limits.max_expanded_bytes // 4)
        with out.open("w", encoding="utf-8", newline="") as dst:
            writer = csv.writer(dst)
            for number, cells in itertools.chain(head, rows):
                # An empty row stays an empty line (line numbers stay Excel's row numbers); a wider
                # row keeps its extra cells, and staging rejects it for having too many columns.
                writer.writerows([] for _ in range(read_rows + 1, number))
                writer.writerow(cells + [""] * (width - len(cells)) if cells else cells)
                read_rows, read_columns = max(read_rows, number), max(read_columns, len(cells))
                # The file's size is asked (a flush) every few MB written, so a row of huge cells
                # is caught at once and an ordinary row costs a sum.
                unchecked += sum(map(len, cells)) + width
                if unchecked > check_every:
                    unchecked = 0
                    _check_written(dst, name, limits)
                if progress and number % 5000 == 0:
                    progress("decode", number, max(declared_rows or 0, number))
            _check_written(dst, name, limits)
    except (IndexError, KeyError, ValueError, SyntaxError) as exc:   # a part missing or malformed (XML ParseError)
        raise _refuse("binary", f"「{name}」は Excel ブック (.xlsx) として読めません（{type(exc).__name__}）。",
                      f"{name} cannot be read as an .xlsx workbook ({type(exc).__name__}: {exc}).",
                      "Excel で開けるか確認し、「ブック (*.xlsx)」で保存し直してください。",
                      "Check that Excel opens it, and save it as .xlsx again.") from None
    finally:
        book.close()
    notes = ()
    if (declared_rows and read_rows > declared_rows) or (declared_columns and read_columns > declared_columns):
        declared = f"{declared_rows or 0:,} 行 × {declared_columns or 0:,} 列"
        actual = f"{read_rows:,} 行 × {read_columns:,} 列"
        ja = f"シートが宣言しているサイズ（{declared}）より実際のデータ（{actual}）が大きかったため、実際の行をすべて読みました。"
        en = (f"the sheet declares {declared_rows or 0:,} rows x {declared_columns or 0:,} columns but holds "
              f"{read_rows:,} x {read_columns:,}: every row actually present was read")
        notes = ((ja, en),)
    described = _describe(out, name, sha, size, "xlsx", limits)
    return replace(described, encoding="xlsx", format="xlsx", delimiter=",", notes=notes)


XLSX_WIDTH_ROWS = 100   # rows that set a sheet's width (the header and title rows are among them)
XLSX_CHECK_CHARS = 1 << 23


def _check_written(dst, name: str, limits: ReadLimits) -> None:
    if dst.tell() > limits.max_expanded_bytes:
        raise limit.expands_too_much(name, "表に展開したデータ", "the sheet written out as CSV", dst.tell(),
                                     limits.max_expanded_mb, "max_expanded_mb")


def _check_parts(path: Path, name: str, limits: ReadLimits) -> None:
    """Refuse a workbook whose parts unpack past the limits, before any is read: a worksheet is
    streamed (up to max_expanded), every other part (shared strings, styles) is read whole into
    memory (up to max_strings). zipfile never unpacks more than the size the archive states."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            sheet = info.filename.startswith("xl/worksheets/")
            allowed = limits.max_expanded_bytes if sheet else limits.max_strings_bytes
            if info.file_size > allowed:
                what = ("シート「" + info.filename + "」の展開後のサイズ", f"the unpacked sheet {info.filename}") if sheet \
                    else ("「" + info.filename + "」の展開後のサイズ", f"the unpacked part {info.filename}")
                raise limit.expands_too_much(name, *what, info.file_size, allowed >> 20,
                                             "max_expanded_mb" if sheet else "max_strings_mb")


def _sheet_rows(book, name: str, limits: ReadLimits) -> tuple[tuple[int | None, int | None],
                                                               Iterator[tuple[int, list[str]]]]:
    """((declared rows, declared columns), (row number, cells) of each row with a cell) of the
    first worksheet with a non-empty cell."""
    for sheet in book.worksheets:
        declared = (sheet.max_row, sheet.max_column)
        rows = _cells(book, sheet, name, limits)
        for number, cells in rows:
            if cells:
                return declared, itertools.chain([(number, cells)], rows)
    return (None, None), iter(())


def _cells(book, sheet, name: str, limits: ReadLimits) -> Iterator[tuple[int, list[str]]]:
    """(Excel row number, its cells as text up to the last non-empty one) of each row the sheet
    holds, checked against the limits as read.

    openpyxl's parser is used directly (the loop of ReadOnlyWorksheet._cells_by_row, openpyxl 3.1.5
    pinned): read-only rows are padded to a sheet's declared or widest size, which a hostile file
    sets to 16,384 columns by a million rows, whereas only the cells present are wanted here."""
    from openpyxl.worksheet._reader import WorkSheetParser  # with openpyxl, see _open_xlsx

    with sheet._get_source() as src:
        parser = WorkSheetParser(_RowBounded(src, name, limits), sheet._shared_strings, data_only=True, epoch=book.epoch,
                                 date_formats=book._date_formats, timedelta_formats=book._timedelta_formats)
        for number, row in parser.parse():
            if number > limits.max_rows:
                raise limit.too_many_rows(name, number, limits)
            if number % 1000 == 0:
                parser.row_dimensions.clear()   # row heights kept per row: not wanted, and unbounded
            present = [(cell["column"], _cell(cell["value"])) for cell in row if cell["value"] not in (None, "")]
            if not present:
                yield number, []
                continue
            used = max(column for column, _ in present)
            if used > limits.max_columns:
                raise limit.too_many_columns(name, number, used, limits)
            cells = [""] * used
            for column, value in present:
                if len(value) > limits.max_cell_chars:
                    raise limit.cell_too_long(name, number, len(value), limits)
                cells[column - 1] = value
            yield number, cells


class _RowBounded:
    """A worksheet's XML stream that refuses a row longer than max_strings bytes: the parser holds
    one row whole in memory, and a cell bomb is one row of one huge cell (a few MB of zip unpack
    to gigabytes of one string)."""

    def __init__(self, stream, name: str, limits: ReadLimits) -> None:
        self.stream, self.name, self.limits, self.since_row_end = stream, name, limits, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        end = data.rfind(b"</row>")
        self.since_row_end = len(data) - end - 6 if end >= 0 else self.since_row_end + len(data)
        if self.since_row_end > self.limits.max_strings_bytes:
            raise limit.expands_too_much(self.name, "シートの 1 行の XML", "one row of the sheet's XML",
                                         self.since_row_end, self.limits.max_strings_mb, "max_strings_mb")
        return data


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["DELIMITERS", "Source", "open_source", "record_start", "sha256_of"]
