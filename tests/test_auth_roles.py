"""Roles (pipelines.store.access): every page and every write of the four roles, checked in the
pipelines functions themselves and on the pages (AppTest with a signed-in user whose groups claim
the roles file maps); the audit trail; unknown and idle users; local mode; the serving check."""
from __future__ import annotations

import datetime as dt
import html
import json
import os
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.jobs import runner
from pipelines.reports import explore
from pipelines.store import access, audit
from tests.conftest import APP_TIMEOUT, ROOT, _navigation
from ui.widgets import highlighted

EXPORTS = ROOT / "tests" / "data" / "exports"
EXEC, LEAD, ANALYST, ADMIN = access.EXECUTIVE, access.LEAD, access.ANALYST, access.ADMIN
ROLES_FILE = """groups_claim = "groups"

[groups]
"kk-exec" = ["経営"]
"kk-lead" = ["相談室長"]
"kk-analyst" = ["分析担当"]
"kk-admin" = ["管理者"]
"""
GROUP_OF = {EXEC: "kk-exec", LEAD: "kk-lead", ANALYST: "kk-analyst", ADMIN: "kk-admin"}

# The spec (issue 17), written out: which role opens which page.
ANALYSIS = {"home", "trends", "themes", "cases", "recurrence", "flow"}
PAGES_OF = {
    EXEC: ANALYSIS,
    LEAD: ANALYSIS,
    ANALYST: ANALYSIS | {"upload", "history"},
    ADMIN: {"admin"},
}
# ...and which role may make which write.
WRITES_OF = {
    EXEC: set(),
    LEAD: {"edit_rules", "reanalyse", "countermeasure", "label", "accept_inferred"},
    ANALYST: {"load", "refusal"},
    ADMIN: {"edit_roles"},
}


def _actor(role: str) -> access.Actor:
    return access.Actor(f"{GROUP_OF[role]}@example.co.jp", role, frozenset({role}))


def test_the_navigation_has_a_permission_for_every_page():
    assert set(_navigation()) == set(access.PAGE_PERMISSIONS)


@pytest.mark.parametrize("role", access.ROLES)
@pytest.mark.parametrize("url_path", sorted(access.PAGE_PERMISSIONS))
def test_page_matrix_in_pipelines(role, url_path):
    actor = _actor(role)
    assert actor.may_open(url_path) == (url_path in PAGES_OF[role])
    if url_path in PAGES_OF[role]:
        assert access.require_page(actor, url_path) is actor
    else:
        with pytest.raises(access.AccessDenied) as refused:
            access.require_page(actor, url_path)
        assert "の権限がありません" in refused.value.message_ja() and role in refused.value.message_ja()


def _write(name: str, actor: access.Actor, tmp_path: Path):
    """Each write entry point, called as the page calls it. Where the role may write, input that
    its own check refuses right after the role check keeps the test from starting real work."""
    store = tmp_path / "store.duckdb"
    if name == "load":
        return runner.start(runner.JobSpec([str(EXPORTS / "salesforce_ja_cp932.csv")], ["a.csv"], ["cases"],
                                           store=str(store)), actor=actor)
    if name == "refusal":
        return runner.start_refusal_record(EXPORTS / "salesforce_ja_cp932.csv", "a.pdf", "cases", "読めません",
                                           store=store, actor=actor)
    if name == "countermeasure":
        return runner.record_countermeasure(dt.date(2025, 1, 1), "", None, None, store=store, actor=actor)
    if name == "reanalyse":
        return runner.start_analyze(store, actor=actor)
    if name == "edit_rules":
        rules = tmp_path / "themes.txt"
        rules.write_text("", encoding="utf-8")
        return explore.save_draft(explore.ThemeDraft("", "", "", ""), rules, actor=actor, store=store)
    if name == "label":
        return runner.record_label("", [], False, None, [], store=store, actor=actor)
    if name == "accept_inferred":
        rules = tmp_path / "themes.txt"
        rules.write_text("", encoding="utf-8")
        return runner.accept_inferred("nope", ["語"], store, rules, actor=actor)
    if name == "edit_roles":
        return access.save_user_roles(actor, {"a@example.co.jp": [EXEC]}, tmp_path / "roles.toml")
    raise AssertionError(name)


WRITES = sorted(set().union(*WRITES_OF.values()))


@pytest.mark.parametrize("role", access.ROLES)
@pytest.mark.parametrize("write", WRITES)
def test_write_matrix_in_pipelines(role, write, tmp_path):
    actor = _actor(role)
    if write in WRITES_OF[role]:
        try:
            _write(write, actor, tmp_path)
        except access.AccessDenied:
            pytest.fail(f"{role} was refused {write}")
        except Exception as error:   # the input's own check, after the role check (see _write)
            assert not isinstance(error, access.AccessDenied)
    else:
        with pytest.raises(access.AccessDenied) as refused:
            _write(write, actor, tmp_path)
        assert "権限がありません" in refused.value.message_ja()
        assert not (tmp_path / "store.duckdb").exists() and not (tmp_path / "roles.toml").exists()


def test_a_write_is_in_the_audit_trail_with_its_user(tmp_path):
    actor = _actor(ANALYST)
    store = tmp_path / "store.duckdb"
    runner.start_refusal_record(EXPORTS / "salesforce_ja_cp932.csv", "見積書.pdf", "cases", "表ではありません",
                                store=store, actor=actor)
    (entry,) = audit.read(store).entries
    assert (entry["user"], entry["action"], entry["target"]) == (actor.user_id, audit.LOAD, "見積書.pdf")
    assert entry["roles"] == [ANALYST] and entry["detail"]["refused"] == "表ではありません"
    assert dt.datetime.fromisoformat(entry["at"]).tzinfo is not None


def test_the_journal_is_append_only_and_survives_concurrent_writers(tmp_path):
    store = tmp_path / "store.duckdb"
    actors = [_actor(role) for role in access.ROLES]

    def write(actor):
        for index in range(50):
            audit.record(store, actor, audit.EXPORT, f"{index}.csv", {"text": "あ" * 500})

    threads = [threading.Thread(target=write, args=(actor,)) for actor in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal = audit.read(store)
    assert journal.unreadable == 0 and len(journal.entries) == 200
    # A line cut short by a crash is counted, never fatal, and the next entry starts on its own line.
    with open(journal.path, "ab") as handle:
        handle.write(b'{"at": "2025-01-01T00:00:00+09:00", "us')
    assert audit.read(store).unreadable == 1


def test_roles_come_from_groups_and_from_users(tmp_path):
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES_FILE + '\n[users]\n"Boss@Example.co.jp" = ["管理者"]\n', encoding="utf-8")
    role_map = access.load_role_map(roles)
    assert role_map.roles_for({"groups": ["kk-exec", "other"], "email": "boss@example.co.jp"}) == {EXEC, ADMIN}
    assert role_map.roles_for({"groups": "kk-lead"}) == {LEAD}
    assert role_map.roles_for({"email": "someone@example.co.jp"}) == frozenset()
    roles.write_text('[groups]\n"x" = ["社長"]\n', encoding="utf-8")
    with pytest.raises(access.KakehashiError) as refused:
        access.load_role_map(roles)
    assert "不明な役割" in refused.value.message_ja()


# -- on the pages (AppTest: st.user as Streamlit fills it from the provider's ID token) ---------------

@pytest.fixture
def signed_in(tmp_path, monkeypatch):
    """signed_in(role or None, url_path) → an AppTest of that page for a user of that role (None:
    signed in at the provider, but no role here)."""
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES_FILE, encoding="utf-8")
    monkeypatch.setenv("KAKEHASHI_ROLES", str(roles))
    monkeypatch.setenv("KAKEHASHI_DB", str(tmp_path / "empty.duckdb"))

    def open_(role: str | None, url_path: str | None = None, store: Path | None = None, **query: str) -> AppTest:
        if store is not None:
            monkeypatch.setenv("KAKEHASHI_DB", str(store))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
        name = GROUP_OF.get(role, "nobody")
        at.user = {"is_logged_in": True, "email": f"{name}@example.co.jp", "name": name, "sub": name,
                   "iss": "https://login.example", "iat": int(time.time()), "groups": [GROUP_OF.get(role, "other")]}
        for key, value in query.items():
            at.query_params[key] = value
        if url_path:
            at.switch_page(_navigation()[url_path])
        at.run()
        return at

    return open_


def _texts(at: AppTest) -> str:
    return "\n".join(str(element.value) for kind in ("title", "error", "warning", "info", "markdown", "caption")
                     for element in getattr(at, kind))


@pytest.mark.parametrize("role", access.ROLES)
@pytest.mark.parametrize("url_path", sorted(access.PAGE_PERMISSIONS))
def test_page_matrix_on_the_pages(signed_in, role, url_path, tmp_path):
    at = signed_in(role, url_path)
    assert not at.exception
    refused = "の権限がありません" in _texts(at)
    assert refused == (url_path not in PAGES_OF[role]), _texts(at)
    if refused:
        assert role in _texts(at)
        assert any(entry["action"] == audit.REFUSED and entry["target"] == url_path
                   for entry in audit.read(tmp_path / "empty.duckdb").entries)


@pytest.mark.parametrize("role", [EXEC, LEAD, ANALYST])
def test_the_write_forms_are_offered_to_the_roles_that_may_write(signed_in, sample_store, role):
    at = signed_in(role, "themes", store=sample_store)
    at.session_state["th_tab"] = "テーマ辞書の編集"
    at.run()
    assert not at.exception
    editor = bool(at.get("button")) and any(button.key == "th_save_button" for button in at.button)
    assert editor == (role == LEAD)
    if role != LEAD:
        assert any("テーマ辞書の編集は相談室長" in info.value for info in at.info)
    at = signed_in(role, "recurrence", store=sample_store)
    assert not at.exception
    assert any(button.key == "cm_submit" for button in at.button) == (role == LEAD)


def test_a_user_without_a_role_is_refused_in_japanese(signed_in, tmp_path):
    at = signed_in(None)
    assert not at.exception
    assert "懸け橋を使う役割が割り当てられていません" in at.error[0].value
    assert at.button(key="kk_logout_refused").label == "サインアウト"
    (entry,) = audit.read(tmp_path / "empty.duckdb").entries
    assert (entry["user"], entry["action"]) == ("nobody@example.co.jp", audit.REFUSED)


def test_a_sign_in_is_audited_once(signed_in, tmp_path):
    at = signed_in(EXEC)
    at.run()
    assert not at.exception
    assert [e["action"] for e in audit.read(tmp_path / "empty.duckdb").entries] == [audit.SIGN_IN]
    assert "役割: 経営" in "\n".join(element.value for element in at.sidebar.markdown)


def test_an_idle_session_is_signed_out(signed_in, monkeypatch, tmp_path):
    monkeypatch.setenv("KAKEHASHI_IDLE_TIMEOUT", "4")
    at = signed_in(LEAD)
    assert not at.exception and not at.warning
    time.sleep(4.5)
    at.run()
    assert not at.exception
    assert "操作がなかったため、サインアウトしました" in at.warning[0].value
    actions = [entry["action"] for entry in audit.read(tmp_path / "empty.duckdb").entries]
    assert actions == [audit.IDLE_SIGN_OUT, audit.SIGN_IN]


def test_a_bad_idle_limit_is_refused_in_words(monkeypatch):
    monkeypatch.setenv("KAKEHASHI_IDLE_TIMEOUT", "8h")
    with pytest.raises(access.KakehashiError) as refused:
        access.idle_timeout_seconds()
    assert "KAKEHASHI_IDLE_TIMEOUT" in refused.value.message_ja()


def test_local_mode_is_one_user_with_every_role_and_says_so(tmp_path, open_page):
    at = open_page(tmp_path / "empty.duckdb", "upload")
    assert not at.exception
    assert "ローカルモード" in at.sidebar.info[0].value
    at = open_page(tmp_path / "empty.duckdb", "admin")
    assert not at.exception and at.title[0].value == "役割と監査ログ"


def test_serving_beyond_localhost_needs_sign_in(tmp_path, monkeypatch):
    assert access.serving_problems("127.0.0.1", []) == []
    (problem,) = access.serving_problems("0.0.0.0", [tmp_path / "missing.toml"])
    assert "[auth]" in problem and "redirect_uri" in problem and "127.0.0.1" in problem
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "https://kk.example/oauth2callback"\ncookie_secret = "short"\n'
                       'client_id = "id"\nclient_secret = "s"\n'
                       'server_metadata_url = "https://login.example/.well-known/openid-configuration"\n',
                       encoding="utf-8")
    monkeypatch.setenv("KAKEHASHI_ROLES", str(tmp_path / "roles.toml"))
    assert [p.split(" ")[1] for p in access.serving_problems("0.0.0.0", [secrets])] == ["cookie_secret", "roles"]
    secrets.write_text(secrets.read_text(encoding="utf-8").replace('"short"', json.dumps("x" * 40)), encoding="utf-8")
    (tmp_path / "roles.toml").write_text(ROLES_FILE, encoding="utf-8")
    assert access.serving_problems("0.0.0.0", [secrets]) == []


# -- user-supplied values never render as Markdown or LaTeX ---------------------------------------

HOSTILE = "**太字** :red[赤] [リンク](http://evil.example) $x^2$ <b>h</b> `c` :material/home:"


def _shown_as_typed(source: str, value: str) -> bool:
    decoded = html.unescape(source).replace("\u200b", "")
    return value in decoded and value not in source


def test_a_url_parameter_is_shown_as_typed(exports_store, open_page):
    at = open_page(exports_store, "flow", cause=HOSTILE)
    assert not at.exception
    (warning,) = [w.value for w in at.warning if "はデータにありません" in w.value]
    assert _shown_as_typed(warning, HOSTILE)


def test_a_file_name_in_the_job_panel_is_shown_as_typed(tmp_path, open_page):
    store = tmp_path / "store.duckdb"
    folder = store.parent / f".{store.stem}-jobs"
    folder.mkdir(parents=True)
    (folder / "j1.json").write_text(json.dumps({
        "spec": {"display_names": [HOSTILE + ".csv"], "job_id": "j1"}, "status": "failed", "created_at": "",
        "results": [], "errors": [{"file": HOSTILE + ".csv", "message": "読めません"}]}, ensure_ascii=False),
        encoding="utf-8")
    os.utime(folder / "j1.json")
    at = open_page(store, "upload")
    assert not at.exception
    shown = [e.value for e in at.error if "読めません" in e.value]
    assert shown and _shown_as_typed(shown[0], HOSTILE + ".csv")


def test_off_localhost_without_sign_in_the_app_itself_refuses(tmp_path, monkeypatch):
    from streamlit import config

    monkeypatch.setenv("KAKEHASHI_DB", str(tmp_path / "empty.duckdb"))
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
        at.run()
    finally:
        config.set_option("server.address", before)
    assert not at.exception
    assert "127.0.0.1 以外では起動できません" in at.error[0].value and not at.title


def test_an_unexpected_error_shows_an_id_the_user_can_quote(exports_store, open_page, monkeypatch, caplog):
    from pipelines.reports import summary

    def broken(*args, **kwargs):
        raise RuntimeError("secret path /srv/data in the message")

    monkeypatch.setattr(summary, "kpis", broken)
    from tests.conftest import _navigation as navigation

    monkeypatch.setenv("KAKEHASHI_DB", str(exports_store))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
    at.switch_page(navigation()["home"])
    with caplog.at_level("ERROR", logger="kakehashi"):
        at.run()
    (shown,) = [e.value for e in at.error if "エラー番号" in e.value]
    error_id = shown.split("エラー番号 ")[1].split(" ")[0]
    assert "secret path" not in shown
    assert any(error_id in record.getMessage() and record.exc_info for record in caplog.records)


def test_a_customers_words_with_highlights_are_shown_as_typed():
    """The chart-to-verbatims cards escape with the one escaper (ui.md), the highlight included."""
    shown = highlighted(f"漏れ {HOSTILE}", ["漏れ", "太字"])
    assert shown.startswith(":orange-background[漏れ]")
    assert ":orange-background[太字]" in shown
    assert _shown_as_typed(shown, ":red[赤]") and _shown_as_typed(shown, "[リンク](http://evil.example)")
    assert "$x^2$" not in shown and "<b>" not in shown
