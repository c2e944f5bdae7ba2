"""役割と監査ログ (admin only): the audit trail with filters and export, and who has which role."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from pipelines.reports.shared import csv_for_excel
from pipelines.store import access, audit
from pipelines.store.errors import KakehashiError

ui.frame()
st.title("役割と監査ログ")
actor = access.require(ui.actor(), access.ADMINISTER)   # ui.frame() has refused anyone else already

# -- the audit trail --------------------------------------------------------------------------------
st.subheader("監査ログ")
journal = audit.read(ui.store_path())
st.caption(f"サインイン・取り込み・テーマ辞書の編集・再発防止策の登録・ダウンロード・役割の変更を、行った人と日時とともに"
           f"記録しています（追記のみ、書き換え不可）。記録先: {ui.md(journal.path)}")
if journal.unreadable:
    st.warning(f"読めない行が {journal.unreadable} 行あります（書き込み中に止まった行）。ほかの行はすべて表示しています。",
               icon=":material/warning:")
if not journal.entries:
    st.info("まだ記録がありません。", icon=":material/info:")
else:
    frame = pd.DataFrame([{
        "at": entry.get("at", ""), "user": entry.get("user", ""), "roles": "・".join(entry.get("roles", [])),
        "action": audit.ACTIONS_JA.get(entry.get("action", ""), entry.get("action", "")),
        "target": entry.get("target", ""), "detail": json.dumps(entry.get("detail", {}), ensure_ascii=False),
    } for entry in journal.entries]).rename(columns=audit.COLUMNS_JA)
    cols = st.columns(2)
    users = cols[0].multiselect("利用者", sorted(frame["利用者"].unique()), key="ad_users", placeholder="すべて")
    actions = cols[1].multiselect("操作", sorted(frame["操作"].unique()), key="ad_actions", placeholder="すべて")
    keep = frame["利用者"].isin(users or frame["利用者"]) & frame["操作"].isin(actions or frame["操作"])
    shown = frame[keep]
    st.caption(f"{len(shown):,} 件（全 {len(frame):,} 件、新しい順）")
    ui.text_table(shown)
    buttons = st.columns([1, 1, 3])
    buttons[0].download_button("CSV をダウンロード（Excel 用）", csv_for_excel(shown), file_name="audit.csv",
                               mime="text/csv", icon=":material/download:", on_click=ui.record_download,
                               args=("audit.csv", {"rows": len(shown)}))
    buttons[1].download_button("JSON Lines（全件・原本）", Path(journal.path).read_bytes(), file_name="audit.jsonl",
                               mime="application/jsonl", icon=":material/download:", on_click=ui.record_download,
                               args=("audit.jsonl", {"rows": len(frame)}))

# -- roles ------------------------------------------------------------------------------------------
st.subheader("役割")
try:
    role_map = access.load_role_map()
except KakehashiError as error:
    st.error(error.message_ja(), icon=":material/error:")
    st.stop()
st.caption(f"役割ファイル: {ui.md(role_map.path)}。グループはサインイン時の ID トークンのクレーム「"
           f"{ui.md(role_map.groups_claim)}」の値で割り当てます（ファイルで編集）。利用者ごとの割り当ては下の表で変更できます。")
if role_map.groups:
    ui.text_table(pd.DataFrame([{"グループ": group, "役割": "・".join(r for r in access.ROLES if r in roles)}
                                for group, roles in sorted(role_map.groups.items())]))
table = pd.DataFrame([{"利用者（メールアドレス）": user, **{role: role in roles for role in access.ROLES}}
                      for user, roles in sorted(role_map.users.items())],
                     columns=["利用者（メールアドレス）", *access.ROLES])
st.data_editor(table, num_rows="dynamic", hide_index=True, key="ad_roles", width="stretch",
               column_config={role: st.column_config.CheckboxColumn(role, default=False) for role in access.ROLES})


def _save_roles(table: pd.DataFrame) -> None:
    # A callback (it runs before the script, so its outcome survives any rerun): the table as edited.
    changes = st.session_state.get("ad_roles") or {}
    edited = table.copy()
    for row, values in changes.get("edited_rows", {}).items():
        for column, value in values.items():
            edited.loc[int(row), column] = value
    edited = pd.concat([edited.drop(index=changes.get("deleted_rows", [])),
                        pd.DataFrame(changes.get("added_rows", []), columns=table.columns)], ignore_index=True)
    users = {str(row["利用者（メールアドレス）"]): [role for role in access.ROLES if row[role] is True]
             for _, row in edited.iterrows() if str(row["利用者（メールアドレス）"] or "").strip() not in ("", "nan", "None")}
    try:
        saved = access.save_user_roles(actor, users)
    except KakehashiError as error:
        st.session_state["ad_outcome"] = ("error", error.message_ja())
        return
    audit.record(ui.store_path(), actor, audit.EDIT_ROLES, saved.path,
                 {"users": {user: sorted(roles) for user, roles in saved.users.items()}})
    st.session_state["ad_outcome"] = ("success", f"役割を保存しました（{len(saved.users)} 人）。次の画面操作から反映されます。")


st.button("役割を保存", key="ad_save_roles", type="primary", icon=":material/save:", on_click=_save_roles, args=(table,))
outcome = st.session_state.pop("ad_outcome", None)
if outcome:
    (st.success if outcome[0] == "success" else st.error)(outcome[1])
