"""The review for the 定例会議: one self-contained HTML file (and a PDF where Chromium is installed)
with the same numbers as the pages, because it is built from the pages' own query functions:
summary.kpis and summary.home (KPIs, what to act on, rising themes and causes, the weekly volume),
alerts.current and insights.current (alerts and the flow/customer signals), summary.recurring_list and
returns.countermeasure_effects (recurrence and countermeasures), flow.department_stats and flow.stalls
(departmental flow and stalls); with a few representative customer's words per item.

    review = build("week", date(2025, 7, 23), store)
    Path("review.html").write_text(to_html(review), encoding="utf-8")
    to_pdf(Path("review.html"), Path("review.pdf"))      # headless Chromium, when installed

Charts are inline SVG, fonts the reader's own (Noto Sans CJK JP first), nothing is fetched: the file
opens offline and prints on A4 (templates/review.css).
"""
from __future__ import annotations

import html
import math
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from pipelines.detect import alerts as alert_feed
from pipelines.detect import insights as insight_feed
from pipelines.detect.alert import Alert
from pipelines.detect.insight import INSIGHT_KINDS, Insight
from pipelines.detect.returns import Evaluation, countermeasure_effects
from pipelines.reports import flow, summary
from pipelines.store import db
from pipelines.store import filters as flt
from pipelines.store.definitions import create_effective_causes_view
from pipelines.store.errors import KakehashiError

PERIODS = {"week": "週次", "month": "月次"}
TEMPLATES = Path(__file__).with_name("templates")
ITEMS_SHOWN = 8          # rows of 「まず手を打つべきこと」 in the review
VERBATIMS = 2            # customer's words per item
VERBATIM_CHARS = 160


@dataclass(frozen=True)
class Verbatim:
    case_id: str
    received_at: datetime
    channel: str | None
    text: str
    level: int
    words: tuple[str, ...]


@dataclass(frozen=True)
class Review:
    kind: str                                  # week / month
    filters: flt.Filters                       # what the pages would be set to for the same numbers
    kpis: summary.Kpis
    home: summary.HomeSummary
    alerts: tuple[Alert, ...]
    insights: tuple[Insight, ...]
    recurring: summary.RecurringList
    effects: tuple[Evaluation, ...]
    departments: pd.DataFrame
    stalls: flow.Stalls
    verbatims: dict[int, tuple[Verbatim, ...]] = field(default_factory=dict)   # priority rank → words
    generated_at: datetime = field(default_factory=lambda: datetime.now().replace(microsecond=0))

    @property
    def title(self) -> str:
        return f"VoC {PERIODS[self.kind]}レビュー（{self.kpis.period.label}）"


def review_filters(kind: str, as_of: date) -> flt.Filters:
    """The sidebar setting that shows the review's numbers on the pages: 週次 = the 7 days ending on
    the 基準日 (任意, compared with the 7 days before), 月次 = the month up to the 基準日 (今月, compared
    with the same days of the previous month)."""
    if kind == "week":
        return flt.Filters(preset="custom", start=as_of - timedelta(days=6), end=as_of, as_of=as_of)
    if kind == "month":
        return flt.Filters(preset="month", as_of=as_of)
    raise KakehashiError("review_period", f"レビューの期間「{kind}」は使えません。week か month を指定してください。",
                         f"--period must be week or month, not {kind!r}", "week または month を選んでください。",
                         "Use --period week or --period month.")


def build(kind: str, as_of: date, store: Path | str | None = None) -> Review:
    """Everything the review shows, from the pages' own query functions."""
    filters = review_filters(kind, as_of)
    kpis = summary.kpis(filters, store=store)
    alerts = tuple(alert_feed.current(filters, budget=5, store=store))
    signals = tuple(insight_feed.current(filters, store=store))
    home = summary.home(filters, alerts, store=store, insights=signals)
    effects = tuple(countermeasure_effects(filters, store=store))
    review = Review(kind, filters, kpis, home, alerts, signals, summary.recurring_list(filters, store=store),
                    effects, flow.department_stats(filters, store=store), flow.stalls(filters, store=store))
    return Review(**{**review.__dict__, "verbatims": _verbatims(review, store)})


def review_html(kind: str, as_of: date | None, store: Path | str | None = None) -> str:
    """The review as one self-contained HTML page, for the 経営サマリー button: as of the 基準日, or
    of the day of the latest case when none is set (as the CLI does)."""
    if as_of is None:
        with db.reader(store) as con:
            latest = flt.latest_received(con)
        if latest is None:
            raise KakehashiError("review_empty", "まだケースがないため、レビューを作れません。先にデータを取り込んでください。",
                                 "the store has no cases yet", "取り込みページからデータを読み込んでください。",
                                 "Load data first (python -m pipelines ingest FILE).")
        as_of = latest.date()
    return to_html(build(kind, as_of, store))


def _verbatims(review: Review, store: Path | str | None) -> dict[int, tuple[Verbatim, ...]]:
    """A few customer's words for each shown priority row (its own cases for a signal)."""
    period = review.kpis.period
    found = {}
    with db.reader(store) as con:
        create_effective_causes_view(con)
        condition, params = flt.where(review.filters, "c", span=(period.start, period.end))
        con.execute(f"CREATE OR REPLACE TEMP TABLE kk_review_scope AS SELECT c.case_id, c.product FROM cases c "
                    f"WHERE {condition}", params)
        for row in review.home.priorities.head(ITEMS_SHOWN).itertuples():
            signal = row.dimension in INSIGHT_KINDS
            keys = {"theme": None, "cause": None, "product": None}
            if not signal:
                keys[row.dimension] = row.key
            rows = con.execute(db.sql("review_verbatims"), {
                **keys, "case_ids": list(row.case_ids) if signal else [], "limit": VERBATIMS}).fetchall()
            found[int(row.rank)] = tuple(Verbatim(cid, at, channel, text, int(level), tuple(w for w in words if w))
                                         for cid, at, channel, text, level, words in rows)
    return found


# ---------------------------------------------------------------- HTML

def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def highlight(text: str, words: tuple[str, ...], limit: int = VERBATIM_CHARS) -> str:
    """Escaped text (cut to `limit` characters) with the matched words in <mark>."""
    text = text if len(text) <= limit else text[:limit] + "…"
    marks = [False] * len(text)
    for word in sorted({w for w in words if w}, key=len, reverse=True):
        start = text.find(word)
        while start >= 0:
            for i in range(start, start + len(word)):
                marks[i] = True
            start = text.find(word, start + len(word))
    out, open_ = [], False
    for char, marked in zip(text, marks):
        if marked != open_:
            out.append("<mark>" if marked else "</mark>")
            open_ = marked
        out.append(html.escape(char))
    if open_:
        out.append("</mark>")
    return "".join(out)


def _day(value) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def _kpi_rows(review: Review) -> str:
    now, before = review.kpis.current, review.kpis.previous
    rows = [("ケース数", f"{now.cases:,} 件", f"{before.cases:,} 件"),
            ("未完了件数", f"{now.open_cases:,} 件", f"{before.open_cases:,} 件"),
            ("高重度件数", f"{now.severe:,} 件", f"{before.severe:,} 件"),
            ("再発件数", f"{now.recurring:,} 件", f"{before.recurring:,} 件"),
            ("平均解決日数", _days(now.mean_days), _days(before.mean_days)),
            ("解決日数（中央値）", _days(now.median_days), _days(before.median_days)),
            ("エスカレーション率", _rate(now.escalation_rate), _rate(before.escalation_rate))]
    return "".join(f"<tr><th>{_e(a)}</th><td class=num>{_e(b)}</td><td class=num>{_e(c)}</td></tr>" for a, b, c in rows)


def _days(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f} 日"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def bars_svg(labels: list[str], values: list[float], unit: str, color: str = "#1f77b4", width: int = 640) -> str:
    """A horizontal bar chart as inline SVG (no script, prints as drawn)."""
    if not values:
        return ""
    row, label_width = 22, 190
    top = max(max(values), 1e-9)
    height = row * len(values) + 8
    parts = [f'<svg class=chart viewBox="0 0 {width} {height}" width="100%" role="img">']
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 4 + i * row
        length = (width - label_width - 80) * value / top
        parts.append(f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{_e(label[:18])}</text>'
                     f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" fill="{color}"/>'
                     f'<text x="{label_width + length + 4:.1f}" y="{y + 15}">{_e(f"{value:,.1f}".rstrip("0").rstrip("."))}'
                     f'{_e(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def weekly_svg(weekly: pd.DataFrame, width: int = 640, height: int = 170) -> str:
    """Weekly volume bars; a week cut by the 基準日 is hatched (partial, not a drop)."""
    if weekly.empty:
        return ""
    colors = {"今期": "#1f77b4", "前期": "#9ecae1", "それ以前": "#d9d9d9"}
    n, top = len(weekly), max(weekly["件数"].max(), 1)
    slot = (width - 40) / n
    parts = [f'<svg class=chart viewBox="0 0 {width} {height + 24}" width="100%" role="img">',
             '<defs><pattern id="partial" width="6" height="6" patternUnits="userSpaceOnUse" '
             'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
             '<line x1="0" y1="0" x2="0" y2="6" stroke="#1f77b4" stroke-width="3"/></pattern></defs>']
    for i, row in enumerate(weekly.itertuples(index=False)):
        h = (height - 20) * row.件数 / top
        x = 30 + i * slot
        fill = "url(#partial)" if bool(row.途中) else colors.get(row.期間, "#d9d9d9")
        parts.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
                     f'fill="{fill}" stroke="{colors.get(row.期間, "#999")}"><title>{_e(row.週)} {row.件数}件</title></rect>')
        if i % max(n // 8, 1) == 0 or i == n - 1:
            parts.append(f'<text x="{x:.1f}" y="{height + 16}" class=tick>{row.週.month}/{row.週.day}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _verbatim_list(items: tuple[Verbatim, ...]) -> str:
    if not items:
        return ""
    return "<ul class=voices>" + "".join(
        f"<li><q>{highlight(v.text, v.words)}</q><span class=meta>{_e(v.case_id)}・{v.received_at:%Y/%m/%d}・"
        f"{_e(v.channel or '')}</span></li>" for v in items) + "</ul>"


def to_html(review: Review) -> str:
    """The review as one self-contained HTML document (inline CSS and SVG, no external requests)."""
    period, k = review.kpis.period, review.kpis
    css = (TEMPLATES / "review.css").read_text(encoding="utf-8")
    s = [f"<!DOCTYPE html><html lang=ja><head><meta charset=utf-8><title>{_e(review.title)}</title>"
         f"<style>{css}</style></head><body>",
         f"<header><h1>{_e(review.title)}</h1><p>{_day(period.start)}〜{_day(period.end - timedelta(days=1))}"
         f"（比較：{_day(period.previous_start)}〜{_day(period.previous_end - timedelta(days=1))}）・"
         f"基準日 {_day(review.filters.as_of)}・作成 {review.generated_at:%Y/%m/%d %H:%M}</p></header>",
         "<section id=kpis><h2>主要指標</h2><table class=kpis><tr><th></th><th>今期</th>"
         f"<th>{_e(k.comparison.removesuffix('比'))}</th></tr>{_kpi_rows(review)}</table>",
         f"<p class=note>再発件数：{_e('、'.join(review.recurring.names) or 'なし')}"
         + (f"、および再発防止策の後に再び増えた {len(review.recurring.returns)}件の対象" if review.recurring.returns else "")
         + "のケース。</p></section>"]
    s.append("<section id=actions><h2>まず手を打つべきこと</h2><ol class=actions>")
    for row in review.home.priorities.head(ITEMS_SHOWN).itertuples():
        s.append(f"<li><p class=reason>{_e(row.reason)}</p><p class=meta>{_e(row.dimension_label)}・優先度 "
                 f"{row.score:.0f} 点・{row.cases:,} 件</p>{_verbatim_list(review.verbatims.get(int(row.rank), ()))}</li>")
    s.append("</ol>" + ("" if not review.home.priorities.empty else "<p>目立つ項目はありません。</p>") + "</section>")
    s.append("<section id=alerts><h2>アラート</h2>")
    s.append("<ul>" + "".join(f"<li>{_e(a.message)}</li>" for a in review.alerts) + "</ul>" if review.alerts
             else "<p>検出されているアラートはありません。</p>")
    s.append("</section><section id=rising><h2>増えているテーマと原因</h2>")
    for frame, label in ((review.home.rising_themes, "テーマ"), (review.home.rising_causes, "原因")):
        if frame.empty:
            s.append(f"<p>直前の期間より増えた{label}はありません。</p>")
            continue
        s.append(f"<h3>{label}</h3>" + bars_svg(list(frame["name"]), [float(v) for v in frame["cases"]], "件")
                 + "<table><tr><th>" + label + "</th><th>件数</th><th>前期間</th><th>増減</th></tr>" + "".join(
                     f"<tr><td>{_e(r.name)}</td><td class=num>{r.cases:,}</td><td class=num>{r.previous:,}</td>"
                     f"<td class=num>{'新規' if math.isnan(r.change) else f'{r.change:+.0%}'}</td></tr>"
                     for r in frame.itertuples()) + "</table>")
    s.append("<h3>週別の受付件数</h3>" + weekly_svg(review.home.weekly)
             + ("<p class=note>斜線の週は基準日までの途中の件数です。</p>" if review.home.weekly["途中"].any() else ""))
    s.append("</section><section id=recurrence><h2>再発と再発防止策の効果</h2>")
    if review.effects:
        s.append("<table><tr><th>実施日</th><th>対象</th><th>判定</th><th>再発</th></tr>" + "".join(
            f"<tr><td>{e.implemented_on:%Y/%m/%d}</td><td>{_e(e.target)}</td><td>{_e(e.verdict)}</td>"
            f"<td>{_e(f'{e.returned.since:%Y/%m/%d}から（対策前の{e.returned.level:.1f}倍）' if e.returned else '')}</td></tr>"
            for e in review.effects) + "</table>")
    else:
        s.append("<p>再発防止策は登録されていません。</p>")
    s.append("</section><section id=flow><h2>部門フローと滞留</h2>")
    held = review.departments.dropna(subset=["保持時間の中央値（時間）"])
    if not held.empty:
        s.append("<h3>部署が案件を抱えていた日数（中央値）</h3>" + bars_svg(
            list(held["部署"]), [round(float(v) / 24, 1) for v in held["保持時間の中央値（時間）"]], "日", "#fb8c00"))
    ranking = review.stalls.ranking
    s.append(f"<h3>{review.stalls.stall_days}日以上動きのない未完了案件</h3>")
    s.append("<table><tr><th>部署</th><th>滞留件数</th><th>滞留日数の中央値</th></tr>" + "".join(
        f"<tr><td>{_e(r.部署)}</td><td class=num>{r.滞留件数:,}</td><td class=num>{r.滞留日数の中央値:.1f} 日</td></tr>"
        for r in ranking.itertuples()) + "</table>" if not ranking.empty else "<p>滞留している案件はありません。</p>")
    s.append("</section><footer>懸け橋 Kakehashi — 同じ数字は各ページで、サイドバーの期間を"
             f"{_e(flt.PRESETS[review.filters.preset])}・基準日 {_day(review.filters.as_of)} にすると確認できます。"
             "</footer></body></html>")
    return "".join(s)


# ---------------------------------------------------------------- PDF

def chromium() -> str | None:
    """The headless Chromium that prints the PDF, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def to_pdf(html_file: Path, pdf_file: Path, timeout: float = 120.0) -> bool:
    """Print the HTML file to an A4 PDF with headless Chromium; False when Chromium is not installed."""
    browser = chromium()
    if browser is None:
        return False
    # --no-sandbox: containers and CI runners usually lack the user namespaces the sandbox needs.
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
               f"--print-to-pdf={pdf_file.resolve()}", html_file.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0 or not pdf_file.exists() or pdf_file.stat().st_size == 0:
        raise KakehashiError("review_pdf", "PDF を作れませんでした。HTML のレビューはそのまま使えます。",
                             f"chromium could not print {html_file} (exit {done.returncode}): "
                             f"{done.stderr.decode(errors='replace')[-300:]}",
                             "Chromium と fonts-noto-cjk が入っているか確認してください。",
                             "Check `chromium --version` and that fonts-noto-cjk is installed.")
    return True
