"""The shared filters in the sidebar, rendered by app.py around the analysis pages.

The selection lives in st.session_state["filters"] (a pipelines.store.filters.Filters), which
outlives the widgets while a page without filters is shown, and is written to the URL query string
on every rerun (Streamlit clears it on page switches), so a link shares what the user sees.
"""
from __future__ import annotations

from datetime import date

import streamlit as st

from pipelines.reports import shared
from pipelines.store import access
from pipelines.store import filters as flt
from ui import auth
from ui.data import query
from ui.escape import md

# url_path of the pages that show the filters (the others keep the selection for later).
FILTER_PAGES = ("home", "trends", "themes", "cases", "recurrence", "flow")
_WIDGETS = {"products": "f_products", "channels": "f_channels", "departments": "f_departments", "themes": "f_themes"}


def filters() -> flt.Filters:
    """The current filter selection (the default one before the sidebar has run)."""
    return st.session_state.get("filters", flt.Filters())


def sidebar_filters(page) -> None:
    """Render the filters on analysis pages and mirror them into the URL query string.

    A URL that carries filter keys (a shared link, or a drill-down link from another page) wins
    over the session's selection; a URL without them (Streamlit clears it on page switches) keeps
    it. Other query keys (a page's own drill-down keys) are left alone."""
    state = st.session_state
    from_url = {key: st.query_params.get_all(key) for key in flt.QUERY_KEYS if key in st.query_params}
    if "filters" not in state or (from_url and flt.from_query(from_url) != state["filters"]):
        state["filters"] = flt.from_query(from_url)
        for key in ("f_period", "f_range", "f_as_of", *_WIDGETS.values()):
            state.pop(key, None)   # re-created from the new selection below
    if auth.current_page() in FILTER_PAGES:   # the page's own address, also when it is the default page
        state["filters"] = _render_filters(state["filters"])
    for key in flt.QUERY_KEYS:
        if key in st.query_params:
            del st.query_params[key]
    st.query_params.update(flt.to_query(state["filters"]))


def _render_filters(current: flt.Filters) -> flt.Filters:
    options = query(shared.filter_options)
    if options is None:
        return current
    theme_names = dict(options["themes"])
    state = st.session_state
    # Widgets re-created after a page without filters start from the kept selection.
    if "f_period" not in state:
        state["f_period"] = current.preset
        state["f_range"] = (current.start, current.end) if current.start and current.end else ()
        state["f_as_of"] = current.as_of
        for name, key in _WIDGETS.items():
            allowed = set(theme_names) if name == "themes" else set(options[name])
            state[key] = [v for v in getattr(current, name) if v in allowed]

    side = st.sidebar
    side.subheader("絞り込み")
    # The 基準日 first: an executive replays a past week from here. The calendar opens at the data's
    # latest day (max_value), not at today, which is usually after the last export.
    overview = query(shared.overview)
    last = overview.last.date() if overview is not None and overview.last else None
    first = overview.first.date() if overview is not None and overview.first else None
    chosen_day = state.get("f_as_of")
    if last is None or (chosen_day and not first <= chosen_day <= last):
        first = last = None    # a shared link's day outside the data is kept (the page says it has no cases)
    as_of = side.date_input("基準日", key="f_as_of", format="YYYY/MM/DD", min_value=first, max_value=last,
                            help="この日の時点で見ます（空欄ならデータ内の最新の受付日"
                                 + (f"：{last:%Y/%m/%d}" if last else "") + "）。過去の週を振り返るときに変えます。")
    preset = side.selectbox("期間", list(flt.PRESETS), format_func=flt.PRESETS.get, key="f_period",
                            help="「直近」「今月」などは、データ内の最新の受付日（または下の基準日）から数えます。")
    start = end = None
    if preset == "custom":
        if "f_range" not in state:
            state["f_range"] = (current.start, current.end) if current.start and current.end else ()
        chosen = side.date_input("期間（開始〜終了）", key="f_range", format="YYYY/MM/DD")
        if isinstance(chosen, (tuple, list)) and len(chosen) == 2:
            start, end = chosen
        elif isinstance(chosen, date):
            start = end = chosen
    products = side.multiselect("商品", options["products"], key="f_products", placeholder="すべて")
    channels = side.multiselect("チャネル", options["channels"], key="f_channels", placeholder="すべて")
    departments = side.multiselect("部署", options["departments"], key="f_departments", placeholder="すべて")
    themes = side.multiselect("テーマ", list(theme_names), key="f_themes", placeholder="すべて",
                              format_func=lambda theme_id: theme_names.get(theme_id, theme_id))
    return flt.Filters(preset=preset, start=start, end=end, products=tuple(products), channels=tuple(channels),
                       departments=tuple(departments), themes=tuple(themes), as_of=as_of)


def account(actor: access.Actor) -> None:
    """Who is signed in and with which roles, and the sign-out button; in local mode, that there is
    no sign-in and the one local user has every role."""
    side = st.sidebar
    if actor.local:
        side.info("ローカルモード: サインインなしで、この PC の利用者 1 人としてすべての役割（"
                  f"{actor.roles_ja()}）で動いています。127.0.0.1 からだけ開けます。", icon=":material/computer:")
        return
    side.markdown(f"**{md(actor.name)}**  \n{md(actor.user_id)}  \n役割: {md(actor.roles_ja())}")
    side.button("サインアウト", key="kk_logout", on_click=auth.sign_out, icon=":material/logout:")
    with side:
        auth.idle_watch()
