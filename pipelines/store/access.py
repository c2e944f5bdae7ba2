"""Who may do what: the four roles, what each may open and write, and who the acting user is.

Every page and every write asks here (`require(actor, PERMISSION)`), so a refusal does not depend on
a menu entry being hidden: the job runner, the rules editor and the pages all call `require`.

    経営      executive  every analysis page and the cases/verbatims behind an item, read-only
    相談室長  lead       that, plus editing the theme rules and packs and recording countermeasures
    分析担当  analyst    uploads and 取り込み履歴, plus the analysis pages
    管理者    admin      roles and the audit trail

Roles come from the identity provider's groups claim or from the roles file (settings.roles_path(),
TOML; README "Sign-in and roles"). On 127.0.0.1 without sign-in configured the app runs as one local
user with every role (LOCAL_USER).
"""
from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.store.errors import KakehashiError
from pipelines.store.settings import DATA_DIR

ROLES_ENV = "KAKEHASHI_ROLES"
IDLE_ENV = "KAKEHASHI_IDLE_TIMEOUT"
DEFAULT_IDLE_SECONDS = 8 * 60 * 60


def roles_path() -> Path:
    """The roles file (who has which role when sign-in is configured): $KAKEHASHI_ROLES, else
    data/roles.toml. Read at call time, so tests and a second install can point elsewhere."""
    env = os.environ.get(ROLES_ENV)
    return Path(env).expanduser() if env else DATA_DIR / "roles.toml"


def idle_timeout_seconds() -> float:
    """How long a signed-in session may stay idle before the app signs it out: $KAKEHASHI_IDLE_TIMEOUT
    in seconds (the tests use a few), else 8 hours. Streamlit's own sign-in cookie lasts 30 days."""
    env = os.environ.get(IDLE_ENV, "").strip()
    if not env:
        return DEFAULT_IDLE_SECONDS
    try:
        seconds = float(env)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise KakehashiError("idle_timeout", f"{IDLE_ENV} の値「{env}」は秒数（正の数）ではありません。",
                             f"{IDLE_ENV}={env!r} is not a positive number of seconds.",
                             "例: 28800（8 時間）", "For example 28800 (8 hours).")
    return seconds

EXECUTIVE, LEAD, ANALYST, ADMIN = "経営", "相談室長", "分析担当", "管理者"
ROLES = (EXECUTIVE, LEAD, ANALYST, ADMIN)

# Permissions: one name per thing a user can open or write.
VIEW_ANALYSIS = "view_analysis"      # the analysis pages, their cases and verbatims, CSV downloads of them
VIEW_HISTORY = "view_history"        # 取り込み履歴
LOAD = "load"                        # upload a file (and the record of a refused one)
EDIT_RULES = "edit_rules"            # theme rules and packs, and the re-analysis that applies them
RECORD_COUNTERMEASURE = "record_countermeasure"
LABEL_CASES = "label_cases"          # confirm or correct a case's themes (labels.py): the desk's own judgement
ADMINISTER = "administer"            # the audit trail and the roles

GRANTS: dict[str, frozenset[str]] = {
    EXECUTIVE: frozenset({VIEW_ANALYSIS}),
    LEAD: frozenset({VIEW_ANALYSIS, EDIT_RULES, RECORD_COUNTERMEASURE, LABEL_CASES}),
    ANALYST: frozenset({VIEW_ANALYSIS, VIEW_HISTORY, LOAD}),
    ADMIN: frozenset({ADMINISTER}),
}

# What each action is called in a refusal (Japanese, shown to the user).
ACTION_JA = {
    VIEW_ANALYSIS: "分析ページの閲覧", VIEW_HISTORY: "取り込み履歴の閲覧", LOAD: "データの取り込み",
    EDIT_RULES: "テーマ辞書・パックの編集", RECORD_COUNTERMEASURE: "再発防止策の登録", LABEL_CASES: "ケースのテーマのラベル付け",
    ADMINISTER: "管理（役割・監査ログ）",
}

# url_path of every page in app.py's navigation → the permission that opens it.
PAGE_PERMISSIONS: dict[str, str] = {
    "home": VIEW_ANALYSIS, "trends": VIEW_ANALYSIS, "themes": VIEW_ANALYSIS, "cases": VIEW_ANALYSIS,
    "recurrence": VIEW_ANALYSIS, "flow": VIEW_ANALYSIS,
    "upload": LOAD, "history": VIEW_HISTORY,
    "admin": ADMINISTER,
}


@dataclass(frozen=True)
class Actor:
    """The acting user: `user_id` is what the audit trail records (the e-mail, else the subject)."""

    user_id: str
    name: str = ""
    roles: frozenset[str] = frozenset()
    local: bool = False                  # the single local user of an unconfigured 127.0.0.1 install
    login_id: str = ""                   # one sign-in (subject and issue time): the unit of the idle limit

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset().union(*(GRANTS.get(role, frozenset()) for role in self.roles))

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def may_open(self, url_path: str) -> bool:
        """True when the page at `url_path` is open to this user (an unknown page is open to no one)."""
        permission = PAGE_PERMISSIONS.get(url_path)
        return permission is not None and self.can(permission)

    def roles_ja(self) -> str:
        return "・".join(role for role in ROLES if role in self.roles) or "なし"


LOCAL_USER = Actor("local", "この PC の利用者", frozenset(ROLES), local=True)


class AccessDenied(KakehashiError):
    """The acting user's roles do not allow this page or write."""


def require(actor: Actor | None, permission: str) -> Actor:
    """The actor, or AccessDenied (Japanese message naming the action and the user's roles)."""
    if actor is not None and actor.can(permission):
        return actor
    action = ACTION_JA.get(permission, permission)
    who = f"{actor.user_id}（役割: {actor.roles_ja()}）" if actor else "サインインしていない利用者"
    needed = "・".join(role for role in ROLES if permission in GRANTS[role])
    raise AccessDenied("access_denied", f"{who}には「{action}」の権限がありません。",
                       f"{actor.user_id if actor else 'An anonymous user'} may not {permission}.",
                       f"必要な役割: {needed}。管理者に依頼してください。",
                       f"It needs the role {needed}; ask an administrator.")


def require_page(actor: Actor | None, url_path: str) -> Actor:
    """The actor, or AccessDenied for the page at `url_path`."""
    return require(actor, PAGE_PERMISSIONS.get(url_path, f"page:{url_path}"))


@dataclass(frozen=True)
class RoleMap:
    """The roles file: the groups claim's values and individual users, each with roles."""

    groups_claim: str = "groups"
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    users: Mapping[str, frozenset[str]] = field(default_factory=dict)
    path: str = ""

    def roles_for(self, claims: Mapping[str, object]) -> frozenset[str]:
        """The roles of a signed-in user from the ID token's claims: the groups claim's values
        mapped through [groups], plus [users] by e-mail (case-insensitive) or subject."""
        roles: set[str] = set()
        claimed = claims.get(self.groups_claim) or []
        for group in [claimed] if isinstance(claimed, str) else claimed:
            roles |= self.groups.get(str(group), frozenset())
        for key in (str(claims.get("email") or "").lower(), str(claims.get("sub") or "")):
            if key:
                roles |= self.users.get(key, frozenset())
        return frozenset(roles)


def _role_set(where: str, value: object) -> frozenset[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise KakehashiError("roles_file", f"役割ファイルの {where} は役割名のリストにしてください。",
                             f"In the roles file, {where} must be a list of role names.")
    unknown = [name for name in names if name not in ROLES]
    if unknown:
        raise KakehashiError("roles_file", f"役割ファイルの {where} に不明な役割 {unknown} があります。",
                             f"The roles file names unknown roles at {where}: {unknown}.",
                             f"使える役割: {'・'.join(ROLES)}", f"Known roles: {', '.join(ROLES)}")
    return frozenset(names)


def load_role_map(path: str | os.PathLike | None = None) -> RoleMap:
    """Read the roles file (an absent file maps no one); KakehashiError for a broken one."""
    path = Path(path) if path else roles_path()
    if not path.exists():
        return RoleMap(path=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KakehashiError("roles_file", f"役割ファイル {path} を読めません: {exc}",
                             f"The roles file {path} cannot be read: {exc}",
                             "TOML の書式を確かめてください（README「サインインと役割」）。",
                             "Check its TOML syntax (README, Sign-in and roles).") from exc
    groups = {str(key): _role_set(f"[groups] {key}", value) for key, value in data.get("groups", {}).items()}
    users = {str(key).lower() if "@" in key else str(key): _role_set(f"[users] {key}", value)
             for key, value in data.get("users", {}).items()}
    return RoleMap(str(data.get("groups_claim", "groups")), groups, users, str(path))


def _toml_table(name: str, rows: Mapping[str, Iterable[str]]) -> str:
    # json.dumps writes strings TOML reads back as basic strings (same escapes, UTF-8 kept).
    lines = [f"[{name}]"]
    for key, roles in sorted(rows.items()):
        ordered = [role for role in ROLES if role in roles]
        lines.append(f"{json.dumps(key, ensure_ascii=False)} = {json.dumps(ordered, ensure_ascii=False)}")
    return "\n".join(lines)


def save_user_roles(actor: Actor, users: Mapping[str, Iterable[str]], path: str | os.PathLike | None = None
                    ) -> RoleMap:
    """Replace the [users] table of the roles file (an admin's edit; the groups are kept); returns
    the map as saved. Written to a temporary file and renamed, so a reader never sees half a file."""
    require(actor, ADMINISTER)
    current = load_role_map(path)
    checked = {key.strip().lower() if "@" in key else key.strip(): _role_set(f"[users] {key}", list(roles))
               for key, roles in users.items() if key.strip()}
    text = "\n\n".join([
        "# 懸け橋の役割（README「サインインと役割」）。[users] は管理ページから書き換えられます。",
        f"groups_claim = {json.dumps(current.groups_claim, ensure_ascii=False)}",
        _toml_table("groups", current.groups), _toml_table("users", checked)]) + "\n"
    target = Path(current.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return load_role_map(target)


LOOPBACK = ("127.0.0.1", "localhost", "::1")
SECRETS_FILES = (Path(".streamlit") / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml")


def serving_problems(address: str, secrets_files: Iterable[Path] = SECRETS_FILES) -> list[str]:
    """Why the dashboard must not start on `address` as configured (English, for scripts/start.sh):
    off the loopback address, sign-in must be set up in an [auth] section of secrets.toml. Empty
    when it may start."""
    if address in LOOPBACK:
        return []
    auth: dict = {}
    for path in secrets_files:
        if Path(path).exists():
            try:
                auth = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("auth", {}) or auth
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                return [f"{path} is not valid TOML: {exc}"]
    where = " or ".join(str(path) for path in secrets_files)
    if not auth:
        return [f"Kakehashi listens on {address}, beyond this machine, but sign-in is not configured: add an "
                f"[auth] section to {where} with redirect_uri, cookie_secret, client_id, client_secret and "
                "server_metadata_url (README, Sign-in and roles), or start it on 127.0.0.1."]
    problems = [f"[auth] needs {key} ({where})" for key in ("redirect_uri", "cookie_secret") if not auth.get(key)]
    providers = [auth] if "client_id" in auth else [value for value in auth.values() if isinstance(value, dict)]
    if not providers:
        problems.append(f"[auth] names no identity provider: set client_id, client_secret and server_metadata_url ({where})")
    for provider in providers:
        problems += [f"[auth] needs {key} for each provider ({where})" for key in
                     ("client_id", "client_secret", "server_metadata_url") if not provider.get(key)]
    if len(str(auth.get("cookie_secret", ""))) < 32:
        problems.append("[auth] cookie_secret must be a long random string (32 characters or more), e.g. "
                        "the output of: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    if not roles_path().exists():
        problems.append(f"no roles file at {roles_path()}: without it no one may sign in (README, Sign-in and roles; "
                        f"${ROLES_ENV} points elsewhere)")
    return sorted(set(problems), key=problems.index)
