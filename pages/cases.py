"""ケース一覧: the cases behind any number — the shared filters plus the drill-down keys other pages
put in the link (cause, term, q, min_level, customer, case) — paged, exportable, one case opened."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

import ui
from pipelines.reports import caselist, shared
from pipelines.store.definitions import LEVEL_NAMES
from ui import labels as desk_labels
from ui.widgets import plain_cells

ui.frame()

st.title("ケース一覧")
ui.wait_for_running_jobs()

PAGE_SIZES = (25, 50, 100, 200)
TOP_LEVEL = max(LEVEL_NAMES)
LEVEL_CHOICES = {"": "指定なし", **{str(level): f"{level} 以上（{name}）" if level < TOP_LEVEL else f"{level}（{name}）"
                                   for level, name in LEVEL_NAMES.items() if level > 0}}


def _md(value: object) -> str:
    """Data shown inside Markdown-rendering labels (buttons, captions, messages) is escaped."""
    return ui.md(value)


def _set_url_key(url_key: str, widget_key: str) -> None:
    """A page widget changed: write its value to the URL (empty removes the key)."""
    value = str(st.session_state.get(widget_key) or "").strip()
    if value:
        st.query_params[url_key] = value
    elif url_key in st.query_params:
        del st.query_params[url_key]


def _clear(*url_keys: str) -> None:
    for url_key in url_keys:
        if url_key in st.query_params:
            del st.query_params[url_key]


def _synced(widget_key: str, url_value: str) -> None:
    """Start a page widget from the URL, and follow the URL when a link or a clear button changes it."""
    seen = f"_{widget_key}_url"
    if st.session_state.get(seen) != url_value:
        st.session_state[widget_key] = url_value
        st.session_state[seen] = url_value


overview = ui.store_overview("ここでケースを検索・書き出しできます。")

url = {key: st.query_params.get(key, "") for key in caselist.URL_KEYS}
query, problems = caselist.parse_keys(url, ui.filters())
for problem in problems:
    st.warning(problem, icon=":material/warning:")

# -- search controls ----------------------------------------------------------------------------
left, middle, right = st.columns([3, 2, 1], vertical_alignment="bottom")
_synced("cases_q", url["q"])
left.text_input("本文を検索", key="cases_q", placeholder="例: 箱が潰れ", on_change=_set_url_key, args=("q", "cases_q"),
                help="お客様の声（個人情報はマスク済み）に含まれる文字列で絞り込みます。全角・半角は区別しません。")
level_url = url["min_level"] if url["min_level"] in LEVEL_CHOICES else ""
_synced("cases_level", level_url)
middle.selectbox("感情レベル", list(LEVEL_CHOICES), format_func=LEVEL_CHOICES.get, key="cases_level",
                 on_change=_set_url_key, args=("min_level", "cases_level"))
page_size = right.selectbox("表示件数", PAGE_SIZES, index=1, key="cases_page_size")

active = query.keys()
other_keys = {k: v for k, v in active.items() if k not in ("q", "min_level")}
if other_keys:
    st.caption("絞り込み中の条件（他の画面からのリンク）")
    chips = st.columns(len(other_keys) + 1)
    for column, (key, value) in zip(chips, other_keys.items()):
        shown = f"{len(query.case_ids):,}件" if key == "ids" else _md(value)
        column.button(f"{caselist.KEY_LABELS[key]}: {shown}", key=f"cases_clear_{key}", icon=":material/close:",
                      on_click=_clear, args=(key,), help="この条件を外します")
    chips[-1].button("すべて解除", key="cases_clear_all", icon=":material/filter_alt_off:",
                     on_click=_clear, args=caselist.URL_KEYS)
if query.pinned:
    st.caption("顧客またはケース番号を指定しているため、サイドバーの期間・絞り込みは適用していません。")
else:
    period = ui.query(shared.period, query.filters)
    if period is not None:
        st.caption(f"{period.label}：{period.start:%Y/%m/%d}〜{period.end - timedelta(days=1):%Y/%m/%d}"
                   " に受け付けたケース（サイドバーの絞り込みを適用）")

# -- the list -----------------------------------------------------------------------------------
signature = (query, page_size)
if st.session_state.get("_cases_signature") != signature:
    # A new search starts on its first page.
    st.session_state["_cases_signature"] = signature
    st.session_state["cases_page"] = 1
result = ui.fetch(caselist.search, query, st.session_state.get("cases_page", 1), page_size)

if result.total == 0:
    if query.case_id:
        st.warning(f"ケース番号「{_md(query.case_id)}」のケースは見つかりません。番号を確かめるか、条件を解除してください。",
                   icon=":material/search_off:")
    else:
        st.info("条件に当てはまるケースはありません。サイドバーの期間や絞り込み、上の条件を変えてみてください。",
                icon=":material/search_off:")
    st.stop()

head, pager = st.columns([3, 1], vertical_alignment="bottom")
head.markdown(f"**該当 {result.total:,} 件**（{result.page:,} / {result.pages:,} ページ、新しい順）")
if result.pages > 1:
    st.session_state["cases_page"] = result.page   # clamped when the list got shorter
    pager.number_input("ページ", min_value=1, max_value=result.pages, step=1, key="cases_page")

# The customer's words first; empty cells read empty (never None); a click on a row opens the case below.
listed = plain_cells(result.rows)
clicked = st.dataframe(
    listed, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row", key="cases_table",
    column_order=["本文", "受付日時", "ケース番号", "チャネル", "商品", "部署", "状態", "テーマ", "原因", "感情レベル",
                  "根拠", "感情の根拠"],
    column_config={"受付日時": st.column_config.DatetimeColumn("受付日時", format="YYYY/MM/DD HH:mm"),
                   "感情レベル": st.column_config.TextColumn("感情レベル", help="0 平静・1 不満・2 怒り・緊急・3 重大"),
                   "本文": st.column_config.TextColumn("お客様の声", width="large")})
st.caption("行をクリックすると、下の「ケースの詳細」にそのケースを開きます。")
if clicked.selection.rows:
    st.session_state["cases_pick"] = listed.iloc[clicked.selection.rows[0]]["ケース番号"]

# -- export -------------------------------------------------------------------------------------
store = ui.store_path()


def _csv() -> bytes:
    # Runs when the button is clicked (deferred), so a large list is not written on every rerun.
    return caselist.export_csv(query, store=store)


limit = caselist.EXPORT_LIMIT
st.download_button(f"CSV をダウンロード（{min(result.total, limit):,} 件）", data=_csv,
                   file_name=f"kakehashi_cases_{datetime.now():%Y%m%d_%H%M}.csv", mime="text/csv",
                   key="cases_csv", icon=":material/download:", on_click=ui.record_download,
                   args=("kakehashi_cases.csv", {"rows": min(result.total, limit)}),
                   help="Excel でそのまま開ける CSV（UTF-8 BOM 付き）です。= + - @ で始まるセルは数式として"
                        "実行されないよう先頭に ' を付けています。")
if result.total > limit:
    st.caption(f"書き出しは新しい順に先頭 {limit:,} 件までです（該当 {result.total:,} 件）。"
               "期間や条件で絞り込んでから書き出してください。")

# -- one case -----------------------------------------------------------------------------------
st.subheader("ケースの詳細")
choices = list(result.rows["ケース番号"])
if query.case_id and query.case_id in choices and not clicked.selection.rows:
    st.session_state["cases_pick"] = query.case_id
elif st.session_state.get("cases_pick") not in choices:
    st.session_state["cases_pick"] = choices[0]
labels = {row["ケース番号"]: f"{row['ケース番号']}（{row['受付日時']:%Y/%m/%d}"
                              f"{' ' + row['商品'] if pd.notna(row['商品']) else ''}）"
          for _, row in result.rows.iterrows()}
picked = st.selectbox("ケースを選ぶ（このページの中から）", choices, format_func=labels.get, key="cases_pick")
case = ui.query(caselist.detail, picked)
if case is None:
    if ui.version() == "busy":
        ui.busy_notice()
    else:
        st.warning("このケースは見つかりませんでした（取り込み直しで消えた可能性があります）。",
                   icon=":material/search_off:")
    st.stop()

info, voice = st.columns([2, 3])
with info:
    ui.text_table([{"項目": label, "内容": str(value) if not isinstance(value, datetime) else f"{value:%Y/%m/%d %H:%M}"}
                   for label, value in case.fields.items()])
    level = "—" if case.emotion_level is None else caselist.LEVELS.get(case.emotion_level, str(case.emotion_level))
    st.text(f"感情レベル: {level}" + (f"（同じ顧客からの直近30日の問い合わせ {case.repeat_contacts} 件）"
                                    if case.repeat_contacts else ""))
    if case.escalated:
        st.text("受付窓口から他部署へエスカレーションされたケースです。")
    if case.customer_key and not query.customer:
        ui.case_link("この顧客の問い合わせをすべて見る", icon=":material/person_search:", customer=case.customer_key)
with voice:
    st.caption("お客様の声（個人情報はマスク済み）")
    with st.container(border=True):
        st.text(case.text)
    if case.response:
        st.caption("対応内容")
        with st.container(border=True):
            st.text(case.response)
    if case.reasons:
        st.caption("感情レベルの根拠")
        st.text("、".join(case.reasons))
    if case.harassment:
        st.caption("カスタマーハラスメントの類型")
        st.text("、".join(case.harassment))

tags_left, tags_right = st.columns(2)
with tags_left:
    st.caption("テーマ")
    if case.themes.empty:
        st.text("（テーマの付かないケースです）")
    else:
        ui.text_table(case.themes)
with tags_right:
    st.caption("原因")
    if case.causes.empty:
        st.text("（原因は見つかっていません）")
    else:
        ui.text_table(case.causes)

desk_labels.case_section(case)   # inferred themes, the desk's label and, for a lead, the labelling form

st.caption("移管・対応の履歴")
if case.events.empty:
    st.text("（このケースの移管記録はありません）")
else:
    ui.text_table(case.events, column_config={"日時": st.column_config.DatetimeColumn("日時", format="YYYY/MM/DD HH:mm")})
