"""再発: causes that keep coming back, whether countermeasures worked, repeat contacts and
near-duplicate contacts, and the countermeasure log with a form to record one."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from pipelines.detect import returns
from pipelines.jobs import runner
from pipelines.reports import recurrence, shared, summary
from pipelines.reports.shared import csv_for_excel
from pipelines.store import access
from pipelines.store.errors import KakehashiError

ui.frame()

st.title("再発")
ui.wait_for_running_jobs()

LINKS_SHOWN = 10


def link_for(label: str, dimension: str, key: str, flt) -> None:
    """Drill down to the cases behind a cause, theme or product."""
    if dimension == "cause":
        ui.case_link(label, filters=flt, cause=key)
    elif dimension == "theme":
        ui.case_link(label, filters=replace(flt, themes=(key,)))
    else:
        ui.case_link(label, filters=replace(flt, products=(key,)))


def missing_notes(status: recurrence.DataStatus) -> None:
    """Say what this store lacks and what that leaves out, instead of showing empty tables."""
    notes = []
    if status.analysed == 0:
        notes.append("テキスト分析の結果がありません（原因・テーマ・感情レベルが空です）。ふだんは取り込みと同時に分析されますが、"
                     "テーマ辞書に誤りがあると分析は行われません。「テーマ探索」の辞書編集か `python -m pipelines analyze` で"
                     "誤りの場所を確かめてください。")
    if status.countermeasures == 0:
        notes.append("再発防止策が登録されていません。効果の判定と「対策後の再発」の検出には、"
                     "「再発防止策の記録」タブでの登録か、実施日・対象・担当部署・内容の列を持つファイルの取り込みが必要です。")
    if status.with_customer == 0:
        notes.append("顧客ID（または氏名・電話番号・メールアドレス）の列がないため、同じお客様からの繰り返しの問い合わせは判定できません。")
    if status.events == 0:
        notes.append("対応履歴（部署間の移管記録）が取り込まれていないため、タイムラインに移管回数は表示されません。")
    if notes:
        st.info("\n".join(f"- {n}" for n in notes), icon=":material/info:")


status = ui.fetch(recurrence.data_status)
if status.cases == 0:
    st.info("まだケースがありません。お客様相談室の CRM や表計算ソフトから書き出したファイルを取り込むと、"
            "繰り返し起きる原因や再発防止策の効果をここで確認できます。", icon=":material/inbox:")
    ui.upload_link()
    st.stop()

flt = ui.filters()
period = ui.fetch(shared.period, flt)
missing_notes(status)

tab_causes, tab_effects, tab_repeats, tab_duplicates, tab_log = st.tabs(
    ["繰り返す原因", "再発防止策の効果", "繰り返しの問い合わせ", "重複・類似の問い合わせ", "再発防止策の記録"])


# -- recurring causes ------------------------------------------------------------------------

def recurring_section() -> None:
    left, middle, right = st.columns(3)
    months = left.number_input("対象の月数", min_value=3, max_value=60, value=12, step=1, key="rc_months",
                               help="期間の終わりまでの、この月数を見ます（サイドバーの期間がもっと長ければその全体）。")
    min_cases = middle.number_input("「発生した月」とみなす件数", min_value=1, max_value=1000, value=3, step=1,
                                    key="rc_min_cases")
    fallback = right.checkbox("原因のないケースはテーマで数える", key="rc_theme_fallback")
    options = recurrence.RecurringOptions(months=int(months), min_cases=int(min_cases), theme_fallback=fallback)
    result = ui.fetch(recurrence.recurring_causes, flt, options)
    table = result.table
    if table.empty:
        st.info("この条件では原因のついたケースがありません。絞り込みを広げるか、テキスト分析の完了をお待ちください。",
                icon=":material/search_off:")
        return
    counted = ui.fetch(summary.recurring_list, flt)
    table = table.assign(再発件数に数える=[f"{d}:{k}" in counted.keys for d, k in zip(table["dimension"], table["key"])])
    last_month = result.months[-1]
    st.caption(f"{result.months[0]:%Y年%-m月}〜{last_month:%Y年%-m月}の{len(result.months)}か月。"
               f"発生月数 = {int(min_cases)}件以上あった月の数、最長連続月数 = その月が続いた最長の長さ。"
               "傾向 = 直近3か月とそれ以前の1日あたり件数の比較（偶然では説明しにくい差のときだけ増加・減少）。")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_order=["区分", "原因", "再発件数に数える", "発生月数", "最長連続月数", "件数", "直近 件/月",
                               "それ以前 件/月", "傾向", "傾向比", "月別件数"],
                 column_config={"月別件数": st.column_config.BarChartColumn("月別件数", y_min=0),
                                "再発件数に数える": st.column_config.CheckboxColumn(
                                    "再発件数に数える", help="経営サマリーの「再発件数」に数える原因（直近12か月の半分以上の月に"
                                    "出ていて、直近3か月に1.3倍以上に増えている。再発防止策の後に再び増えたものも数える）。"),
                                "p値": st.column_config.NumberColumn(format="%.4f")})
    top = table.head(15)
    labels = [f"{m:%Y年%-m月}" for m in result.months]
    if result.end.day != 1 or result.end.hour or result.end.minute:
        labels[-1] += "（途中）"    # the period ends inside its last month: a partial count, not a drop
    # A theme counted by the fallback may share its name with a cause (お褒め): label it apart.
    rows = [name if dimension == "cause" else f"{name}（テーマ）" for name, dimension in zip(top["原因"], top["dimension"])]
    figure = px.imshow([list(row) for row in top["月別件数"]], x=labels, y=rows,
                       color_continuous_scale="Reds", aspect="auto", text_auto=True,
                       labels={"x": "月", "y": "原因", "color": "件数"}, title="原因別・月別の件数（持続している順、上位15）")
    figure.update_layout(xaxis_title="受付月", yaxis_title="原因")
    st.plotly_chart(figure, width="stretch")
    st.caption("ケースを見る（上の表と同じ期間）:")
    # The table covers more than the sidebar's period, so the links carry the table's own range.
    span = replace(flt, preset="custom", start=result.start.date(), end=(result.end - timedelta(days=1)).date())
    columns = st.columns(2)
    for index, row in enumerate(table.head(LINKS_SHOWN).itertuples(index=False)):
        with columns[index % 2]:
            link_for(f"{row.原因}（{row.件数:,}件・{row.発生月数}か月）", row.dimension, row.key, span)
    st.download_button("CSV をダウンロード", csv_for_excel(table.drop(columns=["dimension", "key", "月別件数"])),
                       file_name="recurring_causes.csv", mime="text/csv", key="rc_csv",
                       on_click=ui.record_download, args=("recurring_causes.csv",))


# -- countermeasure effects ------------------------------------------------------------------

def effects_section() -> None:
    if status.countermeasures == 0:
        st.info("再発防止策が登録されていません。「再発防止策の記録」タブで1件ずつ登録するか、"
                "実施日・対象・担当部署・内容の列を持つ CSV / Excel を取り込んでください"
                "（コマンドでは `python -m pipelines ingest FILE --countermeasures`）。", icon=":material/fact_check:")
        ui.upload_link()
        return
    left, middle, right = st.columns(3)
    before = left.number_input("対策前の日数", min_value=14, max_value=730, value=90, step=1, key="ba_before")
    after = middle.number_input("対策後の日数", min_value=14, max_value=730, value=90, step=1, key="ba_after")
    lag = right.number_input("準備期間（対策後から除く日数）", min_value=0, max_value=180, value=7, step=1, key="ba_lag")
    options = returns.EffectOptions(before_days=int(before), after_days=int(after), lag_days=int(lag))
    evaluations = ui.fetch(returns.countermeasure_effects, flt, options)
    table = recurrence.effects_table(evaluations)
    returned = [e for e in evaluations if e.returned]
    cols = st.columns(4)
    for col, verdict in zip(cols, returns.VERDICTS):
        col.metric(verdict, f"{int((table['判定'] == verdict).sum())} 件")
    cols[3].metric("対策後の再発", f"{len(returned)} 件")
    for evaluation in returned:
        st.warning(returns.return_message(evaluation, period.now.date()), icon=":material/autorenew:")
    st.caption(f"各対策の実施日の前{int(before)}日と、準備期間{int(lag)}日を除いた後{int(after)}日の1日あたり件数を、"
               "正確なポアソン検定（件数を日数で条件づけた二項検定）で比べます。p < 0.05 で減っていれば「効果あり」、"
               "増えていれば「悪化」、それ以外は「効果不明」。期間はサイドバーではなく各対策の実施日で決まり、"
               "商品・チャネル・部署・テーマの絞り込みは反映されます。「再発」は、対策後に減った件数が対策前の水準以上に"
               "戻ったこと（その始まりの日）を示します。")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"p値": st.column_config.NumberColumn(format="%.4f"),
                                "実施日": st.column_config.DateColumn(format="YYYY/MM/DD")})
    st.download_button("CSV をダウンロード", csv_for_excel(table), file_name="countermeasure_effects.csv",
                       mime="text/csv", key="ba_csv", on_click=ui.record_download, args=("countermeasure_effects.csv",))
    matched = [i for i, e in enumerate(evaluations) if e.match]
    if not matched:
        st.warning("どの再発防止策の対象も、データ内の原因・テーマ・商品の名前と一致しません。対象の名前を確認してください。",
                   icon=":material/warning:")
        return
    # Open on a countermeasure whose cause came back, if any: that is the chart worth seeing first.
    first = next((n for n, i in enumerate(matched) if evaluations[i].returned), 0)
    chosen = st.selectbox("推移を見る対策", matched, index=first, key="ba_pick",
                          format_func=lambda i: f"{evaluations[i].implemented_on:%Y/%m/%d} {evaluations[i].target}"
                                                f"（{evaluations[i].verdict}）")
    effect_chart(evaluations[chosen], options)


def effect_chart(evaluation: returns.Evaluation, options: returns.EffectOptions) -> None:
    match = evaluation.match
    series = ui.fetch(recurrence.subject_series, match.dimension, match.key, flt, "week")
    color = ui.theme_colors().get(match.name, "#1f77b4") if match.dimension == "theme" else "#1f77b4"
    # The last week may end after the data does: drawn apart (open marker, dotted), never as a drop.
    latest = ui.fetch(shared.overview).last
    partial = [(start + timedelta(days=7)).date() > latest.date() + timedelta(days=1) if latest else False
               for start in series["期間"]]
    whole = series[[not p for p in partial]]
    figure = go.Figure(go.Scatter(x=whole["期間"], y=whole["件数"], mode="lines+markers", name="件数",
                                  line={"color": color}))
    if any(partial):
        tail = series.iloc[max(len(series) - 2, 0):]
        figure.add_trace(go.Scatter(x=tail["期間"], y=tail["件数"], mode="lines+markers", name="途中の週",
                                    line={"color": color, "dash": "dot"}, marker={"symbol": "circle-open"}))
    day = evaluation.implemented_on
    figure.add_vrect(x0=str(day - timedelta(days=options.before_days)), x1=str(day),
                     fillcolor="#9e9e9e", opacity=0.12, line_width=0, annotation_text="対策前",
                     annotation_position="top left")
    after_from = day + timedelta(days=options.lag_days)
    figure.add_vrect(x0=str(after_from), x1=str(after_from + timedelta(days=options.after_days)),
                     fillcolor="#2ca02c", opacity=0.08, line_width=0, annotation_text="対策後",
                     annotation_position="top left")
    figure.add_vline(x=str(day), line_dash="dash", line_color="#2ca02c")
    figure.add_annotation(x=str(day), y=1.06, yref="paper", text="対策", showarrow=False, xanchor="center")
    if evaluation.returned:
        figure.add_vline(x=str(evaluation.returned.since), line_dash="dot", line_color="#d62728")
        figure.add_annotation(x=str(evaluation.returned.since), y=0.92, yref="paper", text="再発", showarrow=False,
                              xanchor="left", font={"color": "#d62728"})
    figure.update_layout(title=f"{match.label}の週別件数", xaxis_title="週（月曜始まり）", yaxis_title="件数",
                         showlegend=False)
    figure.update_xaxes(tickformat="%Y年%-m月")
    st.plotly_chart(figure, width="stretch")
    if any(partial):
        st.caption("最後の週はデータの最新日までの途中の件数です（白抜きの点・点線）。減ったのではありません。")
    link_for(f"{match.name}のケースを見る（全期間）", match.dimension, match.key, replace(flt, preset="all"))


# -- repeat contacts -------------------------------------------------------------------------

def repeats_section() -> None:
    if status.with_customer == 0:
        st.info("このデータには顧客を識別する列（顧客ID・氏名・電話番号・メールアドレス）がないため、"
                "繰り返しの問い合わせは判定できません。次回の書き出しでその列を含めてください（列の値は保存されず、"
                "照合用の符号だけが残ります）。", icon=":material/person_off:")
        return
    left, right = st.columns(2)
    window = left.number_input("前回からの日数（以内）", min_value=1, max_value=365, value=30, step=1, key="rp_window")
    minimum = right.number_input("最低の回数", min_value=2, max_value=50, value=3, step=1, key="rp_min")
    options = recurrence.RepeatOptions(window_days=int(window), min_contacts=int(minimum))
    frame = ui.fetch(recurrence.repeat_customers, flt, options)
    st.caption(f"同じお客様が同じ原因またはテーマで、前回から{int(window)}日以内に問い合わせを重ねたもの"
               f"（{int(minimum)}回以上）。期間内に1回でも問い合わせがあれば、期間より前からの一連の問い合わせも数えます。"
               "回数の多い順、同じ回数なら短い期間・高い感情レベルの順。")
    if frame.empty:
        st.info(f"{period.label}には、{int(minimum)}回以上の繰り返しの問い合わせはありません。"
                "期間を広げる（サイドバーの「期間」で「全期間」など）か、回数や日数を変えてください。",
                icon=":material/check_circle:")
        return
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_order=["顧客", "回数", "内容", "初回", "最終", "期間（日）", "最大感情レベル", "チャネル", "商品",
                               "最新の対応状況"])
    keys = list(frame["customer_key"])
    described = {row.customer_key: f"{row.顧客} — {row.回数}回（{row.内容}）" for row in frame.itertuples(index=False)}
    customer = st.selectbox("タイムラインを見るお客様", keys, key="rp_customer", format_func=described.get)
    timeline = ui.fetch(recurrence.customer_timeline, customer)
    st.subheader("問い合わせのタイムライン")
    ui.text_table(timeline)
    ui.case_link("このお客様のケースをケース一覧で見る", customer=customer)
    st.download_button("CSV をダウンロード", csv_for_excel(frame.drop(columns=["customer_key", "dimension", "key",
                                                                                "case_ids"])),
                       file_name="repeat_contacts.csv", mime="text/csv", key="rp_csv",
                       on_click=ui.record_download, args=("repeat_contacts.csv",))


# -- near-duplicates -------------------------------------------------------------------------

def duplicates_section() -> None:
    left, middle, right = st.columns(3)
    window = left.number_input("同じお客様: 日数（以内）", min_value=1, max_value=180, value=30, step=1, key="dup_window")
    similarity = middle.slider("同じお客様: 文面の一致度", min_value=0.3, max_value=1.0, value=0.6, step=0.05,
                               key="dup_similarity", help="短い方の問い合わせの語のうち、もう一方にも出る語の割合。")
    anonymous = right.slider("お客様不明: 文面の一致度", min_value=0.5, max_value=1.0, value=0.8, step=0.05,
                             key="dup_anonymous", help="顧客IDのない問い合わせは、同じ商品で3日以内、語の重なり（Jaccard）がこの値以上のときだけまとめます。")
    options = recurrence.DuplicateOptions(window_days=int(window), similarity=float(similarity),
                                          anonymous_similarity=float(anonymous))
    result = ui.fetch(recurrence.near_duplicates, flt, options)
    cols = st.columns(4)
    cols[0].metric("期間内のケース", f"{result.cases:,} 件")
    cols[1].metric("重複をまとめた件数", f"{result.deduplicated:,} 件",
                   delta=f"-{result.cases - result.deduplicated:,} 件" if result.cases > result.deduplicated else None,
                   delta_color="off")
    cols[2].metric("類似グループ", f"{result.groups:,}")
    cols[3].metric("まとめたケース", f"{result.grouped_cases:,} 件")
    st.caption("同じお客様が言い方を変えて同じ件を再び伝えたもの（再オープン・催促を含む）と、顧客IDのない"
               "ほぼ同じ文面の投稿を1件にまとめます。別のお客様どうしの似た苦情はまとめません（それ自体が増加の兆候のため）。")
    if result.groups == 0:
        st.info(f"{period.label}には、まとめるべき重複・類似の問い合わせは見つかりませんでした。", icon=":material/check_circle:")
        return
    ui.text_table(result.table)
    group = st.selectbox("グループの中身", list(result.table["グループ"]), key="dup_group",
                         format_func=lambda g: f"グループ {g}")
    ui.text_table(result.members[result.members["グループ"] == group].drop(columns=["グループ"]))


# -- the countermeasure log and form ---------------------------------------------------------

def log_section() -> None:
    log = ui.fetch(recurrence.countermeasure_log)
    if log.empty:
        st.info("まだ再発防止策は登録されていません。下のフォームから登録できます。", icon=":material/fact_check:")
    else:
        ui.text_table(log, column_config={"実施日": st.column_config.DateColumn(format="YYYY/MM/DD")})
    if not ui.actor().can(access.RECORD_COUNTERMEASURE):   # runner.record_countermeasure refuses them too
        st.caption("再発防止策の登録は相談室長の役割の人が行います。")
        return
    choices = ui.fetch(returns.target_choices)
    st.subheader("再発防止策を登録する")
    with st.form("cm_form", clear_on_submit=False):
        left, right = st.columns(2)
        left.date_input("実施日", value=None, key="cm_date", format="YYYY/MM/DD")
        right.text_input("担当部署", key="cm_department", max_chars=100)
        left.selectbox("対象（原因・テーマ・商品）", choices, index=None, key="cm_target", placeholder="一覧から選ぶ")
        right.text_input("一覧にない対象（自由入力）", key="cm_target_text", max_chars=100,
                         help="入力すると左の選択より優先されます。")
        st.text_area("内容", key="cm_description", max_chars=2000)
        st.checkbox("データと一致しない対象でも登録する", key="cm_force")
        # A callback, so the submission is handled before the page renders (and survives a rerun).
        st.form_submit_button("登録する", key="cm_submit", type="primary", on_click=submit_countermeasure)
    message = st.session_state.pop("cm_message", None)
    if message:
        kind, text = message
        getattr(st, kind)(text, icon={"error": ":material/error:", "warning": ":material/warning:",
                                      "success": ":material/check_circle:", "info": ":material/info:"}[kind])


def submit_countermeasure() -> None:
    """Form callback: validate, warn about a target that matches nothing, record in a child process."""
    state = st.session_state
    target = (state.get("cm_target_text") or "").strip() or state.get("cm_target")
    state["cm_message"] = record(state.get("cm_date"), target, state.get("cm_department") or "",
                                 state.get("cm_description") or "", bool(state.get("cm_force")))


def record(day: date | None, target: str | None, department: str, description: str, force: bool) -> tuple[str, str]:
    """(message kind, Japanese message) for one submission of the form."""
    errors = []
    if day is None:
        errors.append("実施日を選んでください。")
    if not target:
        errors.append("対象を一覧から選ぶか、自由入力欄に入力してください。")
    if errors:
        return "error", "\n".join(f"- {e}" for e in errors)
    match = ui.query(returns.describe_target, target)
    if match is None and not force:
        return "warning", (f"「{ui.md(target)}」に一致する原因・テーマ・商品がデータにありません。このままでは効果を判定できません。"
                           "名前を確認するか、今後のデータのために登録する場合は「データと一致しない対象でも登録する」に"
                           "チェックして、もう一度「登録する」を押してください。")
    try:
        inserted = runner.record_countermeasure(day, target, department, description, store=ui.store_path(),
                                               actor=ui.actor())
    except KakehashiError as exc:
        return "error", exc.message_ja()
    if not inserted:
        return "info", f"同じ再発防止策（{day:%Y/%m/%d}・{ui.md(target)}）はすでに登録されています。"
    evaluated = f"「{ui.md(match.label)}」として評価します。" if match else "一致する対象がまだないため、効果は判定されません。"
    return "success", f"{day:%Y/%m/%d}の再発防止策（{ui.md(target)}）を登録しました。{evaluated}"


with tab_causes:
    recurring_section()
with tab_effects:
    effects_section()
with tab_repeats:
    repeats_section()
with tab_duplicates:
    duplicates_section()
with tab_log:
    log_section()
