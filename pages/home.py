"""経営サマリー: the period at a glance — KPIs against the previous period, what to act on first,
the alerts, and what rose. Everything follows the shared sidebar filters."""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from functools import partial

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from pipelines.detect import alerts, insights
from pipelines.detect.alert import DIMENSIONS, KINDS
from pipelines.detect.insight import INSIGHT_KINDS
from pipelines.reports import review, shared, summary
from pipelines.reports.caselist import CaseQuery
from pipelines.reports.summary import HIGH_SEVERITY_LEVEL, MIN_CASES
from pipelines.store import filters as flt
from ui.widgets import voices

ui.frame()

st.title("経営サマリー")
ui.wait_for_running_jobs()

HELP = {
    "cases": "期間内に受け付けたケースの数（サイドバーの絞り込みを適用）。比較は同じ長さの直前の期間です。",
    "mean_days": "期間内に受け付けて完了したケースの、受付から完了までの日数の平均。"
                 "完了日時のないケースは含みません。",
    "median_days": "同じケースの受付から完了までの日数の中央値（半数のケースがこの日数以内に完了）。"
                   "一部の長期化案件に引きずられない目安です。",
    "open": "期間内に受け付けたケースのうち、完了日時がなく、対応状況も「完了」「解決」「クローズ」などでないもの。",
    "recurring": "期間内のケースのうち、その原因（原因が分からないケースはテーマ）が「再発」ページの"
                 "「繰り返す原因」で再発件数に数えるもの（直近12か月の半分以上の月に出ていて、直近3か月に"
                 "1.3倍以上に増えている）か、再発防止策の後に再び増えた原因・テーマ・商品で、増え始めてから"
                 "受け付けたもの。比較は直前の期間の同じ定義の件数です。",
    "severe": f"感情レベル {HIGH_SEVERITY_LEVEL}（強い怒り・至急の要求）以上のケース。"
              "レベル 3 は法的措置や行政への申し出の示唆、カスタマーハラスメント、繰り返しの怒り。",
    "escalation": "期間内のケースのうち、受付窓口（お客様相談室など）から他部署へ一度でも移管されたもの、"
                  "または対応履歴に「エスカレーション」「上申」「転送」の記録があるものの割合。",
}
PRIORITY_HELP = (
    "テーマ・原因・商品と、部署・お客様・高重度ケースの異変を一つの表に並べ、100 点満点で順位を付けています。\n\n"
    "**テーマ・原因・商品**：増加 40 点（直前の期間からの増え方。偶然では説明しにくいほど満点に近づく）、"
    "アラート 20 点（急増・持続的な増加・対策後の再発が検出中）、"
    "件数 15 点・高重度 15 点・再問い合わせ 10 点（いずれも同じ種類で最大の項目を満点とした割合）。"
    f"期間内 {MIN_CASES} 件以上で、2 割以上に不満の表れたものが対象です（お褒めや単純な質問は入りません）。\n\n"
    "**部署の滞留**：基準日までの4週間に、ある部署が案件を抱えていた日数（中央値）が他部署の2.5倍以上、"
    "または7日以上動きのない未完了案件が4週前の2倍以上に増えたとき。35 点＋差の大きさで最大 35 点"
    "（8倍で満点）＋滞留の増加 15 点。\n\n"
    "**繰り返しの問い合わせ**：同じお客様（書き出しの顧客ID）が同じ原因・テーマで、前回から30日以内の"
    "問い合わせを3回以上続け、最後の1回が直近4週にあるとき（期間より前に始まったものも含む）。"
    "25 点＋4回目から1回ごとに 5 点（最大 25 点）＋怒り・緊急の表現 10 点。\n\n"
    "**エスカレーション漏れ**：直近4週の高重度ケース（感情レベル3、優先度「高」、責任者の要求・公開の予告）"
    "のうち24時間以内に受付窓口から上がらなかったもの（部門フローと同じ定義）。30 点＋未エスカレーション1件ごとに"
    " 5 点・遅れて上がったもの1件ごとに 2.5 点（最大 40 点）＋特定のチャネル・店舗・商品・テーマに偏っていれば 15 点。"
)


def _md(value: object) -> str:
    """Data shown inside Markdown-rendering labels (page links, captions) is escaped."""
    return ui.md(value)


def _change(current: float | None, previous: float | None, unit: str, digits: int = 0) -> str | None:
    if current is None or previous is None or (isinstance(previous, float) and math.isnan(previous)):
        return None
    return f"{current - previous:+,.{digits}f} {unit}"


def _day(value) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def _link_keys(filters: flt.Filters, dimension: str, key: str) -> tuple[flt.Filters, dict]:
    """Filters and case-list keys that show an item's cases (a theme, a cause or a product)."""
    if dimension == "theme":
        return replace(filters, themes=(key,)), {}
    if dimension == "product":
        return replace(filters, products=(key,)), {}
    return filters, {"cause": key}


def _priority_row(item, filters: flt.Filters) -> None:
    """One ranked row: its reason in words, the score's parts, and a link to its cases."""
    with st.container(border=True):
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.text(f"{item.rank}. {item.reason}")
        if item.dimension in INSIGHT_KINDS:
            left.caption(f"{item.dimension_label}・優先度 {item.score:.0f} 点")
            with right:
                if item.case_ids:
                    ui.case_link(f"{len(item.case_ids):,} 件を見る", filters=filters, ids=",".join(item.case_ids))
            return
        left.caption(f"{item.dimension_label}・優先度 {item.score:.0f} 点（増加 {item.growth_points:.0f}・"
                     f"アラート {item.alert_points:.0f}・件数 {item.volume_points:.0f}・高重度 {item.severity_points:.0f}・"
                     f"再問い合わせ {item.repeat_points:.0f}）")
        with right:
            link_filters, keys = _link_keys(filters, item.dimension, item.key)
            ui.case_link(f"{item.cases:,} 件を見る", filters=link_filters, **keys)


overview = ui.store_overview("ここに期間の件数・増えている問題・まず手を打つべきことが表示されます。")

current_filters = ui.filters()
kpis = ui.fetch(summary.kpis, current_filters)
period = kpis.period
theme_names = {theme_id: name for theme_id, name in (ui.query(shared.filter_options) or {}).get("themes", [])}
described = flt.describe(current_filters, theme_names)
one_day = timedelta(days=1)
st.caption(f"{period.label}：{_day(period.start)}〜{_day(period.end - one_day)}"
           f"（比較する{kpis.comparison.removesuffix('比')}：{_day(period.previous_start)}〜"
           f"{_day(period.previous_end - one_day)}）" + (f"　・　{_md(described)}" if described else ""))

if kpis.current.cases == 0:
    st.info("この期間・絞り込みに当てはまるケースはありません。サイドバーで期間や条件を変えてください。",
            icon=":material/filter_alt_off:")
    st.stop()

current_alerts = ui.query(alerts.current, current_filters, budget=5)
signals = ui.query(insights.current, current_filters)
home = (ui.query(summary.home, current_filters, tuple(current_alerts), insights=tuple(signals))
        if current_alerts is not None and signals is not None else None)
if home is None:
    ui.busy_notice()
    st.stop()

# -- KPI cards ----------------------------------------------------------------------------------
now, before = kpis.current, kpis.previous
comparable = kpis.previous_coverage >= 1.0 and before.cases > 0
description = kpis.comparison if comparable else None
row = st.columns(4)
row[0].metric("ケース数", f"{now.cases:,} 件",
              delta=f"{kpis.change:+.0%}" if kpis.change is not None else None, delta_color="inverse",
              delta_description=description, help=HELP["cases"], border=True)
row[1].metric("未完了件数", f"{now.open_cases:,} 件",
              delta=_change(now.open_cases, before.open_cases, "件") if comparable else None, delta_color="inverse",
              delta_description=description, help=HELP["open"], border=True)
row[2].metric("高重度件数", f"{now.severe:,} 件",
              delta=_change(now.severe, before.severe, "件") if comparable else None, delta_color="inverse",
              delta_description=description, help=HELP["severe"], border=True)
row[3].metric("再発件数", f"{now.recurring:,} 件",
              delta=_change(now.recurring, before.recurring, "件") if comparable else None, delta_color="inverse",
              delta_description=description, help=HELP["recurring"], border=True)
row = st.columns(4)
row[0].metric("平均解決日数", f"{now.mean_days:.1f} 日" if now.mean_days is not None else "—",
              delta=_change(now.mean_days, before.mean_days, "日", 1) if comparable else None,
              delta_color="inverse", delta_description=description, help=HELP["mean_days"], border=True)
row[1].metric("解決日数（中央値）", f"{now.median_days:.1f} 日" if now.median_days is not None else "—",
              delta=_change(now.median_days, before.median_days, "日", 1) if comparable else None,
              delta_color="inverse", delta_description=description, help=HELP["median_days"], border=True)
rate, previous_rate = now.escalation_rate, before.escalation_rate
row[2].metric("エスカレーション率", f"{rate:.1%}" if rate is not None else "—",
              delta=f"{(rate - previous_rate) * 100:+.1f} pt" if comparable and previous_rate is not None else None,
              delta_color="inverse", delta_description=description, help=HELP["escalation"], border=True)
with row[3]:
    ui.case_link("この期間のケース一覧", filters=current_filters)
    if now.severe:
        ui.case_link("高重度のケースだけ見る", filters=current_filters, icon=":material/priority_high:",
                     min_level=HIGH_SEVERITY_LEVEL)
if not comparable:
    st.caption("直前の期間にデータがない（または一部しかない）ため、増減は表示していません。")


# -- priority ranking ---------------------------------------------------------------------------
st.subheader("まず手を打つべきこと", help=PRIORITY_HELP)
ranking = home.priorities
if ranking.empty:
    st.info(f"目立つ項目はありません（期間内 {MIN_CASES} 件以上の項目が対象です）。", icon=":material/task_alt:")


rows = list(ranking.itertuples())
for item in rows[:5]:
    _priority_row(item, current_filters)
if len(rows) > 5:
    with st.expander(f"6 位以下（{len(rows) - 5} 件）"):
        for item in rows[5:]:
            _priority_row(item, current_filters)

# -- alerts -------------------------------------------------------------------------------------
st.subheader("アラート", help="急増・持続的な増加・対策後の再発を、偶然の揺らぎと区別して検出したものです"
                           "（重要度の高い順に最大 5 件）。")
if not current_alerts:
    st.success("いま検出されているアラートはありません。", icon=":material/check_circle:")
for alert in current_alerts:
    with st.container(border=True):
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.text(alert.message or f"{alert.name}（{DIMENSIONS.get(alert.dimension, alert.dimension)}）："
                                   f"{_day(alert.since)}から{KINDS.get(alert.kind, alert.kind)}"
                                   f"（観測 {alert.observed:,}件／通常 {alert.expected:,.1f}件）")
        with right:
            link_filters, keys = _link_keys(current_filters, alert.dimension, alert.key)
            ui.case_link("ケースを見る", filters=link_filters, **keys)

# -- what rose ----------------------------------------------------------------------------------
st.subheader("増えているテーマと原因",
             help=f"直前の期間より増えたもの（期間内 {MIN_CASES} 件以上）。増え方のはっきりしている順です。")
left, right = st.columns(2)
for column, frame, label in ((left, home.rising_themes, "テーマ"), (right, home.rising_causes, "原因")):
    with column:
        if frame.empty:
            st.caption(f"直前の期間より増えた{label}はありません。")
            continue
        table = frame.assign(増減=[f"{c:+.0%}" if not math.isnan(c) else "新規" for c in frame["change"]])
        table = table.rename(columns={"name": label, "cases": "件数", "previous": "前期間"})
        ui.text_table(table[[label, "件数", "前期間", "増減"]])

weekly = home.weekly
if not weekly.empty:
    weekly = weekly.assign(区間=["途中まで" if partial else "1週間" for partial in weekly["途中"]])
    figure = px.bar(weekly, x="週", y="件数", color="期間", height=240, title="週別の受付件数",
                    color_discrete_map={"今期": "#1F77B4", "前期": "#9ECAE1", "それ以前": "#D9D9D9"},
                    category_orders={"期間": ["今期", "前期", "それ以前"], "区間": ["1週間", "途中まで"]},
                    pattern_shape="区間", pattern_shape_map={"1週間": "", "途中まで": "/"})
    figure.update_layout(xaxis_title="週（月曜始まり）", yaxis_title="件数", legend_title_text="",
                         margin={"t": 40, "b": 10, "l": 10, "r": 10})
    figure.update_xaxes(tickformat="%-m/%-d")
    chosen = st.plotly_chart(figure, width="stretch", on_select="rerun", selection_mode="points", key="home_weekly")
    st.caption("棒をクリックすると、その週のお客様の声を下に表示します。"
               + ("斜線の週は基準日（またはデータの最新日）までの途中の件数です。減ったのではありません。"
                  if weekly["途中"].any() else ""))
    points = chosen.selection.points if chosen else []
    if points:
        week = pd.Timestamp(points[0]["x"]).date()
        span = replace(current_filters, preset="custom", start=week, end=week + timedelta(days=6))
        voices(CaseQuery(span), "home_voices", f"{week.month}月{week.day}日からの週のお客様の声")

# -- the 定例会議 review ------------------------------------------------------------------------------
st.subheader("定例会議のレビュー", help="経営サマリー・アラート・再発・部門フローと同じ数字を、グラフと代表的なお客様の声"
                                  "つきの1つの HTML ファイル（A4 で印刷できます）にまとめます。基準日（未設定なら最新の受付日）"
                                  "までの 7 日間（週次）か、その月（月次）が対象です。PDF はコマンド "
                                  "`python -m pipelines report --out review.pdf` で作れます。")
review_kind = st.segmented_control("期間", ["week", "month"], default="week", key="review_kind",
                                   format_func={"week": "週次", "month": "月次"}.get, label_visibility="collapsed")
st.download_button("レビューを HTML でダウンロード", icon=":material/summarize:",
                   data=partial(review.review_html, review_kind or "week", current_filters.as_of, ui.store_path()),
                   file_name=f"review-{review_kind or 'week'}.html", mime="text/html",
                   on_click=ui.record_download, args=("定例会議レビュー", {"period": review_kind or "week"}))
