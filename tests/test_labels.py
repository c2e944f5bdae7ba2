"""Labels from the desk: a lead confirms or corrects a case's themes on the case view; the labels give
per-theme precision and export as a test set that bench/bench_themes_real.py reads."""
from __future__ import annotations

import json
import shutil

import pytest
from helpers import query

from bench.bench_themes_real import load_set
from bench.bench_themes_real import main as bench_main
from bench.bench_themes_real import split_of as bench_split_of
from devtools.sample import generate
from pipelines.__main__ import main
from pipelines.analysis.analyze import analyze
from pipelines.ingest.load import LoadOptions, load_file
from pipelines.jobs import runner
from pipelines.store import access, audit, db, labels

LEAD = access.Actor("lead@example.co.jp", "室長", frozenset({access.LEAD}))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    generate(folder, seed=53, n_cases=1000)
    store = folder / "store.duckdb"
    load_file(folder / "cases.csv", store, LoadOptions(workers=1))
    analyze(store, workers=1)
    return store


@pytest.fixture
def store(analysed, tmp_path):
    copy = tmp_path / "store.duckdb"
    shutil.copy(analysed, copy)
    return copy


def _two_tagged(store) -> list[tuple[str, str]]:
    """(case_id, its first rule theme) of two tagged cases."""
    return query(store, """SELECT case_id, min(theme_id) FROM case_themes GROUP BY case_id
                           HAVING count(*) = 1 ORDER BY case_id LIMIT 2""")


def _write(store, case_id, themes, negative=True, anger=None, user="lead@example.co.jp"):
    with db.writer(store) as con:
        return labels.write_label(con, labels.Label(case_id, tuple(themes), negative, anger), user)


def test_a_lead_labels_a_case_through_a_job_and_the_audit_trail(store):
    (case_id, theme_id), _ = _two_tagged(store)
    themes = [r[0] for r in query(store, "SELECT theme_id FROM themes")]
    saved = runner.record_label(case_id, [theme_id], True, 2, themes, store=store, actor=LEAD)
    assert (saved.case_id, saved.themes, saved.negative, saved.anger) == (case_id, (theme_id,), True, 2)
    assert saved.shown == (theme_id,) and saved.labelled_by == LEAD.user_id
    assert labels.case_label(case_id, store) == saved
    entries = [e for e in map(json.loads, audit.journal(store).read_text(encoding="utf-8").splitlines())
               if e["action"] == audit.LABEL_CASE]
    assert entries and entries[-1]["target"] == case_id and entries[-1]["user"] == LEAD.user_id


@pytest.mark.parametrize("themes, anger, words", [
    (["no_such_theme"], None, ["no_such_theme", "テーマ辞書にありません"]),
    ([], 7, ["0〜3"]),
])
def test_a_bad_label_is_refused_before_anything_runs(store, themes, anger, words):
    with pytest.raises(labels.LabelError) as refused:
        runner.record_label("X-1", themes, False, anger, ["quality"], store=store, actor=LEAD)
    for word in words:
        assert word in refused.value.message_ja()
    assert query(store, "SELECT count(*) FROM case_labels")[0][0] == 0


def test_a_label_of_a_case_that_is_gone_says_so(store):
    with pytest.raises(labels.LabelError) as refused:
        runner.record_label("NO-SUCH-CASE", [], False, None, [], store=store, actor=LEAD)
    assert "見つかりません" in refused.value.message_ja()


def test_a_new_label_replaces_the_old_one(store):
    (case_id, theme_id), _ = _two_tagged(store)
    _write(store, case_id, [theme_id])
    _write(store, case_id, [], negative=False, anger=0)
    assert query(store, "SELECT themes, negative, anger FROM case_labels") == [([], False, 0)]


def test_per_theme_precision_from_labels(store):
    (confirmed, theme_a), (corrected, theme_b) = _two_tagged(store)
    other = query(store, "SELECT theme_id FROM themes WHERE theme_id NOT IN (?, ?) ORDER BY position LIMIT 1",
                  [theme_a, theme_b])[0][0]
    _write(store, confirmed, [theme_a])               # the rule was right
    _write(store, corrected, [other])                 # the rule was wrong; the lead names another theme
    frame = labels.theme_precision(store).set_index("theme_id")
    if theme_a == theme_b:
        assert (frame.loc[theme_a, "ルールで付与"], frame.loc[theme_a, "うち正しい"]) == (2, 1)
        assert frame.loc[theme_a, "適合率"] == pytest.approx(0.5)
    else:
        assert frame.loc[theme_a, "適合率"] == 1.0 and frame.loc[theme_b, "適合率"] == 0.0
    assert frame.loc[other, "ラベルのみ"] == 1 and frame.loc[other, "ルールで付与"] == 0
    assert list(frame.columns) == ["テーマ", "ルールで付与", "うち正しい", "適合率", "推定で付与", "推定のうち正しい",
                                   "推定の適合率", "ラベルのみ"]


def test_the_export_is_a_set_the_real_text_bench_reads(store, tmp_path):
    tagged = query(store, "SELECT case_id, list(theme_id ORDER BY theme_id) FROM case_themes GROUP BY 1 ORDER BY 1 LIMIT 30")
    for n, (case_id, themes) in enumerate(tagged):
        _write(store, case_id, themes + (["inquiry"] if n == 0 else []), negative=n % 2 == 0, anger=None if n % 3 else 1)
    out = tmp_path / "set"
    assert main(["labels", "export", "--db", str(store), "--out", str(out), "--industry", "food"]) == 0
    items, unlabelled = load_set(out)
    assert unlabelled == 0 and len(items) == len(tagged)
    first = next(i for i in items if i.id == f"desk-{tagged[0][0]}")
    assert first.industry == "food" and first.source == "desk" and first.text
    assert set(first.themes) <= set(labels.TAXONOMY)
    texts = {r[0]: r[1] for r in query(store, "SELECT case_id, text FROM cases")}
    assert all(i.text == texts[i.id.removeprefix("desk-")] for i in items), "the stored (masked) text, unchanged"
    assert bench_main(["--set", str(out)]) in (0, 2)   # 2 only when no exported id falls in the dev split


def test_the_split_is_the_benchs(store):
    for text_id in ("desk-C-0001", "desk-R-abc", "x-1", "desk-K-42~20250101"):
        assert labels.split_of(text_id) == bench_split_of(text_id)


def test_export_refusals(store, tmp_path, capsys):
    assert main(["labels", "export", "--db", str(store), "--out", str(tmp_path / "empty")]) == 2
    assert "no labelled cases" in capsys.readouterr().err
    assert main(["labels", "export", "--db", str(store), "--out", str(tmp_path / "x"), "--industry", "bakery"]) == 2
    assert "industry" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_unmapped_themes_are_said_not_dropped_silently(store):
    (case_id, _theme), _ = _two_tagged(store)
    with db.writer(store) as con:   # a theme outside the taxonomy, as a pack's sub-theme would be
        con.execute("INSERT INTO case_labels VALUES (?, ['cosmetics_scent'], true, NULL, [], 'x', now())", [case_id])
    exported = labels.export_set(store=store)
    assert exported.unmapped == {"cosmetics_scent": 1}
    assert any("cosmetics_scent" in note for note in exported.notes()) and exported.notes_ja()


def test_the_case_view_shows_inferred_themes_and_takes_a_lead_s_label(store, open_page):
    inferred_case = query(store, "SELECT case_id FROM case_inferred_themes ORDER BY confidence DESC LIMIT 1")
    (case_id, theme_id), _ = _two_tagged(store)
    if inferred_case:
        at = open_page(store, "cases", case=inferred_case[0][0], period="all")
        assert any("推定テーマ" in c.value for c in at.caption)
        assert [d for d in at.dataframe if "推定テーマ" in d.value.columns]
    at = open_page(store, "cases", case=case_id, period="all")
    assert any("窓口のラベル" in c.value for c in at.caption)
    assert at.multiselect(key="lb_themes").value == [theme_id], "the rule themes are offered as the starting point"
    at.selectbox(key="lb_anger").set_value(2)
    at.button(key="lb_submit").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success], [e.value for e in at.error]
    assert query(store, "SELECT case_id, themes, anger FROM case_labels") == [(case_id, [theme_id], 2)]
