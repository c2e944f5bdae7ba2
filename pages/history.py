"""取り込み履歴: every import with its accounting, refused files with their reason; the rejected
rows of an import as a table, downloadable."""
from __future__ import annotations

import streamlit as st

import ui
from pipelines.reports import shared
from pipelines.store.errors import StoreFault

ui.frame()

st.title("取り込み履歴")
st.caption("各ファイルの全行が「追加・更新・変更なし・ファイル内重複・除外」のいずれかに数えられます。"
           "受付できなかったファイルも理由とともに記録されます。")

try:
    history = ui.query(shared.import_history, stop_on_fault=False)
except StoreFault as fault:
    # The store cannot be read (damaged): the attempts journal still says what was tried, and why.
    ui.data.store_fault_notice(fault)
    attempts = shared.journal_history(ui.store_path())
    if not attempts.empty:
        st.subheader("記録されている取り込みの試行")
        ui.text_table(attempts[["ファイル名", "種類", "状態", "メッセージ", "開始", "終了"]])
    st.stop()
if history is None:
    ui.busy_notice()
    st.stop()
if history.empty:
    st.info("まだ取り込みの記録がありません。", icon=":material/inbox:")
    ui.upload_link()
    st.stop()

# The reason of a refused or failed import next to its state, where it is read first.
shown = history.drop(columns=["sha256"])
order = ["番号", "ファイル名", "種類", "状態", "メッセージ"]
ui.text_table(shown[order + [c for c in shown.columns if c not in order]], height=min(38 + 35 * len(shown), 400),
              column_config={"メッセージ": st.column_config.TextColumn("理由・メッセージ", width="medium")})

with_rejects = history[history["除外"].fillna(0) > 0]
if not with_rejects.empty:
    st.subheader("除外された行")
    labels = {row.番号: f"#{row.番号} {row.ファイル名}（除外 {int(row.除外):,} 行）" for row in with_rejects.itertuples()}
    batch = st.selectbox("取り込みを選択", list(labels), format_func=labels.get, key="history_batch",
                         placeholder=ui.PLACEHOLDER)
    ui.rejected_rows(int(batch), int(with_rejects.set_index("番号").at[batch, "除外"]), key="history_download")
