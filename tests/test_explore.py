"""テーマ探索 data functions (pipelines/reports/explore.py) on the two generated samples and an empty store.

Counts are checked against independent SQL over the same store, the rule-editor preview against
the tags `analyze` stored, and the ground truth of the generator (manifest.json) where it says
something about themes (the planted spike).
"""
from __future__ import annotations

import shutil
from datetime import date, timedelta

import duckdb
import pytest

from pipelines.reports import explore as ex
from pipelines.rules import themes as th
from pipelines.rules.themes.packs import SAMPLE_PACK, rules_with_pack
from pipelines.store import filters as flt
from pipelines.store.access import LOCAL_USER
from pipelines.store.settings import RULES_DIR

ALL = flt.Filters(preset="all")
LAST_4W = flt.Filters()
UNTAGGED = "SELECT count(*) FROM cases WHERE case_id NOT IN (SELECT case_id FROM case_themes)"


def _sample_rules() -> th.RuleSet:
    """The rules both sample fixtures were analysed with (conftest: the food pack on the default taxonomy);
    the editor tests compare previews with those tags, so they start from the same rules."""
    return rules_with_pack(SAMPLE_PACK, th.load_rules(RULES_DIR / "themes.txt"))


def _sql(store, query: str, params=()):
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(query, list(params)).fetchall()


def _biggest_theme(store) -> str:
    return _sql(store, "SELECT theme_id FROM case_themes GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0][0]


@pytest.fixture
def rules_dir(tmp_path, monkeypatch):
    """A copy of data/rules that KAKEHASHI_RULES_DIR points at: nothing here writes the repo's file."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES_DIR, folder)
    monkeypatch.setenv("KAKEHASHI_RULES_DIR", str(folder))
    return folder


# -- distribution and trend --------------------------------------------------------------------

def test_distribution_counts_cases_per_theme_and_unclassified(sample_store):
    frame = ex.theme_distribution(ALL, store=sample_store)
    stored = dict(_sql(sample_store, "SELECT theme_id, count(DISTINCT case_id) FROM case_themes GROUP BY 1"))
    assert {r.theme_id: r.件数 for r in frame.itertuples() if r.theme_id != ex.UNCLASSIFIED} == \
        {theme_id: stored.get(theme_id, 0) for theme_id in frame["theme_id"] if theme_id != ex.UNCLASSIFIED}
    unclassified = _sql(sample_store, UNTAGGED)
    assert frame.iloc[-1]["テーマ"] == "未分類" and frame.iloc[-1]["件数"] == unclassified[0][0]
    total = _sql(sample_store, "SELECT count(*) FROM cases")[0][0]
    assert frame["割合"].tolist() == pytest.approx((frame["件数"] / total).tolist())
    # Rules-file order, as every chart's legend.
    in_rules_order = [r[0] for r in _sql(sample_store, "SELECT theme_id FROM themes ORDER BY position")]
    assert frame["theme_id"].tolist()[:-1] == in_rules_order


def test_distribution_splits_exactly_over_channels(second_sample):
    store, manifest = second_sample
    whole = ex.theme_distribution(ALL, store=store).set_index("theme_id")["件数"]
    parts = sum(ex.theme_distribution(flt.Filters(preset="all", channels=(channel,)), store=store)
                .set_index("theme_id")["件数"] for channel in manifest["channels"])
    assert parts.to_dict() == whole.to_dict()


@pytest.mark.parametrize("grain", ["week", "month"])
def test_trend_buckets_add_up_to_the_distribution(sample_store, grain):
    trend = ex.theme_trend(LAST_4W, grain, store=sample_store)
    distribution = ex.theme_distribution(LAST_4W, store=sample_store)
    assert trend.groupby("theme_id")["件数"].sum().to_dict() == dict(zip(distribution["theme_id"], distribution["件数"]))
    buckets = sorted(set(trend["期間"]))
    step = {"week": (6, 8), "month": (27, 32)}[grain]
    assert all(step[0] <= (b - a).days <= step[1] for a, b in zip(buckets, buckets[1:]))
    # Every bucket has every theme (zeros included), so lines do not jump over empty weeks.
    assert len(trend) == len(buckets) * len(distribution)


def test_trend_refuses_an_unknown_grain(sample_store):
    with pytest.raises(ValueError, match="week, month"):
        ex.theme_trend(LAST_4W, "year", store=sample_store)


@pytest.mark.parametrize("which", ["sample_store", "second_sample"])
def test_the_planted_spike_stands_out_in_the_distribution(request, which):
    fixture = request.getfixturevalue(which)
    store, manifest = (fixture, None) if which == "sample_store" else fixture
    if manifest is None:
        import json

        from pipelines.store.settings import SAMPLE_DIR
        manifest = json.loads((SAMPLE_DIR / "manifest.json").read_text(encoding="utf-8"))
    spike = manifest["spike"]
    start, end = date.fromisoformat(spike["start"]), date.fromisoformat(spike["end"])
    # The generator plants the spike on one product: look at that product's cases.
    product = (spike["product"],)
    before = flt.Filters(preset="custom", start=start - timedelta(days=29), end=start - timedelta(days=1),
                         products=product)
    during = flt.Filters(preset="custom", start=start, end=end, products=product)
    share = {}
    for label, filters in (("before", before), ("during", during)):
        frame = ex.theme_distribution(filters, store=store)
        share[label] = float(frame.loc[frame["テーマ"] == spike["theme"], "割合"].iloc[0])
    assert share["during"] > 1.5 * share["before"]


# -- characteristic terms and compounds ----------------------------------------------------------

def test_top_terms_count_negation_apart_and_rank_by_jaccard(sample_store):
    delivery = ex.top_terms(ALL, "delivery", limit=200, store=sample_store)
    words = delivery.set_index("語")
    assert "届く(否定)" in words.index and "届く" in words.index
    # 届かない is what makes a delivery complaint: more typical of the theme than 届く itself.
    assert words.loc["届く(否定)", "リフト"] > words.loc["届く", "リフト"]
    chosen = _sql(sample_store, "SELECT count(DISTINCT case_id) FROM case_themes WHERE theme_id = 'delivery'")[0][0]
    negated = _sql(sample_store, "SELECT count(DISTINCT t.case_id) FROM case_terms t JOIN case_themes ct USING "
                                 "(case_id) WHERE ct.theme_id = 'delivery' AND t.lemma = '届く' AND t.negated")[0][0]
    assert words.loc["届く(否定)", "件数"] == negated
    assert words.loc["届く(否定)", "割合"] == pytest.approx(negated / chosen)
    assert delivery["特徴度"].is_monotonic_decreasing
    jaccard = delivery["件数"] / (chosen + delivery["全体の件数"] - delivery["件数"])
    assert delivery["特徴度"].tolist() == pytest.approx(jaccard.tolist())


def test_top_terms_leave_out_stop_words_counters_and_numbers(sample_store):
    words = set(ex.top_terms(ALL, None, limit=500, store=sample_store)["語"])
    assert not words & {"お客様", "商品", "電話", "対応", "確認", "購入", "こと", "円", "円-助数詞", "為る"}
    assert not any(w.isdigit() for w in words)
    assert "連絡(否定)" in words   # a stop word that is a complaint when negated


def test_top_compounds_are_joined_noun_runs_counted_in_the_text(sample_store):
    compounds = ex.top_compounds(ALL, "billing", store=sample_store)
    assert not compounds.empty and compounds["複合語"].str.len().min() >= 2
    first = compounds.iloc[0]
    in_theme = _sql(sample_store, "SELECT count(*) FROM cases c WHERE contains(c.text, ?) AND case_id IN "
                                  "(SELECT case_id FROM case_themes WHERE theme_id = 'billing')", [first["複合語"]])[0][0]
    assert first["件数"] == in_theme
    assert compounds["特徴度"].is_monotonic_decreasing


# -- co-occurrence network -----------------------------------------------------------------------

def test_network_is_deterministic_on_a_big_theme(sample_store):
    # Its speed on a theme of this size is measured by bench/bench_pages.py (テーマ探索).
    theme = _biggest_theme(sample_store)
    cases = _sql(sample_store, "SELECT count(DISTINCT case_id) FROM case_themes WHERE theme_id = ?", [theme])[0][0]
    # Upper bound raised from 5,000: under the industry-agnostic taxonomy plus the food pack, 品質・異物
    # [quality] is the biggest theme at 6,227 of the sample's 24,000 cases (measured after today's taxonomy
    # change). The bounds only check this is a big theme; the assertions below are unchanged.
    assert 3000 <= cases <= 7000
    first, second = (ex.cooccurrence(ALL, theme, top_edges=60, store=sample_store) for _ in range(2))
    assert first.nodes.equals(second.nodes) and first.edges.equals(second.edges)
    assert 0 < len(first.edges) <= 60
    assert first.edges["Jaccard"].between(0, 1, inclusive="right").all()
    assert first.edges["Jaccard"].is_monotonic_decreasing
    assert first.nodes[["x", "y"]].abs().max().max() <= 1.0 + 1e-9
    assert (first.nodes["件数"] >= first.min_cases).all()
    assert set(first.edges["語1"]) | set(first.edges["語2"]) == set(first.nodes["語"])
    assert first.nodes["グループ"].min() == 1


def test_network_jaccard_matches_case_sets(second_sample):
    store, _ = second_sample
    network = ex.cooccurrence(ALL, _biggest_theme(store), top_edges=20, store=store)
    edge = network.edges.iloc[0]
    chosen = ex.top_terms(ALL, _biggest_theme(store), limit=1000, min_cases=1, store=store).set_index("語")["件数"]
    both = edge["共起件数"]
    assert edge["Jaccard"] == pytest.approx(both / (chosen[edge["語1"]] + chosen[edge["語2"]] - both))


def test_layout_and_communities_on_two_separate_triangles():
    import numpy as np

    source, target = np.array([0, 1, 2, 3, 4, 5]), np.array([1, 2, 0, 4, 5, 3])
    weights = np.ones(6)
    groups = ex.communities(6, source, target, weights)
    assert len(set(groups[:3])) == 1 and len(set(groups[3:])) == 1 and groups[0] != groups[3]
    xy = ex.force_layout(6, source, target, weights)
    assert np.array_equal(xy, ex.force_layout(6, source, target, weights))
    inside = np.linalg.norm(xy[0] - xy[1])
    across = np.linalg.norm(xy[0] - xy[3])
    assert inside < across


# -- KWIC -----------------------------------------------------------------------------------------

def _plain(text: str) -> str:
    return " ".join(text.split())


def test_kwic_rows_are_occurrences_in_context(sample_store):
    page = ex.kwic(ALL, "delivery", term="届く(否定)", page=1, page_size=30, store=sample_store)
    expected = _sql(sample_store, "SELECT count(*) FROM case_terms t JOIN case_themes ct USING (case_id) "
                                  "WHERE ct.theme_id = 'delivery' AND t.lemma = '届く' AND t.negated")[0][0]
    assert page.total == expected and len(page.rows) == 30
    texts = dict(_sql(sample_store, "SELECT case_id, text FROM cases WHERE case_id IN (SELECT unnest(?::VARCHAR[]))",
                      [page.rows["ケースID"].tolist()]))
    for row in page.rows.itertuples():
        assert row.キーワード.startswith("届")
        window = row.左文脈.lstrip("…") + row.キーワード + row.右文脈.rstrip("…")
        assert window in _plain(texts[row.ケースID])
        assert "配送" in row.テーマ and row.根拠語
    assert page.rows["受付日時"].is_monotonic_decreasing


def test_kwic_pages_are_disjoint_and_affirmative_forms_are_apart(sample_store):
    first = ex.kwic(ALL, "delivery", term="届く", page=1, page_size=10, store=sample_store)
    second = ex.kwic(ALL, "delivery", term="届く", page=2, page_size=10, store=sample_store)
    negated = ex.kwic(ALL, "delivery", term="届く(否定)", page=1, page_size=10, store=sample_store)
    both = _sql(sample_store, "SELECT count(*) FROM case_terms t JOIN case_themes ct USING (case_id) "
                              "WHERE ct.theme_id = 'delivery' AND t.lemma = '届く'")[0][0]
    assert first.total + negated.total == both
    assert not set(zip(first.rows["ケースID"], first.rows["左文脈"])) & set(zip(second.rows["ケースID"], second.rows["左文脈"]))
    assert first.pages == -(-first.total // 10)


def test_kwic_text_and_evidence_modes(sample_store):
    text = ex.kwic(ALL, None, text="二重", page_size=5, store=sample_store)
    assert text.total == _sql(sample_store, "SELECT count(*) FROM cases WHERE contains(text, '二重')")[0][0]
    assert (text.rows["キーワード"] == "二重").all()
    evidence = ex.kwic(ALL, "packaging", page_size=5, store=sample_store)
    assert evidence.total == _sql(sample_store, "SELECT count(*) FROM case_themes WHERE theme_id = 'packaging'")[0][0]
    for row in evidence.rows.itertuples():
        assert row.キーワード and row.キーワード in row.根拠語.split("・")


def test_kwic_cells_stay_plain_text(tmp_path):
    """A verbatim with Markdown/HTML and line breaks comes back as the same characters, one line."""
    from pipelines.analysis.analyze import analyze
    from pipelines.ingest.load import LoadOptions, load_file

    export = tmp_path / "cases.csv"
    export.write_text("受付番号,受付日時,問い合わせ内容\n"
                      'A-1,2025-01-06 10:00,"<b>箱</b>が潰れて**届いた**。\n中身も [漏れて](http://x) いた"\n',
                      encoding="utf-8")
    store = tmp_path / "store.duckdb"
    load_file(export, store, LoadOptions(workers=1))
    analyze(store, workers=1)
    page = ex.kwic(ALL, None, text="潰れ", store=store)
    row = page.rows.iloc[0]
    assert row.左文脈 == "<b>箱</b>が" and row.キーワード == "潰れ" and "**届いた**。 中身も [漏れて]" in row.右文脈


# -- unclassified cases and topic suggestions ----------------------------------------------------

def test_unclassified_list_and_share(sample_store):
    page = ex.unclassified_cases(ALL, page=2, page_size=25, store=sample_store)
    assert page.total == _sql(sample_store, UNTAGGED)[0][0] and page.cases == 24000
    tagged = _sql(sample_store, "SELECT count(DISTINCT case_id) FROM case_themes")[0][0]
    assert page.share == pytest.approx(1 - tagged / 24000)
    assert len(page.rows) == 25
    tagged = _sql(sample_store, "SELECT count(*) FROM case_themes WHERE case_id IN (SELECT unnest(?::VARCHAR[]))",
                  [page.rows["ケースID"].tolist()])[0][0]
    assert tagged == 0


def test_topic_suggestions_are_stable_and_their_rules_parse(second_sample):
    store, _ = second_sample
    first = ex.topic_suggestions(ALL, store=store)
    assert first.equals(ex.topic_suggestions(ALL, store=store))
    assert not first.empty
    unclassified = ex.unclassified_cases(ALL, store=store).total
    assert first["件数"].sum() <= unclassified
    for rule in first["ルール"]:
        th.parse_expression(rule)   # pastes into the editor without an error


# -- the rule editor ------------------------------------------------------------------------------

def _draft_of(rules: th.RuleSet, source_id: str, **changes) -> ex.ThemeDraft:
    """The draft the editor starts from for theme `source_id`, with `changes` typed over it."""
    theme = rules.theme(source_id)
    values = dict(theme_id=theme.theme_id, name=theme.name, color=theme.color, rule=theme.source)
    values.update(changes)
    return ex.ThemeDraft(**values)


def _prefilter(rule: str) -> th.Prefilter:
    return th.prefilter(th.RuleSet((th.make_theme("t", "T", "#123456", rule),)))


def _key(prefilter: th.Prefilter, word: str) -> int:
    return next(no for spelling, no, _ in prefilter.keys if spelling == word)


@pytest.mark.parametrize("rule, word, needs", [
    # Outside near(), a noun may be negated by its predicate (問題はない): the stored term's POS
    # decides in SQL, so a verb such as 届く still needs its own negation.
    ("届く!neg", "届く", "neg_or_noun"),
    ("問題!neg", "問題", "neg_or_noun"),
    ("near(荷物, 届く!neg, 4)", "届く", "neg"),       # inside near(): the term's own negation only
    ("キャップ", "キャップ", "pos"),
    ("(解約 | 退会)!any", "解約", "any"),
])
def test_prefilter_keys_carry_the_negation_a_word_needs(rule, word, needs):
    prefilter = _prefilter(rule)
    assert (word, _key(prefilter, word), needs) in prefilter.keys


def test_prefilter_lines_need_every_part():
    near = _prefilter("near(荷物, 届く!neg, 4)")
    parcel, arrive = _key(near, "荷物"), _key(near, "届く")
    assert near.admits({parcel, arrive}) and not near.admits({parcel}) and not near.admits({arrive})
    either = _prefilter("キャップ\ntext:置き配")
    placed = next(no for literal, no in either.literals if literal == "置き配")
    assert either.admits({placed}) and either.admits({_key(either, "キャップ")}) and not either.admits(set())
    assert ("ログ\0イ", _key(_prefilter("ログイン"), "ログイン")) in _prefilter("ログイン").pairs
    assert _prefilter("/[ぁ-ん]{30}/").everything   # no literal to look for: every case is a candidate


def test_candidates_hold_every_stored_tag(second_sample):
    """The preview's SQL prefilter may let extra cases through, never drop one the rule tags."""
    from pipelines.store import db

    store, _ = second_sample
    rules = _sample_rules()
    with db.reader(store) as con:
        for theme in rules.themes:
            candidates = ex.candidate_cases(con, th.prefilter(th.RuleSet((theme,))))
            missed = con.execute("SELECT count(*) FROM case_themes WHERE theme_id = ? AND case_id NOT IN "
                                 "(SELECT case_id FROM kk_candidates)", [theme.theme_id]).fetchall()[0][0]
            assert missed == 0 and candidates < 12000, theme.theme_id   # none missed, and some skipped


@pytest.mark.parametrize("theme_id", ["delivery", "taste", "web", "inquiry"])
def test_preview_of_an_unchanged_rule_matches_the_stored_tags(sample_store, theme_id):
    rules = _sample_rules()
    preview = ex.preview_rule(_draft_of(rules, theme_id), ex.theme_headers(rules), store=sample_store)
    assert not preview.error
    assert preview.hits == preview.before > 0 and preview.added == preview.removed == 0
    assert preview.covered_after == preview.covered_before


def test_preview_of_an_edit_counts_what_changes(sample_store):
    rules = _sample_rules()
    preview = ex.preview_rule(_draft_of(rules, "packaging", rule="キャップ and 緩い"), ex.theme_headers(rules),
                              examples=10, store=sample_store)
    assert not preview.error and 0 < preview.hits < preview.before
    assert preview.hits - preview.added == preview.before - preview.removed   # the cases kept
    assert preview.covered_after <= preview.covered_before
    assert len(preview.examples) == 10
    assert preview.examples["根拠語"].str.contains("キャップ").all()
    assert set(preview.examples["区分"]) <= {"新規", "継続"}
    assert len(preview.removed_examples) == 10


@pytest.mark.parametrize("changes, words", [
    (dict(rule="届く!neg | 荷物 蓋"), ["1行目", "演算子がありません"]),
    (dict(rule="(届く | 荷物"), ["閉じていません"]),
    (dict(rule="届かない"), ["届く!neg"]),
    (dict(rule=""), ["条件が空です"]),
    (dict(name="品質・異物"), ["テーマ名「品質・異物」", "quality"]),
    (dict(color="#8C564B"), ["色 #8C564B", "品質・異物"]),
    (dict(color="blue"), ["#RRGGBB"]),
    (dict(theme_id="quality", new=True), ["すでに「品質・異物」で使われています"]),
    (dict(theme_id="Bad-ID", new=True), ["テーマID「Bad-ID」は使えません"]),
    (dict(theme_id="gone"), ["テーマ辞書にありません"]),
])
def test_bad_drafts_get_a_japanese_message(sample_store, changes, words):
    rules = _sample_rules()
    preview = ex.preview_rule(_draft_of(rules, "delivery", **changes), ex.theme_headers(rules), store=sample_store)
    for word in words:
        assert word in preview.error
    assert preview.hits == 0


def test_rules_path_follows_the_environment(rules_dir):
    assert th.rules_path() == rules_dir / "themes.txt"
    assert th.load_rules().hash() == th.load_rules(RULES_DIR / "themes.txt").hash()


def test_save_renames_and_keeps_the_rest_of_the_file(rules_dir):
    path = rules_dir / "themes.txt"
    before = path.read_text(encoding="utf-8")
    rules = th.load_rules()
    original = rules.theme("delivery")
    ex.save_draft(_draft_of(rules, "delivery", name="配送・物流", rule=original.source + "\n宅配ボックス"), actor=LOCAL_USER)
    after = path.read_text(encoding="utf-8")
    old_block = f"＊{original.name} [delivery] {original.color}\n{original.source}"
    new_block = f"＊配送・物流 [delivery] {original.color}\n{original.source}\n宅配ボックス"
    assert old_block in before and after == before.replace(old_block, new_block)
    saved = th.load_rules()
    assert saved.theme("delivery").name == "配送・物流"
    assert [t.theme_id for t in saved.themes] == [t.theme_id for t in rules.themes]
    assert (RULES_DIR / "themes.txt").read_text(encoding="utf-8") == before   # the repo's file untouched


def test_save_adds_a_theme_at_the_end(rules_dir):
    rules = th.load_rules()
    ex.save_draft(ex.ThemeDraft("cap_loose", "キャップの緩み", rules.spare_color(), "キャップ and 緩い", new=True), actor=LOCAL_USER)
    saved = th.load_rules()
    assert saved.themes[-1].theme_id == "cap_loose" and len(saved.themes) == len(rules.themes) + 1


def test_a_bad_draft_is_never_saved(rules_dir):
    path = rules_dir / "themes.txt"
    before = path.read_bytes()
    rules = th.load_rules()
    with pytest.raises(th.RuleError) as error:
        ex.save_draft(_draft_of(rules, "delivery", rule="near(荷物, 届く!neg"), actor=LOCAL_USER)
    assert "閉じていません" in error.value.message_ja()
    assert path.read_bytes() == before


# -- empty store ----------------------------------------------------------------------------------

def test_every_function_answers_on_an_empty_store(tmp_path):
    store = tmp_path / "empty.duckdb"
    assert ex.theme_distribution(ALL, store=store)["件数"].tolist() == [0]
    assert ex.theme_trend(ALL, store=store)["件数"].sum() == 0
    assert ex.top_terms(ALL, None, store=store).empty
    assert ex.top_compounds(ALL, None, store=store).empty
    assert ex.cooccurrence(ALL, None, store=store).edges.empty
    assert ex.kwic(ALL, None, term="届く", store=store).total == 0
    assert ex.unclassified_cases(ALL, store=store).total == 0
    assert ex.topic_suggestions(ALL, store=store).empty
    preview = ex.preview_rule(ex.ThemeDraft("x", "X", "#123456", "届く!neg", new=True), (), store=store)
    assert not preview.error and preview.hits == 0 and preview.cases == 0
