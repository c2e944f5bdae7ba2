"""Industry packs: sub-themes and vocabulary added to the industry-agnostic default taxonomy.

A pack is a rules file in data/rules/packs/<pack_id>.txt (or $KAKEHASHI_RULES_DIR/packs/ when that
folder exists), in the language of themes.txt, with two differences:

- its first lines name it: `# パック: 食品・飲料メーカー` and `# 説明: …`;
- a block whose ID is a default theme **extends** it: its lines are or-ed to the theme's, and a name
  (or colour) written in its header replaces the default's (`＊品質・異物 [quality]`); a block with a
  new ID **adds** a sub-theme, placed after the theme named by `< parent` in its header
  (`＊味・風味 [taste] #FF7F0E < quality`), or before 要望・お褒め・問い合わせ when it names none.

The pack a store uses is kept in the store (store_meta, key PACK_META_KEY); rules.bundle reads it.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from pipelines.nlp.text import CaseDoc, normalize
from pipelines.rules.rulesfile import decode_rules_text
from pipelines.rules.themes.files import load_rules
from pipelines.rules.themes.matcher import Coverage, RuleSet, Score
from pipelines.rules.themes.parser import RuleError, make_theme, parse_expression
from pipelines.rules.themes.syntax import COLOR, HEADER_MARKS, SPARE_COLORS, THEME_ID, Theme
from pipelines.store import db
from pipelines.store.settings import RULES_DIR, rules_dir

PACKS_DIR = RULES_DIR / "packs"
PACK_META_KEY = "theme_pack"          # store_meta: the pack a user chose ("" = the default taxonomy only)
SAMPLE_PACK = "food"                  # the bundled sample is a food and beverage maker's desk
# Default themes a pack's sub-themes go before when they name no parent: the closing, non-complaint themes.
CLOSING_THEMES = ("request", "praise", "inquiry")
_PACK_HEADER = re.compile(r"^\s*\*\s*(?P<name>[^\[#<]*)\[(?P<id>[^\]]*)\]\s*(?P<color>#\S*)?\s*"
                          r"(?:<\s*(?P<parent>\S+))?\s*$")
_META = re.compile(r"^#\s*(パック|説明)\s*[:：]\s*(.+?)\s*$")


@dataclass(frozen=True)
class Pack:
    """One industry pack: what it is called, which default themes it extends and which it adds."""

    pack_id: str
    name: str
    description: str
    path: Path
    extends: tuple[str, ...]               # default theme IDs it adds vocabulary to (or renames)
    adds: tuple[tuple[str, str, str], ...]  # (theme_id, name, parent theme_id or "")

    @property
    def parents(self) -> dict[str, str]:
        """Sub-theme ID -> the default theme it belongs under (those that name one)."""
        return {theme_id: parent for theme_id, _, parent in self.adds if parent}


def packs_dir() -> Path:
    """$KAKEHASHI_RULES_DIR/packs when that folder exists, else data/rules/packs."""
    folder = rules_dir() / "packs"
    return folder if folder.is_dir() else PACKS_DIR


def available_packs() -> tuple[Pack, ...]:
    """Every pack in packs_dir(), by file name."""
    return tuple(read_pack(path) for path in sorted(packs_dir().glob("*.txt")))


def pack_by_id(pack_id: str) -> Pack:
    """The pack called `pack_id`; RuleError naming the packs there are when it does not exist."""
    for pack in available_packs():
        if pack.pack_id == pack_id:
            return pack
    known = ", ".join(p.pack_id for p in available_packs())
    raise RuleError(f"業種パック「{pack_id}」はありません。使えるパック: {known}",
                    f"Unknown industry pack '{pack_id}'; available: {known}.")


def read_pack(path: Path) -> Pack:
    """A pack's name, description and blocks (the rules are checked when they are applied)."""
    text = decode_rules_text(path.read_bytes())
    meta = {m.group(1): m.group(2) for line in text.splitlines()[:8] if (m := _META.match(line.strip()))}
    blocks = _blocks(text, path.name)
    base_ids = {t.theme_id for t in load_rules().themes}
    extends = tuple(b.theme_id for b in blocks if b.theme_id in base_ids)
    adds = tuple((b.theme_id, b.name, b.parent) for b in blocks if b.theme_id not in base_ids)
    return Pack(path.stem, meta.get("パック", path.stem), meta.get("説明", ""), path, extends, adds)


def stored_pack(store=None) -> str | None:
    """The pack a store's user chose (store_meta): a pack ID, "" for the default taxonomy alone, or None
    when nobody has chosen yet (the default taxonomy is used, and the themes page offers a guess)."""
    # As long as a writer may hold the store: this runs before a load or analyze() takes the lock.
    with db.reader(store, wait_seconds=120.0) as con:
        return db.meta(con, PACK_META_KEY)


def store_pack_choice(con, pack_id: str) -> None:
    """Inside a write: record `pack_id` ("" = the default taxonomy alone) as the store's choice. Only
    analyze() calls this in the app, in the transaction that stores the tags the pack made."""
    con.execute("DELETE FROM store_meta WHERE key = ?", [PACK_META_KEY])
    con.execute("INSERT INTO store_meta VALUES (?, ?)", [PACK_META_KEY, pack_id])


def rules_with_pack(pack_id: str | None, base: RuleSet | None = None) -> RuleSet:
    """The default rules (themes.txt) with pack `pack_id` applied; the default rules alone for None or ""."""
    base = base if base is not None else load_rules()
    if not pack_id:
        return base
    path = pack_by_id(pack_id).path
    return _apply_cached(base, decode_rules_text(path.read_bytes()), path.name)


def tag_as_default(doc: CaseDoc, pack_id: str | None, base: RuleSet | None = None) -> dict[str, tuple[str, ...]]:
    """The themes of `doc` under pack `pack_id`, with each sub-theme counted as its parent default theme
    (for measuring packs against labels written in the default taxonomy): {theme_id: evidence}."""
    rules = rules_with_pack(pack_id, base)
    parents = pack_by_id(pack_id).parents if pack_id else {}
    found: dict[str, tuple[str, ...]] = {}
    for hit in rules.tag(doc):
        theme_id = parents.get(hit.theme_id, hit.theme_id)
        found[theme_id] = tuple(dict.fromkeys(found.get(theme_id, ()) + hit.evidence))
    return found


def evaluate_with_packs(labelled: Iterable[tuple[CaseDoc, Collection[str], str | None]],
                        base: RuleSet | None = None) -> tuple[dict[str, Score], Coverage]:
    """matcher.evaluate for a set whose texts come from desks with different packs: each (doc, default
    theme IDs labelled, pack ID) is tagged under its pack, a sub-theme counting as its parent."""
    base = base if base is not None else load_rules()
    counts = {t.theme_id: [0, 0, 0] for t in base.themes}
    cases = tagged = 0
    for doc, gold, pack_id in labelled:
        found = tag_as_default(doc, pack_id, base)
        cases += 1
        tagged += bool(found)
        for theme_id, count in counts.items():
            count[0] += theme_id in found
            count[1] += theme_id in found and theme_id in gold
            count[2] += theme_id in gold
    scores = {theme_id: Score(*count) for theme_id, count in counts.items()}
    return scores, Coverage(cases, tagged, {theme_id: s.predicted for theme_id, s in scores.items()})


@dataclass(frozen=True)
class _Block:
    line: int           # the header's line number
    header: str
    name: str
    theme_id: str
    color: str
    parent: str
    body: str


def _blocks(text: str, origin: str) -> list[_Block]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found: list[tuple[int, str, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith(HEADER_MARKS):
            found.append((number, line, []))
        elif found:
            found[-1][2].append(line)
        elif line.strip() and not line.lstrip().startswith(("#", "＃")):
            raise RuleError("パックの最初の見出しより前に条件があります。", "A rule appears before the pack's first header.",
                            line=number, column=1, source_line=line, origin=origin)
    blocks = []
    for number, header, body in found:
        m = _PACK_HEADER.match(normalize(header).replace("＊", "*"))
        example = "例: ＊味・風味 [taste] #FF7F0E < quality"
        if not m or not m.group("name").strip() or not THEME_ID.match(m.group("id") or ""):
            raise RuleError(f"パックの見出しの形が違います。{example}", f"Malformed pack header. Example: {example}",
                            line=number, column=1, source_line=header, origin=origin)
        color, parent = m.group("color") or "", m.group("parent") or ""
        if color and not COLOR.match(color) or parent and not THEME_ID.match(parent):
            raise RuleError(f"パックの見出しの色か上位テーマIDが違います。{example}",
                            f"Bad colour or parent theme ID in a pack header. Example: {example}",
                            line=number, column=1, source_line=header, origin=origin)
        blocks.append(_Block(number, header, m.group("name").strip(), m.group("id"), color.upper(), parent,
                             "\n".join(body)))
    return blocks


def _has_rules(body: str) -> bool:
    return any(ln.strip() and not ln.lstrip().startswith(("#", "＃")) for ln in body.splitlines())


@lru_cache(maxsize=8)
def _apply_cached(base: RuleSet, text: str, origin: str) -> RuleSet:
    return apply_pack(base, text, origin)


def apply_pack(base: RuleSet, text: str, origin: str = "pack.txt") -> RuleSet:
    """`base` with the pack whose text is `text` applied (see the module docstring); RuleError, with the
    pack file's line and column, on a mistake."""
    themes = list(base.themes)
    ids = [t.theme_id for t in themes]
    used = {t.color for t in themes}
    added: dict[str, list[Theme]] = {}      # parent (or "") -> sub-themes, in file order
    for block in _blocks(text, origin):
        if block.theme_id in ids:
            theme = themes[ids.index(block.theme_id)]
            if _has_rules(block.body):
                # Checked on its own first, so that a mistake is reported at the pack file's line.
                parse_expression(block.body, origin=origin, first_line=block.line + 1)
                source = f"{theme.source}\n# 業種パック ({origin})\n{block.body.strip()}"
                theme = make_theme(theme.theme_id, theme.name, theme.color, source, origin=origin)
            theme = replace(theme, name=block.name, color=block.color or theme.color)
            themes[ids.index(block.theme_id)] = theme
            continue
        if block.theme_id in {t.theme_id for group in added.values() for t in group}:
            raise RuleError(f"パックにテーマID [{block.theme_id}] が2つあります。", f"Theme ID [{block.theme_id}] is used twice.",
                            line=block.line, column=1, source_line=block.header, origin=origin)
        if block.parent and block.parent not in ids:
            raise RuleError(f"上位テーマ [{block.parent}] は標準のテーマにありません。", f"Parent theme [{block.parent}] is not a default theme.",
                            line=block.line, column=1, source_line=block.header, origin=origin)
        color = block.color or next(c for c in SPARE_COLORS + ("#333333",) if c not in used)
        used.add(color)
        theme = make_theme(block.theme_id, block.name, color, block.body, origin=origin, first_line=block.line + 1)
        added.setdefault(block.parent, []).append(theme)
    merged: list[Theme] = []
    closing_at = next((k for k, t in enumerate(themes) if t.theme_id in CLOSING_THEMES), len(themes))
    for k, theme in enumerate(themes):
        if k == closing_at:
            merged += added.pop("", [])
        merged.append(theme)
        merged += added.pop(theme.theme_id, [])
    merged += added.pop("", [])
    return RuleSet(tuple(merged), base.preamble)
