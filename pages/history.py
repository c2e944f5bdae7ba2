"""取り込み履歴: every import with its accounting; rejected rows per batch, downloadable."""
from __future__ import annotations

import streamlit as st

import ui
from pipelines.reports import shared

ui.frame()

st.title("取り込み履歴")
st.caption("各ファイルの全行が「追加・更新・変更なし・ファイル内重複・除外」のいずれかに数えられます。"
           "受付できなかったファイルも理由とともに記録されます。")

history = ui.query(shared.import_history)
if history is None:
    ui.busy_notice()
    st.stop()
if history.empty:
    st.info("まだ取り込みの記録がありません。", icon=":material/inbox:")
    ui.upload_link()
    st.stop()

ui.text_table(history.drop(columns=["sha256"]), height=360)

with_rejects = history[history["除外"].fillna(0) > 0]
if not with_rejects.empty:
    st.subheader("除外された行")
    labels = {row.番号: f"#{row.番号} {row.ファイル名}（除外 {int(row.除外):,} 行）" for row in with_rejects.itertuples()}
    batch = st.selectbox("取り込みを選択", list(labels), format_func=labels.get, key="history_batch")
    rejected = ui.query(shared.rejected_rows, int(batch))
    if rejected is not None:
        ui.text_table(rejected, height=300)
        st.download_button("除外行を CSV でダウンロード", shared.csv_for_excel(rejected), file_name=f"除外行_{batch}.csv",
                           mime="text/csv", key="history_download")
