"""The case view's section for inferred themes and the desk's labels (issue 14, items 3 and 6).

    labels.case_section(case)     # in pages/cases.py, after the rule themes of the case

Shows the case's inferred (推定) themes apart from its rule themes, the label a lead gave it, and —
for a user whose role may label (相談室長: access.LABEL_CASES) — a form to confirm or correct the
themes, the negativity and the anger; plus the download of every label as a test set in the format of
bench/data/real/ (texts.csv, labels.csv). The write runs in a child process (runner.record_label).
"""
from __future__ import annotations

import streamlit as st

from pipelines.jobs import runner
from pipelines.reports import explore, inferred
from pipelines.reports.explore import UNCLASSIFIED
from pipelines.store import access, labels
from pipelines.store.errors import KakehashiError
from ui import auth, data
from ui.escape import md

ANGER_CHOICES = {None: "判断できない", 0: "0 怒りなし", 1: "1 いらだち", 2: "2 怒り", 3: "3 激しい怒り・脅し"}
_MESSAGE_KEY = "lb_message"


def case_section(case) -> None:
    """Inferred themes, the label and (for a lead) the labelling form of one case (caselist.CaseDetail)."""
    _inferred(case.case_id)
    names = data.query(explore.theme_names) or {}
    names = {theme_id: name for theme_id, name in names.items() if theme_id != UNCLASSIFIED}
    label = data.query(labels.case_label, case.case_id)
    st.caption("窓口のラベル（相談室長が確認・修正したテーマ）")
    if label is not None:
        shown = "、".join(names.get(t, t) for t in label.themes) or "（どのテーマにも当たらない）"
        anger = ANGER_CHOICES.get(label.anger, str(label.anger))
        st.text(f"テーマ: {shown}／否定的な内容: {'はい' if label.negative else 'いいえ'}／怒り: {anger}"
                f"（{label.labelled_by}、{label.labelled_at:%Y/%m/%d %H:%M}）")
    else:
        st.text("（まだラベルはありません）")
    if not auth.actor() or not auth.actor().can(access.LABEL_CASES):   # runner.record_label refuses them too
        st.caption("ラベル付けは相談室長の役割の人が行います。")
        return
    _form(case, names, label)
    _export()


def _inferred(case_id: str) -> None:
    frame = data.query(inferred.case_inferred, case_id)
    if frame is None or frame.empty:
        return
    st.caption("推定テーマ（どのルールにも当たらないケースに、ルールで付いたケースから学んだ語で推定したもの）")
    shown = frame.drop(columns="theme_id").assign(確信度=(frame["確信度"] * 100).round().astype(int).astype(str) + "%")
    data_table = shown.rename(columns={"テーマ": "推定テーマ"})
    st.dataframe(data_table, hide_index=True, key="lb_inferred")


def _form(case, names: dict[str, str], label: labels.Label | None) -> None:
    by_name = {name: theme_id for theme_id, name in names.items()}
    if label is not None:
        default = [t for t in label.themes if t in names]
    else:
        default = [by_name[n] for n in case.themes.get("テーマ", []) if n in by_name] if not case.themes.empty else []
    default_negative = label.negative if label is not None else bool(case.emotion_level and case.emotion_level >= 1)
    with st.form(f"lb_form_{case.case_id}", clear_on_submit=False):
        st.multiselect("このケースのテーマ（主なテーマを最初に）", list(names), default=default, format_func=names.get,
                       key="lb_themes", help="ルールで付いたテーマが初めから選ばれています。違うものは外し、足りないものを"
                                              "加えてください。どれにも当たらなければ空のままで保存します。")
        left, right = st.columns(2)
        left.checkbox("否定的な内容（苦情・不満・問題の報告）", value=default_negative, key="lb_negative")
        anger_keys = list(ANGER_CHOICES)
        right.selectbox("お客様の怒りの度合い", anger_keys, format_func=ANGER_CHOICES.get, key="lb_anger",
                        index=anger_keys.index(label.anger) if label is not None else 0)
        st.form_submit_button("ラベルを保存", key="lb_submit", type="primary", on_click=_submit,
                              args=(case.case_id, tuple(names)))
    message = st.session_state.pop(_MESSAGE_KEY, None)
    if message:
        kind, text = message
        getattr(st, kind)(text, icon=":material/check_circle:" if kind == "success" else ":material/error:")


def _submit(case_id: str, known: tuple[str, ...]) -> None:
    """Form callback: store the label in a child process; the outcome is shown on the next run."""
    state = st.session_state
    try:
        runner.record_label(case_id, list(state.get("lb_themes") or ()), bool(state.get("lb_negative")),
                            state.get("lb_anger"), known, store=data.store_path(), actor=auth.actor())
    except KakehashiError as exc:
        state[_MESSAGE_KEY] = ("error", exc.message_ja())
        return
    state[_MESSAGE_KEY] = ("success", f"ケース {md(case_id)} のラベルを保存しました。テーマ別の適合率に反映されます。")


def _export() -> None:
    with st.expander("ラベルを評価用データとして書き出す"):
        count = data.query(labels.label_count) or 0
        st.caption(f"ラベルのあるケース {count:,} 件を、評価用データの形式（bench/data/real/ と同じ texts.csv と "
                   "labels.csv）で書き出します。本文は個人情報をマスクした後のものです。"
                   "python bench/bench_themes_real.py --set <フォルダ> で、分析がこの窓口の判断とどれだけ合うかを測れます。")
        industry = st.selectbox("業種", labels.INDUSTRIES, index=labels.INDUSTRIES.index("other"), key="lb_industry")
        exported = data.query(labels.export_set, industry)
        if exported is None:
            return
        for note in exported.notes_ja():
            st.caption(note)
        left, right = st.columns(2)
        left.download_button("texts.csv をダウンロード", data=exported.texts_csv, file_name="texts.csv", mime="text/csv",
                             key="lb_texts", icon=":material/download:", disabled=not exported.cases,
                             on_click=auth.record_download, args=("labels texts.csv", {"rows": exported.cases}))
        right.download_button("labels.csv をダウンロード", data=exported.labels_csv, file_name="labels.csv",
                              mime="text/csv", key="lb_labels", icon=":material/download:", disabled=not exported.cases,
                              on_click=auth.record_download, args=("labels labels.csv", {"rows": exported.cases}))
