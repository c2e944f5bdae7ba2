"""部門フロー (pipelines/reports/flow.py): holding times, stalls, ping-pong, the escalation check and the flow.

Small hand-built exports (tests/data/flow/) pin the exact numbers; the two generated samples check
that what was planted (data/sample/manifest.json and the second seed's manifest) is found.

The events fixture, hour by hour ("now" = the latest receipt, 2025-04-20 09:00; D = お客様相談室):
  F-001  D 3h → 品質保証部 48h → D 48h (until closed_at)
  F-002  D 1h → 物流部 24h 差戻し → D 4h → 物流部 48h 差し戻し → D 18h → 物流部 48h 回答 → D 49h
  F-003  D 1h → 営業部, open since 04-03 10:00                       (stalled 16.96 days)
  F-004  no events, open, 優先度 高, received 04-04 09:00             (stalled 16 days, never escalated)
  F-005  D 48h with an エスカレーション event after 1h, 優先度 高       (escalated in time)
  F-006  no events, received 04-20 09:00                              (open, new)
  F-007  D 48h → 法務部 24h, 優先度 高                                  (escalated 24h late)
  F-008  D 1h, closed, 優先度 高                                        (settled at the desk in time)
  F-009  no events, open, received 04-18 09:00, a lawyer threat        (emotion level 3, never escalated)
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.reports import flow
from pipelines.store import definitions
from pipelines.store.errors import KakehashiError
from pipelines.store.filters import Filters

FLOW = Path(__file__).resolve().parent / "data" / "flow"
ALL = Filters(preset="all")
DESK = "お客様相談室"


@pytest.fixture(scope="module")
def flow_store(tmp_path_factory) -> Path:
    """Cases + events fixture, loaded and analysed (F-009's emotion level comes from its text)."""
    from pipelines.analysis.analyze import analyze

    store = tmp_path_factory.mktemp("flow") / "store.duckdb"
    assert load_file(FLOW / "cases.csv", store, LoadOptions(workers=1)).status == "done"
    assert load_file(FLOW / "events.csv", store, LoadOptions(kind="events", workers=1)).status == "done"
    analyze(store, workers=1)
    return store


@pytest.fixture(scope="module")
def route_store(tmp_path_factory) -> Path:
    """A cases export whose 対応経路 column is the only record of hand-offs: no timestamps at all
    (R-005 has no route and no completion time, only the status 解決済み)."""
    store = tmp_path_factory.mktemp("flow-route") / "store.duckdb"
    assert load_file(FLOW / "route_cases.csv", store, LoadOptions(workers=1)).status == "done"
    return store


@pytest.fixture(scope="module")
def cases_only_store(tmp_path_factory) -> Path:
    """The same cases without the events export."""
    store = tmp_path_factory.mktemp("flow-cases") / "store.duckdb"
    assert load_file(FLOW / "cases.csv", store, LoadOptions(workers=1)).status == "done"
    return store


def by_department(frame: pd.DataFrame) -> dict[str, dict]:
    return {row["部署"]: row for row in frame.to_dict("records")}


# ---------------------------------------------------------------- holding times

@pytest.mark.parametrize("department, held, median, p90, timed, received, returned", [
    # desk holds: 3, 48 | 1, 4, 18, 49 | 1 | 48 | 48 | 1 → median (4+18)/2, p90 48 + 0.1 × (49 − 48)
    (DESK, 9, 11.0, 48.1, 10, 4, 0),
    ("品質保証部", 1, 48.0, 48.0, 1, 1, 0),
    ("物流部", 1, 48.0, 48.0, 3, 3, 2),          # 24, 48, 48; two of three hand-offs were sent back
    ("法務部", 1, 24.0, 24.0, 1, 1, 0),          # the last holder: until closed_at
    ("営業部", 1, None, None, 0, 1, 0),          # still holding F-003: no finished hold yet
])
def test_holding_times_per_department(flow_store, department, held, median, p90, timed, received, returned):
    row = by_department(flow.department_stats(ALL, store=flow_store))[department]
    assert row["担当件数"] == held
    if median is None:
        assert pd.isna(row["保持時間の中央値（時間）"]) and pd.isna(row["保持時間の90%点（時間）"])
    else:
        assert row["保持時間の中央値（時間）"] == pytest.approx(median)
        assert row["保持時間の90%点（時間）"] == pytest.approx(p90)
    assert row["時刻のある保持"] == timed
    assert row["受け取った移管"] == received
    assert row["差し戻し"] == returned


def test_open_cases_by_age_ignore_the_period(flow_store):
    # A period that holds none of the cases still shows who holds the open ones now.
    stats = by_department(flow.department_stats(Filters(preset="custom", start=date(2025, 4, 19),
                                                        end=date(2025, 4, 20)), store=flow_store))
    desk, sales = stats[DESK], stats["営業部"]
    assert (desk["未完了 〜3日"], desk["未完了 15〜30日"], desk["未完了計"]) == (2, 1, 3)  # F-006, F-009 | F-004
    assert (sales["未完了 15〜30日"], sales["未完了計"]) == (1, 1)                           # F-003, 17 days
    assert stats[DESK]["担当件数"] == 1   # only F-006 was received in that period


# ---------------------------------------------------------------- stalls

def test_stalls_list_holder_and_age(flow_store):
    result = flow.stalls(ALL, stall_days=7, store=flow_store)
    assert result.now == datetime(2025, 4, 20, 9, 0)
    cases = result.cases.set_index("ケース番号")
    assert list(cases.index) == ["F-003", "F-004"]           # longest without movement first
    assert cases.loc["F-003", "現在の担当"] == "営業部"
    assert cases.loc["F-003", "最後の動きから（日）"] == 17.0   # 04-03 10:00 → 04-20 09:00 = 16.96 days
    assert cases.loc["F-003", "担当になってから（日）"] == 17.0
    assert cases.loc["F-004", "現在の担当"] == DESK             # no events: its department since receipt
    assert cases.loc["F-004", "最後の動きから（日）"] == 16.0
    assert list(result.ranking["部署"]) == ["営業部", DESK]    # tie on count: the longer stall first
    assert list(result.ranking["滞留件数"]) == [1, 1]
    assert result.open_cases == 4 and result.unknown == 0


@pytest.mark.parametrize("days, expected", [(16, ["F-003", "F-004"]), (17, []), (1, ["F-003", "F-004", "F-009"])])
def test_stall_days_is_the_threshold(flow_store, days, expected):
    assert list(flow.stalls(ALL, stall_days=days, store=flow_store).cases["ケース番号"]) == expected


def test_stalls_as_of_a_past_day_see_only_what_had_happened(flow_store):
    # As of 04-07: F-006 and F-009 were not received yet, F-002 and F-007 were still open, and
    # F-007's hand-off on 04-08 had not happened (so it still sat at the desk since 04-06 09:00).
    result = flow.stalls(Filters(preset="all", as_of=date(2025, 4, 7)), stall_days=3, store=flow_store)
    assert result.open_cases == 4
    cases = result.cases.set_index("ケース番号")
    assert list(cases.index) == ["F-003", "F-004"]
    assert cases.loc["F-003", "最後の動きから（日）"] == 4.6
    assert cases.loc["F-004", "最後の動きから（日）"] == 3.6


# ---------------------------------------------------------------- ping-pong

def test_ping_pong_counts_bounces_and_the_loop_time(flow_store):
    result = flow.ping_pong(ALL, store=flow_store)
    assert list(result.cases["ケース番号"]) == ["F-002"]       # F-001's answer back to the desk is no bounce
    row = result.cases.iloc[0]
    assert row["往復した部署"] == f"{DESK} ⇄ 物流部"
    assert row["差し戻し回数"] == 2
    assert row["往復にかかった時間（時間）"] == 142.0          # 04-02 11:00 → 04-08 09:00, when 物流部 answered
    assert not row["往復中"]
    assert row["経路"] == "→".join([DESK, "物流部"] * 3 + [DESK])
    assert result.pairs.to_dict("records") == [{
        "往復した部署": f"{DESK} ⇄ 物流部", "ケース数": 1, "差し戻し回数": 2,
        "往復にかかった時間の中央値（時間）": 142.0, "往復にかかった時間の合計（時間）": 142.0}]


def test_ping_pong_still_running_counts_up_to_now(flow_store):
    result = flow.ping_pong(Filters(preset="all", as_of=date(2025, 4, 7)), store=flow_store)
    row = result.cases.iloc[0]
    assert row["ケース番号"] == "F-002" and row["往復中"]
    assert row["往復にかかった時間（時間）"] == 133.0         # 04-02 11:00 → 04-07 23:59:59


# ---------------------------------------------------------------- escalation

@pytest.mark.parametrize("from_department, to_department, action, escalation", [
    (DESK, "品質保証部", "移管", True),               # a hand-off away from the receiving desk
    ("カスタマーセンター", "法務部", None, True),
    ("品質保証部", DESK, "回答", False),              # an answer back to the desk
    (DESK, "カスタマーセンター", "移管", False),      # desk to desk
    (DESK, DESK, "完了", False),
    (DESK, None, "エスカレーション依頼", True),       # the action says so, wherever it happens
    ("品質保証部", "品質保証部", "上申", True),
    ("営業部", "法務部", "メール転送", True),
    ("営業部", "法務部", "移管", False),              # between two back offices: not from the desk
])
def test_escalation_definition(from_department, to_department, action, escalation):
    condition, params = definitions.escalation_sql("e")
    con = duckdb.connect()
    con.execute("CREATE TABLE case_events (case_id VARCHAR, from_department VARCHAR, to_department VARCHAR, "
                "action VARCHAR, \"at\" TIMESTAMP)")
    con.execute("INSERT INTO case_events VALUES ('C', ?, ?, ?, NULL)", [from_department, to_department, action])
    assert con.execute(f"SELECT {condition} FROM case_events e", params).fetchone()[0] is escalation


def test_escalated_cases_sql_gives_each_case_its_first_escalation(flow_store):
    sql, params = definitions.escalated_cases_sql()
    with duckdb.connect(str(flow_store), read_only=True) as con:
        rows = dict(con.execute(f"SELECT case_id, escalated_at FROM ({sql})", params).fetchall())
    assert rows == {"F-001": datetime(2025, 4, 1, 12), "F-002": datetime(2025, 4, 2, 11),
                    "F-003": datetime(2025, 4, 3, 10), "F-005": datetime(2025, 4, 5, 10),
                    "F-007": datetime(2025, 4, 8, 9)}


def test_escalation_check_lists_severe_cases_left_waiting(flow_store):
    result = flow.escalation_check(ALL, store=flow_store)
    listed = result.cases.set_index("ケース番号")
    assert list(listed.index) == ["F-004", "F-007", "F-009"]   # longest wait first
    assert listed.loc["F-004", "状態"] == flow.VERDICT_LABELS["waiting"]
    assert listed.loc["F-004", "待ち時間（時間）"] == 384.0     # open since 04-04 09:00, priority 高
    assert listed.loc["F-007", "状態"] == flow.VERDICT_LABELS["late"]
    assert listed.loc["F-007", "待ち時間（時間）"] == 48.0
    assert listed.loc["F-009", "感情レベル"] == 3                # severe by its words alone (priority 低)
    assert listed.loc["F-009", "待ち時間（時間）"] == 48.0
    assert (result.in_time, result.resolved, result.not_due, result.untimed) == (1, 1, 0, 0)  # F-005 | F-008
    assert result.severe == 5


def test_escalation_check_by_level_only_and_a_longer_limit(flow_store):
    by_level = flow.escalation_check(ALL, include_signals=False, store=flow_store)
    assert list(by_level.cases["ケース番号"]) == ["F-009"]
    # With 72 hours allowed, F-007 (escalated after 48 h) and F-009 (48 h old) are fine.
    relaxed = flow.escalation_check(ALL, within_hours=72, store=flow_store)
    assert list(relaxed.cases["ケース番号"]) == ["F-004"]
    assert relaxed.not_due == 1


def test_escalations_per_theme_count_each_case_once_per_theme(flow_store):
    themes = flow.escalation_check(ALL, store=flow_store).by_theme
    assert themes["ケース数"].sum() >= 9
    assert ((themes["エスカレーション件数"] <= themes["ケース数"]) & themes["エスカレーション率"].between(0, 1)).all()


# ---------------------------------------------------------------- the Sankey

def links_of(frame: pd.DataFrame) -> set[tuple]:
    columns = ["source_stage", "source", "target_stage", "target", "cases"]
    return {tuple(row) for row in frame[columns].itertuples(index=False)}


def test_sankey_paths_and_outcomes(flow_store):
    links = flow.sankey_links(ALL, store=flow_store)
    outcome = len(flow.sankey_stages()) - 1
    into_outcome = links[links["target_stage"] == outcome].groupby("target")["cases"].sum().to_dict()
    assert into_outcome == {"完了": 5, "未完了": 4}
    assert links[links["source_stage"] == 0]["cases"].sum() == 9   # every case enters once


def test_sankey_cause_filter_and_the_hop_limit(flow_store):
    assert "誤配送" in flow.cause_options(store=flow_store)
    bounced = flow.sankey_links(ALL, cause="誤配送", store=flow_store)   # F-002 only
    assert links_of(bounced) == {(0, "メール", 1, DESK, 1), (1, DESK, 2, "物流部", 1), (2, "物流部", 3, DESK, 1),
                                 (3, DESK, 4, "物流部", 1), (4, "物流部", 5, flow.MORE_HOPS, 1),
                                 (5, flow.MORE_HOPS, 6, "完了", 1)}
    full = flow.sankey_links(ALL, cause="誤配送", max_hops=6, store=flow_store)
    assert flow.MORE_HOPS not in set(full["target"]) and full["cases"].eq(1).all() and len(full) == 8


# ---------------------------------------------------------------- exports without timed events

def test_route_column_feeds_flows_and_counts_but_no_times(route_store):
    coverage = flow.coverage(ALL, store=route_store)
    assert (coverage.route_cases, coverage.no_event_cases, coverage.timed_cases) == (3, 2, 0)
    assert not coverage.events_known
    assert set(coverage.untimed_departments) == {DESK, "品質保証部", "製造部", "物流部", "営業部", "法務部"}
    stats = by_department(flow.department_stats(ALL, store=route_store))
    assert stats["製造部"]["担当件数"] == 1 and stats["物流部"]["受け取った移管"] == 2
    assert all(pd.isna(row["保持時間の中央値（時間）"]) for row in stats.values())
    assert links_of(flow.sankey_links(ALL, store=route_store)) >= {
        (0, "電話", 1, DESK, 1), (1, DESK, 2, "品質保証部", 1), (2, "品質保証部", 3, "製造部", 1), (3, "製造部", 6, "完了", 1),
        (0, "手紙", 1, DESK, 1), (1, DESK, 6, "完了", 1)}              # done by its status word alone
    stalls = flow.stalls(ALL, store=route_store)
    assert stalls.cases.empty and (stalls.open_cases, stalls.unknown) == (2, 2)   # no dates
    bounced = flow.ping_pong(ALL, store=route_store).cases
    assert list(bounced["ケース番号"]) == ["R-002"] and bounced.iloc[0]["差し戻し回数"] == 1
    assert pd.isna(bounced.iloc[0]["往復にかかった時間（時間）"])
    check = flow.escalation_check(ALL, store=route_store)                          # 優先度 高
    assert check.cases.empty and check.untimed == 1


def test_cases_without_any_events_show_holders_and_ages_only(cases_only_store):
    coverage = flow.coverage(ALL, store=cases_only_store)
    assert (coverage.no_event_cases, coverage.events_known) == (9, False)
    stalls = flow.stalls(ALL, store=cases_only_store)
    assert stalls.cases.empty and stalls.unknown == 4           # no record says when they last moved
    stats = by_department(flow.department_stats(ALL, store=cases_only_store))
    assert (stats[DESK]["未完了計"], stats["営業部"]["未完了計"]) == (3, 1)
    assert stats["法務部"]["担当件数"] == 1                       # F-007 by its department column


def test_empty_store_gives_empty_results(tmp_path):
    store = tmp_path / "empty.duckdb"
    assert flow.sankey_links(ALL, store=store).empty
    assert flow.department_stats(ALL, store=store).empty
    assert flow.stalls(ALL, store=store).cases.empty
    assert flow.ping_pong(ALL, store=store).cases.empty
    assert flow.escalation_check(ALL, store=store).cases.empty
    assert flow.theme_department_matrix(ALL, store=store).empty
    assert flow.coverage(ALL, store=store).cases == 0


@pytest.mark.parametrize("call, words", [
    (lambda s: flow.stalls(ALL, stall_days=0, store=s), "日数"),
    (lambda s: flow.escalation_check(ALL, min_level=5, store=s), "感情レベル"),
    (lambda s: flow.escalation_check(ALL, within_hours=0, store=s), "期限"),
    (lambda s: flow.sankey_links(ALL, max_hops=0, store=s), "移管の回数"),
])
def test_bad_options_are_refused_in_japanese(flow_store, call, words):
    with pytest.raises(KakehashiError) as error:
        call(flow_store)
    assert words in error.value.message_ja()


def test_matrix_counts_and_times_per_theme_and_department(flow_store):
    matrix = flow.theme_department_matrix(ALL, store=flow_store)
    assert set(matrix["部署"]) == {DESK, "品質保証部", "物流部", "営業部", "法務部"}
    assert matrix.groupby("部署")["件数"].max()[DESK] <= 9
    logistics = matrix[matrix["部署"] == "物流部"]
    assert logistics["保持時間の中央値（時間）"].iloc[0] == pytest.approx(48.0)   # F-002's three holds


# ---------------------------------------------------------------- the generated samples

@pytest.fixture(params=["sample_store", "second_sample"])
def sample(request) -> tuple[Path, dict]:
    import json

    from pipelines.store.settings import SAMPLE_DIR

    if request.param == "sample_store":
        return request.getfixturevalue("sample_store"), json.loads(
            (SAMPLE_DIR / "manifest.json").read_text(encoding="utf-8"))
    return request.getfixturevalue("second_sample")


def test_planted_slow_department_tops_the_stall_ranking(sample):
    store, manifest = sample
    slow = manifest["slow_department"]
    result = flow.stalls(Filters(), store=store)       # the period does not hide old stalls
    assert result.ranking.iloc[0]["部署"] == slow
    stalled = result.cases.set_index("ケース番号")
    planted = manifest["slow_department_detail"]["stalled_case_ids"]
    assert set(planted) <= set(stalled.index)
    assert (stalled.loc[planted, "現在の担当"] == slow).all()


def test_holding_times_match_the_generator(sample):
    store, manifest = sample
    stats = by_department(flow.department_stats(ALL, store=store))
    for department, hours in manifest["slow_department_detail"]["median_hold_hours"].items():
        assert stats[department]["保持時間の中央値（時間）"] == pytest.approx(hours, abs=0.06), department


def test_planted_ping_pong_cases_are_found(sample):
    store, manifest = sample
    found = flow.ping_pong(ALL, store=store).cases
    planted = set(manifest["ping_pong"]["case_ids"])
    assert planted <= set(found["ケース番号"])
    # Nothing else: in the generated data, every back-and-forth is a planted one.
    assert set(found["ケース番号"]) == planted
    assert (found["差し戻し回数"] >= 1).all()


def test_planted_unescalated_severe_cases_are_listed_and_the_rest_is_legitimate(sample):
    store, manifest = sample
    result = flow.escalation_check(ALL, store=store)
    listed = result.cases.set_index("ケース番号")
    planted = manifest["unescalated_severe"]["case_ids"]
    assert set(planted) <= set(listed.index)
    assert set(listed.loc[planted, "状態"]) <= {flow.VERDICT_LABELS["waiting"], flow.VERDICT_LABELS["closed_without"]}
    # Everything else listed really is severe and really sat past the limit without an escalation:
    # checked here against the raw events, independently of the check's own SQL.
    with duckdb.connect(str(store), read_only=True) as con:
        facts = con.execute("""
            SELECT c.case_id, s.emotion_level, c.priority, c.received_at, c.closed_at,
                   list_has_any(list_transform(s.reasons, lambda r: regexp_extract(r, ': (.+)$', 1)),
                                ['責任者の要求', '公開の予告']) AS demanded,
                   (SELECT min(e."at") FROM case_events e WHERE e.case_id = c.case_id
                       AND ((e.from_department = ? AND e.to_department <> e.from_department)
                            OR e.action LIKE '%エスカレ%')) AS escalated_at
            FROM cases c LEFT JOIN case_scores s USING (case_id)
            WHERE list_contains(?, c.case_id)""", [manifest["receiving_desk"], list(listed.index)]).df()
    deadline = facts["received_at"] + pd.Timedelta(hours=24)
    assert ((facts["emotion_level"] >= 3) | (facts["priority"] == "高") | facts["demanded"]).all()
    assert (facts["escalated_at"].isna() | (facts["escalated_at"] > deadline)).all()
    assert (facts["closed_at"].isna() | (facts["closed_at"] > deadline)).all()
