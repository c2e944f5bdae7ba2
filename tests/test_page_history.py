"""AppTest of 取り込み履歴 (pages/history.py): every import with its accounting and the
rejected rows of a batch; an empty store."""
from __future__ import annotations


def test_history_lists_imports_and_rejected_rows(exports_store, open_page):
    at = open_page(exports_store, "history")
    assert not at.exception
    history = at.dataframe[0].value
    assert set(history["状態"]) == {"完了"}
    assert history["除外"].max() == 6
    rejected = at.dataframe[1].value
    assert len(rejected) == 6 and rejected["理由"].str.contains("受付日時|問い合わせ内容").all()


def test_history_empty_store(tmp_path, open_page):
    at = open_page(tmp_path / "empty.duckdb", "history")
    assert not at.exception
    assert any("取り込みの記録がありません" in i.value for i in at.info)
