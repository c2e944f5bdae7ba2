"""AppTest of テーマ探索 (pages/themes.py): every tab on the sample store, an empty store, a
filter change, KWIC, the topic suggestion → editor hand-off, rule previews and a save that re-tags.

Every test points KAKEHASHI_RULES_DIR at a copy of data/rules, so the editor never writes the
repo's rules file; writes go to a copy of the sample store.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.reports import explore as ex
from pipelines.store import filters as flt
from pipelines.store.settings import RULES_DIR

RETAG_SECONDS = 90   # how long the re-tag started by a save may take
EDITOR, KWIC, TERMS, UNCLASSIFIED = "テーマ辞書の編集", "KWIC（文脈付き検索）", "特徴語・共起ネットワーク", "未分類・トピック提案"


@pytest.fixture(autouse=True)
def rules_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES_DIR, folder)
    monkeypatch.setenv("KAKEHASHI_RULES_DIR", str(folder))
    return folder


def _page(open_page, store: Path, tab: str | None = None) -> AppTest:
    at = open_page(store, "themes")
    if tab:
        at.session_state["th_tab"] = tab
        at.run()
    assert not at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _count(store: Path, query: str, params=()) -> int:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(query, list(params)).fetchall()[0][0]


def test_distribution_tab_on_the_sample(sample_store, open_page):
    at = _page(open_page, sample_store)
    assert at.title[0].value == "テーマ探索"
    expected = ex.unclassified_cases(flt.Filters(), store=sample_store)
    metrics = _metrics(at)
    assert metrics["対象ケース"] == f"{expected.cases:,} 件" and metrics["未分類"] == f"{expected.total:,} 件"
    assert len(at.get("plotly_chart")) == 2   # distribution and trend
    at.radio(key="th_grain").set_value("month").run()
    assert not at.exception and len(at.get("plotly_chart")) == 2


def test_filter_change_narrows_every_count(sample_store, open_page):
    at = _page(open_page, sample_store)
    at.sidebar.multiselect(key="f_channels").set_value(["電話"]).run()
    assert not at.exception
    expected = ex.unclassified_cases(flt.Filters(channels=("電話",)), store=sample_store)
    assert _metrics(at)["対象ケース"] == f"{expected.cases:,} 件"
    at.session_state["th_tab"] = TERMS
    at.run()
    assert not at.exception and at.dataframe[0].value["件数"].gt(0).all()


def test_terms_tab_shows_terms_compounds_and_the_network(sample_store, open_page):
    at = _page(open_page, sample_store)
    at.selectbox(key="th_theme").set_value("delivery").run()
    at.session_state["th_tab"] = TERMS
    at.run()
    assert not at.exception
    terms, compounds, edges = (d.value for d in at.dataframe[:3])
    assert "届く(否定)" in set(terms["語"]) and terms["特徴度"].is_monotonic_decreasing
    assert {"複合語", "FLR"} <= set(compounds.columns)
    assert {"語1", "語2", "Jaccard"} <= set(edges.columns) and len(edges) == 60
    at.slider(key="th_edges").set_value(30).run()
    assert not at.exception and len(at.dataframe[2].value) == 30


def test_kwic_tab_follows_the_term_and_the_search(sample_store, open_page):
    at = _page(open_page, sample_store)
    at.selectbox(key="th_theme").set_value("delivery").run()
    at.session_state["th_tab"] = KWIC
    at.run()
    assert not at.exception
    at.selectbox(key="th_term").set_value("t:届く(否定)").run()
    rows = at.dataframe[0].value
    assert list(rows.columns) == ex.KWIC_COLUMNS and len(rows) == 20
    assert rows["キーワード"].str.startswith("届").all()
    at.number_input(key="th_kwic_page").set_value(2).run()
    assert not at.exception
    assert set(at.dataframe[0].value["ケースID"]) != set(rows["ケースID"])
    at.text_input(key="th_q").set_value("ふにゃふにゃ").run()
    rows = at.dataframe[0].value
    assert (rows["キーワード"] == "ふにゃふにゃ").all()
    assert at.number_input(key="th_kwic_page").value == 1   # a new search starts on its first page


def test_unclassified_tab_lists_cases_and_fills_the_editor_from_a_suggestion(sample_store, open_page):
    at = _page(open_page, sample_store)
    at.sidebar.selectbox(key="f_period").set_value("all").run()
    at.session_state["th_tab"] = UNCLASSIFIED
    at.run()
    assert not at.exception
    expected = ex.unclassified_cases(flt.Filters(preset="all"), store=sample_store)
    assert _metrics(at)["未分類のケース"] == f"{expected.total:,} 件"
    assert len(at.dataframe[0].value) == 20
    rule = at.code[0].value
    at.button(key="th_suggest_1").click().run()
    assert not at.exception
    assert at.session_state["th_tab"] == EDITOR
    assert at.text_area(key="th_edit_rule").value == rule
    assert at.selectbox(key="th_edit_target").value == "__new__"
    assert at.text_input(key="th_edit_id").value == "topic_1"


def test_a_page_beyond_the_end_after_a_filter_change_starts_over(sample_store, open_page):
    at = _page(open_page, sample_store)
    at.sidebar.selectbox(key="f_period").set_value("all").run()
    at.session_state["th_tab"] = UNCLASSIFIED
    at.run()
    at.number_input(key="th_uncl_page").set_value(50).run()
    assert not at.exception and len(at.dataframe[0].value) == 20
    at.sidebar.multiselect(key="f_channels").set_value(["手紙"]).run()
    assert not at.exception
    assert at.number_input(key="th_uncl_page").value == 1 and len(at.dataframe[0].value) > 0


def test_editor_preview_of_a_valid_rule(sample_store, open_page, rules_dir):
    before = (rules_dir / "themes.txt").read_bytes()
    at = _page(open_page, sample_store, EDITOR)
    at.selectbox(key="th_edit_target").set_value("delivery").run()
    assert at.text_input(key="th_edit_name").value == "配送"
    at.text_area(key="th_edit_rule").set_value("near(荷物, 届く!neg, 4)").run()
    at.button(key="th_preview_button").click().run()
    assert not at.exception and not at.error
    metrics = _metrics(at)
    tagged = _count(sample_store, "SELECT count(*) FROM case_themes WHERE theme_id = 'delivery'")
    assert metrics["該当するケース"].endswith("件") and int(metrics["該当するケース"][:-2].replace(",", "")) < tagged
    examples = at.dataframe[0].value
    assert examples["根拠語"].str.contains("荷物").all()
    assert (rules_dir / "themes.txt").read_bytes() == before   # a preview never saves


def test_editor_preview_of_an_invalid_rule_shows_where_and_saves_nothing(sample_store, open_page, rules_dir):
    before = (rules_dir / "themes.txt").read_bytes()
    at = _page(open_page, sample_store, EDITOR)
    at.text_area(key="th_edit_rule").set_value("キャップ 蓋").run()
    at.button(key="th_preview_button").click().run()
    assert not at.exception
    assert any("演算子がありません" in e.value and "1行目" in e.value for e in at.error)
    assert any("^" in c.value for c in at.code)   # the line, with a caret under the mistake
    at.button(key="th_save_button").click().run()
    assert any("演算子がありません" in e.value for e in at.error)
    assert (rules_dir / "themes.txt").read_bytes() == before
    assert "th_retag_job" not in at.session_state


def test_empty_store_shows_the_way_to_the_upload_page(tmp_path, open_page):
    at = _page(open_page, tmp_path / "empty.duckdb")
    assert not at.exception
    assert any("まだケースがありません" in i.value for i in at.info)
    assert not at.dataframe


def test_save_rewrites_the_rule_and_retags_the_store(sample_store, tmp_path, open_page, rules_dir):
    store = tmp_path / "copy.duckdb"
    shutil.copy(sample_store, store)
    repo_rules = (RULES_DIR / "themes.txt").read_bytes()
    at = _page(open_page, store, EDITOR)
    at.selectbox(key="th_edit_target").set_value("delivery").run()
    at.text_input(key="th_edit_name").set_value("配送・物流")
    at.text_area(key="th_edit_rule").set_value("near(荷物, 届く!neg, 4)").run()
    at.button(key="th_preview_button").click().run()
    hits = int(_metrics(at)["該当するケース"][:-2].replace(",", ""))
    at.button(key="th_save_button").click().run()
    assert not at.exception
    assert "th_retag_job" in at.session_state
    assert any("更新中" in p.proto.text for p in at.get("progress"))
    for _ in range(RETAG_SECONDS):
        if "th_retag_job" not in at.session_state:
            break
        time.sleep(1)
        at.run()
    assert not at.exception
    assert any("付け直しました" in s.value for s in at.success), [e.value for e in at.error]
    assert _count(store, "SELECT count(*) FROM case_themes WHERE theme_id = 'delivery'") == hits
    assert _count(store, "SELECT count(*) FROM themes WHERE theme_id = 'delivery' AND name = '配送・物流'") == 1
    saved = (rules_dir / "themes.txt").read_text(encoding="utf-8")
    assert "＊配送・物流 [delivery] #1F77B4\nnear(荷物, 届く!neg, 4)\n" in saved
    assert (RULES_DIR / "themes.txt").read_bytes() == repo_rules


PACKS = "業種パック・精度"


def test_packs_tab_shows_the_chosen_pack_and_each_themes_tags(sample_store, open_page):
    at = _page(open_page, sample_store, PACKS)
    assert not at.exception
    assert any("食品・飲料メーカー" in m.value for m in at.markdown)   # the sample's pack
    assert at.selectbox(key="th_pack_choice").value == "food"
    packs = at.dataframe[0].value
    assert len(packs) == 8 and packs.loc[packs["パック"] == "食品・飲料メーカー", "パックの語があるケース"].iloc[0] > 0
    quality = at.dataframe[1].value
    tagged = _count(sample_store, "SELECT count(DISTINCT case_id) FROM case_themes WHERE theme_id = 'taste'")
    assert quality.loc[quality["テーマ"] == "味・風味", "ルールのタグ"].iloc[0] == tagged
    assert {"推定のみ", "精度"} <= set(quality.columns)


def test_choosing_another_pack_retags_the_store(sample_store, tmp_path, open_page):
    store = tmp_path / "copy.duckdb"
    shutil.copy(sample_store, store)
    at = _page(open_page, store, PACKS)
    at.selectbox(key="th_pack_choice").set_value("travel").run()
    at.button(key="th_pack_apply").click().run()
    assert not at.exception and "th_retag_job" in at.session_state
    for _ in range(RETAG_SECONDS):
        if "th_retag_job" not in at.session_state:
            break
        time.sleep(1)
        at.run()
    assert any("業種パックを切り替え" in s.value for s in at.success), [e.value for e in at.error]
    assert _count(store, "SELECT count(*) FROM store_meta WHERE key = 'theme_pack' AND value = 'travel'") == 1
    assert _count(store, "SELECT count(*) FROM themes WHERE theme_id IN ('room', 'meal')") == 2
    assert _count(store, "SELECT count(*) FROM case_themes WHERE theme_id = 'taste'") == 0
