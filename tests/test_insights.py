"""The flow and customer detectors (pipelines/detect: bottleneck, repeats, escalation) on two
generated data sets with planted signals (seeds 7 and 11, each with its ground truth), and 経営サマリー
raising each signal within its window with no filter change — only the 基準日 set to a day in it."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from pipelines.detect import bottleneck, escalation, insights, repeats, returns
from pipelines.detect.insight import WINDOW_DAYS
from pipelines.reports import summary
from pipelines.store import db
from pipelines.store.filters import Filters

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "data" / "sample" / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(params=["sample", "second"])
def planted(request, sample_store, second_sample) -> tuple[Path, dict]:
    return (sample_store, MANIFEST) if request.param == "sample" else second_sample


def _received(store: Path, case_ids: list[str]) -> list[date]:
    with db.reader(store) as con:
        rows = con.execute("SELECT received_at FROM cases WHERE list_contains(?, case_id) ORDER BY received_at",
                           [case_ids]).fetchall()
    return [r[0].date() for r in rows]


def test_the_slow_department_is_the_one_bottleneck(planted):
    store, manifest = planted
    start, end = date.fromisoformat(manifest["start"]), date.fromisoformat(manifest["end"])
    slow = manifest["slow_department"]
    with db.reader(store) as con:
        for as_of in (start + timedelta(days=100), start + timedelta(days=300), end):
            found = bottleneck.detect(con, Filters(as_of=as_of))
            assert [i.subject for i in found] == [slow], (as_of, [i.message for i in found])
            signal = found[0]
            # Named with its figure and the gap to the rest, in days.
            assert signal.figure("median_days") >= bottleneck.HOLD_RATIO * signal.figure("others_median_days")
            assert f"中央値 {signal.figure('median_days'):.1f}日" in signal.message and "他部署は" in signal.message


def test_the_repeat_customer_is_found_while_the_chain_runs(planted):
    store, manifest = planted
    planted_chain = manifest["repeat_customer"]
    days = _received(store, planted_chain["case_ids"])
    with db.reader(store) as con:
        third, last = days[2], days[-1]
        for as_of in (third, last, last + timedelta(days=WINDOW_DAYS - 1)):
            found = {i.subject: i for i in repeats.detect(con, Filters(as_of=as_of))}
            assert planted_chain["customer_id"] in found, (as_of, list(found))
        at_last = {i.subject: i for i in repeats.detect(con, Filters(as_of=last))}[planted_chain["customer_id"]]
        # The chain is followed on one cause or theme: a contact the tagger read otherwise drops out.
        assert repeats.MIN_CONTACTS <= at_last.figure("contacts") <= planted_chain["contacts"]
        assert set(at_last.case_ids) <= set(planted_chain["case_ids"]) and len(at_last.case_ids) == at_last.cases
        assert f"顧客ID {planted_chain['customer_id']}" in at_last.message
        # The window has moved past the chain: no longer a signal.
        later = repeats.detect(con, Filters(as_of=last + timedelta(days=WINDOW_DAYS + 1)))
        assert planted_chain["customer_id"] not in {i.subject for i in later}


def test_a_chain_that_began_before_the_window_counts_whole(sample_store):
    chain = MANIFEST["repeat_customer"]
    last = _received(sample_store, chain["case_ids"])[-1]
    with db.reader(sample_store) as con:
        signal = {i.subject: i for i in repeats.detect(con, Filters(as_of=last))}[chain["customer_id"]]
    assert signal.figure("in_window") < signal.figure("contacts")
    assert "最初は" in signal.message


def test_every_unescalated_severe_case_is_raised_within_its_window(planted):
    store, manifest = planted
    case_ids = manifest["unescalated_severe"]["case_ids"]
    with db.reader(store) as con:
        rows = con.execute("SELECT case_id, received_at FROM cases WHERE list_contains(?, case_id)",
                           [case_ids]).fetchall()
        for case_id, received in rows:
            for lag in (2, WINDOW_DAYS - 2):
                found = escalation.detect(con, Filters(as_of=received.date() + timedelta(days=lag)))
                assert found and case_id in found[0].case_ids, (case_id, lag)
                assert found[0].figure("gaps") == found[0].cases >= 1


def test_escalation_pattern_names_the_group_that_stands_out():
    """A channel holding most gaps at a far higher rate than the rest is named, with its holder."""
    gap = escalation.Gap
    severe = ([gap(f"S{i}", "waiting", "お客様相談室", "店頭", None, None, ()) for i in range(14)]
              + [gap(f"T{i}", "in_time", "品質保証部", "電話", None, None, ()) for i in range(30)]
              + [gap("U1", "late", "品質保証部", "電話", None, None, ())])
    gaps = [g for g in severe if g.verdict in escalation.GAP_VERDICTS]
    assert escalation.pattern(severe, gaps) == ("channel", "店頭", 14, 14)
    assert escalation.pattern(severe, gaps[-1:]) is None      # one gap: nothing stands out


def test_insights_follow_the_filters(sample_store):
    as_of = date.fromisoformat(MANIFEST["end"])
    everything = insights.current(Filters(as_of=as_of), store=sample_store)
    other_departments = [d for d in MANIFEST["departments"] if d != MANIFEST["slow_department"]]
    narrowed = insights.current(Filters(as_of=as_of, departments=tuple(other_departments[:1])), store=sample_store)
    assert any(i.kind == "bottleneck" for i in everything)
    assert sum(i.cases for i in narrowed) < sum(i.cases for i in everything)


def test_signals_join_the_priority_list_with_their_own_score_part(sample_store):
    chain = MANIFEST["repeat_customer"]
    filters = Filters(as_of=_received(sample_store, chain["case_ids"])[-1])
    found = insights.current(filters, store=sample_store)
    ranking = summary.home(filters, (), store=sample_store, insights=tuple(found)).priorities
    signals = ranking[ranking["dimension"].isin(["bottleneck", "repeat", "escalation"])]
    assert set(signals["dimension"]) == {"bottleneck", "repeat", "escalation"}
    for row in signals.itertuples():
        assert getattr(row, f"{row.dimension}_points") == row.score > 0     # its own part is its score
        assert row.growth_points == row.alert_points == 0 and row.case_ids
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1))
    assert ranking["score"].is_monotonic_decreasing


@pytest.mark.parametrize("data_set", ["sample", "second"])
def test_every_planted_signal_reaches_the_summary(data_set, sample_store, second_sample, open_page):
    """Only the 基準日 changes (a day inside each signal's window); the period stays 直近4週."""
    store, manifest = (sample_store, MANIFEST) if data_set == "sample" else second_sample
    chain = manifest["repeat_customer"]
    as_of = _received(store, chain["case_ids"])[-1].isoformat()
    at = open_page(store, as_of=as_of)
    ranking = [t.value for t in at.text if t.value.split(". ")[0].isdigit()]
    assert any(f"顧客ID {chain['customer_id']}" in r for r in ranking), ranking
    assert any(r.split(". ", 1)[1].startswith(f"{manifest['slow_department']}で案件が滞って") for r in ranking), ranking
    assert any("高重度ケース" in r for r in ranking), ranking
    captions = {c.value for c in at.caption}
    assert {"部署の滞留", "繰り返しの問い合わせ", "エスカレーション漏れ"} <= {c.split("・")[0] for c in captions}
    # Each signal links to exactly its cases; the customer's link opens the planted chain.
    links = [parse_qs(link.proto.query_string) for link in at.get("page_link")]
    chains = [q for q in links if q.get("ids") and set(q["ids"][0].split(",")) <= set(chain["case_ids"])]
    assert chains and chains[0]["as_of"] == [as_of]

    # The return after its countermeasure, inside its window.
    back = date.fromisoformat(manifest["returning_cause"]["returns_from"]) + timedelta(days=20)
    at = open_page(store, as_of=back.isoformat())
    ranking = [t.value for t in at.text if t.value.split(". ")[0].isdigit()]
    with db.reader(store) as con:   # the planted target as the store names it (二重請求 → 請求誤り)
        _, target = returns.match_target(con, manifest["returning_cause"]["cause"])
    assert any(r.split(". ", 1)[1].startswith(f"{target}：") and "対策後の再発" in r for r in ranking), ranking
