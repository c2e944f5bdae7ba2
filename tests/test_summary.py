"""経営サマリー: KPI definitions on a hand-built store, rising items, the priority ranking, and the
planted spike of two generated data sets."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.detect.alert import Alert
from pipelines.reports import summary
from pipelines.store import db, definitions, summaries
from pipelines.store.filters import Filters

T = datetime.fromisoformat

# (case_id, received_at, closed_at, status, product, channel, customer)
CASES = [
    ("A1", "2025-03-02 09:00", "2025-03-04 09:00", "完了", "緑茶", "電話", "K1"),
    ("A2", "2025-03-05 10:00", "2025-03-06 10:00", "完了", "緑茶", "メール", "K2"),
    ("A3", "2025-03-10 11:00", None, "対応中", "餃子", "電話", "K3"),
    ("A4", "2025-03-12 12:00", None, " Closed ", "餃子", "電話", "K4"),   # status says done, no time
    ("A5", "2025-03-20 13:00", "2025-03-30 13:00", "完了", "緑茶", "電話", "K1"),  # closed after 基準日
    ("A6", "2025-03-25 09:00", "2025-03-25 12:00", "完了", "緑茶", "メール", "K5"),
    ("B1", "2025-02-03 09:00", "2025-02-05 09:00", "完了", "緑茶", "電話", "K6"),
    ("B2", "2025-02-10 09:00", "2025-02-11 09:00", "完了", "餃子", "電話", "K7"),
    ("C1", "2025-01-15 09:00", "2025-01-16 09:00", "完了", "餃子", "電話", "K8"),
]
THEMES = [("packaging", "容器・包装"), ("delivery", "配送"), ("taste", "味・風味")]
CASE_THEMES = [("A1", "packaging"), ("A3", "delivery"), ("A4", "taste"), ("A5", "packaging"), ("B1", "packaging"),
               ("B2", "delivery"), ("C1", "delivery")]
# (case_id, cause, source): A6's desk-recorded cause replaces its extracted one.
CASE_CAUSES = [("A1", "梱包不良", "extracted"), ("A2", "新原因", "extracted"), ("A5", "梱包不良", "extracted"),
               ("A6", "キャップ不良", "export"), ("A6", "梱包不良", "extracted"), ("B1", "梱包不良", "extracted")]
LEVELS = {"A1": 2, "A2": 3, "A3": 0, "A4": 1, "A5": 0, "A6": 1, "B1": 2, "B2": 0, "C1": 0}
# (case_id, seq, from, to, action)
EVENTS = [("A1", 1, "お客様相談室", "品質保証部", "移管"),          # out of the desk: escalated
          ("A3", 1, "品質保証部", "品質保証部", "上申"),            # escalation action
          ("A4", 1, "お客様相談室", "お客様相談室", "完了"),        # stays at the desk
          ("A6", 1, "お客様相談室", None, "回答"),                  # no destination: not a hand-off
          ("B1", 1, "お客様相談室", "製造部", "移管")]


def build_store(path: Path, cases=CASES, case_themes=CASE_THEMES, case_causes=CASE_CAUSES, levels=LEVELS,
                events=EVENTS, themes=THEMES) -> Path:
    """A store written row by row, where every KPI can be worked out by hand."""
    with db.writer(path) as con:
        con.executemany("INSERT INTO cases (case_id, received_at, closed_at, status, product, channel, customer_key, "
                        "department, text) VALUES (?, ?, ?, ?, ?, ?, ?, 'お客様相談室', ?)",
                        [(cid, T(rec), T(closed) if closed else None, status, product, channel, customer,
                          f"{cid} のお問い合わせ") for cid, rec, closed, status, product, channel, customer in cases])
        rows = {
            "INSERT INTO themes VALUES (?, ?, '#123456', ?)": [(tid, name, i) for i, (tid, name) in enumerate(themes)],
            "INSERT INTO case_themes VALUES (?, ?, ['根拠'])": case_themes,
            "INSERT INTO case_causes VALUES (?, ?, ?, ['根拠'])": case_causes,
            "INSERT INTO case_scores VALUES (?, ?, [], [], 0)": list(levels.items()),
            "INSERT INTO case_events (case_id, seq, from_department, to_department, action, source) "
            "VALUES (?, ?, ?, ?, ?, 'events')": events,
        }
        for statement, values in rows.items():
            if values:
                con.executemany(statement, values)
        summaries.rebuild(con)   # rows written by hand: the summaries a real write keeps, from scratch
        db.bump_version(con)
    return path


AS_OF = Filters(as_of=date(2025, 3, 28))    # 直近4週: 3/1–3/28 against 2/1–2/28


@pytest.fixture
def hand_store(tmp_path) -> Path:
    return build_store(tmp_path / "hand.duckdb")


def test_kpis_match_hand_counts(hand_store):
    k = summary.kpis(AS_OF, store=hand_store)
    assert (k.period.start, k.period.end) == (T("2025-03-01 00:00"), T("2025-03-29 00:00"))
    now = k.current
    assert now.cases == 6
    # Closed by the 基準日: A1 2 days, A2 1 day, A6 3 hours (A5 closed after it, A4 has no time).
    assert now.closed == 3
    assert now.mean_days == pytest.approx((2 + 1 + 0.125) / 3)
    assert now.median_days == pytest.approx(1.0)
    assert now.open_cases == 2                  # A3 (対応中) and A5 (closed only after the 基準日)
    # 再発件数 counts causes that persist and rise over months (summary.recurring_list): three months
    # of data give no trend yet, and no countermeasure is recorded.
    assert now.recurring == 0
    assert now.severe == 2                      # A1 (2), A2 (3)
    assert now.escalated == 2 and now.escalation_rate == pytest.approx(2 / 6)   # A1 (hand-off), A3 (上申)
    before = k.previous
    assert (before.cases, before.closed, before.open_cases, before.severe, before.escalated) == (2, 2, 0, 1, 1)
    assert before.mean_days == pytest.approx(1.5)
    assert k.change == pytest.approx(6 / 2 - 1) and k.comparison == "前4週比"


def test_without_as_of_later_closures_count(hand_store):
    """Without a 基準日 the store's latest knowledge is used: A5 is closed (10 days)."""
    k = summary.kpis(Filters(preset="custom", start=date(2025, 3, 1), end=date(2025, 3, 28)), store=hand_store)
    assert k.current.cases == 6 and k.current.open_cases == 1 and k.current.closed == 4
    assert k.current.mean_days == pytest.approx((2 + 1 + 10 + 0.125) / 4)


def test_kpis_follow_the_shared_filters(hand_store):
    k = summary.kpis(replace(AS_OF, channels=("メール",)), store=hand_store)
    assert (k.current.cases, k.current.escalated, k.current.severe) == (2, 0, 1)      # A2, A6
    k = summary.kpis(replace(AS_OF, themes=("packaging",)), store=hand_store)
    assert (k.current.cases, k.previous.cases) == (2, 1)                              # A1, A5 / B1


def test_previous_period_without_data_has_no_change(hand_store):
    k = summary.kpis(Filters(preset="all"), store=hand_store)
    assert k.current.cases == len(CASES)
    assert k.previous.cases == 0 and k.change is None and k.previous_coverage == 0.0


def test_empty_store_reads_as_zero(tmp_path):
    k = summary.kpis(Filters(), store=tmp_path / "empty.duckdb")
    assert k.current.cases == 0 and k.current.mean_days is None and k.current.escalation_rate is None
    home = summary.home(Filters(), store=tmp_path / "empty.duckdb")
    assert home.priorities.empty and home.rising_themes.empty and home.weekly.empty


def _rising_store(path: Path) -> Path:
    """Theme 容器・包装 jumps 4 → 24 cases, 配送 stays at 30, 味・風味 goes 1 → 4 (too few to rank)."""
    cases, themes, levels = [], [], {}
    plan = {"packaging": (4, 24), "delivery": (30, 30), "taste": (1, 4)}
    for theme, (before, now) in plan.items():
        for n in range(before + now):
            current = n >= before
            cid = f"{theme}-{n}"
            day = T("2025-03-01 09:00" if current else "2025-02-01 09:00") + timedelta(days=n % 28)
            cases.append((cid, day.isoformat(sep=" "), None, "対応中", "緑茶", "電話", None))
            themes.append((cid, theme))
            levels[cid] = 2 if (theme == "delivery" and n % 2) else 1
    return build_store(path, cases=cases, case_themes=themes, case_causes=[], levels=levels, events=[])


def test_rising_orders_by_clear_growth_and_ignores_tiny_series(tmp_path):
    store = _rising_store(tmp_path / "rising.duckdb")
    rising = summary.rising(AS_OF, "theme", store=store)
    assert list(rising["name"]) == ["容器・包装"]          # 配送 flat, 味・風味 below MIN_CASES
    assert (rising.loc[0, "cases"], rising.loc[0, "previous"]) == (24, 4)
    assert rising.loc[0, "change"] == pytest.approx(5.0)
    assert list(summary.rising(AS_OF, "theme", min_cases=3, store=store)["name"]) == ["容器・包装", "味・風味"]
    with pytest.raises(ValueError):
        summary.rising(AS_OF, "channel", store=store)


def test_priority_ranking_is_explained_and_alerts_count(tmp_path):
    store = _rising_store(tmp_path / "rising.duckdb")
    ranking = summary.priorities(AS_OF, store=store)
    first = ranking.iloc[0]
    assert (first["dimension"], first["name"]) == ("theme", "容器・包装")
    assert first["reason"].startswith("容器・包装：前4週比 +500%（4→24件）")
    parts = ["growth_points", "alert_points", "volume_points", "severity_points", "repeat_points"]
    assert (ranking[parts].sum(axis=1).round(1) == ranking["score"]).all()
    assert ranking["score"].is_monotonic_decreasing and list(ranking["rank"]) == list(range(1, len(ranking) + 1))
    # An active alert on 配送 adds its points and its words to the reason.
    alert = Alert("spike", "theme", "delivery", "配送", "day", date(2025, 3, 20), date(2025, 3, 21), 12, 3.0,
                  score=5.0)
    with_alert = summary.priorities(AS_OF, alerts=(alert,), store=store).set_index("key")
    assert with_alert.loc["delivery", "alert_points"] == summary.PriorityWeights().alert
    assert with_alert.loc["delivery", "score"] > ranking.set_index("key").loc["delivery", "score"]
    assert "3月20日から急増" in with_alert.loc["delivery", "reason"]
    assert "横ばい" in with_alert.loc["delivery", "reason"]
    # The store's one product holds every case: it is the KPI itself, not an item to act on.
    assert "緑茶" not in set(ranking["name"])


def test_praise_and_plain_questions_stay_off_the_ranking(tmp_path):
    praise = [(f"P{n}", f"2025-03-{n + 1:02d} 09:00", None, "完了", "緑茶", "電話", None) for n in range(20)]
    earlier = ("E1", "2025-01-10 09:00", None, "完了", "緑茶", "電話", None)   # data before the previous period
    store = build_store(tmp_path / "praise.duckdb", cases=[*praise, earlier],
                        case_themes=[(c[0], "taste") for c in praise], case_causes=[],
                        levels={c[0]: 0 for c in [*praise, earlier]}, events=[])
    assert summary.priorities(AS_OF, store=store).empty
    assert list(summary.rising(AS_OF, "theme", store=store)["name"]) == ["味・風味"]


def test_escalation_definition_is_the_flow_one(hand_store):
    """One definition (definitions.escalation_sql) for the summary's rate and the flow page."""

    sql, params = definitions.escalated_cases_sql()
    with db.reader(hand_store) as con:
        ids = sorted(r[0] for r in con.execute(f"SELECT case_id FROM ({sql})", params).fetchall())
    assert ids == ["A1", "A3", "B1"]


def _spike_filters(manifest: dict) -> tuple[Filters, dict]:
    spike = manifest["spike"]
    start, end = date.fromisoformat(spike["start"]), date.fromisoformat(spike["end"])
    return Filters(as_of=min(start + timedelta(days=7), end)), spike


def _spike_at_top(ranking, spike: dict, top: int = 3) -> bool:
    names = set(ranking.head(top)["name"])
    return bool(names & {spike["theme"], spike["cause"], spike["product"]})


def test_planted_spike_tops_the_priority_ranking(sample_store):
    manifest = json.loads((Path(__file__).resolve().parent.parent / "data/sample/manifest.json").read_text("utf-8"))
    filters, spike = _spike_filters(manifest)
    home = summary.home(filters, store=sample_store)     # without alerts: the numbers alone
    assert _spike_at_top(home.priorities, spike), home.priorities[["name", "score"]]
    top = home.priorities.iloc[0]
    assert "前4週比 +" in top["reason"] and top["score"] > home.priorities.iloc[-1]["score"]
    assert spike["theme"] in set(home.rising_themes["name"])
    assert spike["cause"] in set(home.rising_causes["name"])
