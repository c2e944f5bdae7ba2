"""Large files are decoded on two forked workers: the result must equal the one-process decode."""
from __future__ import annotations

import pytest

from pipelines.ingest import sources
from pipelines.store.errors import RefusedFile

ROWS = "".join(f"{i},2025/4/{1 + i % 28} 9:05,\"髙橋①㈱～ の件です。\n二行目 {i}\"\r\n" for i in range(3000))
TEXT = "番号,受付日時,内容\r\n" + ROWS


@pytest.fixture(autouse=True)
def _parallel_for_small_files(monkeypatch):
    monkeypatch.setattr(sources, "PARALLEL_MIN_BYTES", 0)


@pytest.mark.parametrize("workers", [2, 3])
def test_cp932_pieces_join_to_the_sequential_decode(tmp_path, workers):
    src = tmp_path / "export.csv"
    src.write_bytes(TEXT.encode("cp932"))
    (tmp_path / "seq").mkdir(), (tmp_path / "par").mkdir()
    one = sources.open_source(src, tmp_path / "seq", workers=1)
    many = sources.open_source(src, tmp_path / "par", workers=workers)
    assert many.csv_path.read_bytes() == one.csv_path.read_bytes() == TEXT.encode("utf-8")
    assert (many.sha256, many.encoding, many.header) == (one.sha256, "cp932", ["番号", "受付日時", "内容"])
    assert not list((tmp_path / "par").glob("*.part*"))


def test_pieces_join_without_copy_file_range(tmp_path, monkeypatch):
    def unsupported(*args, **kwargs):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(sources.os, "copy_file_range", unsupported)
    src = tmp_path / "export.csv"
    src.write_bytes(TEXT.encode("cp932"))
    assert sources.open_source(src, tmp_path, workers=2).csv_path.read_bytes() == TEXT.encode("utf-8")


def test_utf8_is_validated_and_read_in_place(tmp_path):
    src = tmp_path / "export.csv"
    src.write_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8"))
    source = sources.open_source(src, tmp_path, workers=2)
    assert source.csv_path == src and source.encoding == "utf-8-sig"


@pytest.mark.parametrize(("encoding", "workers"), [("utf-8", 2), ("cp932", 2), ("cp932", 1)])
def test_stray_nul_bytes_are_kept_and_flagged_for_staging(tmp_path, encoding, workers):
    # Staging removes them record by record and says on which lines (tests/test_malformed.py).
    src = tmp_path / "export.csv"
    src.write_bytes((TEXT + "9999,2025/4/1,NUL\x00を含む\r\n").encode(encoding))
    (tmp_path / "work").mkdir()
    source = sources.open_source(src, tmp_path / "work", workers=workers)
    assert source.nul_bytes and source.csv_path.read_bytes().count(b"\x00") == 1
    assert source.csv_path == src if encoding == "utf-8" else source.csv_path != src


def test_a_file_without_nul_bytes_is_not_flagged(tmp_path):
    src = tmp_path / "export.csv"
    src.write_bytes(TEXT.encode("cp932"))
    assert not sources.open_source(src, tmp_path, workers=2).nul_bytes


def test_a_bad_byte_in_the_second_piece_is_reported_at_its_offset(tmp_path):
    data = TEXT.encode("cp932")
    bad_at = len(data) * 3 // 4
    bad_at = data.index(b"\n", bad_at) + 1
    src = tmp_path / "export.csv"
    src.write_bytes(data[:bad_at] + b"\x85\x00\xff" + data[bad_at:])
    with pytest.raises(RefusedFile) as info:
        sources.open_source(src, tmp_path, workers=2)
    assert f"{bad_at:,}" in info.value.message_en() or f"{bad_at + 1:,}" in info.value.message_en()
