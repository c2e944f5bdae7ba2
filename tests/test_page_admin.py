"""役割と監査ログ: the admin page shows the audit trail, exports it, and edits who has which role."""
from __future__ import annotations

import time

from pipelines.store import access, audit

ADMIN = {"is_logged_in": True, "email": "admin@example.co.jp", "name": "管理 花子", "sub": "u-admin",
         "iat": int(time.time())}


def test_the_admin_page_shows_the_audit_trail_in_local_mode(tmp_path, open_page):
    store = tmp_path / "store.duckdb"
    audit.record(store, access.LOCAL_USER, audit.LOAD, "**2025年7月**.csv", {"kind": "cases"})
    at = open_page(store, "admin")
    assert not at.exception
    assert at.title[0].value == "役割と監査ログ"
    table = at.dataframe[0].value
    assert list(table["操作"]) == ["データ取り込み"]
    assert list(table["対象"]) == ["**2025年7月**.csv"]       # a plain cell, never Markdown


def test_an_admin_edits_roles_and_the_edit_is_audited(tmp_path, open_page, monkeypatch):
    store, roles = tmp_path / "store.duckdb", tmp_path / "roles.toml"
    roles.write_text('[users]\n"admin@example.co.jp" = ["管理者"]\n', encoding="utf-8")
    monkeypatch.setenv("KAKEHASHI_ROLES", str(roles))
    monkeypatch.setenv("KAKEHASHI_DB", str(store))
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP_TIMEOUT, ROOT
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
    at.user = ADMIN
    at.switch_page("pages/admin.py")
    at.run()
    assert not at.exception
    assert at.title[0].value == "役割と監査ログ"
    at.button(key="ad_save_roles").click().run()
    assert not at.exception
    assert "役割を保存しました" in at.success[0].value
    entries = audit.read(store).entries
    assert [entry["action"] for entry in entries][:2] == [audit.EDIT_ROLES, audit.SIGN_IN]
    assert access.load_role_map(roles).users == {"admin@example.co.jp": frozenset({access.ADMIN})}
