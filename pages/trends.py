"""トレンド: counts and shares over time by theme, cause, product, channel or department, with the
alerts of the period as markers on the chart and as a list linking to their cases."""
from __future__ import annotations

import html
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from pipelines.detect import alerts
from pipelines.detect.alert import DIMENSIONS as ALERT_DIMENSIONS
from pipelines.detect.alert import GRANULARITIES as ALERT_GRANULARITIES
from pipelines.detect.alert import KINDS
from pipelines.reports import trends
from pipelines.reports.shared import UNCLASSIFIED_COLOR, csv_for_excel
from pipelines.reports.caselist import CaseQuery
from pipelines.store.filters import Filters
from ui.widgets import voices

ui.frame()

st.title("トレンド")
ui.wait_for_running_jobs()

MEASURES = {"count": "件数", "share": "構成比"}
AXIS_TITLES = {"day": "受付日", "week": "受付週（月曜始まり）", "month": "受付月"}
TICK_FORMATS = {"day": "%-m/%-d", "week": "%-m/%-d", "month": "%Y年%-m月"}
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#86bcb6", "#d37295", "#8cd17d", "#b6992d", "#499894", "#fabfd2", "#79706e", "#d4a6c8", "#a0cbe8",
           "#ffbe7d", "#f1ce63")
ALERT_COLOR = "#c62828"
GREY = "#bdbdbd"
HIGHLIGHTED = 3      # lines kept in colour: the ones that rose most in the selected period
COUNTING = {
    "theme": "テーマ別の件数は「ケース×テーマ」の組の数です。1件のケースが複数のテーマに当てはまると、それぞれのテーマに"
             "1件ずつ数えるため、合計はケース数を超えることがあります。テーマのないケースは「未分類」です。",
    "cause": "原因別の件数は「ケース×原因」の組の数です（取り込んだ原因欄があればそれを、なければ本文から抽出した原因を"
             "使います）。1件に複数の原因があればそれぞれに数えます。原因のないケースは「原因未特定」です。",
    "product": "1件のケースは1つの商品に数えます。商品欄が空のケースは「（未記入）」です。",
    "channel": "1件のケースは1つのチャネルに数えます。チャネル欄が空のケースは「（未記入）」です。",
    "department": "1件のケースは現在の担当部署に数えます。部署欄が空のケースは「（未記入）」です。",
}


def _md(value: object) -> str:
    """Names shown inside Markdown-rendering labels (links, captions) are escaped."""
    return ui.md(value)


def _plain(text: str) -> str:
    """Plotly renders a little HTML in hover labels; names and words from exports are shown as text."""
    return html.escape(str(text)).replace("%{", "%\u200b{")


def _bucket_query(filters: Filters, dimension: str, granularity: str, key: object, bucket) -> CaseQuery:
    """The case-list search for one point of the chart: its bucket's days and its value."""
    first = pd.Timestamp(bucket).date()
    if granularity == "day":
        last = first
    elif granularity == "week":
        last = first + timedelta(days=6)
    else:
        last = (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date()
    span = replace(filters, preset="custom", start=first, end=last)
    if not isinstance(key, str) or not key:
        return CaseQuery(span)                    # その他 / 未分類: the bucket's cases
    if dimension == "cause":
        return CaseQuery(span, cause=key)
    field = {"theme": "themes", "product": "products", "channel": "channels", "department": "departments"}[dimension]
    return CaseQuery(replace(span, **{field: (key,)}))


def _colors(names: list[str], dimension: str) -> dict[str, str]:
    """Theme colours from the rules file (the same on every chart); a fixed palette otherwise."""
    palette = ui.theme_colors() if dimension == "theme" else {}
    colors, spare = {}, iter(PALETTE * (len(names) // len(PALETTE) + 1))
    for name in names:
        if name in (trends.OTHERS, trends.UNCLASSIFIED, trends.NO_CAUSE, trends.NOT_ENTERED):
            colors[name] = UNCLASSIFIED_COLOR if name != trends.OTHERS else "#bdbdbd"
        else:
            colors[name] = palette.get(name) or next(spare)
    return colors


overview = ui.store_overview("件数の推移と急増のアラートをここに表示します。")

filters: Filters = ui.filters()

# -- controls ---------------------------------------------------------------------------------
left, middle, right, last = st.columns([4, 2, 2, 2], vertical_alignment="bottom")
dimension = left.segmented_control("切り口", list(trends.DIMENSIONS), format_func=trends.DIMENSIONS.get,
                                   default="theme", required=True, key="tr_dimension")
granularity = middle.segmented_control("粒度", list(trends.GRANULARITIES), format_func=trends.GRANULARITIES.get,
                                       default="week", required=True, key="tr_granularity")
measure = right.segmented_control("表示", list(MEASURES), format_func=MEASURES.get, default="count",
                                  required=True, key="tr_measure")
top = last.number_input("表示する項目数", min_value=1, max_value=30, value=10, step=1, key="tr_top",
                        help="件数の多い順にこの数まで線で表示し、残りは「その他」にまとめます。")
# A deselected control (or a stale URL) falls back to the default rather than failing.
dimension = dimension if dimension in trends.DIMENSIONS else "theme"
granularity = granularity if granularity in trends.GRANULARITIES else "week"
measure = measure if measure in MEASURES else "count"

trend = ui.fetch(trends.series, filters, dimension, granularity, int(top))
period_label = f"{trend.period_start:%Y/%m/%d}〜{trend.period_end - timedelta(days=1):%Y/%m/%d}"
if trend.period_cases == 0:
    st.info(f"選択した期間（{period_label}）と絞り込みに当てはまるケースがありません。サイドバーの期間・商品・チャネル・"
            "部署・テーマの選択を見直してください。", icon=":material/filter_alt_off:")
    st.stop()
period_alerts = ui.fetch(alerts.for_period, filters)

# -- chart ------------------------------------------------------------------------------------
frame = trend.frame.copy()
frame["value"] = frame["share"] * 100 if measure == "share" else frame["count"]
names = list(dict.fromkeys(frame["name"]))
colors = _colors(names, dimension)
# Ten lines read as spaghetti: the few that rose most in the selected period keep their colour, the
# rest are drawn thin and grey (still there, and a hover names them).
in_period = frame[frame["in_period"]].groupby("name")["count"].sum()
before = frame[~frame["in_period"]].groupby("name")["count"].mean()
buckets = max(frame.loc[frame["in_period"], "bucket"].nunique(), 1)
rise = {name: (in_period.get(name, 0) + 1) / (before.get(name, 0) * buckets + 1) for name in names
        if name != trends.OTHERS and in_period.get(name, 0) >= 5}
if len(rise) < HIGHLIGHTED:
    rise.update({name: 0.0 for name in in_period.sort_values(ascending=False).index
                 if name != trends.OTHERS and name not in rise})
highlighted = set(sorted(rise, key=lambda n: -rise[n])[:HIGHLIGHTED])
figure = go.Figure()
for name in names:
    rows = frame[frame["name"] == name]
    strong = name in highlighted
    figure.add_trace(go.Scatter(
        x=rows["bucket"], y=rows["value"], name=html.escape(name), mode="lines+markers",
        line={"color": colors[name] if strong else GREY, "width": 3 if strong else 1},
        opacity=1.0 if strong else 0.7,
        # その他 sums many values and would flatten the others: one click on the legend shows it.
        visible="legendonly" if name == trends.OTHERS else True,
        marker={"size": 7 if strong else 4, "symbol": ["circle-open" if p else "circle" for p in rows["partial"]]},
        customdata=list(zip(rows["count"], rows["share"] * 100, rows["cases"])),
        hovertemplate=f"{_plain(name)}<br>%{{x}}<br>%{{customdata[0]}}件（構成比 %{{customdata[1]:.1f}}%／"
                      "区間のケース %{customdata[2]}件）<extra></extra>"))

shown = {(dimension, key): name for key, name in zip(frame["key"], frame["name"])}
markers = []
for alert in period_alerts:
    name = shown.get((alert.dimension, alert.key))
    if name is None:
        continue
    bucket = trends.bucket_start(alert.detected_on, granularity)
    point = frame[(frame["name"] == name) & (frame["bucket"] == bucket)]
    if not point.empty:
        markers.append((bucket, float(point["value"].iloc[0]), _plain(alert.message)))
if markers:
    figure.add_trace(go.Scatter(
        x=[m[0] for m in markers], y=[m[1] for m in markers], name="アラート（検知日）", mode="markers",
        marker={"symbol": "triangle-up", "size": 15, "color": ALERT_COLOR, "line": {"color": "white", "width": 1}},
        text=[m[2] for m in markers], hovertemplate="%{text}<extra></extra>"))
if trend.extended:
    figure.add_vrect(x0=trend.period_start, x1=trend.period_end - timedelta(days=1) if granularity == "day"
                     else trend.period_end, fillcolor="#fff3cd", opacity=0.5, line_width=0, layer="below",
                     annotation_text="選択期間", annotation_position="top left")
figure.update_layout(
    title=f"{trends.DIMENSIONS[dimension]}別の{MEASURES[measure]}の推移（{trends.GRANULARITIES[granularity]}ごと）",
    xaxis_title=AXIS_TITLES[granularity], yaxis_title="件数" if measure == "count" else "構成比（%）",
    legend_title_text=trends.DIMENSIONS[dimension], hovermode="closest", margin={"t": 60})
figure.update_xaxes(tickformat=TICK_FORMATS[granularity])
# PNG export comes from plotly's own toolbar (no kaleido); the file is named after the view.
png = {"filename": f"trend_{dimension}_{granularity}"}
chosen = st.plotly_chart(figure, width="stretch", config={"displaylogo": False, "toImageButtonOptions": png},
                         on_select="rerun", selection_mode="points", key="tr_chart")
st.caption(f"色の付いた線は選択期間に最も増えた {HIGHLIGHTED} 項目です（灰色の線は凡例や点にカーソルを合わせると名前が出ます）。"
           "点をクリックすると、その区間のお客様の声を下に表示します。")
points = [p for p in (chosen.selection.points if chosen else []) if p.get("curve_number", 99) < len(names)]
if points:
    picked_name = names[points[0]["curve_number"]]
    picked = frame[(frame["name"] == picked_name)].iloc[points[0]["point_index"]]
    voices(_bucket_query(filters, dimension, granularity, picked["key"], picked["bucket"]), "tr_voices",
           f"{picked_name}・{pd.Timestamp(picked['bucket']):%Y/%m/%d}からの{trends.GRANULARITIES[granularity]}のお客様の声")

notes = [COUNTING[dimension]]
if measure == "share":
    notes.append("構成比は、その区間のケース数に占める割合です。")
if trend.extended:
    notes.append(f"選択期間（{period_label}）だけでは区間が少なく変化が読み取れないため、{trend.chart_start:%Y/%m/%d}から"
                 "表示しています（網掛けが選択期間）。")
if frame["partial"].any():
    notes.append("最後の区間は期間の途中までの件数です（白抜きの点）。")
if trend.others:
    notes.append(f"上位{int(top)}項目以外の{trend.others}項目は「その他」にまとめています（凡例をクリックすると表示）。")
if markers:
    notes.append("▲はアラートの検知日です。")
st.caption(_md(" ".join(notes)))

export = frame.rename(columns={"bucket": "区間の開始日", "name": trends.DIMENSIONS[dimension], "count": "件数",
                               "cases": "区間のケース数", "share": "構成比", "partial": "途中の区間"})
st.download_button("グラフのデータをCSVでダウンロード", csv_for_excel(export[["区間の開始日", trends.DIMENSIONS[dimension],
                   "件数", "区間のケース数", "構成比", "途中の区間"]]),
                   file_name=f"trend_{dimension}_{granularity}.csv", mime="text/csv", key="tr_download",
                   icon=":material/download:", on_click=ui.record_download, args=(f"trend_{dimension}_{granularity}.csv",))

# -- the period at a glance -------------------------------------------------------------------
st.subheader(f"{trends.DIMENSIONS[dimension]}別の内訳（{period_label}）")
breakdown = ui.fetch(trends.breakdown, filters, dimension)
st.dataframe(
    breakdown.assign(share=breakdown["share"] * 100,
                     change=[None if c is None or pd.isna(c) else c * 100 for c in breakdown["change"]])
    .drop(columns=["key"]).rename(columns={"name": trends.DIMENSIONS[dimension]}),
    width="stretch", hide_index=True,
    column_config={"count": st.column_config.NumberColumn("件数", format="%d"),
                   "share": st.column_config.NumberColumn("構成比", format="%.1f%%"),
                   "previous": st.column_config.NumberColumn("前の期間", format="%d",
                                                             help="選択期間の直前の同じ長さの期間（今月・四半期は前月・前四半期の同じ日数）"),
                   "change": st.column_config.NumberColumn("増減率", format="%+.0f%%")})

# -- alerts -----------------------------------------------------------------------------------
st.subheader("アラート")
st.caption(_md(
    f"選択期間（{period_label}）に検知された急増・持続的な増加と、対策後の再発です。毎朝の自動検知と同じく、各日にはその日まで"
    "のデータだけで判定しています。テーマ・原因・商品ごとに、過去28日（平日と土日を分けて）や過去8週と比べ、"
    "偶然では説明しにくいものを強い順に最大12件表示します。"))
if not period_alerts:
    covered = (overview.last - overview.first).days + 1
    if covered <= 28:
        st.info(f"急増の判定には、比べる基準として29日分以上のデータが必要です（いまは{covered}日分）。"
                "データが増えると、ここにアラートを表示します。", icon=":material/hourglass_empty:")
    else:
        st.success("この期間に検知されたアラートはありません。", icon=":material/check_circle:")
    st.stop()

ui.text_table(pd.DataFrame({
    "種類": [KINDS.get(a.kind, a.kind) + (f"（{ALERT_GRANULARITIES.get(a.granularity, '')}）" if a.kind == "spike" else "")
           for a in period_alerts],
    "対象": [f"{a.name}（{ALERT_DIMENSIONS.get(a.dimension, a.dimension)}）" for a in period_alerts],
    "開始日": [a.since for a in period_alerts],
    "検知日": [a.detected_on for a in period_alerts],
    "観測": [a.observed for a in period_alerts],
    "通常": [round(a.expected, 1) for a in period_alerts],
    "増えた語": ["、".join(a.words) for a in period_alerts],
    "内容": [a.message for a in period_alerts],
}), column_config={"開始日": st.column_config.DateColumn(format="YYYY/MM/DD"),
                   "検知日": st.column_config.DateColumn(format="YYYY/MM/DD")})

st.markdown("**アラートのケースを見る**")
columns = st.columns(3)
for index, alert in enumerate(period_alerts):
    link_filters = replace(filters, preset="custom", start=alert.since, end=alert.detected_on, as_of=None,
                           products=(alert.key,) if alert.dimension == "product" else filters.products,
                           themes=(alert.key,) if alert.dimension == "theme" else filters.themes)
    with columns[index % 3]:
        ui.case_link(f"{_md(alert.name)}（{alert.since:%-m/%-d}〜{alert.detected_on:%-m/%-d}）", filters=link_filters,
                     cause=alert.key if alert.dimension == "cause" else None)
