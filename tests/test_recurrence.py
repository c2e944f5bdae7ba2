"""Recurrence: target matching, the exact Poisson test, countermeasure before/after and returns,
recurring causes, repeat contacts and near-duplicates — on the small fixture in
tests/data/recurrence/ (see make_fixtures.py for what is planted) and on both generated samples,
whose expectations come from their manifests."""
from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.detect import returns as ret
from pipelines.ingest.countermeasures import FORM_SOURCE, record_countermeasure
from pipelines.jobs import runner
from pipelines.reports import recurrence
from pipelines.rules.causes import canonical_cause
from pipelines.rules.themes.packs import SAMPLE_PACK
from pipelines.store import access, db, summaries
from pipelines.store.errors import KakehashiError
from pipelines.store.filters import Filters

FIXTURES = Path(__file__).resolve().parent / "data" / "recurrence"
ALL = Filters(preset="all")
MEASURE = date(2025, 3, 3)       # the fixture's three countermeasures on causes
RETURN = date(2025, 6, 1)        # when 梱包不良 comes back in the fixture
GREEN_TEA = "はるかぜ緑茶 500ml"


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory) -> Path:
    """The fixture cases, countermeasures (CP932) and hand-offs, loaded and analysed. Read only."""
    from pipelines.analysis.analyze import analyze
    from pipelines.ingest.load import LoadOptions, load_file

    store = tmp_path_factory.mktemp("recurrence") / "store.duckdb"
    for name, kind in (("cases.csv", "cases"), ("countermeasures.csv", "countermeasures"), ("events.csv", "events")):
        load_file(FIXTURES / name, store, LoadOptions(kind=kind, workers=1))
    analyze(store, workers=1, theme_pack=SAMPLE_PACK)   # a food and beverage maker's cases, like the sample
    return store


@pytest.fixture(params=["sample_store", "second_sample"])
def sample(request) -> tuple[Path, dict]:
    """Both generated data sets with their manifests, so nothing is tuned to one of them."""
    import json

    from pipelines.store.settings import SAMPLE_DIR

    if request.param == "sample_store":
        return request.getfixturevalue("sample_store"), json.loads((SAMPLE_DIR / "manifest.json").read_text("utf-8"))
    return request.getfixturevalue("second_sample")


def by_target(evaluations, target: str) -> ret.Evaluation:
    return next(e for e in evaluations if ret.name_key(e.target) == ret.name_key(target))


# -- the exact Poisson test, against values computed by hand -----------------------------------

@pytest.mark.parametrize("before, before_days, after, after_days, alternative, expected", [
    # Equal exposures: Bin(25, 1/2); P(X ≤ 5) = (1 + 25 + 300 + 2300 + 12650 + 53130) / 2^25, doubled.
    (20, 10, 5, 10, "two-sided", 2 * 68406 / 2 ** 25),
    # No case in 10 days after 10 in 20 before: P(X = 0) for Bin(10, 1/3) = (2/3)^10.
    (10, 20, 0, 10, "less", (2 / 3) ** 10),
    # Bin(3, 1/3), x = 0: two-sided sums the outcomes no likelier than P(0) = 8/27: (8 + 6 + 1) / 27.
    (3, 10, 0, 5, "two-sided", 15 / 27),
    # A rise: Bin(4, 1/2), P(X ≥ 4) = 1/16.
    (0, 7, 4, 7, "greater", 1 / 16),
])
def test_rate_test_matches_hand_computed_values(before, before_days, after, after_days, alternative, expected):
    test = ret.rate_test(before, before_days, after, after_days, alternative)
    assert test.p_value == pytest.approx(expected, rel=1e-9)


def test_rate_test_reports_rates_and_refuses_nonsense():
    test = ret.rate_test(90, 90, 23, 90)
    assert (test.before_rate, round(test.after_rate, 3), round(test.ratio, 3)) == (1.0, 0.256, 0.256)
    assert ret.rate_test(0, 10, 0, 10).p_value == 1.0
    with pytest.raises(ValueError):
        ret.rate_test(1, 0, 1, 10)
    with pytest.raises(ValueError):
        ret.rate_test(1, 10, 1, 10, alternative="lower")


# -- matching a countermeasure's target ---------------------------------------------------------

@pytest.mark.parametrize("target, dimension, name", [
    ("キャップ不良", "cause", "キャップ不良"),
    (" ｷｬｯﾌﾟ 不良 ", "cause", "キャップ不良"),            # half-width kana, spaces
    ("「キャップ不良」", "cause", "キャップ不良"),         # brackets
    ("キャップの締め不良", "cause", "キャップ不良"),       # an alias from the cause dictionary
    ("容器・包装", "theme", "容器・包装"),
    ("容器 ・ 包装", "theme", "容器・包装"),
    ("はるかぜ緑茶　５００ｍｌ", "product", GREEN_TEA),   # full-width space and digits
    ("はるかぜ緑茶500ML", "product", GREEN_TEA),
    ("髙橋農園", "product", "髙橋農園の国産はちみつⅡ 300g"),  # part of exactly one product's name
    ("宇宙人の襲来", None, None),
    ("   ", None, None),
])
def test_match_target_tolerates_spelling_differences(fixture_store, target, dimension, name):
    with db.reader(fixture_store) as con:
        found = ret.match_target(con, target)
        names = ret.target_names(con)
    if dimension is None:
        assert found is None
        return
    assert found[0] == dimension and names.display(*found) == name


def test_countermeasure_csv_with_japanese_headers_is_loaded_and_matched(fixture_store):
    log = recurrence.countermeasure_log(store=fixture_store)
    assert len(log) == 6
    by_name = {ret.name_key(t): row for t, row in zip(log["対象"], log.itertuples(index=False))}
    # 実施日 as 2025/03/03, 2025年3月3日 and R7.3.3 (wareki) all read as the same day.
    for target in ("キャップ不良", "異物混入", "梱包不良"):
        assert by_name[ret.name_key(target)].実施日 == MEASURE
    assert by_name[ret.name_key("異物混入")].内容 == "㈱髙島製作所の検査機Ⅱを導入～"
    assert by_name[ret.name_key("容器・包装")].評価した対象 == "容器・包装（テーマ）"
    assert by_name[ret.name_key("宇宙人の襲来")].評価した対象 == "（一致なし）"
    assert set(log["登録元"]) == {"countermeasures.csv"}


# -- before/after and returns on the fixture ----------------------------------------------------

def test_countermeasure_that_works_fails_and_returns(fixture_store):
    evaluations = ret.countermeasure_effects(ALL, store=fixture_store)
    works, fails, returns = (by_target(evaluations, t) for t in ("キャップ不良", "異物混入", "梱包不良"))

    assert works.verdict == "効果あり" and works.returned is None
    assert (works.test.before_count, works.test.after_count) == (90, 23)   # 1/day before, 1 in 4 days after

    assert fails.verdict == "効果不明" and fails.returned is None
    assert fails.test.p_value == pytest.approx(1.0)

    assert returns.verdict == "効果あり"
    back = returns.returned
    assert back is not None and abs((back.since - RETURN).days) <= 3
    assert back.level == pytest.approx(1.25, abs=0.1)
    assert back.since + timedelta(days=13) <= back.detected_on <= back.since + timedelta(days=30)
    assert back.p_value < 0.001 and back.current


def test_unmatched_and_too_recent_countermeasures_say_why(fixture_store):
    evaluations = ret.countermeasure_effects(ALL, store=fixture_store)
    unmatched = by_target(evaluations, "宇宙人の襲来")
    assert (unmatched.verdict, unmatched.match, unmatched.test) == ("効果不明", None, None)
    assert "一致する" in unmatched.note
    # Seen from 2025-03-15, the countermeasures of 3 March have 6 days (10–15 March) after the lag.
    early = ret.countermeasure_effects(Filters(preset="all", as_of=date(2025, 3, 15)), store=fixture_store)
    assert "6日分" in by_target(early, "キャップ不良").note
    table = recurrence.effects_table(evaluations)
    assert list(table["判定"]).count("効果あり") >= 2 and table.loc[table["対象"] == "宇宙人の襲来", "評価した対象"].item() == "（一致なし）"


def test_return_alerts_on_the_fixture(fixture_store):
    with db.reader(fixture_store) as con:
        alerts = ret.return_alerts(con)
        alert = next(a for a in alerts if a.dimension == "cause" and a.key == "梱包不良")
        observed = con.execute(
            "SELECT count(*) FROM cases c JOIN case_causes x USING (case_id) WHERE x.cause = '梱包不良' "
            "AND c.received_at >= ?", [alert.since]).fetchall()[0][0]
        replayed = ret.return_alerts(con, now=datetime(2025, 5, 25))
    assert (alert.kind, alert.granularity) == ("return", "day")
    assert re.fullmatch(r"梱包不良：3月3日の対策後に減少したが、\d+月\d+日から再び増加（対策前の水準の1\.\d倍）", alert.message)
    assert alert.observed == observed and alert.expected < alert.observed / 2
    assert not {a.key for a in alerts} & {"キャップ不良", "異物混入"}
    assert not any(a.key == "梱包不良" for a in replayed)   # before the return, nothing to report


def test_subject_series_adds_up_to_the_cases(fixture_store):
    weekly = recurrence.subject_series("cause", "異物混入", ALL, "week", store=fixture_store)
    monthly = recurrence.subject_series("cause", "異物混入", ALL, "month", store=fixture_store)
    assert weekly["件数"].sum() == monthly["件数"].sum() == 335
    assert (weekly["期間"].dt.day_of_week == 0).all()
    with pytest.raises(ValueError):
        recurrence.subject_series("customer", "x", store=fixture_store)


# -- the planted returning cause, repeat customer and countermeasures of both samples -----------

def test_planted_returning_cause_is_flagged(sample):
    store, manifest = sample
    planted = manifest["returning_cause"]
    key = canonical_cause(planted["cause"])
    fixed_on = date.fromisoformat(planted["countermeasure_date"])
    returns_from = date.fromisoformat(planted["returns_from"])
    with db.reader(store) as con:
        alerts = [a for a in ret.return_alerts(con) if a.dimension == "cause" and a.key == key]
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert abs((alert.since - returns_from).days) <= 10
    assert alert.since <= alert.detected_on <= alert.since + timedelta(days=31)
    assert f"{fixed_on.month}月{fixed_on.day}日の対策後に減少したが" in alert.message
    assert alert.observed > alert.expected


def test_planted_countermeasures_are_not_misjudged(sample):
    store, manifest = sample
    evaluations = ret.countermeasure_effects(ALL, store=store)
    for planted in manifest["effective_countermeasures"]:
        evaluation = by_target(evaluations, planted["target"])
        assert evaluation.match is not None and evaluation.verdict != "悪化", evaluation
    for planted in manifest["ineffective_countermeasures"]:
        evaluation = by_target(evaluations, planted["target"])
        assert evaluation.match is not None and evaluation.verdict != "効果あり", evaluation


def test_planted_repeat_customer_is_at_the_top(sample):
    store, manifest = sample
    planted = manifest["repeat_customer"]
    frame = recurrence.repeat_customers(ALL, store=store)
    top = frame.iloc[0]
    assert top["customer_key"] == planted["customer_id"]
    # The chain is one matter by theme or cause: the industry-agnostic taxonomy reads one planted
    # contact (送料無料のはずが送料を取られていた) as 価格・料金 rather than 請求・返金, so at most one
    # planted contact may fall outside the chain; none outside the plant may join it.
    assert set(top["case_ids"]) <= set(planted["case_ids"])
    assert planted["contacts"] - 1 <= top["回数"] <= planted["contacts"]
    assert frame["回数"].is_monotonic_decreasing


# -- repeat contacts on the fixture ---------------------------------------------------------------

def test_repeat_chains_follow_the_window(fixture_store):
    frame = recurrence.repeat_customers(ALL, store=fixture_store)
    assert list(frame["customer_key"][:2]) == ["KC9000001", "KC9000002"]
    assert list(frame["回数"][:2]) == [5, 3]
    assert "KC9000003" not in set(frame["customer_key"])          # 44 and 46 days apart: not a chain
    assert frame.iloc[0]["最大感情レベル"] >= 2                     # 消費者センターに相談します
    short = recurrence.repeat_customers(ALL, recurrence.RepeatOptions(window_days=10), store=fixture_store)
    assert "KC9000001" not in set(short["customer_key"])          # 12-13 days between its later contacts


def test_a_chain_reaching_into_the_period_counts_its_earlier_contacts(fixture_store):
    august = Filters(preset="custom", start=date(2025, 8, 10), end=date(2025, 8, 20))
    frame = recurrence.repeat_customers(august, store=fixture_store)
    assert list(frame["customer_key"]) == ["KC9000001"] and frame.iloc[0]["回数"] == 5
    june = Filters(preset="custom", start=date(2025, 6, 1), end=date(2025, 6, 10), products=(GREEN_TEA,))
    assert recurrence.repeat_customers(june, store=fixture_store).empty


def test_customer_timeline_shows_every_contact_as_text(fixture_store):
    timeline = recurrence.customer_timeline("KC9000001", store=fixture_store)
    assert len(timeline) == 5 and timeline["受付日時"].is_monotonic_increasing
    assert set(timeline["移管回数"]) == {1}
    assert timeline["問い合わせ内容"].iloc[3].startswith("何度も言っているのに")
    assert set(timeline["チャネル"]) == {"メール", "電話", "手紙"}


# -- near-duplicates --------------------------------------------------------------------------

def case_ids(store: Path, condition: str, params: list) -> set[str]:
    with db.reader(store) as con:
        return {r[0] for r in con.execute(f"SELECT case_id FROM cases WHERE {condition}", params).fetchall()}


def test_near_duplicates_group_rewordings_and_anonymous_reposts(fixture_store):
    result = recurrence.near_duplicates(ALL, store=fixture_store)
    groups = [set(part["ケース番号"]) for _, part in result.members.groupby("グループ")]
    reworded = case_ids(fixture_store, "customer_key = ?", ["KC9000010"])
    anonymous = case_ids(fixture_store, "customer_key IS NULL", [])
    unrelated = case_ids(fixture_store, "customer_key = ?", ["KC9000011"])
    two_people = case_ids(fixture_store, "customer_key IN ('KC9000020', 'KC9000021')", [])
    assert reworded in groups and anonymous in groups and len(anonymous) == 2
    grouped = set().union(*groups)
    assert not grouped & unrelated and not grouped & two_people
    assert result.deduplicated == result.cases - result.grouped_cases + result.groups
    assert result.cases == 1010 and result.deduplicated < result.cases
    assert "不明" in result.table.loc[result.table["チャネル"] == "SNS、Webフォーム", "顧客"].item()


def test_near_duplicate_thresholds_are_honoured(fixture_store):
    strict = recurrence.near_duplicates(ALL, recurrence.DuplicateOptions(anonymous_similarity=1.0, similarity=1.0),
                                        store=fixture_store)
    grouped = set(strict.members["ケース番号"])
    assert not grouped & case_ids(fixture_store, "customer_key IS NULL", [])   # near-identical, not identical
    narrow = recurrence.near_duplicates(Filters(preset="custom", start=date(2025, 8, 11), end=date(2025, 8, 31)),
                                        store=fixture_store)
    assert not set(narrow.members["ケース番号"]) & case_ids(fixture_store, "received_at < '2025-08-11'", [])


def test_placeholder_customer_ids_are_not_a_person(fixture_store, tmp_path):
    store = tmp_path / "copy.duckdb"
    shutil.copy(fixture_store, store)
    with db.writer(store) as con:   # an export that writes 0000 / 不明 where it knows no customer
        con.execute("UPDATE cases SET customer_key = '0000' WHERE customer_key = 'KC9000001'")
        con.execute("UPDATE cases SET customer_key = '不明' WHERE customer_key = 'KC9000010'")
        # A write changes the summaries in its transaction (as every load does): chains of these customers.
        summaries.refresh(con, "SELECT case_id FROM cases WHERE customer_key IN ('0000', '不明')")
    repeats = recurrence.repeat_customers(ALL, store=store)
    assert "0000" not in set(repeats["customer_key"]) and repeats.iloc[0]["customer_key"] == "KC9000002"
    groups = [set(part["ケース番号"]) for _, part in recurrence.near_duplicates(ALL, store=store).members.groupby("グループ")]
    # The rewording now counts as from unknown senders, who must write near-identically to be merged.
    assert case_ids(store, "customer_key = '不明'", []) not in groups
    assert case_ids(store, "customer_key IS NULL", []) in groups


# -- recurring causes -------------------------------------------------------------------------

def test_recurring_causes_rank_persistence_and_trend(fixture_store):
    result = recurrence.recurring_causes(ALL, store=fixture_store)
    table = result.table.set_index("原因")
    assert list(result.table["原因"][:4]) == ["異物混入", "梱包不良", "キャップ不良", "配送遅延"]
    assert len(result.months) == 11 and table.loc["異物混入", "発生月数"] == 11
    assert table.loc["異物混入", "月別件数"][0] == 31 and table.loc["異物混入", "件数"] == 335
    assert (table.loc["キャップ不良", "傾向"], table.loc["梱包不良", "傾向"], table.loc["異物混入", "傾向"]) == \
        ("減少", "増加", "横ばい")
    strict = recurrence.recurring_causes(ALL, recurrence.RecurringOptions(min_cases=20), store=fixture_store).table
    # At one case every fourth day after March, キャップ不良 has 20+ cases only in the five months before.
    assert strict.set_index("原因").loc["キャップ不良", "発生月数"] == 5


def test_recurring_causes_follow_filters_and_theme_fallback(fixture_store):
    tea = recurrence.recurring_causes(Filters(preset="all", products=(GREEN_TEA,)), store=fixture_store).table
    assert tea.set_index("原因").loc["異物混入", "件数"] < 335
    plain = recurrence.recurring_causes(ALL, store=fixture_store).table
    fallback = recurrence.recurring_causes(ALL, recurrence.RecurringOptions(theme_fallback=True),
                                           store=fixture_store).table
    assert set(plain["区分"]) == {"原因"}
    assert "テーマ" in set(fallback["区分"]) and len(fallback) > len(plain)


# -- recording a countermeasure -----------------------------------------------------------------

@pytest.mark.parametrize("day, target, description, words", [
    (None, "キャップ不良", "", "実施日"),
    (date(1900, 1, 1), "キャップ不良", "", "範囲外"),
    (date(2025, 4, 1), "  　 ", "", "対象が入力されていません"),
    (date(2025, 4, 1), "あ" * 101, "", "対象が長すぎます"),
    (date(2025, 4, 1), "キャップ不良", "あ" * 2001, "内容が長すぎます"),
])
def test_bad_countermeasure_entries_are_refused_in_japanese(fixture_store, tmp_path, day, target, description, words):
    store = tmp_path / "copy.duckdb"
    shutil.copy(fixture_store, store)
    with pytest.raises(KakehashiError) as refused:
        record_countermeasure(day, target, "製造部", description, store=store)
    assert words in refused.value.message_ja()
    assert len(recurrence.countermeasure_log(store=store)) == 6


def test_recorded_countermeasure_is_masked_listed_and_evaluated(fixture_store, tmp_path):
    store = tmp_path / "copy.duckdb"
    shutil.copy(fixture_store, store)
    version = db.store_version(store)
    assert record_countermeasure(date(2025, 6, 15), " 梱包不良 ", "物流部", "佐藤様の指摘。電話 03-1234-5678", store=store)
    assert not record_countermeasure(date(2025, 6, 15), "梱包不良", "物流部", "佐藤様の指摘。電話 03-1234-5678",
                                     store=store)
    assert db.store_version(store) != version
    log = recurrence.countermeasure_log(store=store)
    row = log[log["実施日"] == date(2025, 6, 15)].iloc[0]
    assert (row["対象"], row["評価した対象"], row["登録元"]) == ("梱包不良", "梱包不良（原因）", FORM_SOURCE)
    assert "03-1234" not in row["内容"] and "佐藤" not in row["内容"]
    with db.reader(store) as con:
        batches = con.execute("SELECT rows_read, rows_inserted, rows_unchanged FROM import_batches "
                              "WHERE file_name = ? ORDER BY batch_id", [FORM_SOURCE]).fetchall()
    assert batches == [(1, 1, 0), (1, 0, 1)]
    # The new countermeasure ends the horizon of the one of 3 March on the same cause.
    evaluations = ret.countermeasure_effects(ALL, store=store)
    assert not by_target(evaluations, "梱包不良").returned.current
    with db.reader(store) as con:
        assert not any(a.key == "梱包不良" and a.since == date(2025, 6, 1) for a in ret.return_alerts(con))


def test_a_countermeasure_from_the_page_is_written_by_a_job_in_a_child_process(fixture_store, tmp_path):
    store = tmp_path / "copy.duckdb"
    shutil.copy(fixture_store, store)
    assert runner.record_countermeasure(date(2025, 8, 1), "容器・包装", "品質保証部", "検品を強化", store=store,
                                      actor=access.LOCAL_USER)
    assert "容器・包装（テーマ）" in set(recurrence.countermeasure_log(store=store)["評価した対象"])
    with pytest.raises(KakehashiError, match="target is missing"):
        runner.record_countermeasure(date(2025, 8, 1), "", None, None, store=store, actor=access.LOCAL_USER)


# -- empty store and timings ------------------------------------------------------------------

def test_every_read_function_answers_on_an_empty_store(tmp_path):
    empty = tmp_path / "empty.duckdb"
    assert recurrence.data_status(store=empty).cases == 0
    assert ret.countermeasure_effects(store=empty) == []
    assert recurrence.recurring_causes(store=empty).table.empty
    assert recurrence.repeat_customers(store=empty).empty
    assert recurrence.near_duplicates(store=empty).cases == 0
    assert recurrence.countermeasure_log(store=empty).empty
    assert ret.target_choices(store=empty) == []
    assert recurrence.subject_series("cause", "x", store=empty).empty
    with db.reader(empty) as con:
        assert ret.return_alerts(con) == []
