"""部門フロー: how cases move between departments — the flow, holding times per department, stalls,
ping-pong between two departments, the escalation check and who handles which theme."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

import ui
from pipelines.reports import caselist, flow, shared
from pipelines.reports.caselist import CaseQuery
from pipelines.reports.shared import csv_for_excel
from pipelines.store.definitions import ESCALATION_ACTIONS, RECEIVING_DESKS, STALL_DAYS
from ui.widgets import voices

ui.frame()

st.title("部門フロー")
st.caption("ケースが部署から部署へどう渡り、どこで止まり、どこで行き来しているか。")
ui.wait_for_running_jobs()

ALL_CAUSES = "（すべての原因）"
OUTCOME_COLORS = {flow.OUTCOME_CLOSED: "#4caf50", flow.OUTCOME_OPEN: "#e53935", flow.MORE_HOPS: "#bdbdbd"}


def download(frame, file_name: str, key: str) -> None:
    st.download_button("CSV をダウンロード（Excel 用）", csv_for_excel(frame), file_name=file_name,
                       mime="text/csv", key=key, icon=":material/download:", on_click=ui.record_download,
                       args=(file_name,))


def open_case_link(case_ids, key: str, filters) -> None:
    """A case picked from a list opens in ケース一覧 (all periods, so the case is never filtered out)."""
    if len(case_ids) == 0:
        return
    chosen = st.selectbox("ケースを開く", list(case_ids), key=key, index=None, placeholder="ケース番号を選択")
    if chosen:
        ui.case_link(f"{chosen} をケース一覧で開く", filters=replace(filters, preset="all"), case=chosen)


# ---------------------------------------------------------------- controls

def controls(cause_names: list[str]) -> dict:
    """The page's own settings; the shared filters are in the sidebar."""
    state = st.session_state
    if "flow_cause" not in state:
        wanted = st.query_params.get("cause")
        if wanted and wanted not in cause_names:
            st.warning(f"原因「{ui.md(wanted)}」はデータにありません。すべての原因を表示しています。", icon=":material/warning:")
        state["flow_cause"] = wanted if wanted in cause_names else ALL_CAUSES
    elif state["flow_cause"] not in (ALL_CAUSES, *cause_names):
        state["flow_cause"] = ALL_CAUSES   # the store changed under the selection
    with st.expander("表示の設定", expanded=False, icon=":material/tune:"):
        left, middle, right = st.columns(3)
        cause = left.selectbox("原因で絞り込む", [ALL_CAUSES, *cause_names], key="flow_cause")
        max_hops = left.slider("流れ図に表示する移管の回数", 1, 6, flow.DEFAULT_MAX_HOPS, key="flow_hops",
                               help="それより先の移管は「…」にまとめます。")
        stall_days = middle.number_input("滞留とみなす日数", min_value=1, max_value=365, value=STALL_DAYS, step=1,
                                         key="flow_stall_days",
                                         help="未完了で、この日数以上、移管も更新もないケースを滞留とします。")
        min_level = right.selectbox("エスカレーション確認: 感情レベル", [3, 2, 1], key="flow_min_level",
                                    format_func=lambda v: {3: "3（重大）以上", 2: "2（怒り・緊急）以上",
                                                           1: "1（不満）以上"}[v])
        within_hours = right.number_input("エスカレーションの期限（受付からの時間）", min_value=1, max_value=720,
                                          value=int(flow.DEFAULT_WITHIN_HOURS), step=1, key="flow_within_hours")
        signals = right.checkbox("優先度「高」・責任者の要求・SNS公開の予告も確認する", value=True, key="flow_signals",
                                 help="感情レベルにかかわらず、窓口が優先度を「高」にしたケースと、お客様が責任者や"
                                      "公開を求めたケースも、エスカレーションが必要なケースとして確認します。")
    selected = None if cause == ALL_CAUSES else cause
    if selected:
        st.query_params["cause"] = selected
    elif "cause" in st.query_params:
        del st.query_params["cause"]
    return {"cause": selected, "max_hops": int(max_hops), "stall_days": int(stall_days),
            "min_level": int(min_level), "within_hours": float(within_hours), "signals": bool(signals)}


def coverage_notes(cov: flow.Coverage) -> None:
    """Say what the data cannot tell, so no number is read as more than it is."""
    if not cov.events_known and cov.route_cases == 0:
        st.warning("対応履歴（部署間の移管の記録）が取り込まれていません。担当部署と対応状況から分かる"
                   "「いまの担当」と「受付からの経過日数」だけを表示します。部署間の流れ・保持時間・滞留・差し戻しを見るには、"
                   "ケース番号・日時・移管元・移管先の列がある対応履歴ファイルを取り込んでください。", icon=":material/info:")
        ui.upload_link()
    if cov.route_cases:
        st.info(f"{cov.route_cases:,} 件のケースは、対応経路の列だけから移管が分かります。経路には日時がないため、"
                "流れと件数には使い、保持時間と滞留には使っていません。", icon=":material/route:")
    if cov.untimed_departments and cov.cases:
        st.info("日時のある移管記録がない部署（保持時間・滞留を出せません）: " + "、".join(cov.untimed_departments),
                icon=":material/schedule:")
    if cov.events_known and cov.no_event_cases:
        st.caption(f"対応履歴のないケース {cov.no_event_cases:,} 件は、担当部署の列の部署が受付から持っているものとして数えています。")
    if not cov.desk_known:
        st.warning("受付窓口にあたる部署（" + "、".join(RECEIVING_DESKS) + "）がデータにありません。"
                   "エスカレーションは、アクションの語（" + "、".join(ESCALATION_ACTIONS) + "）だけで判定し、"
                   "重大なケースはすべて確認の対象にしています。受付窓口の部署名は pipelines/store/definitions.py の RECEIVING_DESKS に追加できます。",
                   icon=":material/warning:")
    if not cov.scored:
        st.info("感情レベルの分析結果がないため、エスカレーション確認は優先度だけで判定しています。"
                "ふだんは取り込みと同時に分析されます。テーマ辞書に誤りがあると分析されないので、"
                "「テーマ探索」の辞書編集で確かめてください。", icon=":material/psychology:")


# ---------------------------------------------------------------- the flow

def sankey_figure(links, stages: list[str]) -> go.Figure:
    nodes: dict[tuple[int, str], int] = {}
    for stage, name in [*zip(links["source_stage"], links["source"]), *zip(links["target_stage"], links["target"])]:
        nodes.setdefault((int(stage), name), len(nodes))
    palette = qualitative.Set2 + qualitative.Pastel1
    names = sorted({name for stage, name in nodes if stage > 0 and name not in OUTCOME_COLORS})
    department_colors = {name: palette[i % len(palette)] for i, name in enumerate(names)}
    colors = [OUTCOME_COLORS.get(name) or ("#90a4ae" if stage == 0 else department_colors[name])
              for stage, name in nodes]
    source_index = [nodes[(int(s), n)] for s, n in zip(links["source_stage"], links["source"])]
    target_index = [nodes[(int(s), n)] for s, n in zip(links["target_stage"], links["target"])]
    figure = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=[name for _, name in nodes], color=colors, pad=14, thickness=16,
                  customdata=[stages[stage] for stage, _ in nodes],
                  hovertemplate="%{customdata}: %{label}<br>%{value:,} 件<extra></extra>"),
        link=dict(source=source_index, target=target_index,
                  value=links["cases"].tolist(), color=[_faded(colors[i]) for i in source_index],
                  hovertemplate="%{source.label} → %{target.label}<br>%{value:,} 件<extra></extra>")))
    figure.update_layout(title="ケースの流れ（受付チャネル → 受付部署 → 移管先 → 結果）", height=560,
                         margin=dict(l=10, r=10, t=50, b=10))
    return figure


def _faded(color: str) -> str:
    """The node colour at 35% opacity for the links leaving it."""
    if color.startswith("#") and len(color) == 7:
        r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
        return f"rgba({r},{g},{b},0.35)"
    if color.startswith("rgb("):
        return color.replace("rgb(", "rgba(").replace(")", ",0.35)")
    return color


def render_flow(filters, options: dict) -> None:
    links = ui.fetch(flow.sankey_links, filters, options["cause"], options["max_hops"])
    if links.empty:
        st.info("この条件に当てはまるケースがありません。サイドバーの期間や絞り込みを変えてください。", icon=":material/filter_alt_off:")
        return
    chart, picker = st.columns([3, 1])
    with chart:
        st.plotly_chart(sankey_figure(links, flow.sankey_stages(options["max_hops"])), width="stretch")
    # Streamlit cannot select a Sankey link: a selector of the hand-offs beside it does.
    handoffs = links[(links["source_stage"] >= 1) & (links["target_stage"] <= options["max_hops"] + 1)
                     & (links["source"] != links["target"])]
    handoffs = handoffs.groupby(["source", "target"], as_index=False)["cases"].sum().sort_values(
        "cases", ascending=False, ignore_index=True).head(30)
    with picker:
        labels = {f"{r.source}{caselist.HANDOFF_ARROW}{r.target}": f"{r.source} → {r.target}（{r.cases:,}件）"
                  for r in handoffs.itertuples()}
        chosen = st.radio("お客様の声を見る移管", list(labels), format_func=labels.get, index=None,
                          key="flow_handoff", help="選ぶと、その移管のあったケースを下に表示します。")
    st.caption("同じ部署が2回目に現れたときは別の列に並びます（差し戻し・回答で戻った分）。"
               f"{options['max_hops']} 回より後の移管は「{flow.MORE_HOPS}」にまとめています。")
    if chosen:
        voices(CaseQuery(filters, handoff=chosen), "flow_voices", f"{labels[chosen]}のお客様の声")


# ---------------------------------------------------------------- per department

def render_departments(filters, options: dict) -> None:
    stats = ui.fetch(flow.department_stats, filters, options["cause"])
    if stats.empty:
        st.info("この条件に当てはまるケースがありません。", icon=":material/filter_alt_off:")
        return
    # Holding times are days for the people who read them (the read model measures hours).
    stats = stats.assign(**{"保持日数の中央値": stats["保持時間の中央値（時間）"] / 24,
                            "保持日数の90%点": stats["保持時間の90%点（時間）"] / 24})
    stats = stats.drop(columns=["保持時間の中央値（時間）", "保持時間の90%点（時間）"])
    timed = stats.dropna(subset=["保持日数の中央値"])
    if not timed.empty:
        figure = go.Figure()
        figure.add_bar(y=timed["部署"], x=timed["保持日数の中央値"], orientation="h", name="中央値",
                       marker_color="#1e88e5")
        figure.add_bar(y=timed["部署"], x=timed["保持日数の90%点"], orientation="h", name="長いほうの1割（90%点）",
                       marker_color="#90caf9")
        figure.update_layout(title="部署ごとに案件を抱えていた日数（次の部署へ渡すか回答するまで）", barmode="group",
                             xaxis_title="日", yaxis_title="部署", yaxis=dict(autorange="reversed"),
                             height=max(300, 60 * len(timed) + 120), legend_title_text="")
        st.plotly_chart(figure, width="stretch")
    st.dataframe(stats, width="stretch", hide_index=True, column_config={
        "保持日数の中央値": st.column_config.NumberColumn(format="%.1f 日"),
        "保持日数の90%点": st.column_config.NumberColumn(format="%.1f 日"),
        "差し戻し率": st.column_config.NumberColumn(format="percent",
                                               help="受け取った移管のうち、回答ではなく送り主へ戻した割合"),
    })
    st.caption("担当件数・保持時間・差し戻しは、期間内に受け付けたケースの集計です。保持時間は日時のある移管記録だけから計算し、"
               "最後の担当は完了日時までを数えます。未完了の件数は期間に関係なく、基準時点でその部署が持っている"
               "ケースを受付からの経過日数で分けたものです。")
    download(stats, "部署別.csv", "flow_dl_departments")


# ---------------------------------------------------------------- stalls

def render_stalls(filters, options: dict) -> None:
    result = ui.fetch(flow.stalls, filters, options["cause"], options["stall_days"])
    cols = st.columns(3)
    cols[0].metric("滞留ケース", f"{len(result.cases):,} 件")
    cols[1].metric("未完了ケース", f"{result.open_cases:,} 件")
    cols[2].metric("最後の動きが分からないケース", f"{result.unknown:,} 件",
                   help="日時のない対応経路だけのケースや、対応履歴のないデータでは、最後に動いた日が分かりません。")
    st.caption(f"基準時点 {result.now:%Y年%m月%d日 %H:%M} で、{result.stall_days} 日以上、移管も更新もない未完了ケース。"
               "期間の絞り込みは使わず（長く止まっている古いケースこそ見るべきなので）、ほかの絞り込みは使います。")
    if result.cases.empty:
        st.success(f"{result.stall_days} 日以上止まっている未完了ケースはありません。", icon=":material/check_circle:")
        return
    ranking = result.ranking
    figure = go.Figure(go.Bar(x=ranking["滞留件数"], y=ranking["部署"], orientation="h", marker_color="#fb8c00",
                              customdata=ranking["滞留日数の中央値"],
                              hovertemplate="%{y}: %{x} 件（中央値 %{customdata} 日）<extra></extra>"))
    figure.update_layout(title="滞留ケースの多い部署", xaxis_title="滞留ケース数", yaxis_title="部署",
                         yaxis=dict(autorange="reversed"), height=max(260, 50 * len(ranking) + 120))
    st.plotly_chart(figure, width="stretch")
    st.dataframe(ranking, width="stretch", hide_index=True)
    st.subheader("滞留ケース")
    st.dataframe(result.cases, width="stretch", hide_index=True, column_config={
        "受付日時": st.column_config.DatetimeColumn(format="YYYY/MM/DD HH:mm"),
        "最後の動き": st.column_config.DatetimeColumn(format="YYYY/MM/DD HH:mm")})
    download(result.cases, "滞留ケース.csv", "flow_dl_stalls")
    open_case_link(result.cases["ケース番号"], "flow_open_stall", filters)


# ---------------------------------------------------------------- ping-pong

def render_ping_pong(filters, options: dict) -> None:
    result = ui.fetch(flow.ping_pong, filters, options["cause"])
    if result.cases.empty:
        st.success("期間内に、部署のあいだを行き来したケースはありません。", icon=":material/check_circle:")
        return
    cols = st.columns(3)
    cols[0].metric("行き来したケース", f"{len(result.cases):,} 件")
    cols[1].metric("差し戻しの回数", f"{int(result.cases['差し戻し回数'].sum()):,} 回")
    hours = result.cases["往復にかかった時間（時間）"].sum()
    cols[2].metric("往復にかかった時間の合計", f"{hours / 24:,.1f} 日")
    st.caption("A→B→A のように、受け取った部署が回答ではなく送り主へ戻したもの（「差戻し」のアクション、"
               "または送り主がすぐ同じ部署へ送り直したもの）を1回と数えます。時間は最初の A→B から、"
               "最後の往復が終わって B が次へ渡すか回答する（送り直しがなければ A が次へ渡す）までです。")
    st.dataframe(result.pairs, width="stretch", hide_index=True)
    st.subheader("行き来したケース")
    st.dataframe(result.cases, width="stretch", hide_index=True, column_config={
        "受付日時": st.column_config.DatetimeColumn(format="YYYY/MM/DD HH:mm")})
    download(result.cases, "差し戻しケース.csv", "flow_dl_pingpong")
    open_case_link(result.cases["ケース番号"], "flow_open_pingpong", filters)


# ---------------------------------------------------------------- escalation check

def render_escalation(filters, options: dict, colors: dict[str, str]) -> None:
    result = ui.fetch(flow.escalation_check, filters, options["cause"], options["min_level"],
                   options["within_hours"], options["signals"])
    limit = f"{options['within_hours']:g} 時間"
    severe_words = f"感情レベル {options['min_level']} 以上" + (
        "、優先度「高」、または責任者の要求・公開の予告がある" if options["signals"] else "")
    cols = st.columns(4)
    cols[0].metric("確認したケース", f"{result.severe:,} 件", help=severe_words)
    cols[1].metric(f"{limit}以内にエスカレーション", f"{result.in_time:,} 件")
    cols[2].metric(f"{limit}以内に受付で完了", f"{result.resolved:,} 件")
    cols[3].metric("期限内に上がらなかった", f"{len(result.cases):,} 件")
    notes = []
    if result.not_due:
        notes.append(f"まだ期限前のもの {result.not_due:,} 件")
    if result.untimed:
        notes.append(f"対応経路の列だけで日時が分からないもの {result.untimed:,} 件")
    if result.not_desk:
        notes.append(f"受付窓口を通っていないもの {result.not_desk:,} 件")
    st.caption(f"対象: 期間内に受け付けた、{severe_words}のケース。エスカレーション = 受付窓口（"
               + "、".join(RECEIVING_DESKS) + "）からほかの部署への移管、またはアクションが「"
               + "」「".join(ESCALATION_ACTIONS) + "」の記録。" + ("　除外: " + "、".join(notes) if notes else ""))
    if result.cases.empty:
        st.success(f"期限（受付から {limit}）内に上がらなかった重大ケースはありません。", icon=":material/check_circle:")
    else:
        # 理由 quotes the customer's words: plain cells only.
        ui.text_table(result.cases, column_config={
            "受付日時": st.column_config.DatetimeColumn(format="YYYY/MM/DD HH:mm"),
            "エスカレーション日時": st.column_config.DatetimeColumn(format="YYYY/MM/DD HH:mm")})
        download(result.cases, "エスカレーション確認.csv", "flow_dl_escalation")
        open_case_link(result.cases["ケース番号"], "flow_open_escalation", filters)
    by_theme = result.by_theme
    if not by_theme.empty:
        st.subheader("テーマ別のエスカレーション")
        figure = go.Figure(go.Bar(
            x=by_theme["テーマ"], y=by_theme["エスカレーション率"],
            marker_color=[colors.get(name, "#9e9e9e") for name in by_theme["テーマ"]],
            customdata=by_theme[["エスカレーション件数", "ケース数"]].to_numpy(),
            hovertemplate="%{x}: %{y:.0%}（%{customdata[0]:,} / %{customdata[1]:,} 件）<extra></extra>"))
        figure.update_layout(title="テーマ別のエスカレーション率", xaxis_title="テーマ", yaxis_title="エスカレーション率",
                             yaxis_tickformat=".0%")
        st.plotly_chart(figure, width="stretch")
        st.dataframe(by_theme, width="stretch", hide_index=True, column_config={
            "エスカレーション率": st.column_config.NumberColumn(format="percent")})


# ---------------------------------------------------------------- theme × department

def render_matrix(filters, options: dict) -> None:
    matrix = ui.fetch(flow.theme_department_matrix, filters, options["cause"])
    if matrix.empty:
        st.info("この条件に当てはまるケースがありません。", icon=":material/filter_alt_off:")
        return
    metric = st.radio("色で表す値", ["件数", "保持時間の中央値（時間）"], horizontal=True, key="flow_matrix_metric")
    themes = list(dict.fromkeys(matrix["テーマ"]))
    departments = list(matrix.groupby("部署")["件数"].sum().sort_values(ascending=False).index)
    counts = matrix.pivot(index="テーマ", columns="部署", values="件数").reindex(index=themes, columns=departments)
    hours = matrix.pivot(index="テーマ", columns="部署", values="保持時間の中央値（時間）").reindex(
        index=themes, columns=departments)
    z = counts if metric == "件数" else hours
    text = counts.map(lambda v: "" if v != v else f"{int(v):,}")
    figure = go.Figure(go.Heatmap(
        z=z.to_numpy(), x=departments, y=themes, colorscale="Blues" if metric == "件数" else "OrRd",
        text=text.to_numpy(), texttemplate="%{text}", customdata=hours.round(1).to_numpy(),
        hovertemplate="%{y} × %{x}<br>件数 %{text}<br>保持時間の中央値 %{customdata} 時間<extra></extra>",
        colorbar=dict(title=metric)))
    figure.update_layout(title=f"テーマ × 部署（{metric}）", xaxis_title="部署", yaxis_title="テーマ",
                         yaxis=dict(autorange="reversed"), height=max(360, 34 * len(themes) + 140))
    st.plotly_chart(figure, width="stretch")
    st.caption("セルの数字はそのテーマのケースをその部署が持った件数。1件のケースが複数のテーマを持つときは、それぞれに数えます。")


# ---------------------------------------------------------------- the page

overview = ui.store_overview("部署間の移管の流れ・滞留・ピンポン・エスカレーションが表示されます"
                              "（対応履歴＝部署間の移管の記録も取り込んでください）。")

current = ui.filters()
options = controls(ui.fetch(flow.cause_options))
period = ui.fetch(shared.period, current)
st.caption(f"期間: {period.label}（{period.start:%Y/%m/%d}〜{period.end - timedelta(days=1):%Y/%m/%d}）　"
           f"基準時点: {period.now:%Y/%m/%d %H:%M}"
           + (f"　原因: {options['cause']}" if options["cause"] else ""))
coverage = ui.fetch(flow.coverage, current, options["cause"])
coverage_notes(coverage)

tabs = st.tabs(["流れ", "部署別", "滞留", "差し戻し", "エスカレーション確認", "テーマ × 部署"])
with tabs[0]:
    render_flow(current, options)
with tabs[1]:
    render_departments(current, options)
with tabs[2]:
    render_stalls(current, options)
with tabs[3]:
    render_ping_pong(current, options)
with tabs[4]:
    render_escalation(current, options, ui.theme_colors())
with tabs[5]:
    render_matrix(current, options)
