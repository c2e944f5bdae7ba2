"""The sample generator: deterministic files whose planted patterns match manifest.json."""
from __future__ import annotations

import csv
import json
import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path

import pytest

from devtools.sample import CASE_COLUMNS, COUNTERMEASURE_COLUMNS, EVENT_COLUMNS, generate, main

SEED, N_CASES = 11, 3000
DESK = "お客様相談室"
TIME_FORMAT = "%Y/%m/%d %H:%M"
SEVERE_CUES = re.compile(r"責任者|上の人|上長|社長|弁護士|訴え|訴訟|出るところ|出るとこ|法的措置|消費生活センター|消費者センター|"
                         r"SNS|ネットに|保健所|土下座|謝りに来|謝罪に来")
# What a customer writes when the returning cause is the problem (the cause must be readable from texts).
CAUSE_CUES = {
    "キャップ不良": r"キャップ|ｷｬｯﾌﾟ",
    "梱包不良": r"箱|段ボール|ダンボール|梱包|緩衝材",
    "配送遅延": r"届|来ない|来なかった|遅れ|追跡|発送|まだ|間に合|準備中",
    "誤配送": r"誤配送|違う|頼んでいない|他の人|他人|足りな|しか入|別の|隣|2つ|一部",
    "二重請求": r"二重|2回|２回|2件|2通|両方|にも請求",
    "ログイン障害": r"ログイン|ﾛｸﾞｲﾝ|認証|該当なし|ログアウト",
}
# A phone number after NFKC: 0 + area/mobile prefix, hyphen-like separators, no digit or code around it.
PHONE_SHAPE = re.compile(r"(?<![0-9A-Za-z\-])0\d{1,4}[-‐−ー―](?:\d{1,4})[-‐−ー―]\d{3,4}(?!\d)|(?<!\d)0[789]0\d{8}(?!\d)")


@dataclass(frozen=True)
class Sample:
    dir: Path
    manifest: dict
    cases: list[dict[str, str]]
    events: list[dict[str, str]]
    countermeasures: list[dict[str, str]]

    def case(self, case_id: str) -> dict[str, str]:
        return self.by_id[case_id]

    @cached_property
    def by_id(self) -> dict[str, dict[str, str]]:
        return {row["ケース番号"]: row for row in self.cases}

    def history(self) -> dict[str, list[dict[str, str]]]:
        return self.histories

    @cached_property
    def histories(self) -> dict[str, list[dict[str, str]]]:
        result: dict[str, list[dict[str, str]]] = defaultdict(list)
        for event in self.events:
            result[event["ケース番号"]].append(event)
        return dict(result)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def at(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    out = tmp_path_factory.mktemp("sample")
    manifest = generate(out, seed=SEED, n_cases=N_CASES)
    return Sample(out, manifest, read_csv(out / "cases.csv"), read_csv(out / "events.csv"),
                  read_csv(out / "countermeasures.csv"))


# ---------------------------------------------------------------- files


def test_same_seed_gives_byte_identical_files(sample: Sample, tmp_path: Path) -> None:
    generate(tmp_path, seed=SEED, n_cases=N_CASES)
    for name in ("cases.csv", "events.csv", "countermeasures.csv", "manifest.json"):
        assert (tmp_path / name).read_bytes() == (sample.dir / name).read_bytes(), name


def test_another_seed_plants_other_patterns(sample: Sample, tmp_path: Path) -> None:
    other = generate(tmp_path, seed=SEED + 1, n_cases=1000)
    assert (other["spike"]["start"], other["repeat_customer"]["case_ids"]) != \
        (sample.manifest["spike"]["start"], sample.manifest["repeat_customer"]["case_ids"])


@pytest.mark.parametrize("name, columns", [
    ("cases.csv", CASE_COLUMNS), ("events.csv", EVENT_COLUMNS), ("countermeasures.csv", COUNTERMEASURE_COLUMNS)])
def test_csv_is_an_excel_friendly_export(sample: Sample, name: str, columns: tuple[str, ...]) -> None:
    raw = (sample.dir / name).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM"
    first_line = raw[3:].split(b"\r\n", 1)[0].decode("utf-8")
    assert first_line.split(",") == list(columns)
    assert raw.count(b"\r\n") >= 2 and b"\r\r" not in raw


def test_case_columns_in_order() -> None:
    assert CASE_COLUMNS == ("ケース番号", "受付日時", "受付チャネル", "顧客ID", "お客様氏名", "電話番号", "商品名", "分類",
                            "担当部署", "対応状況", "優先度", "完了日時", "問い合わせ内容", "対応内容")
    assert EVENT_COLUMNS == ("ケース番号", "日時", "移管元部署", "移管先部署", "アクション", "メモ")
    assert COUNTERMEASURE_COLUMNS == ("実施日", "対象", "担当部署", "内容")


def test_texts_with_newlines_and_commas_survive_the_round_trip(sample: Sample) -> None:
    texts = [row["問い合わせ内容"] for row in sample.cases]
    assert any("\n" in text for text in texts) and any("," in text for text in texts)
    assert len(sample.cases) == N_CASES == sample.manifest["n_cases"]


def test_manifest_keys(sample: Sample) -> None:
    expected = {"generator", "seed", "n_cases", "start", "end", "as_of", "company", "receiving_desk", "departments",
                "channels", "products", "themes", "theme_counts", "plain_inquiries", "cause_counts", "spike",
                "returning_cause", "effective_countermeasures", "ineffective_countermeasures", "slow_department",
                "slow_department_detail", "repeat_customer", "unescalated_severe", "ping_pong", "severe_cases", "pii",
                "decoy_texts"}
    assert set(sample.manifest) == expected
    assert sample.manifest["receiving_desk"] == DESK and len(sample.manifest["departments"]) >= 6
    assert 8 <= len(sample.manifest["products"]) <= 12
    json.loads((sample.dir / "manifest.json").read_text(encoding="utf-8"))   # plain UTF-8, no BOM


# ---------------------------------------------------------------- cases and events agree


def test_case_fields_are_consistent(sample: Sample) -> None:
    manifest = sample.manifest
    for row in sample.cases:
        assert re.fullmatch(r"C-20\d\d-\d{6}", row["ケース番号"])
        assert row["受付チャネル"] in manifest["channels"]
        assert row["対応状況"] in ("受付", "対応中", "完了", "保留")
        assert row["優先度"] in ("高", "中", "低")
        assert row["分類"] in ("苦情", "問い合わせ", "要望", "お褒め")
        assert row["担当部署"] in manifest["departments"]
        assert (row["完了日時"] != "") == (row["対応状況"] == "完了")
        assert manifest["start"] <= at(row["受付日時"]).date().isoformat() <= manifest["end"]
    assert len({row["ケース番号"] for row in sample.cases}) == N_CASES


def test_owner_and_closing_time_follow_the_events(sample: Sample) -> None:
    history = sample.history()
    actions = Counter(event["アクション"] for event in sample.events)
    assert set(actions) <= {"移管", "エスカレーション", "差戻し", "回答", "完了"}
    for row in sample.cases:
        events = history.get(row["ケース番号"], [])
        times = [at(event["日時"]) for event in events]
        assert times == sorted(times) and all(t >= at(row["受付日時"]) for t in times)
        assert row["担当部署"] == (events[-1]["移管先部署"] if events else DESK)
        if row["対応状況"] == "完了":
            assert events[-1]["アクション"] == "完了" and events[-1]["日時"] == row["完了日時"]
        elif events:
            assert events[-1]["アクション"] != "完了"
        if events:
            assert events[0]["移管元部署"] == DESK, "every case starts at the desk"


def test_about_half_are_answered_at_the_desk(sample: Sample) -> None:
    handed = {e["ケース番号"] for e in sample.events if e["アクション"] in ("移管", "エスカレーション")}
    assert 0.45 <= 1 - len(handed) / N_CASES <= 0.65


def test_open_cases_are_mostly_recent_or_planted(sample: Sample) -> None:
    as_of = datetime.fromisoformat(sample.manifest["as_of"])
    stalled = set(sample.manifest["slow_department_detail"]["stalled_case_ids"])
    unescalated = set(sample.manifest["unescalated_severe"]["case_ids"])
    open_rows = [row for row in sample.cases if row["対応状況"] != "完了"]
    old = [row for row in open_rows if as_of - at(row["受付日時"]) > timedelta(days=30)
           and row["ケース番号"] not in stalled | unescalated]
    assert open_rows and len(old) <= max(3, len(open_rows) // 5)


# ---------------------------------------------------------------- planted patterns


def test_at_least_eight_themes(sample: Sample) -> None:
    counts = sample.manifest["theme_counts"]
    assert sum(1 for n in counts.values() if n > 0) >= 8
    assert sum(counts.values()) >= N_CASES * 0.9   # plain inquiries aside, every case has 1-2 themes
    assert 0.01 <= sample.manifest["plain_inquiries"] / N_CASES <= 0.08


def test_spike_cases_fall_inside_the_window(sample: Sample) -> None:
    spike = sample.manifest["spike"]
    start, end = date.fromisoformat(spike["start"]), date.fromisoformat(spike["end"])
    assert 7 <= (end - start).days + 1 <= 14
    assert date.fromisoformat(sample.manifest["end"]) - start <= timedelta(days=183)
    assert spike["extra_cases"] == len(spike["case_ids"]) >= 8
    for case_id in spike["case_ids"]:
        row = sample.case(case_id)
        assert start <= at(row["受付日時"]).date() <= end
        assert row["商品名"] == spike["product"]
    days = (end - start).days + 1
    assert len(spike["case_ids"]) / days >= 2 * spike["normal_daily_rate"], "at least 3x the normal rate"


def test_returning_cause_drops_then_comes_back(sample: Sample) -> None:
    returning = sample.manifest["returning_cause"]
    fix, back = date.fromisoformat(returning["countermeasure_date"]), date.fromisoformat(returning["returns_from"])
    days = [at(sample.case(case_id)["受付日時"]).date() for case_id in returning["case_ids"]]

    def per_day(first: date, last: date) -> float:
        return sum(first <= day < last for day in days) / (last - first).days

    # 120-day windows: at a few thousand cases the cause has only a few dozen cases per window
    before, during = per_day(fix - timedelta(days=120), fix), per_day(fix, back)
    after = per_day(back, back + timedelta(days=120))
    assert during < 0.5 * before and after >= 0.9 * before
    assert 50 <= (back - fix).days <= 75
    assert any(row["実施日"] == fix.strftime("%Y/%m/%d") and row["対象"] == returning["cause"]
               for row in sample.countermeasures)


def test_returning_cause_is_readable_from_the_texts(sample: Sample) -> None:
    returning = sample.manifest["returning_cause"]
    cue = re.compile(CAUSE_CUES[returning["cause"]])
    texts = [sample.case(case_id)["問い合わせ内容"] for case_id in returning["case_ids"]]
    assert sum(bool(cue.search(text)) for text in texts) >= 0.98 * len(texts)


def test_countermeasures_file_matches_the_manifest(sample: Sample) -> None:
    rows = {(row["実施日"], row["対象"]) for row in sample.countermeasures}
    assert 5 <= len(sample.countermeasures) <= 10
    entries = sample.manifest["effective_countermeasures"] + sample.manifest["ineffective_countermeasures"]
    assert len(sample.manifest["effective_countermeasures"]) >= 2
    for entry in entries:
        assert (date.fromisoformat(entry["date"]).strftime("%Y/%m/%d"), entry["target"]) in rows


def holding_hours(sample: Sample) -> dict[str, list[float]]:
    """Hours each department held a case before passing it on or answering, from events.csv alone."""
    held: dict[str, list[float]] = defaultdict(list)
    for case_id, events in sample.history().items():
        arrived = {DESK: at(sample.case(case_id)["受付日時"])}
        for event in events:
            source, moment = event["移管元部署"], at(event["日時"])
            held[source].append((moment - arrived[source]).total_seconds() / 3600)
            if event["移管先部署"] != source:
                arrived[event["移管先部署"]] = moment
    return held


def test_slow_department_holds_cases_about_four_times_longer(sample: Sample) -> None:
    slow = sample.manifest["slow_department"]
    medians = {dept: statistics.median(hours) for dept, hours in holding_hours(sample).items()
               if dept != DESK and len(hours) >= 5}
    others = [hours for dept, hours in medians.items() if dept != slow]
    assert medians[slow] >= 3 * statistics.median(others)
    recorded = sample.manifest["slow_department_detail"]["median_hold_hours"]
    assert recorded[slow] == pytest.approx(medians[slow], abs=0.1)


def test_slow_department_has_most_stale_open_cases(sample: Sample) -> None:
    as_of = datetime.fromisoformat(sample.manifest["as_of"])
    history = sample.history()
    stale: Counter[str] = Counter()
    for row in sample.cases:
        if row["対応状況"] == "完了":
            continue
        events = history.get(row["ケース番号"], [])
        last_move = at(events[-1]["日時"]) if events else at(row["受付日時"])
        if as_of - last_move >= timedelta(days=14):
            stale[row["担当部署"]] += 1
    top, count = stale.most_common(1)[0]
    assert top == sample.manifest["slow_department"] and count > max(n for d, n in stale.items() if d != top)


def test_repeat_customer(sample: Sample) -> None:
    repeat = sample.manifest["repeat_customer"]
    rows = [row for row in sample.cases if row["顧客ID"] == repeat["customer_id"]]
    assert sorted(row["ケース番号"] for row in rows) == sorted(repeat["case_ids"])
    assert 6 <= repeat["contacts"] == len(rows) <= 8
    times = sorted(at(row["受付日時"]) for row in rows)
    assert times[-1] - times[0] <= timedelta(days=45)
    later = [row["問い合わせ内容"] for row in sorted(rows, key=lambda r: r["受付日時"])[1:]]
    assert all(re.search(r"何度も|前回|また|回目|先週も|同じ件", text) for text in later)
    contacts = Counter(row["顧客ID"] for row in sample.cases)
    del contacts[repeat["customer_id"]]
    assert max(contacts.values()) <= 3
    assert sum(n == 1 for n in contacts.values()) >= 0.8 * len(contacts)


def test_unescalated_severe_cases_stay_at_the_desk(sample: Sample) -> None:
    ids = sample.manifest["unescalated_severe"]["case_ids"]
    as_of = datetime.fromisoformat(sample.manifest["as_of"])
    history = sample.history()
    assert 5 <= len(ids) <= 10
    for case_id in ids:
        row, events = sample.case(case_id), history.get(case_id, [])
        assert SEVERE_CUES.search(row["問い合わせ内容"]), row["問い合わせ内容"]
        assert all(event["移管先部署"] == DESK for event in events)
        assert row["担当部署"] == DESK
        until = at(row["完了日時"]) if row["完了日時"] else as_of
        assert until - at(row["受付日時"]) >= timedelta(days=3)


def test_other_severe_cases_are_escalated(sample: Sample) -> None:
    unescalated = set(sample.manifest["unescalated_severe"]["case_ids"])
    escalated = {e["ケース番号"] for e in sample.events if e["アクション"] == "エスカレーション"}
    severe = [row["ケース番号"] for row in sample.cases
              if SEVERE_CUES.search(row["問い合わせ内容"]) and row["ケース番号"] not in unescalated]
    assert severe and sum(case_id in escalated for case_id in severe) >= 0.9 * len(severe)


def test_ping_pong_cases_bounce_back(sample: Sample) -> None:
    ids = set(sample.manifest["ping_pong"]["case_ids"])
    history = sample.history()
    assert len(ids) >= 6
    for case_id, events in history.items():
        bounces = [i for i, e in enumerate(events) if e["アクション"] == "差戻し"]
        assert bool(bounces) == (case_id in ids)
        for i in bounces:   # A→B then B→A
            assert events[i - 1]["移管元部署"] == events[i]["移管先部署"]
            assert events[i - 1]["移管先部署"] == events[i]["移管元部署"]


# ---------------------------------------------------------------- texts


def test_texts_are_diverse(sample: Sample) -> None:
    texts = [row["問い合わせ内容"] for row in sample.cases]
    lengths = [len(text) for text in texts]
    assert len(set(texts)) >= 0.9 * len(texts)
    assert len({text[:12] for text in texts}) >= 0.35 * len(texts)
    assert 65 <= statistics.mean(lengths) <= 130
    assert min(lengths) <= 25 and max(lengths) >= 300


def test_wording_varies_like_real_input(sample: Sample) -> None:
    joined = "\n".join(row["問い合わせ内容"] for row in sample.cases)
    for variants in (("問い合わせ", "問合せ"), ("できない", "出来ない"), ("〜",), ("！！",), ("ーー",), ("０", "１", "２")):
        assert any(variant in joined for variant in variants), variants
    assert re.search(r"[ｦ-ﾟ]", joined), "some half-width katakana"


def test_look_alike_numbers_exist_and_do_not_look_like_phones(sample: Sample) -> None:
    pii_ids = set(sample.manifest["pii"]["case_ids"])
    texts = [row["問い合わせ内容"] for row in sample.cases]
    joined = unicodedata.normalize("NFKC", "\n".join(texts))
    assert re.search(r"L\d{4}-\d{3}", joined), "lot numbers"
    assert re.search(r"A-\d{8}-\d{4}", joined), "order numbers"
    assert re.search(r"\d{1,3}(?:,\d{3})+円", joined), "amounts"
    assert re.search(r"20\d\d[./]\d\d[./]\d\d", joined), "best-before dates"
    for row in sample.cases:
        if row["ケース番号"] not in pii_ids:
            assert not PHONE_SHAPE.search(unicodedata.normalize("NFKC", row["問い合わせ内容"])), row["問い合わせ内容"]


def test_personal_data_is_planted_for_masking(sample: Sample) -> None:
    pii = sample.manifest["pii"]
    assert set(pii["counts"]) == {"phone", "email", "address", "name"}
    texts = [sample.case(case_id)["問い合わせ内容"] for case_id in pii["case_ids"]]
    joined = "\n".join(texts)
    assert PHONE_SHAPE.search(unicodedata.normalize("NFKC", joined))
    assert re.search(r"[@＠]example\.", joined) and "〒" in joined and re.search(r"(様|さん)", joined)
    assert any(row["お客様氏名"] for row in sample.cases) and any(row["電話番号"] for row in sample.cases)
    everything = "\n".join(row["問い合わせ内容"] for row in sample.cases)
    assert "佐川急便" in everything or "ヤマト運輸" in everything, "company names that masking must keep"
    responses = pii["response_case_ids"]
    assert responses and all(re.search(r"対応者：|お客様携帯", sample.case(c)["対応内容"]) for c in responses)


def test_positive_and_negated_mentions_exist(sample: Sample) -> None:
    joined = "\n".join(row["問い合わせ内容"] for row in sample.cases)
    assert sample.manifest["decoy_texts"] > 0
    assert re.search(r"無事に届きました|緩くなかった|潰れていませんでした|特に問題はありません|入っていませんでした", joined)


# ---------------------------------------------------------------- command line


def test_cli_writes_the_files_and_rejects_too_few_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--seed", "3", "--cases", "1000"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"cases.csv", "events.csv", "countermeasures.csv", "manifest.json"}
    assert capsys.readouterr().out == "", "diagnostics go to stderr"
    assert main(["--out", str(tmp_path / "x"), "--cases", "10"]) == 2
    assert "--cases" in capsys.readouterr().err
