"""テーマ探索: how cases spread over themes, what characterises a theme (words, compounds, the
co-occurrence network), its verbatims in context (KWIC), what no theme catches yet (with topic
suggestions), and the editor for the theme rules (preview over stored terms, save, re-tag)."""
from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from pipelines.jobs import runner
from pipelines.nlp.text import normalize
from pipelines.reports import explore, shared, theme_packs
from pipelines.reports.caselist import LEVELS
from pipelines.rules import themes as th
from pipelines.store import access, filters as flt

ui.frame()

TABS = ("分布・推移", "特徴語・共起ネットワーク", "KWIC（文脈付き検索）", "未分類・トピック提案", "テーマ辞書の編集",
        "業種パック・精度")
TAB_DIST, TAB_TERMS, TAB_KWIC, TAB_UNCLASSIFIED, TAB_EDITOR, TAB_PACKS = TABS
DEFAULT_ONLY = ""   # the pack choice 「標準の分類のみ」
NEW_THEME = "__new__"
TERM_LIMIT, COMPOUND_LIMIT, PAGE_SIZE = 50, 20, 20
GROUP_COLORS = px.colors.qualitative.Set2 + px.colors.qualitative.Pastel1
# Widget values kept while their tab is closed (Streamlit drops the state of widgets not drawn in a run).
_KEPT = ("th_grain", "th_term", "th_q", "th_kwic_page", "th_edges", "th_min_cases", "th_uncl_page",
         "th_edit_target", "th_edit_id", "th_edit_name", "th_edit_color", "th_edit_rule")
for _key in _KEPT:
    if _key in st.session_state:
        st.session_state[_key] = st.session_state[_key]


def _md(text: str) -> str:
    """Escape Markdown in text that goes into a Markdown element (captions, messages)."""
    return ui.md(text)


def _rows_height(rows: int) -> int:
    """Pixel height that shows a page of rows without an inner scroll bar."""
    return 38 + 35 * max(rows, 1)


def _label(text: str) -> str:
    """Plotly reads a subset of HTML in labels: show words as written."""
    return html.escape(str(text))


# -- the re-tag after a save ------------------------------------------------------------------

def _retag_status() -> None:
    """While the re-tag started by 保存 runs: 「更新中」 with its progress, refreshed every second;
    when it is over, what happened."""
    job_id = st.session_state.get("th_retag_job")
    if not job_id:
        return
    state = runner.read(runner.job_file(_store(), job_id)) or {}
    status = state.get("status")
    if status in ("queued", "running") or not state:
        @st.fragment(run_every=1.0)
        def progress() -> None:
            current = runner.read(runner.job_file(_store(), job_id)) or {}
            if current.get("status") not in (None, "queued", "running"):
                st.rerun()
            total, done = current.get("total") or 0, current.get("done") or 0
            st.progress(min(done / total, 1.0) if total else 0.0,
                        text=f"更新中: テーマ辞書の変更を反映しています — {current.get('phase', '待機中')}"
                             + (f"（{done:,} / {total:,} 件）" if total else ""))
        progress()
        st.stop()
    del st.session_state["th_retag_job"]
    if status == "done" and not state.get("errors"):
        analysed = (state.get("analysis") or {}).get("analysed", 0)
        what = "業種パックを切り替え" if (state.get("spec") or {}).get("theme_pack") is not None else "テーマ辞書を保存し"
        st.success(f"{what}、テーマを付け直しました（{analysed:,} 件を再分析）。", icon=":material/check_circle:")
    else:
        messages = "／".join(e.get("message", "") for e in state.get("errors", [])) or "理由不明"
        st.error(f"テーマ辞書は保存しましたが、テーマの付け直しに失敗しました: {_md(messages)}。"
                 "「保存」をもう一度押すか、`python -m pipelines analyze` を実行してください。", icon=":material/error:")


def _store() -> Path:
    return Path(ui.store_path())


st.title("テーマ探索")
_retag_status()
ui.wait_for_running_jobs()

overview = ui.store_overview("テーマごとの件数・特徴語・共起ネットワーク・文脈付き検索が表示されます。")
names = ui.fetch(explore.theme_names)

filters = ui.filters()
period = ui.query(shared.period, filters)
distribution = ui.query(explore.theme_distribution, filters)
if period is None or distribution is None:
    ui.busy_notice()
    st.stop()
colors = ui.theme_colors()
last_day = period.end - timedelta(days=1)
describe = flt.describe(filters, {k: v for k, v in names.items() if k != explore.UNCLASSIFIED})
st.caption(_md(f"{period.label}（{period.start:%Y/%m/%d}〜{last_day:%Y/%m/%d}）" + (f" ／ {describe}" if describe else "")))

# -- the theme the term, network and KWIC tabs look at --------------------------------------

counts = dict(zip(distribution["theme_id"], distribution["件数"]))
theme_options = [t for t in distribution["theme_id"] if t != explore.UNCLASSIFIED] + [explore.UNCLASSIFIED, "__all__"]
if st.session_state.get("th_theme") not in theme_options:
    ranked = distribution[distribution["theme_id"] != explore.UNCLASSIFIED].sort_values("件数", ascending=False)
    st.session_state["th_theme"] = ranked["theme_id"].iloc[0] if not ranked.empty else "__all__"
selected = st.selectbox(
    "見るテーマ（特徴語・共起ネットワーク・KWIC）", theme_options, key="th_theme",
    format_func=lambda t: "すべてのケース" if t == "__all__" else f"{names.get(t, t)}（{counts.get(t, 0):,} 件）")
theme = None if selected == "__all__" else selected
theme_name = "すべてのケース" if theme is None else names.get(theme, theme)

tabs = st.tabs(TABS, key="th_tab", on_change="rerun")
tab = dict(zip(TABS, tabs))


# -- 分布・推移 ----------------------------------------------------------------------------------

def render_distribution() -> None:
    scope = ui.query(explore.unclassified_cases, filters, 1, 1)
    if scope is None:
        ui.busy_notice()
        return
    cols = st.columns(3)
    cols[0].metric("対象ケース", f"{scope.cases:,} 件")
    cols[1].metric("テーマ付き（カバー率）", f"{1 - scope.share:.1%}" if scope.cases else "—")
    cols[2].metric("未分類", f"{scope.total:,} 件")
    if not scope.cases:
        st.info("この期間・条件に当てはまるケースがありません。サイドバーの期間や絞り込みを広げてください。",
                icon=":material/filter_alt_off:")
        return
    shown = distribution.assign(表示名=distribution["テーマ"].map(_label))
    figure = px.bar(shown, x="件数", y="表示名", orientation="h", color="テーマ", color_discrete_map=colors,
                    text="件数", title="テーマ別の件数（1件に複数テーマが付くことがあります）",
                    custom_data=["割合"])
    figure.update_traces(hovertemplate="%{y}<br>%{x:,} 件（%{customdata[0]:.1%}）<extra></extra>")
    figure.update_layout(xaxis_title="件数", yaxis_title="テーマ", showlegend=False, height=120 + 28 * len(shown))
    figure.update_yaxes(categoryorder="array", categoryarray=list(shown["表示名"])[::-1])
    st.plotly_chart(figure, width="stretch", key="th_dist_chart")

    grain = st.radio("推移の単位", ["week", "month"], format_func={"week": "週別", "month": "月別"}.get,
                     horizontal=True, key="th_grain")
    trend = ui.query(explore.theme_trend, filters, grain)
    if trend is None:
        ui.busy_notice()
        return
    figure = px.line(trend, x="期間", y="件数", color="テーマ", color_discrete_map=colors, markers=True,
                     title=f"テーマ別の件数の推移（{'週' if grain == 'week' else '月'}別）")
    figure.update_layout(xaxis_title="週の初日（月曜）" if grain == "week" else "月", yaxis_title="件数",
                         legend_title_text="テーマ（クリックで表示切替）")
    figure.update_xaxes(tickformat="%Y/%m/%d" if grain == "week" else "%Y年%-m月")
    st.plotly_chart(figure, width="stretch", key="th_trend_chart")
    st.caption("期間の最初と最後の週・月は、期間に含まれる日だけを数えています。")


# -- 特徴語・共起ネットワーク ------------------------------------------------------------------------

def _go_to_kwic(option: str) -> None:
    st.session_state.update(th_term=option, th_q="", th_kwic_page=1, th_tab=TAB_KWIC)


def _pick_from_table(table_key: str, options_key: str) -> None:
    rows = st.session_state[table_key]["selection"]["rows"]
    options = st.session_state.get(options_key, [])
    if rows and rows[0] < len(options):
        _go_to_kwic(options[rows[0]])


def _pick_from_network() -> None:
    points = st.session_state["th_network"]["selection"]["points"]
    for point in points:
        data = point.get("customdata")
        term = data[0] if isinstance(data, (list, tuple)) and data else data
        if isinstance(term, str) and term:
            _go_to_kwic(f"t:{term}")
            return


def network_figure(network: explore.Network) -> go.Figure:
    """Nodes sized by cases, edges by Jaccard (drawn in three widths), colours by community."""
    nodes, edges = network.nodes, network.edges
    where = {term: (x, y) for term, x, y in zip(nodes["語"], nodes["x"], nodes["y"])}
    figure = go.Figure()
    strongest = edges["Jaccard"].max() if not edges.empty else 1.0
    for low, high, width in ((0.0, 1 / 3, 1.0), (1 / 3, 2 / 3, 2.5), (2 / 3, 1.01, 4.5)):
        part = edges[(edges["Jaccard"] / strongest >= low) & (edges["Jaccard"] / strongest < high)]
        xs, ys = [], []
        for a, b in zip(part["語1"], part["語2"]):
            xs += [where[a][0], where[b][0], None]
            ys += [where[a][1], where[b][1], None]
        if xs:
            figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(width=width, color="#b0b0b0"),
                                        hoverinfo="skip", showlegend=False))
    biggest = max(int(nodes["件数"].max()), 1)
    figure.add_trace(go.Scatter(
        x=nodes["x"], y=nodes["y"], mode="markers+text", text=[_label(t) for t in nodes["語"]],
        textposition="top center", showlegend=False,
        customdata=list(zip(nodes["語"], nodes["件数"], nodes["グループ"])),
        marker=dict(size=[12 + 30 * (n / biggest) ** 0.5 for n in nodes["件数"]],
                    color=[GROUP_COLORS[(g - 1) % len(GROUP_COLORS)] for g in nodes["グループ"]],
                    line=dict(width=1, color="#ffffff")),
        hovertemplate="%{customdata[0]}<br>出現 %{customdata[1]:,} 件<br>グループ %{customdata[2]}<extra></extra>"))
    figure.update_layout(title=f"共起ネットワーク（{_label(theme_name)}・上位 {len(edges)} 本の共起）", height=620,
                         xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
                         margin=dict(l=10, r=10, t=50, b=10), dragmode="pan")
    return figure


def render_terms() -> None:
    terms = ui.query(explore.top_terms, filters, theme, TERM_LIMIT)
    compounds = ui.query(explore.top_compounds, filters, theme, COMPOUND_LIMIT)
    if terms is None or compounds is None:
        ui.busy_notice()
        return
    if terms.empty:
        st.info(f"「{_md(theme_name)}」のケースがこの期間・条件にありません。テーマか絞り込みを変えてください。",
                icon=":material/search_off:")
        return
    st.caption("特徴度 = このテーマのケースと、その語を含むケースの Jaccard 係数（KH Coder の関連語と同じ尺度）。"
               "リフト = テーマ内での出現割合 ÷ 絞り込み全体での出現割合。「(否定)」は否定された形"
               "（届く(否定) = 届かない）で、否定されていない形とは別に数えます。行をクリックすると KWIC に移ります。")
    percent = st.column_config.NumberColumn(format="percent")
    config = {"割合": percent, "全体の割合": percent, "リフト": st.column_config.NumberColumn(format="%.2f"),
              "特徴度": st.column_config.NumberColumn(format="%.3f"), "FLR": st.column_config.NumberColumn(format="%.0f")}
    left, right = st.columns([3, 2])
    with left:
        st.subheader("特徴語")
        st.session_state["th_term_options"] = [f"t:{t}" for t in terms["語"]]
        ui.text_table(terms, column_config=config, height=420, key="th_terms_table", on_select=lambda: _pick_from_table(
            "th_terms_table", "th_term_options"), selection_mode="single-row")
    with right:
        st.subheader("複合語")
        if compounds.empty:
            st.caption("複数の語がつながった複合語（二重請求・賞味期限 など）は見つかりませんでした。")
        else:
            st.session_state["th_compound_options"] = [f"c:{t}" for t in compounds["複合語"]]
            ui.text_table(compounds[["複合語", "件数", "割合", "リフト", "特徴度", "FLR"]], column_config=config, height=420,
                          key="th_compounds_table", selection_mode="single-row",
                          on_select=lambda: _pick_from_table("th_compounds_table", "th_compound_options"))

    st.subheader("共起ネットワーク")
    controls = st.columns(2)
    # Defaults through session state, not value=: the kept values (_KEPT) come back the same way.
    st.session_state.setdefault("th_edges", 60)
    st.session_state.setdefault("th_min_cases", 0)
    edges = controls[0].slider("描画する共起関係（上位）", 10, 150, step=10, key="th_edges")
    min_cases = controls[1].number_input("語の最小出現ケース数（0 = 自動）", min_value=0, max_value=10_000, step=1,
                                         key="th_min_cases")
    network = ui.query(explore.cooccurrence, filters, theme, int(edges), int(min_cases) or None)
    if network is None:
        ui.busy_notice()
        return
    if network.edges.empty:
        st.info(f"共起関係を描けるだけの語がありません（{network.min_cases} 件以上のケースに出てくる語が "
                f"{network.terms_considered} 語）。最小出現ケース数を下げるか、期間を広げてください。",
                icon=":material/hub:")
        return
    st.plotly_chart(network_figure(network), width="stretch", key="th_network", on_select=_pick_from_network,
                    selection_mode="points")
    st.caption(f"{network.cases:,} 件のケースで {network.min_cases} 件以上に出てくる語（{network.terms_considered} 語、"
               "多い順に最大 120 語）の組み合わせのうち、Jaccard 係数の大きい順に描いています。円の大きさ = 出現ケース数、"
               "線の太さ = Jaccard 係数、色 = よく一緒に出てくる語のグループ。語をクリックすると KWIC に移ります。")
    with st.expander("共起関係の一覧"):
        ui.text_table(network.edges, column_config={"Jaccard": st.column_config.NumberColumn(format="%.3f")})


# -- KWIC -------------------------------------------------------------------------------------

def _reset_kwic_page() -> None:
    st.session_state["th_kwic_page"] = 1


def render_kwic() -> None:
    terms = ui.query(explore.top_terms, filters, theme, TERM_LIMIT)
    compounds = ui.query(explore.top_compounds, filters, theme, COMPOUND_LIMIT)
    if terms is None or compounds is None:
        ui.busy_notice()
        return
    options = ["", *(f"t:{t}" for t in terms["語"]), *(f"c:{t}" for t in compounds["複合語"])]
    current = st.session_state.get("th_term")
    if current and current not in options:
        options.append(current)   # picked in the network, beyond the top terms
    if current not in options:
        st.session_state["th_term"] = ""

    def show(option: str) -> str:
        if not option:
            return "（キーワードなし: テーマの根拠語を中心に表示）"
        kind, word = option[:2], option[2:]
        return f"{word}（複合語・本文中の文字列）" if kind == "c:" else word

    cols = st.columns([2, 2, 1])
    option = cols[0].selectbox("キーワード（特徴語・複合語から選択）", options, key="th_term", format_func=show,
                               on_change=_reset_kwic_page)
    query_text = cols[1].text_input("本文を検索（部分一致。入力するとこちらが優先）", key="th_q", max_chars=100,
                                    on_change=_reset_kwic_page).strip()
    term = text = None
    if query_text:
        text = normalize(query_text)   # the stored text is NFKC-normalised
    elif option.startswith("t:"):
        term = option[2:]
    elif option.startswith("c:"):
        text = option[2:]
    page_number = int(st.session_state.get("th_kwic_page", 1))
    result = ui.query(explore.kwic, filters, theme, term, text, page_number, PAGE_SIZE)
    if result is None:
        ui.busy_notice()
        return
    if page_number > result.pages:
        st.session_state["th_kwic_page"] = page_number = 1
        result = ui.query(explore.kwic, filters, theme, term, text, 1, PAGE_SIZE)
        if result is None:
            ui.busy_notice()
            return
    cols[2].number_input(f"ページ（全 {result.pages:,}）", min_value=1, max_value=result.pages, step=1,
                         key="th_kwic_page")
    scope = f"「{theme_name}」のケース" if theme else "すべてのケース"
    if term:
        st.caption(_md(f"「{term}」: {result.total:,} か所（{scope}）。1行が1回の出現です。"))
    elif text:
        st.caption(_md(f"「{text}」を含むケース: {result.total:,} 件（{scope}）。各ケースの最初の出現を表示します。"))
    else:
        st.caption(_md(f"{scope}: {result.total:,} 件。キーワード欄はテーマが付いた根拠語（最初に現れるもの）です。"))
    if result.rows.empty:
        st.info("該当する箇所がありません。キーワードを変えるか、テーマを「すべてのケース」にしてください。",
                icon=":material/search_off:")
        return
    rows = result.rows.assign(感情レベル=result.rows["感情レベル"].map(lambda v: LEVELS.get(v, "—")))
    ui.text_table(rows, column_config={
        "受付日時": st.column_config.DatetimeColumn(format="YYYY/MM/DD HH:mm"),
        "左文脈": st.column_config.TextColumn(alignment="right", width="medium"),
        "キーワード": st.column_config.TextColumn(width="small", help="選んだ語・文字列（否定の形を含む）の本文中の表記"),
        "右文脈": st.column_config.TextColumn(width="medium"),
        "根拠語": st.column_config.TextColumn(help="テーマを付けた根拠になった語"),
    }, key="th_kwic_table", height=_rows_height(len(rows)))
    links = st.columns(2)
    with links[0]:
        keys = {"term": explore.split_term(term)[0]} if term else {"q": text} if text else {}
        theme_filters = replace(filters, themes=(theme,)) if theme and theme != explore.UNCLASSIFIED else filters
        ui.case_link("これらのケースをケース一覧で見る", filters=theme_filters, **keys)
    links[1].download_button("このページを CSV でダウンロード", shared.csv_for_excel(rows), file_name="KWIC.csv",
                             mime="text/csv", key="th_kwic_download", on_click=ui.record_download, args=("KWIC.csv",))


# -- 未分類・トピック提案 ----------------------------------------------------------------------------

def _fill_editor(rule: str, terms: str, topic_no: int) -> None:
    """One click: a new theme in the editor with the suggestion's rule, then switch to the editor."""
    try:
        rules = th.load_rules()
        taken = {t.theme_id for t in rules.themes}
        color = rules.spare_color()
    except th.RuleError:
        taken, color = set(), "#4E79A7"
    theme_id = f"topic_{topic_no}"
    suffix = 2
    while theme_id in taken:
        theme_id, suffix = f"topic_{topic_no}_{suffix}", suffix + 1
    words = [w.replace(explore.NEGATED_SUFFIX, "") for w in terms.split("、") if w][:2]
    name = re.sub(r"[\[\]#\n]", "", "・".join(dict.fromkeys(words))) or f"トピック{topic_no}"
    st.session_state.update(th_edit_target=NEW_THEME, th_edit_id=theme_id, th_edit_name=name, th_edit_color=color,
                            th_edit_rule=rule, th_tab=TAB_EDITOR)
    st.session_state.pop("th_preview", None)


def render_unclassified() -> None:
    first = ui.query(explore.unclassified_cases, filters, 1, PAGE_SIZE)
    if first is None:
        ui.busy_notice()
        return
    cols = st.columns(3)
    cols[0].metric("未分類のケース", f"{first.total:,} 件")
    cols[1].metric("未分類の割合（1 − カバー率）", f"{first.share:.1%}" if first.cases else "—")
    cols[2].metric("対象ケース", f"{first.cases:,} 件")
    if not first.total:
        st.success("この期間・条件のケースには、すべてテーマが付いています。", icon=":material/check_circle:")
        return
    page_number = int(st.session_state.get("th_uncl_page", 1))
    if page_number > first.pages:   # the filters changed under a later page
        st.session_state["th_uncl_page"] = page_number = 1
    st.number_input(f"ページ（全 {first.pages:,}）", min_value=1, max_value=first.pages, step=1, key="th_uncl_page")
    result = first if page_number == 1 else ui.query(explore.unclassified_cases, filters, page_number, PAGE_SIZE)
    if result is None:
        ui.busy_notice()
        return
    ui.text_table(result.rows.assign(感情レベル=result.rows["感情レベル"].map(lambda v: LEVELS.get(v, "—"))),
                  column_config={"受付日時": st.column_config.DatetimeColumn(format="YYYY/MM/DD HH:mm")},
                  key="th_uncl_table", height=_rows_height(len(result.rows)))

    st.subheader("トピック提案")
    st.caption("未分類のケースを、よく一緒に出てくる語でまとめた候補です（NMF、同じデータなら毎回同じ結果）。"
               "「エディタに入れる」で、そのルールを新しいテーマとしてテーマ辞書の編集に入れます。"
               "保存する前にプレビューで該当ケースを確かめてください。")
    suggestions = ui.query(explore.topic_suggestions, filters)
    if suggestions is None:
        ui.busy_notice()
        return
    if suggestions.empty:
        st.info("提案できるだけの未分類ケースがありません（10 件以上必要です）。期間を広げてください。", icon=":material/lightbulb:")
        return
    for row in suggestions.itertuples(index=False):
        with st.container(border=True):
            head, button = st.columns([3, 1])
            head.text(f"トピック {row.番号}（{row.件数:,} 件）　特徴語: {row.特徴語}")
            button.button("エディタに入れる", key=f"th_suggest_{row.番号}", on_click=_fill_editor,
                          args=(row.ルール, row.特徴語, int(row.番号)), icon=":material/edit_note:")
            st.code(row.ルール, language=None)
            st.text(f"例: {row.例文[:160]}{'…' if len(row.例文) > 160 else ''}")


# -- テーマ辞書の編集 ---------------------------------------------------------------------------------

def _load_into_editor(rules: th.RuleSet, target: str) -> None:
    if target == NEW_THEME:
        values = ("", "", rules.spare_color(), "")
    else:
        found = rules.theme(target)
        values = (found.theme_id, found.name, found.color, found.source)
    for key, value in zip(("th_edit_id", "th_edit_name", "th_edit_color", "th_edit_rule"), values):
        st.session_state[key] = value
    st.session_state.pop("th_preview", None)


def _on_target_change() -> None:
    try:
        _load_into_editor(th.load_rules(), st.session_state["th_edit_target"])
    except (th.RuleError, StopIteration):
        pass


def _draft() -> explore.ThemeDraft:
    state = st.session_state
    return explore.ThemeDraft(state.get("th_edit_id", "").strip(), state.get("th_edit_name", ""),
                              state.get("th_edit_color", ""), state.get("th_edit_rule", ""),
                              new=state.get("th_edit_target") == NEW_THEME)


def _show_rule_error(message: str) -> None:
    """The reason in a message box, the line with a caret under the mistake as plain text."""
    head, _, rest = message.partition("\n")
    st.error(_md(head), icon=":material/error:")
    excerpt = "\n".join(line for line in rest.splitlines() if not line.startswith("書き方"))
    if excerpt.strip():
        st.code(excerpt, language=None)
    st.caption("ルールの書き方: docs/themes.md（語・!neg・and/or/not・near()・text:・/正規表現/）")


def _show_preview(preview: explore.RulePreview) -> None:
    if preview.error:
        _show_rule_error(preview.error)
        st.caption("エラーのため、テーマ辞書は変更していません。")
        return
    cols = st.columns(4)
    cols[0].metric("該当するケース", f"{preview.hits:,} 件",
                   delta=f"{preview.hits - preview.before:+,} 件（現在 {preview.before:,}）",
                   delta_color="off")
    cols[1].metric("新たに付く", f"{preview.added:,} 件")
    cols[2].metric("外れる", f"{preview.removed:,} 件")
    cols[3].metric("カバー率", f"{preview.coverage_after:.1%}",
                   delta=f"{(preview.coverage_after - preview.coverage_before) * 100:+.1f} ポイント", delta_color="normal")
    st.caption(f"保存済みの全ケース {preview.cases:,} 件の語（取り込み時に解析済み）で試した結果です。"
               "テーマ辞書はまだ変更していません。")
    if not preview.examples.empty:
        st.markdown("**該当するケースの例**（新規を先に表示）")
        ui.text_table(preview.examples, column_config={
            "受付日時": st.column_config.DatetimeColumn(format="YYYY/MM/DD HH:mm"),
            "根拠語": st.column_config.TextColumn(help="このルールで一致した語")}, key="th_preview_table")
    if not preview.removed_examples.empty:
        st.markdown("**外れるケースの例**")
        ui.text_table(preview.removed_examples, column_config={
            "受付日時": st.column_config.DatetimeColumn(format="YYYY/MM/DD HH:mm")}, key="th_removed_table")


def render_editor() -> None:
    if not ui.actor().can(access.EDIT_RULES):   # explore.save_draft refuses them too
        st.info("テーマ辞書の編集は相談室長の役割の人が行います。ほかのタブはご覧いただけます。", icon=":material/lock:")
        return
    path = th.rules_path()
    try:
        rules = th.load_rules(path)
    except th.RuleError as exc:
        st.error(f"テーマ辞書 {_md(path.name)} を読めません。ファイルを直してからこの画面を開き直してください。",
                 icon=":material/error:")
        st.code(exc.message_ja(), language=None)
        return
    targets = [t.theme_id for t in rules.themes] + [NEW_THEME]
    labels = {t.theme_id: f"{t.name} [{t.theme_id}]" for t in rules.themes}
    if st.session_state.get("th_edit_target") not in targets:
        st.session_state["th_edit_target"] = targets[0]
        _load_into_editor(rules, targets[0])
    elif "th_edit_rule" not in st.session_state:
        _load_into_editor(rules, st.session_state["th_edit_target"])
    st.caption(f"テーマ辞書: {path}（保存すると、ほかのテーマ・コメント・並び順はそのままで、このテーマだけが書き換わります）。"
               "テーマIDは集計の鍵なので、名前を変えても変わりません。")
    target = st.selectbox("編集するテーマ", targets, key="th_edit_target", on_change=_on_target_change,
                          format_func=lambda t: "＋ 新しいテーマを追加" if t == NEW_THEME else labels.get(t, t))
    cols = st.columns([2, 3, 1])
    cols[0].text_input("テーマID（英小文字・数字・_）", key="th_edit_id", disabled=target != NEW_THEME, max_chars=32)
    cols[1].text_input("名前", key="th_edit_name", max_chars=40)
    cols[2].color_picker("色", key="th_edit_color")
    st.text_area("ルール（1行が1つの条件。行どうしは or。# 以降はコメント）", key="th_edit_rule", height=220,
                 help="例: 届く!neg（届かない）／ near(荷物, 遅れる, 8) ／ キャップ and (緩い | 漏れる) ／ text:置き配。"
                      "詳しくは docs/themes.md")
    buttons = st.columns([1, 1, 1, 3])
    # Callbacks, not `if st.button(...)`: they run before the script, so their result is in the
    # session before the page draws and survives any rerun (a button is True for one script run only).
    buttons[0].button("プレビュー", key="th_preview_button", on_click=_preview, args=(explore.theme_headers(rules),),
                      icon=":material/visibility:")
    buttons[1].button("保存", key="th_save_button", on_click=_save, args=(path,), type="primary", icon=":material/save:")
    buttons[2].button("元に戻す", key="th_revert_button", on_click=_on_target_change, icon=":material/undo:")
    save_error = st.session_state.pop("th_save_error", None)
    if save_error:
        _show_rule_error(save_error)
        st.caption("エラーのため、テーマ辞書は変更していません。")
    preview = st.session_state.get("th_preview")
    if preview is None:
        return
    if preview == "busy":
        ui.busy_notice()
    elif preview.draft != _draft():
        st.caption("ルールが変わりました。もう一度「プレビュー」を押してください。")
    else:
        _show_preview(preview)


def _preview(headers: tuple[tuple[str, str, str], ...]) -> None:
    result = ui.query(explore.preview_rule, _draft(), headers)
    st.session_state["th_preview"] = "busy" if result is None else result


def _save(path: Path) -> None:
    draft = _draft()
    st.session_state.pop("th_preview", None)
    try:
        explore.save_draft(draft, path, actor=ui.actor(), store=ui.store_path())
    except (th.RuleError, access.AccessDenied) as exc:
        st.session_state["th_save_error"] = exc.message_ja()
        return
    st.session_state["th_retag_job"] = runner.start_analyze(ui.store_path(), actor=ui.actor())
    if draft.new:
        st.session_state["th_edit_target"] = draft.theme_id


# -- 業種パック・精度 ------------------------------------------------------------------------------

def _pack_label(pack_id: str | None, packs) -> str:
    if not pack_id:
        return "標準の分類のみ"
    row = packs[packs["pack_id"] == pack_id]
    return row["パック"].iloc[0] if not row.empty else pack_id


def _apply_pack() -> None:
    """The button's callback (a callback, so the click survives the tabs' rerun): re-tag with the choice."""
    try:
        st.session_state["th_retag_job"] = runner.start_analyze(
            ui.store_path(), label="業種パックの変更を反映", actor=ui.actor(), theme_pack=st.session_state["th_pack_choice"])
    except access.AccessDenied as exc:
        st.session_state["th_pack_error"] = exc.message_ja()


def render_packs() -> None:
    status = ui.query(theme_packs.pack_status)
    quality = ui.query(theme_packs.theme_quality)
    if status is None or quality is None:
        ui.busy_notice()
        return
    packs = status.packs
    st.subheader("業種パック")
    if status.chosen is None:
        st.info("業種パックはまだ選ばれていません（標準の分類だけでテーマを付けています）。"
                + (f"データの語からは「{_md(_pack_label(status.guess, packs))}」と推定されます。確かめて選んでください。"
                   if status.guess else ""), icon=":material/help:")
    else:
        st.markdown(f"現在の業種パック: **{_md(_pack_label(status.chosen, packs))}**")
        if status.guess and status.guess != status.chosen:
            st.caption(f"データの語からは「{_md(_pack_label(status.guess, packs))}」に近いようです。")
    options = [DEFAULT_ONLY] + list(packs["pack_id"])
    current = status.chosen if status.chosen is not None else (status.guess or DEFAULT_ONLY)
    if st.session_state.get("th_pack_choice") not in options:
        st.session_state["th_pack_choice"] = current
    choice = st.selectbox("業種パックを選ぶ", options, key="th_pack_choice",
                          format_func=lambda p: _pack_label(p, packs) + ("（推定）" if p and p == status.guess else ""))
    label = "確定する" if status.chosen is None else "このパックに変える"
    allowed = ui.actor().can(access.EDIT_RULES)   # start_analyze refuses the others anyway
    if not allowed:
        st.caption("業種パックの変更は相談室長の役割の人が行います。")
    st.button(label, key="th_pack_apply", disabled=status.chosen == choice or not allowed, on_click=_apply_pack)
    if "th_pack_error" in st.session_state:
        st.error(st.session_state.pop("th_pack_error"), icon=":material/lock:")
    st.caption("選ぶと、保存済みの語からすべてのケースのテーマを付け直します（本文の再解析はしません）。")
    shown = packs.rename(columns={"一致するケース": "パックの語があるケース"})
    st.dataframe(shown.drop(columns="pack_id"), hide_index=True, key="th_packs_table",
                 column_config={"割合": st.column_config.NumberColumn("割合", format="percent")})
    st.caption(f"「パックの語があるケース」: パックが加えるテーマの語を含むケース（{status.cases:,} 件を調べた中）。")

    st.subheader("テーマごとのタグと精度")
    st.dataframe(quality.drop(columns="theme_id"), hide_index=True, key="th_quality_table",
                 column_config={"精度": st.column_config.NumberColumn("精度", format="percent"),
                                "推定のみ": st.column_config.NumberColumn(
                                    "推定のみ", help="ルールでは付かず、推定（推定層）だけが付けたケース")})
    st.caption("ルールのタグ: テーマ辞書と業種パックのルールで付いたケース。推定のみ: ルールでは付かず推定層が付けたケース"
               "（推定の語はケース一覧で見られます）。精度: ケースの確認ラベルがあるケースのうち、ルールのタグがラベルと"
               "一致した割合（ラベルのないテーマは空欄）。開発用の評価は docs/themes.md を参照。")


with tab[TAB_DIST]:
    if tabs[0].open:
        render_distribution()
with tab[TAB_TERMS]:
    if tabs[1].open:
        render_terms()
with tab[TAB_KWIC]:
    if tabs[2].open:
        render_kwic()
with tab[TAB_UNCLASSIFIED]:
    if tabs[3].open:
        render_unclassified()
with tab[TAB_EDITOR]:
    if tabs[4].open:
        render_editor()
with tab[TAB_PACKS]:
    if tabs[5].open:
        render_packs()
