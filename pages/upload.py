"""データ取り込み: upload an export, check it, map its columns, load it in the background.

The file is never parsed in this (the Streamlit server's) process: preview.check_upload runs in
the checking process (preview.isolated), bounded by the read limits. Every refused file is recorded in 取り込み履歴 with the reason shown here, through the job runner
(the Streamlit server never writes the store)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from pipelines.ingest import mapping as mapping_mod
from pipelines.ingest import preview
from pipelines.ingest.formats import format_words
from pipelines.jobs import runner
from pipelines.reports import shared
from pipelines.store.errors import KakehashiError
from pipelines.store.settings import jobs_dir, read_limits

ui.frame()
preview.warm_up()   # the checking process imports pandas and DuckDB while a file is chosen

KINDS = {"cases": "ケース（問い合わせ・苦情の一覧）", "events": "対応履歴（部署間の移管記録）",
         "countermeasures": "再発防止策の記録"}
NONE = "（使わない）"
SAMPLES = 3           # example values shown per mapped field
SAMPLE_CHARS = 40     # an example longer than this is cut (free text)

st.title("データ取り込み")
st.caption("CRM や表計算ソフトから書き出した CSV・TSV・Excel (.xlsx) を取り込みます。"
           "文字コード（UTF-8・Shift_JIS・UTF-16）と区切り文字は自動で判定します。"
           "受付できなかったファイルも、理由とともに取り込み履歴に記録します。")


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
                with st.expander(f"{result['file']} の除外された行（{result['rejected']:,} 行）"):
                    ui.rejected_rows(result["batch_id"], result["rejected"],
                                     key=f"dl_{state['spec']['job_id']}_{result['batch_id']}")


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


def refuse(path: Path, file_name: str, kind: str, error: KakehashiError, source=None) -> None:
    """Show why the file cannot be loaded, and record it in 取り込み履歴 — once per file and kind in
    this session, however often the page reruns. `source` when the file was read (its format is kept)."""
    st.error(error.message_ja(), icon=":material/block:")
    recorded = st.session_state.setdefault("upload_refusals", {})
    if (str(path), kind) not in recorded:
        source_format = (source.encoding, source.format, source.delimiter) if source is not None else None
        recorded[(str(path), kind)] = runner.start_refusal_record(path, file_name, kind, error.message_ja(),
                                                                  source_format, store=ui.store_path(),
                                                                  actor=ui.actor())
    st.caption("この結果は取り込み履歴に記録しました。" + ("ファイルの種類や列の対応づけを直せば、このまま取り込めます。" if source is not None else ""))


def unexpected(error: Exception) -> KakehashiError:
    """A failure of the check itself (a bug, not the file's fault), told and recorded like a refusal
    rather than as a traceback that takes the page down."""
    detail = f"{type(error).__name__}: {error}"[:300]
    return KakehashiError("unexpected", f"ファイルの確認中に予期しないエラーが起きました（{detail}）。",
                          f"Checking the file failed unexpectedly ({detail}).",
                          "お手数ですが、このファイルと画面の内容を管理者に知らせてください。",
                          "Report it with the file.")


def sample_values(table: pd.DataFrame, column: int) -> list[str]:
    """The first three distinct non-empty values of a column of the preview (its first rows)."""
    values = table.iloc[:, column].dropna().astype(str)
    return list(dict.fromkeys(v for v in values if v.strip()))[:SAMPLES]


CHECKED_KEPT = 8      # checks of files and mappings kept in the session (a rerun reuses them)


def checked(path: Path, kind: str, file_name: str, chosen: dict[str, str | None] | None = None):
    """preview.check_upload of the file under `chosen` (None: the automatic mapping), run in the
    checking process once per file, kind and mapping in this session; a refusal is returned as
    its KakehashiError (a failure of the check itself as unexpected())."""
    try:
        # Read here and handed over: the checking process may have started before they changed.
        limits = read_limits()
    except ValueError as exc:
        return unexpected(exc)
    mapping = None if chosen is None else tuple(sorted((f, h) for f, h in chosen.items() if h is not None))
    key = (str(path), path.stat().st_mtime_ns, kind, mapping, limits)
    cache = st.session_state.setdefault("upload_checked", {})
    if key not in cache:
        try:
            cache[key] = preview.isolated(preview.check_upload, path, kind, file_name, chosen, limits)
        except KakehashiError as exc:
            cache[key] = exc
        except Exception as exc:  # noqa: BLE001 — see unexpected()
            cache[key] = unexpected(exc)
        while len(cache) > CHECKED_KEPT:
            cache.pop(next(iter(cache)))
    return cache[key]


def same_mapping(chosen: dict[str, str | None], other: dict[str, str | None]) -> bool:
    return {f: h for f, h in chosen.items() if h is not None} == {f: h for f, h in other.items() if h is not None}


def mapping_table(inspection: preview.Inspection, kind: str, chosen: dict[str, str | None],
                  checks: dict[str, preview.FieldCheck]) -> pd.DataFrame:
    """One row per field the file fills: its column and three example values; 注意 marks a field the
    preview warns about (an ID that is not unique, a customer column with few values, …), only when
    there is one."""
    header = inspection.source.header
    rows = []
    for field, label in preview.mapping_choices(kind):
        column = chosen.get(field)
        if column is None:
            continue
        # A check of another column (the automatic choice the user replaced) says nothing about this one.
        check = checks.get(field)
        check = check if check is not None and check.header == column else None
        samples = list(check.samples) if check is not None else sample_values(inspection.preview, header.index(column))
        rows.append({"項目": label, "ファイルの列": column,
                     "値の例": " ／ ".join(v if len(v) <= SAMPLE_CHARS else v[:SAMPLE_CHARS] + "…" for v in samples),
                     "注意": "⚠ 下の注意を参照" if check is not None and check.warnings_ja else ""})
    table = pd.DataFrame(rows, columns=["項目", "ファイルの列", "値の例", "注意"])
    return table if table["注意"].any() else table.drop(columns=["注意"])


def mapping_warnings(kind: str, chosen: dict[str, str | None], checks: dict[str, preview.FieldCheck]) -> list[str]:
    """The preview's warnings about the chosen columns, each after the field it is about."""
    labels = dict(preview.mapping_choices(kind))
    return [f"{labels.get(field, field)}: {warning}" for field, check in checks.items()
            if check.header == chosen.get(field) for warning in check.warnings_ja]


kind = st.radio("ファイルの種類", list(KINDS), format_func=KINDS.get, horizontal=True, key="upload_kind")
uploaded = ui.file_uploader("取り込むファイル", key="upload_file")
# AppTest cannot drive a file uploader; tests hand the page an already saved file instead.
staged = st.session_state.get("upload_staged")
if uploaded is not None:
    path, file_name = save_upload(uploaded), uploaded.name
elif staged:
    path, file_name = Path(staged[0]), staged[1]
else:
    path = file_name = None

if path is not None:
    with st.spinner("ファイルを確認しています…"):
        first = checked(path, kind, file_name)
    inspection = None if isinstance(first, KakehashiError) else first.inspection
    if inspection is None:
        refuse(path, file_name, kind, first)
    else:
        source = inspection.source
        st.subheader("1. ファイルの確認")
        words = format_words(source.encoding, source.format, source.delimiter)
        facts = [f"形式: **{words.format}**"] + ([f"文字コード: **{words.encoding}**"] if words.encoding else []) + [
            f"見出し行: **{source.header_line} 行目**", f"列数: **{len(source.header)}**"]
        st.markdown("　".join(facts))
        ui.text_table(inspection.preview, height=260)

        st.subheader("2. 列の対応づけ")
        presets = mapping_mod.presets()
        saved = ui.query(mapping_mod.saved_mapping_names) or []
        choices = ["自動判定"] + [f"プリセット: {presets[n].get('label', n)}" for n in presets] + [f"保存済み: {n}" for n in saved]
        preset_choice = st.selectbox("対応づけの元", choices, key="upload_preset", placeholder=ui.PLACEHOLDER)
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
        # field → header, or None: 「使わない」 also unsets what the automatic mapping would choose.
        chosen: dict[str, str | None] = {}
        columns = st.columns(3)
        for index, (field, label) in enumerate(preview.mapping_choices(kind)):
            current = base.get(field)
            option = columns[index % 3].selectbox(
                f"{label}{' ＊必須' if field in required else ''}", headers, placeholder=ui.PLACEHOLDER,
                index=headers.index(current) if current in headers else 0, key=f"map_{kind}_{field}_{preset_choice}")
            chosen[field] = None if option == NONE else option
        if same_mapping(chosen, first.mapping):
            check = first
        else:
            with st.spinner("対応づけを確認しています…"):
                check = checked(path, kind, file_name, chosen)
        if isinstance(check, KakehashiError):
            report, refusal, checks = None, check, {c.field: c for c in inspection.checks}
        else:
            report, refusal, checks = check.validation, check.refusal, {c.field: c for c in check.checks}
        st.markdown("**対応づけの確認**（各項目に入るファイルの列と、その値の例）")
        mapped = mapping_table(inspection, kind, chosen, checks)
        ui.text_table(mapped, height=38 + 35 * len(mapped))
        for warning in mapping_warnings(kind, chosen, checks):
            st.warning(warning, icon=":material/warning:")

        st.subheader("3. 検証")
        if refusal is not None:
            refuse(path, file_name, kind, refusal, source)
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
                ui.text_table(shared.rejected_rows_as_table(list(report.sample.itertuples(index=False, name=None))),
                              height=200)
            save_as = st.text_input("この対応づけに名前を付けて保存（任意・来月の取り込みで選べます）", key="upload_save_as")
            if st.button("取り込む", type="primary", key="upload_start"):
                runner.start(runner.JobSpec(files=[str(path)], display_names=[file_name], kinds=[kind],
                                        mapping=chosen, save_mapping_as=save_as.strip() or None,
                                        store=ui.store_path()), actor=ui.actor())
                st.toast("取り込みを開始しました。ページを離れても処理は続きます。", icon=":material/upload_file:")

job_panel()
