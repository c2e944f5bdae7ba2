"""AppTest of 取り込み履歴 (pages/history.py): every import with its accounting, the format in an
analyst's words, refused files with their reason, the rejected rows of a batch as a table; an
empty store."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.store.errors import KakehashiError

EXPORTS = Path(__file__).resolve().parent / "data" / "exports"


def test_history_lists_imports_and_rejected_rows(exports_store, open_page):
    at = open_page(exports_store, "history")
    assert not at.exception
    history = at.dataframe[0].value
    assert set(history["状態"]) == {"完了"}
    assert history["除外"].max() == 6
    rejected = at.dataframe[1].value
    assert len(rejected) == 6 and rejected["理由"].str.contains("受付日時|問い合わせ内容").all()


def test_history_tells_formats_and_encodings_in_an_analysts_words(exports_store, open_page):
    at = open_page(exports_store, "history")
    assert not at.exception
    history = at.dataframe[0].value.set_index("ファイル名")
    assert tuple(history.loc["salesforce_ja_cp932.csv", ["形式", "文字コード"]]) == ("CSV（カンマ区切り）", "Shift_JIS (CP932)")
    assert tuple(history.loc["generic_ja.xlsx", ["形式", "文字コード"]]) == ("Excel (.xlsx)", "")
    shown = set(history["形式"]) | set(history["文字コード"])
    assert not shown & {"utf-8-sig", "utf-8", "cp932", "xlsx", "csv"}, shown


def test_history_says_how_each_load_told_its_cases_apart(exports_store, open_page):
    at = open_page(exports_store, "history")
    assert not at.exception
    history = at.dataframe[0].value.set_index("ファイル名")
    assert history.at["salesforce_ja_cp932.csv", "ケースの識別"] == "ケース番号"
    assert "「ケース番号」をケース番号として使いました" in history.at["salesforce_ja_cp932.csv", "識別の理由"]
    assert history.at["mixed_bad_rows.csv", "番号が重なり別ケースとして保存"] == 0


def test_rejected_rows_are_a_table_with_the_rows_fields_as_columns(exports_store, open_page):
    at = open_page(exports_store, "history")
    assert not at.exception
    rejected = at.dataframe[1].value
    assert list(rejected.columns) == ["行番号", "理由", "受付番号", "受付日", "チャネル", "問い合わせ内容", "対応状況"]
    assert list(rejected["行番号"]) == sorted(rejected["行番号"])
    empty_text = rejected.set_index("受付番号").loc["K-0108"]
    assert empty_text["問い合わせ内容"].strip() == "" and "問い合わせ内容" in empty_text["理由"]
    assert at.get("download_button"), "all rejected rows stay downloadable as CSV"


@pytest.fixture
def store_with_a_refusal(exports_store, tmp_path) -> Path:
    store = tmp_path / "store.duckdb"
    shutil.copy(exports_store, store)
    with pytest.raises(KakehashiError):
        load_file(EXPORTS / "no_date_column.csv", store, LoadOptions(workers=1))
    return store


def test_a_refused_file_is_listed_with_its_reason(store_with_a_refusal, open_page):
    at = open_page(store_with_a_refusal, "history")
    assert not at.exception
    history = at.dataframe[0].value
    newest = history.iloc[0]
    assert (newest["ファイル名"], newest["状態"]) == ("no_date_column.csv", "受付不可")
    assert "必須の列「受付日時」が見つかりません" in newest["メッセージ"]
    assert list(history.columns[:5]) == ["番号", "ファイル名", "種類", "状態", "メッセージ"], "the reason comes first"


def test_history_empty_store(tmp_path, open_page):
    at = open_page(tmp_path / "empty.duckdb", "history")
    assert not at.exception
    assert any("取り込みの記録がありません" in i.value for i in at.info)
