"""ホーム: what is in the store at a glance, or how to get data in."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from pages import ui

ui.frame()

st.title("ホーム")
ui.wait_for_running_jobs()

overview = ui.query("overview")
if overview is None:
    ui.busy_notice()
    st.stop()
if overview.cases == 0:
    st.info("まだケースがありません。お客様相談室の CRM や表計算ソフトから書き出したファイルを取り込んでください。", icon=":material/inbox:")
    st.page_link("pages/upload.py", label="データ取り込みへ", icon=":material/upload_file:")
    st.stop()

cols = st.columns(4)
cols[0].metric("ケース数", f"{overview.cases:,} 件")
cols[1].metric("未完了", f"{overview.open_cases:,} 件")
cols[2].metric("商品数", f"{overview.products:,}")
cols[3].metric("部署数", f"{overview.departments:,}")
st.caption(f"受付期間: {overview.first:%Y年%m月%d日} 〜 {overview.last:%Y年%m月%d日}　・　移管記録 {overview.events:,} 件")

monthly = ui.query("monthly_counts")
if monthly is not None and not monthly.empty:
    figure = px.bar(monthly, x="月", y="件数", title="月別の受付件数")
    figure.update_layout(xaxis_title="受付月", yaxis_title="件数")
    figure.update_xaxes(tickformat="%Y年%-m月")
    st.plotly_chart(figure, width="stretch")
