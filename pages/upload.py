"""データ取り込み: upload an export, check it, map its columns, load it in the background."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from pipelines.ingest import mapping as mapping_mod
from pipelines.ingest import preview
from pipelines.jobs import runner
from pipelines.reports import shared
from pipelines.store.errors import KakehashiError
from pipelines.store.settings import jobs_dir

ui.frame()

KINDS = {"cases": "ケース（問い合わせ・苦情の一覧）", "events": "対応履歴（部署間の移管記録）",
         "countermeasures": "再発防止策の記録"}
NONE = "（使わない）"

st.title("データ取り込み")
st.caption("CRM や表計算ソフトから書き出した CSV・TSV・Excel (.xlsx) を取り込みます。"
           "文字コード（UTF-8・Shift_JIS・UTF-16）と区切り文字は自動で判定します。")


@st.fragment(run_every=1.5)
def job_panel() -> None:
    states = runner.recent(limit=5)
    if not states:
        return
    st.subheader("取り込み状況")
    for state in states[:3]:
        ui.job_progress(state)
        for result in state.get("results", []):
            if result.get("rejected"):
                rejected = ui.query(shared.rejected_rows, result["batch_id"])
                if rejected is not None and not rejected.empty:
                    st.download_button(f"{result['file']} の除外行を CSV でダウンロード（{len(rejected):,} 行）",
                                       shared.csv_for_excel(rejected), file_name=f"除外行_{result['batch_id']}.csv",
                                       mime="text/csv", key=f"dl_{state['spec']['job_id']}_{result['batch_id']}")


def save_upload(uploaded) -> Path:
    """Keep the upload next to the store, so the background load can read it after this rerun."""
    data = uploaded.getvalue()
    folder = jobs_dir(Path(ui.store_path())) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.\-]+", "_", uploaded.name)[-80:]
    path = folder / f"{hashlib.sha256(data).hexdigest()[:12]}-{safe}"
    if not path.exists():
        path.write_bytes(data)
    return path


kind = st.radio("ファイルの種類", list(KINDS), format_func=KINDS.get, horizontal=True, key="upload_kind")
uploaded = st.file_uploader("ファイルを選択", type=["csv", "tsv", "txt", "xlsx"], key="upload_file")
# AppTest cannot drive a file uploader; tests hand the page an already saved file instead.
staged = st.session_state.get("upload_staged")
if uploaded is not None:
    path, file_name = save_upload(uploaded), uploaded.name
elif staged:
    path, file_name = Path(staged[0]), staged[1]
else:
    path = file_name = None

if path is not None:
    try:
        inspection = preview.inspect_file(path, kind, file_name)
    except KakehashiError as exc:
        st.error(exc.message_ja(), icon=":material/block:")
        inspection = None
    if inspection is not None:
        source = inspection.source
        st.subheader("1. ファイルの確認")
        delimiter = {",": "カンマ", "\t": "タブ", ";": "セミコロン", "|": "縦棒"}.get(source.delimiter, source.delimiter)
        st.write(f"文字コード: **{source.encoding}**　形式: **{source.format}**　区切り: **{delimiter}**　"
                 f"見出し行: **{source.header_line} 行目**　列数: **{len(source.header)}**")
        ui.text_table(inspection.preview, height=260)

        st.subheader("2. 列の対応づけ")
        presets = mapping_mod.presets()
        saved = ui.query(mapping_mod.saved_mapping_names) or []
        choices = ["自動判定"] + [f"プリセット: {presets[n].get('label', n)}" for n in presets] + [f"保存済み: {n}" for n in saved]
        preset_choice = st.selectbox("対応づけの元", choices, key="upload_preset")
        base = dict(inspection.auto)
        if preset_choice.startswith("プリセット"):
            name = list(presets)[choices.index(preset_choice) - 1]
            try:
                base = mapping_mod.resolve(source.header, kind, presets[name], name).as_headers()
            except KakehashiError:
                base = {f: h for f, h in base.items()}  # required fields missing: keep the automatic guess
        elif preset_choice.startswith("保存済み"):
            base = ui.query(mapping_mod.saved_mapping, preset_choice.removeprefix("保存済み: ")) or base
        headers = [NONE] + [h for h in source.header if h]
        required = mapping_mod.required_for(kind)
        chosen: dict[str, str] = {}
        columns = st.columns(3)
        for index, (field, label) in enumerate(preview.mapping_choices(kind)):
            current = base.get(field)
            option = columns[index % 3].selectbox(
                f"{label}{' ＊必須' if field in required else ''}", headers,
                index=headers.index(current) if current in headers else 0, key=f"map_{kind}_{field}_{preset_choice}")
            if option != NONE:
                chosen[field] = option

        st.subheader("3. 検証")
        try:
            report = preview.validate_file(path, kind, chosen, file_name)
        except KakehashiError as exc:
            st.error(exc.message_ja(), icon=":material/block:")
            report = None
        if report is not None:
            metrics = st.columns(4)
            metrics[0].metric("データ行", f"{report.rows:,}")
            metrics[1].metric("取り込める行", f"{report.valid - report.duplicates:,}")
            metrics[2].metric("ファイル内の重複", f"{report.duplicates:,}")
            metrics[3].metric("除外される行", f"{report.rows - report.valid:,}")
            if report.reasons:
                st.write("除外の理由")
                ui.text_table(pd.DataFrame(
                    {"理由": list(report.reasons), "行数": list(report.reasons.values())}))
                ui.text_table(report.sample, height=200)
            save_as = st.text_input("この対応づけに名前を付けて保存（任意・来月の取り込みで選べます）", key="upload_save_as")
            if st.button("取り込む", type="primary", key="upload_start"):
                runner.start(runner.JobSpec(files=[str(path)], display_names=[file_name], kinds=[kind],
                                        mapping=chosen, save_mapping_as=save_as.strip() or None,
                                        store=ui.store_path()))
                st.toast("取り込みを開始しました。ページを離れても処理は続きます。", icon=":material/upload_file:")

job_panel()
