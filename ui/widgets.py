"""Pieces several pages draw: drill-down links, plain-text tables, empty states, background jobs."""
from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from pipelines.jobs import runner
from pipelines.reports import caselist, shared
from pipelines.store import filters as flt
from ui.auth import actor, record_download
from ui.data import busy_notice, fetch, query, store_path
from ui.escape import md
from ui.sidebar import filters as current_filters

# Page files as app.py's navigation names them (st.page_link takes the file).
CASES_PAGE = "pages/cases.py"
UPLOAD_PAGE = "pages/upload.py"


def case_link(label: str, *, filters: flt.Filters | None = None, icon: str = ":material/list_alt:", **keys) -> None:
    """A drill-down link to ケース一覧 showing the cases behind a number. `filters` (default: the
    current ones) travel in the URL; `keys` are the case list's own keys: cause, term, q,
    min_level, customer, case (values are strings)."""
    params = flt.to_query(filters if filters is not None else current_filters())
    params.update({k: str(v) for k, v in keys.items() if v is not None and v != ""})
    st.page_link(CASES_PAGE, label=label, icon=icon, query_params=params)


def upload_link() -> None:
    """The way to データ取り込み from a page that has nothing to show yet (for a user who may load)."""
    user = actor()
    if user is not None and not user.may_open("upload"):
        st.caption("データの取り込みは分析担当の役割の人が行います。")
        return
    st.page_link(UPLOAD_PAGE, label="データ取り込みへ", icon=":material/upload_file:")


def store_overview(empty_message: str) -> shared.Overview:
    """The store's overview, or stop the page: 「更新中」 while another process writes, and an
    empty state pointing to the upload page when there are no cases yet. `empty_message` says
    what this page will show once data is in."""
    overview = query(shared.overview)
    if overview is None:
        busy_notice()
        st.stop()
    if overview.cases == 0:
        st.info(f"まだケースがありません。お客様相談室の CRM や表計算ソフトから書き出したファイルを取り込むと、{empty_message}",
                icon=":material/inbox:")
        upload_link()
        st.stop()
    return overview


def text_table(frame, **kwargs) -> None:
    """Customer-written text is shown as plain cells, never rendered as Markdown or HTML."""
    st.dataframe(frame, hide_index=True, width="stretch", **kwargs)


def job_progress(state: dict) -> None:
    """One background job: a progress bar while it runs, what it did when it is done."""
    spec = state.get("spec", {})
    names = "、".join(md(name) for name in spec.get("display_names", []))
    status = state.get("status")
    if status in ("queued", "running"):
        total, done = state.get("total") or 0, state.get("done") or 0
        fraction = min(done / total, 1.0) if total else 0.0
        doing = ("分析中" if spec.get("analyze_only") else "登録中" if spec.get("countermeasure")
                 else "記録中" if spec.get("refusal") else "取り込み中")
        st.progress(fraction, text=f"{doing}: {names} — {state.get('phase', '')}"
                                   + (f"（{done:,} / {total:,}）" if total else ""))
        return
    if status == "interrupted":
        st.warning(f"取り込みが中断されました: {names}（データは変更されていません）", icon=":material/warning:")
    for error in state.get("errors", []):
        st.error(f"{md(error['file'])}: {md(error['message'])}", icon=":material/block:")
    for result in state.get("results", []):
        if result.get("kind") == "countermeasure":
            st.success(f"{md(result['file'])}: {'登録しました' if result['inserted'] else 'すでに登録されています'}",
                       icon=":material/check_circle:")
            continue
        if result.get("kind") == "refusal":
            st.warning(f"{md(result['file'])}: 受付できませんでした。理由とともに取り込み履歴に記録しました（番号 {result['batch_id']}）。",
                       icon=":material/block:")
            continue
        st.success(
            f"{md(result['file'])}: 読込 {result['rows_read']:,} 行 → 追加 {result['inserted']:,}・更新 {result['updated']:,}・"
            f"変更なし {result['unchanged']:,}・ファイル内重複 {result['duplicate']:,}・除外 {result['rejected']:,}",
            icon=":material/check_circle:")
        notes = load_notes(result)
        if notes:
            st.markdown("\n".join(f"- {note}" for note in notes))
        examples = conflict_examples(result)
        if examples is not None:
            st.caption("別のケースとして保存した行の例")
            text_table(examples)


def load_notes(result: dict) -> list[str]:
    """What a finished load says beyond its counts, as Markdown list items in Japanese: the case
    identity it used and why, rows kept apart because their ID belonged to another case, customer
    columns not used, rows repaired. Each from a LoadResult field (ingest.result), shown only when
    the load reported it; file headers and values are shown as written, never as Markdown."""
    notes = []
    identity, reason = result.get("identity"), result.get("identity_reason_ja")
    if reason:   # names the column and says why
        notes.append(f"ケースの見分け方: {_plain(reason)}")
    elif identity:
        notes.append("ケースの見分け方: " + ("各行の全項目から生成した ID" if identity == "generated"
                                         else f"列 {_code(identity)} の値"))
    if result.get("conflicts"):
        notes.append(f"受付番号が別のケース（受付日時も内容も違う）と重なった行: {result['conflicts']:,} 行。"
                     "上書きせず、派生 ID（番号~受付日）で別のケースとして保存しました。")
    notes += [_plain(note) for note in result.get("customer_notes_ja") or []]
    if result.get("recovered"):
        notes.append(f"修復して読み込んだ行: {result['recovered']:,} 行")
    notes += [_plain(note) for note in result.get("notes") or []]
    return notes


def conflict_examples(result: dict) -> pd.DataFrame | None:
    """Examples of rows kept under a derived ID (LoadResult.conflict_examples), or None."""
    examples = result.get("conflict_examples") or []
    if not examples:
        return None
    columns = {"line": "行番号", "case_id": "ファイルのケース番号", "kept_as": "保存した ID", "received": "受付日時",
               "other_received": "同じ番号の別ケースの受付日時"}
    return pd.DataFrame([{label: example.get(key) for key, label in columns.items()} for example in examples])


def _code(text: object) -> str:
    return "`" + str(text).replace("`", "'") + "`"


def _plain(text: object) -> str:
    """Text from a file (a header in a reason) shown in Markdown as it is written."""
    return md(text)


REJECTED_SHOWN = 500   # rows of a table on the page; the CSV has all of them


def rejected_rows(batch_id: int, count: int, key: str) -> None:
    """The rejected rows of one import as a table — line, reason, and the row's fields as columns —
    and all of them as a CSV Excel opens. `count` is the import's 除外 count."""
    table = query(shared.rejected_table, batch_id, limit=REJECTED_SHOWN)
    if table is None:
        busy_notice()
        return
    if count > len(table):
        st.caption(f"先頭の {len(table):,} 行を表示しています（全 {count:,} 行は CSV でダウンロードできます）。")
    text_table(table, height=min(38 + 35 * len(table), 360))
    store = store_path()
    st.download_button(f"除外された {count:,} 行を CSV でダウンロード",
                       lambda: shared.csv_for_excel(shared.rejected_table(batch_id, store)),
                       file_name=f"除外行_{batch_id}.csv", mime="text/csv", key=key, icon=":material/download:",
                       on_click=record_download, args=(f"除外行_{batch_id}.csv",))


def wait_for_running_jobs() -> None:
    """While a load runs (the sample's first load included), show its progress, refresh every
    second, and re-render the whole page when it is done; the rest of the page waits."""
    if not any(s.get("status") in ("queued", "running") for s in runner.recent(limit=3)):
        return

    @st.fragment(run_every=1.0)
    def progress() -> None:
        running = [s for s in runner.recent(limit=3) if s.get("status") in ("queued", "running")]
        if not running:
            st.rerun()
        for state in running:
            job_progress(state)

    progress()
    st.stop()


# -- from a chart to the customer's words ---------------------------------------------------------

_EVIDENCE = re.compile(r"〔([^〕]*)〕")


def highlighted(text: str, words: list[str], limit: int = 200) -> str:
    """Markdown of a customer's text (escaped, cut to `limit` characters) with `words` on a
    coloured background."""
    text = text if len(text) <= limit else text[:limit] + "…"
    spans, marks = [], [False] * len(text)
    for word in sorted({w for w in words if w}, key=len, reverse=True):
        start = text.find(word)
        while start >= 0:
            marks[start:start + len(word)] = [True] * len(word)
            start = text.find(word, start + len(word))
    run, marked = "", False
    for char, mark in zip(text, marks):
        if mark != marked and run:
            spans.append(f":orange-background[{md(run)}]" if marked else md(run))
            run = ""
        run, marked = run + char, mark
    if run:
        spans.append(f":orange-background[{md(run)}]" if marked else md(run))
    return "".join(spans).replace("\n", " ")


def evidence_words(evidence: object) -> list[str]:
    """The words that tagged a case, from the case list's 根拠 column (「テーマ〔語・語〕 原因〔語〕」)."""
    if not isinstance(evidence, str):
        return []
    return [w for group in _EVIDENCE.findall(evidence) for w in group.split("・") if w]


def voices(query: caselist.CaseQuery, key: str, title: str, limit: int = 20) -> None:
    """The cases behind a chart selection: the customer's words first with the words that tagged
    them highlighted, then the list (text first); a click on a row opens that case below."""
    page = fetch(caselist.search, query, 1, limit)
    st.markdown(f"**{md(title)}**　該当 {page.total:,} 件" + (f"（新しい順に {limit} 件）" if page.total > limit else ""))
    if page.total == 0:
        st.info("この区間に当てはまるケースはありません。", icon=":material/search_off:")
        return
    rows = page.rows
    for row in rows.head(5).itertuples(index=False):
        with st.container(border=True):
            st.markdown(highlighted(str(row.本文), evidence_words(row.根拠)))
            st.caption(f"{row.ケース番号}・{row.受付日時:%Y/%m/%d}・{row.チャネル or ''}・{row.商品 or ''}")
    table = plain_cells(rows[["本文", "受付日時", "ケース番号", "チャネル", "商品", "テーマ", "原因", "感情レベル"]])
    event = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key=f"{key}_rows", column_config={
                             "本文": st.column_config.TextColumn("お客様の声", width="large"),
                             "受付日時": st.column_config.DatetimeColumn("受付日時", format="YYYY/MM/DD HH:mm")})
    st.caption("行をクリックすると、そのケースの全文と対応の履歴を開きます。")
    if event.selection.rows:
        case_id = table.iloc[event.selection.rows[0]]["ケース番号"]
        case = fetch(caselist.detail, case_id)
        if case is not None:
            with st.container(border=True):
                st.markdown(f"**ケース {md(case_id)}**")
                st.text(case.text)
                if case.response:
                    st.caption("対応内容")
                    st.text(case.response)
                if not case.events.empty:
                    text_table(plain_cells(case.events))
                case_link("ケース一覧で開く", icon=":material/open_in_new:", case=case_id)


def plain_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose empty text cells show empty, never `None`; emotion levels in words."""
    out = frame.copy()
    for column in out.columns:
        if column == "感情レベル":
            out[column] = [caselist.LEVELS.get(int(v), str(v)) if pd.notna(v) else "" for v in out[column]]
        elif not pd.api.types.is_datetime64_any_dtype(out[column]) and not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].astype(object).where(out[column].notna(), "")
    return out
