"""The analyze pipeline: incremental, re-tags from stored terms only, every tag with evidence."""
from __future__ import annotations

import shutil

import duckdb
import pytest

from devtools.sample import generate
from pipelines.__main__ import main
from pipelines.analysis import analyze as analyze_mod
from pipelines.analysis.analyze import analyze
from pipelines.ingest.load import LoadOptions, load_file
from pipelines.nlp import text
from pipelines.rules.bundle import load_bundle
from pipelines.rules.themes import RuleError
from pipelines.rules.themes.packs import SAMPLE_PACK, store_pack_choice
from pipelines.store import access, db


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analyze")
    generate(folder, seed=23, n_cases=2000)
    store = folder / "store.duckdb"
    with db.writer(store) as con:   # a food maker's desk that chose its pack before its first load
        store_pack_choice(con, SAMPLE_PACK)
    load_file(folder / "cases.csv", store, LoadOptions(workers=1))
    first = analyze(store, workers=1)
    return folder, store, first


def _rows(store, query):
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(query).fetchall()


def test_the_load_analyses_what_it_tokenizes_so_analyze_finds_nothing_left(sample_store):
    _folder, store, first = sample_store
    # The load knew no product names yet; analyze() re-tags only the cases holding a name it now guards.
    names = load_bundle(store).themes.names
    holding = sum(any(name in text for name in names) for (text,) in _rows(store, "SELECT text FROM cases"))
    assert names and 0 < holding < 100
    assert first.analysed == holding and first.skipped == 2000 - holding
    assert first.coverage >= 0.90
    assert _rows(store, "SELECT count(*) FROM case_scores")[0][0] == 2000
    assert _rows(store, "SELECT count(*) FROM analysis_state")[0][0] == 2000


def test_load_time_analysis_equals_a_full_analyze(sample_store, tmp_path):
    _folder, store, _ = sample_store
    copy = tmp_path / "copy.duckdb"
    shutil.copy(store, copy)
    result = analyze(copy, full=True, workers=1)
    assert result.analysed == 2000
    for query in ("SELECT case_id, theme_id, evidence FROM case_themes ORDER BY ALL",
                  "SELECT case_id, cause, source, evidence FROM case_causes ORDER BY ALL",
                  "SELECT * FROM case_scores ORDER BY ALL",
                  "SELECT * FROM analysis_state ORDER BY ALL",
                  "SELECT * FROM themes ORDER BY ALL"):
        assert _rows(store, query) == _rows(copy, query), query


def test_a_load_on_worker_processes_stores_what_a_full_analyze_would(sample_store, tmp_path, monkeypatch):
    from pipelines.analysis import tokenize
    from pipelines.ingest import load

    folder, _store, _ = sample_store
    monkeypatch.setattr(load, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(tokenize, "CHUNK_ROWS", 150)  # 14 chunks over two fork workers
    store = tmp_path / "pooled.duckdb"
    assert load_file(folder / "cases.csv", store, LoadOptions(workers=2)).analysed
    copy = tmp_path / "copy.duckdb"
    shutil.copy(store, copy)
    assert analyze(copy, full=True, workers=1).analysed == 2000
    for query in ("SELECT case_id, theme_id, evidence FROM case_themes ORDER BY ALL",
                  "SELECT case_id, cause, source, evidence FROM case_causes ORDER BY ALL",
                  "SELECT * FROM case_scores ORDER BY ALL", "SELECT * FROM analysis_state ORDER BY ALL"):
        assert _rows(store, query) == _rows(copy, query), query
    assert _rows(store, "SELECT count(*) FROM case_scores")[0][0] == 2000


def test_a_load_counts_repeat_contacts_as_they_will_be_and_analyze_fixes_older_cases(tmp_path):
    store = tmp_path / "store.duckdb"
    first = tmp_path / "first.csv"
    first.write_text("受付番号,受付日時,顧客ID,問い合わせ内容\r\n"
                     "R-1,2025/5/1 10:00,K-9,商品が届きません。\r\n"
                     "R-3,2025/5/20 10:00,K-9,まだ届きません。どうなっていますか。\r\n", encoding="utf-8")
    load_file(first, store, LoadOptions(workers=1))
    assert dict(_rows(store, "SELECT case_id, repeat_contacts FROM case_scores")) == {"R-1": 0, "R-3": 1}
    # A contact between the two: counted at load for itself; R-3 (not in this file) now has two before it.
    second = tmp_path / "second.csv"
    second.write_text("受付番号,受付日時,顧客ID,問い合わせ内容\r\nR-2,2025/5/10 10:00,K-9,届かないので電話しました。\r\n",
                      encoding="utf-8")
    load_file(second, store, LoadOptions(workers=1))
    assert _rows(store, "SELECT repeat_contacts FROM case_scores WHERE case_id = 'R-2'") == [(1,)]
    result = analyze(store, workers=1)
    assert result.analysed == 1
    assert dict(_rows(store, "SELECT case_id, repeat_contacts FROM case_scores")) == {"R-1": 0, "R-2": 1, "R-3": 2}


def test_a_rules_file_that_does_not_parse_leaves_the_analysis_to_analyze(tmp_path, monkeypatch, capsys):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "themes.txt").write_text("＊配送 [delivery] #336699\n届く and (\n", encoding="utf-8")
    monkeypatch.setenv("KAKEHASHI_RULES_DIR", str(rules_dir))
    export = tmp_path / "cases.csv"
    export.write_text("受付番号,受付日時,問い合わせ内容\r\nB-1,2025/4/1 9:00,商品が届きません。\r\n", encoding="utf-8")
    store = tmp_path / "store.duckdb"
    result = load_file(export, store, LoadOptions(workers=1))
    assert result.inserted == 1 and not result.analysed
    assert _rows(store, "SELECT count(*) FROM case_terms")[0][0] > 0
    assert _rows(store, "SELECT count(*) FROM analysis_state")[0][0] == 0
    with pytest.raises(RuleError):
        analyze(store, workers=1)
    # The command line says so, and where to look.
    assert main(["ingest", str(export), "--db", str(tmp_path / "cli.duckdb"), "--quiet"]) == 0
    assert "rules file does not parse" in capsys.readouterr().err


def test_every_tag_has_evidence(sample_store):
    _folder, store, _ = sample_store
    assert _rows(store, "SELECT count(*) FROM case_themes WHERE evidence IS NULL OR len(evidence) = 0")[0][0] == 0
    assert _rows(store, "SELECT count(*) FROM case_causes WHERE evidence IS NULL OR len(evidence) = 0")[0][0] == 0
    levels = dict(_rows(store, "SELECT emotion_level, count(*) FROM case_scores GROUP BY 1"))
    assert set(levels) <= {0, 1, 2, 3} and levels.get(3, 0) > 0
    assert _rows(store, "SELECT count(*) FROM case_scores WHERE emotion_level > 0 AND len(reasons) = 0")[0][0] == 0


def test_second_run_is_incremental(sample_store):
    _folder, store, _ = sample_store
    again = analyze(store, workers=1)
    assert again.analysed == 0 and again.skipped == 2000


def test_the_upload_job_says_in_japanese_why_the_analysis_failed(tmp_path, monkeypatch):
    import time

    from pipelines.jobs import runner

    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "themes.txt").write_text("＊配送 [delivery] #336699\n届く and (\n", encoding="utf-8")
    monkeypatch.setenv("KAKEHASHI_RULES_DIR", str(rules_dir))  # the child process inherits it
    export = tmp_path / "cases.csv"
    export.write_text("受付番号,受付日時,問い合わせ内容\r\nB-1,2025/4/1 9:00,商品が届きません。\r\n", encoding="utf-8")
    store = tmp_path / "store.duckdb"
    job_id = runner.start(runner.JobSpec([str(export)], ["cases.csv"], ["cases"], store=str(store)),
                          actor=access.LOCAL_USER)
    deadline = time.monotonic() + 120
    while (state := runner.read(runner.job_file(store, job_id)) or {}).get("status") not in ("done", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert state["results"][0]["inserted"] == 1
    message = state["errors"][0]["message"]
    assert message.startswith("分析に失敗しました") and "閉じ" in message and "2行目" in message


def test_a_load_tags_its_new_cases_and_analyze_has_nothing_left(sample_store, tmp_path):
    folder, store, _ = sample_store
    extra = tmp_path / "more.csv"
    extra.write_text("受付番号,受付日時,問い合わせ内容\r\nN-1,2025/12/30 10:00,キャップが緩くて中身が漏れていました。\r\n"
                     "N-2,2025/12/30 11:00,注文した商品がまだ届かないのですが。\r\n", encoding="utf-8")
    load_file(extra, store, LoadOptions(workers=1))
    themes = dict(_rows(store, "SELECT case_id, list(theme_id ORDER BY theme_id) FROM case_themes "
                               "WHERE case_id IN ('N-1', 'N-2') GROUP BY 1"))
    assert "packaging" in themes["N-1"] and "delivery" in themes["N-2"]
    result = analyze(store, workers=1)
    assert result.analysed == 0 and result.skipped == 2002


def test_rules_change_retags_from_stored_terms_without_tokenizing(sample_store, monkeypatch):
    _folder, store, _ = sample_store
    rules = analyze_mod.load_bundle(store)

    class ChangedRules(type(rules)):
        def hash(self) -> str:  # a different rules hash, as after an edit of the rules file
            return "edited-" + super().hash()

    monkeypatch.setattr(analyze_mod, "load_bundle", lambda *_, **__: ChangedRules(rules.themes, rules.causes, rules.severity, rules.pack))
    # Every tokenization goes through the one cached Tagger: its call count must not move.
    calls_before = text.tagger.cache_info()
    before = _rows(store, "SELECT count(*) FROM case_themes")[0][0]
    result = analyze(store, workers=1)
    assert text.tagger.cache_info() == calls_before
    assert result.analysed == _rows(store, "SELECT count(*) FROM cases")[0][0]
    assert _rows(store, "SELECT count(*) FROM case_themes")[0][0] == before


def test_export_cause_column_is_the_trusted_source(tmp_path):
    export = tmp_path / "with_cause.csv"
    export.write_text("受付番号,受付日時,問い合わせ内容,原因\r\n"
                      "E-1,2025/4/1 9:00,箱が潰れて届きました。,キャップの締め不良\r\n"
                      "E-2,2025/4/1 9:30,箱が潰れて届きました。,\r\n", encoding="utf-8")
    store = tmp_path / "store.duckdb"
    load_file(export, store, LoadOptions(workers=1))
    analyze(store, workers=1)
    causes = _rows(store, "SELECT case_id, cause, source FROM case_causes ORDER BY case_id, cause")
    assert ("E-1", "キャップ不良", "export") in causes
    assert not any(c[0] == "E-1" and c[2] == "extracted" for c in causes)
    assert any(c[0] == "E-2" and c[2] == "extracted" for c in causes)
