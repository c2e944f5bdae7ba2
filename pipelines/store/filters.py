"""The shared filters every analysis page applies: period, product, channel, department, theme.

One place owns what a filter means: the period a preset covers (relative to "now", the latest
`received_at` in the store unless overridden), the previous period KPIs are compared with, the
parameterized SQL condition over `cases`, and the URL query-string form that makes a view
shareable by link. No Streamlit here; app.py renders the widgets from these definitions.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Callable, Mapping

import duckdb

# Preset key → label shown in the sidebar. Keys appear in shared URLs: never rename them.
PRESETS: dict[str, str] = {
    "4w": "直近4週",
    "month": "今月",
    "prev_month": "前月",
    "quarter": "四半期",
    "all": "全期間",
    "custom": "任意",
}
DEFAULT_PRESET = "4w"

# Filter field → URL query-string key. Lists repeat the key (?product=A&product=B).
LIST_FIELDS = {"products": "product", "channels": "channel", "departments": "department", "themes": "theme"}
QUERY_KEYS = ("period", "from", "to", "as_of", *LIST_FIELDS.values())


@dataclass(frozen=True)
class Filters:
    """What the user selected. Empty tuples mean "all"; `themes` holds stable theme IDs."""

    preset: str = DEFAULT_PRESET
    start: date | None = None          # used by the "custom" preset (inclusive)
    end: date | None = None            # used by the "custom" preset (inclusive)
    products: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    as_of: date | None = None          # overrides "now" (the latest received_at in the store)


@dataclass(frozen=True)
class Period:
    """A half-open range of receipt times [start, end) and the equally long range before it."""

    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime
    now: datetime
    label: str = field(default="")

    @property
    def days(self) -> int:
        return max((self.end - self.start).days, 1)


def latest_received(con: duckdb.DuckDBPyConnection) -> datetime | None:
    return con.execute("SELECT max(received_at) FROM cases").fetchall()[0][0]


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def period(filters: Filters, now: datetime | None, first: datetime | None = None) -> Period:
    """The receipt-time range a preset covers on the day `now` falls on, and the one before it.

    `now` is the latest `received_at` (or the user's override); `first` the earliest, used by
    全期間. Calendar presets compare with the previous calendar month / quarter; 直近4週 and 任意
    with the equally long range right before.
    """
    if filters.as_of is not None:
        now = datetime.combine(filters.as_of, datetime.max.time()).replace(microsecond=0)
    now = now or datetime.now().replace(microsecond=0)
    today = now.date()
    tomorrow = _at(today + timedelta(days=1))
    preset = filters.preset if filters.preset in PRESETS else DEFAULT_PRESET
    if preset == "month":
        start, end = _at(_month_start(today)), tomorrow
        prev_start = _at(_month_start(today, 1))
        # Month to date against the same days of the previous month.
        return Period(start, end, prev_start, min(prev_start + (end - start), start), now, f"{today:%Y年%-m月}")
    if preset == "prev_month":
        start, end = _at(_month_start(today, 1)), _at(_month_start(today))
        return Period(start, end, _at(_month_start(today, 2)), start, now, f"{start:%Y年%-m月}")
    if preset == "quarter":
        quarter_first = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        start, end = _at(quarter_first), tomorrow
        prev_start = _at(_month_start(quarter_first, 3))
        return Period(start, end, prev_start, min(prev_start + (end - start), start), now,
                      f"{today.year}年 第{(today.month - 1) // 3 + 1}四半期")
    if preset == "all":
        start = _at(first.date()) if first else _at(today - timedelta(days=27))
        return Period(start, tomorrow, start - (tomorrow - start), start, now, "全期間")
    if preset == "custom" and filters.start and filters.end:
        first_day, last_day = sorted((filters.start, filters.end))
        start, end = _at(first_day), _at(last_day + timedelta(days=1))
        return Period(start, end, start - (end - start), start, now, f"{first_day:%Y/%m/%d}〜{last_day:%Y/%m/%d}")
    start = tomorrow - timedelta(days=28)
    return Period(start, tomorrow, start - timedelta(days=28), start, now, "直近4週")


def resolve(con: duckdb.DuckDBPyConnection, filters: Filters) -> Period:
    """The period for these filters on this store ("now" = its latest received_at)."""
    first, last = con.execute("SELECT min(received_at), max(received_at) FROM cases").fetchall()[0]
    return period(filters, last, first)


def where(filters: Filters, alias: str = "c", with_period: bool = True,
          con: duckdb.DuckDBPyConnection | None = None, span: tuple[datetime, datetime] | None = None
          ) -> tuple[str, list]:
    """A parameterized SQL condition on `cases <alias>` and its parameters.

    The period comes from `span` when given, else from the filters resolved on `con`.
    Values are always bound; `alias` is checked, since it is the one identifier spliced in.
    """
    if not alias.isidentifier():
        raise ValueError(f"bad table alias: {alias!r}")
    clauses, params = ["TRUE"], []
    if with_period:
        if span is None:
            if con is None:
                raise ValueError("where() needs a connection or a span to resolve the period")
            resolved = resolve(con, filters)
            span = (resolved.start, resolved.end)
        clauses.append(f"{alias}.received_at >= ? AND {alias}.received_at < ?")
        params += [span[0], span[1]]
    for name, column in (("products", "product"), ("channels", "channel"), ("departments", "department")):
        values = list(getattr(filters, name))
        if values:
            clauses.append(f"list_contains(?::VARCHAR[], {alias}.{column})")
            params.append(values)
    if filters.themes:
        clauses.append(f"EXISTS (SELECT 1 FROM case_themes ft WHERE ft.case_id = {alias}.case_id "
                       "AND list_contains(?::VARCHAR[], ft.theme_id))")
        params.append(list(filters.themes))
    return " AND ".join(clauses), params


def options(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """Choices for the sidebar: distinct values present in the store, themes in rules-file order."""
    def distinct(column: str) -> list[str]:
        # `column` comes from the fixed tuple below, never from user input.
        return [r[0] for r in con.execute(
            f"SELECT {column} FROM cases WHERE {column} IS NOT NULL AND {column} <> '' "
            f"GROUP BY 1 ORDER BY count(*) DESC, 1").fetchall()]

    result = {name: distinct(column) for name, column in
              (("products", "product"), ("channels", "channel"), ("departments", "department"))}
    result["themes"] = [tuple(r) for r in con.execute(
        "SELECT theme_id, name FROM themes ORDER BY position, theme_id").fetchall()]
    return result


# -- URL query string ------------------------------------------------------------------------

def to_query(filters: Filters) -> dict[str, str | list[str]]:
    """The query-string form of the filters (defaults left out, so a plain link stays short)."""
    query: dict[str, str | list[str]] = {}
    if filters.preset != DEFAULT_PRESET:
        query["period"] = filters.preset
    if filters.preset == "custom" and filters.start and filters.end:
        query["from"], query["to"] = filters.start.isoformat(), filters.end.isoformat()
    for name, key in LIST_FIELDS.items():
        values = list(getattr(filters, name))
        if values:
            query[key] = values
    if filters.as_of:
        query["as_of"] = filters.as_of.isoformat()
    return query


def from_query(get_all: Callable[[str], list[str]] | Mapping[str, list[str]]) -> Filters:
    """Filters from a query string; anything malformed falls back to the default, silently,
    since a shared link with a stale value should still open the page."""
    if isinstance(get_all, Mapping):
        mapping = get_all
        get_all = lambda key: list(mapping.get(key, []))  # noqa: E731

    def one(key: str) -> str | None:
        values = get_all(key)
        return values[-1] if values else None

    def day(key: str) -> date | None:
        try:
            return date.fromisoformat(one(key) or "")
        except ValueError:
            return None

    preset = one("period") or DEFAULT_PRESET
    filters = Filters(preset=preset if preset in PRESETS else DEFAULT_PRESET,
                      start=day("from"), end=day("to"), as_of=day("as_of"))
    lists = {name: tuple(dict.fromkeys(v for v in get_all(key) if v)) for name, key in LIST_FIELDS.items()}
    return replace(filters, **lists)


def describe(filters: Filters, theme_names: Mapping[str, str] | None = None) -> str:
    """The non-period filters in words, for captions (「商品: A、B ／ チャネル: 電話」)."""
    parts = []
    for name, label in (("products", "商品"), ("channels", "チャネル"), ("departments", "部署"), ("themes", "テーマ")):
        values = getattr(filters, name)
        if name == "themes" and theme_names:
            values = [theme_names.get(v, v) for v in values]
        if values:
            parts.append(f"{label}: {'、'.join(values)}")
    return " ／ ".join(parts)
