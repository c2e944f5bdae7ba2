"""The rules-file library of causes.txt and severity.txt: `[section]` and `key: items` lines read with
errors that name the file and the line, phrase items (literal, `…`, /regex/) compiled into a few trie
patterns, and loading that compiles a file again only when it has changed.

Also the two pieces both matchers use on a case: NEGATORS and term_offsets. The theme rules have
their own language and errors (pipelines/rules/themes/) and share only decode_rules_text.
"""
from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pipelines.nlp.text import CaseDoc, dictionary_version
from pipelines.store.errors import KakehashiError

Rules = TypeVar("Rules")


class RulesFileError(KakehashiError):
    """A rules file (causes.txt, severity.txt) cannot be read: names the file, the line and the fix."""


def rule_error(path: Path, line: int, ja: str, en: str, hint_ja: str = "", hint_en: str = "") -> RulesFileError:
    """An error that points at one line of a rules file."""
    check = ("python -c 'import pipelines.rules.causes as c; c.load_cause_rules()'" if path.stem == "causes"
             else "python -c 'import pipelines.rules.severity as s; s.load_severity_rules()'")
    return RulesFileError("rules_syntax", f"{path.name} {line}行目: {ja}", f"{path.name} line {line}: {en}",
                          hint_ja, hint_en or f"Fix the line, then check with: {check}")


# ---------------------------------------------------------------- reading

def decode_rules_text(raw: bytes) -> str:
    """A rules file's text: UTF-8 (with or without a BOM), else CP932 as Windows Notepad saves it in ANSI,
    never shift_jis (which has no ①, ～); UnicodeDecodeError when it is neither."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp932")


@dataclass(frozen=True, slots=True)
class RuleLine:
    """One `key: items` line of a rules file, under its [section]."""

    section: str
    key: str
    items: tuple[str, ...]
    line: int
    section_line: int = 0  # where its [section] heading is


def read_rules_file(path: Path) -> list[RuleLine]:
    """Sections and `key: a, b` lines of a rules file; '#' starts a comment. NFKC is applied to everything."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RulesFileError(
            "rules_missing", f"ルールファイル {path} がありません。",
            f"rules file {path} does not exist.",
            "data/rules/ の既定のファイルを元に作り直してください。", f"Restore it, e.g. from git; check with `ls {path}`.")
    try:
        text = decode_rules_text(raw)
    except UnicodeDecodeError:
        raise RulesFileError(
            "rules_encoding", f"ルールファイル {path} の文字コードを読めません。",
            f"rules file {path} is neither UTF-8 nor CP932.",
            "UTF-8 で保存し直してください。", f"Re-save it as UTF-8; check with `file {path}`.")
    out: list[RuleLine] = []
    section, section_line = "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        line = unicodedata.normalize("NFKC", line.split("#", 1)[0]).strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section, section_line = line[1:-1].strip(), number
            continue
        keyed = _KEYED_LINE.match(line)  # a /regex/ item may hold a colon: (?:…)
        key, rest = (keyed.group(1), keyed.group(2)) if keyed else ("", line)
        items = split_items(rest)
        out.append(RuleLine(section, key.strip(), items, number, section_line))
    return out


_KEYED_LINE = re.compile(r"^([^,、/:]{1,40}):(.*)$")
_ITEM = re.compile(r"\s*(/(?:[^/\\]|\\.)+/(?=\s*(?:[,、]|$))|[^,、]*)\s*(?:[,、]|$)")


def split_items(rest: str) -> tuple[str, ...]:
    """Items separated by , or 、 — except inside a /regex/, which may hold either."""
    items = []
    for m in _ITEM.finditer(rest):
        item = m.group(1).strip()
        if item:
            items.append(item)
        if m.end() >= len(rest):
            break
    return tuple(items)


# ---------------------------------------------------------------- phrases

_WILDCARD = "..."  # NFKC turns the user's 「…」 into "..."
_WILDCARD_RE = r"[^。!?\n]{0,8}?"


def phrase_regex(item: str) -> str:
    """A phrase as a regex: literal text, `…` = up to 8 characters, `/…/` = a regex written by hand."""
    if is_regex(item):
        return item[1:-1]
    return _WILDCARD_RE.join(re.escape(part) for part in item.split(_WILDCARD))


def is_regex(item: str) -> bool:
    """True for an item written as /regex/."""
    return len(item) > 2 and item.startswith("/") and item.endswith("/")


def is_literal(item: str) -> bool:
    """True for plain text: neither /regex/ nor with a `…` wildcard."""
    return not is_regex(item) and _WILDCARD not in item


def check_phrase(item: str, path: Path, line: int) -> None:
    """Refuse a /regex/ item that does not compile, naming its line."""
    try:
        re.compile(phrase_regex(item))
    except re.error as exc:
        raise rule_error(path, line, f"「{item}」を正規表現として読めません（{exc}）。", f"'{item}' is not a valid regex ({exc}).",
                         "/…/ で囲んだ語句は正規表現です。普通の語句なら / を外してください。", "")


_REGEX_META = set(".^$*+?{}[]\\|()")


def _prefix_and_tail(item: str) -> tuple[str, str]:
    """(literal prefix, regex tail): 二度と…買わない → ('二度と', '[^。!?\n]{0,8}?買わない')."""
    if is_literal(item):
        return item, ""
    if not is_regex(item):
        head, _, rest = item.partition(_WILDCARD)
        return head, phrase_regex(_WILDCARD + rest)
    source = item[1:-1]
    i = 0
    while i < len(source) and source[i] not in _REGEX_META:
        i += 1
    if i < len(source) and source[i] in "*+?{" and i:
        i -= 1  # the last literal is quantified: it belongs to the tail
    return source[:i], source[i:]


def _script(ch: str) -> int:
    """Kanji, or anything else (kana, Latin, digits): two tries scan faster than one or four."""
    return 1 if "一" <= ch <= "鿿" or "㐀" <= ch <= "䶿" or "豈" <= ch <= "﫿" else 0


def _trie_regex(entries: list[tuple[str, str]]) -> str:
    """Prefixes merged into a trie, tails hung on their prefix's node: one branch per first character,
    so sre tests a handful of alternatives per position instead of hundreds."""
    root: dict = {}
    for prefix, tail in entries:
        node = root
        for ch in prefix:
            node = node.setdefault(ch, {})
        node.setdefault(None, set()).add(tail)

    def build(node: dict) -> str:
        tails = node.get(None, set())
        # Tails first (二度と…買わない before 二度と), then longer literals, then the literal ending here.
        alts = [f"(?:{t})" for t in sorted((t for t in tails if t), key=lambda t: (-len(t), t))]
        alts += [re.escape(ch) + build(node[ch]) for ch in sorted(k for k in node if k is not None)]
        if "" in tails:
            alts.append("")
        if len(alts) == 1:
            return alts[0]
        return "(?:" + "|".join(alts) + ")"

    return build(root) if root else r"(?!x)x"


def compile_alternation(items: list[str]) -> re.Pattern[str]:
    """One pattern for a short phrase list (打ち消し, 感謝): a trie, longest phrase first."""
    return re.compile(_trie_regex([_prefix_and_tail(i) for i in items]))


@dataclass
class PhraseTable:
    """Phrases → values: a few trie patterns to find them all and a lookup for what a match means.

    Python's sre has no Aho–Corasick: one alternation of hundreds of phrases tests every branch at
    every position where any phrase could start. Two tries (phrases starting with a kanji, and the
    rest) scan ~76 characters in ~4.5 µs, where one trie took 24 µs, a flat alternation 20 µs and
    named groups 700 µs (measured on the bundled sample, Python 3.11).
    """

    literal: dict[str, object] = field(default_factory=dict)
    special: list[tuple[str, re.Pattern[str], object]] = field(default_factory=list)
    patterns: tuple[re.Pattern[str], ...] = ()
    prefixes: dict[str, list[tuple[int, object]]] = field(default_factory=dict)

    def add(self, item: str, value: object) -> None:
        if is_literal(item):
            self.literal.setdefault(item, value)
        else:
            self.special.append((item, re.compile(phrase_regex(item)), value))

    def build(self) -> None:
        # A pattern reports one phrase per position; the shorter literals starting the same way
        # (解約したのに inside 解約したのに請求) are listed here so that they count too.
        self.prefixes = {}
        for item in self.literal:
            shorter = [(n, self.literal[item[:n]]) for n in range(1, len(item)) if item[:n] in self.literal]
            if shorter:
                self.prefixes[item] = shorter
        groups: dict[int, list[tuple[str, str]]] = {}
        for item in list(self.literal) + [item for item, _, _ in self.special]:
            prefix, tail = _prefix_and_tail(item)
            # A regex that starts with a class or a group has no first character: it gets its own pattern.
            groups.setdefault(_script(prefix[0]) if prefix else 2, []).append((prefix, tail))
        self.patterns = tuple(re.compile(_trie_regex(entries)) for _, entries in sorted(groups.items()))

    def find_all(self, text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int, object]]:
        """Every phrase occurrence, overlapping ones included (解約したのに請求 holds 解約したのに too)."""
        found = []
        end = len(text) if end is None else end
        literal = self.literal
        for pattern in self.patterns:
            m = pattern.search(text, start, end)
            while m:
                matched = m.group()
                at = m.start()
                value = literal.get(matched)
                if value is not None:
                    found.append((at, m.end(), value))
                    for size, other in self.prefixes.get(matched, ()):
                        found.append((at, at + size, other))
                else:
                    value = self.value(matched)
                    if value is not None:
                        found.append((at, m.end(), value))
                    for size in range(1, len(matched)):  # shorter literals at the same place
                        other = literal.get(matched[:size])
                        if other is not None:
                            found.append((at, at + size, other))
                m = pattern.search(text, at + 1, end)
        return found

    def value(self, matched: str) -> object | None:
        found = self.literal.get(matched)
        if found is not None:
            return found
        for _, regex, value in self.special:
            if regex.fullmatch(matched):
                return value
        return None


# ---------------------------------------------------------------- loading

def load_while_unchanged(path: str | Path, compile_cached: Callable[[str, int, int], Rules]) -> Rules:
    """compile_cached(path, mtime_ns, size) for a rules file: an lru_cache'd compiler keyed on the
    file's state, so an edited file is compiled again and an unchanged one never. A missing file
    raises the friendly RulesFileError."""
    path = Path(path)
    if not path.exists():
        read_rules_file(path)
    stat = path.stat()
    return compile_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def rules_text_hash(path: Path, matcher_version: str) -> str:
    """The hash of a compiled rules file: changes with its text, the matcher's version and the UniDic
    version (stored tags and scores go stale with any of them)."""
    digest = hashlib.sha256()
    for part in (matcher_version, dictionary_version(), path.read_bytes().decode("utf-8-sig", errors="replace")):
        digest.update(part.encode("utf-8") + b"\x00")
    return digest.hexdigest()[:16]


class Rechecked(Generic[Rules]):
    """The shipped rules as `load()` gives them, loaded again at most once a second: they are asked
    for per case, and a stat per case adds up."""

    def __init__(self, load: Callable[[], Rules]) -> None:
        self._load = load
        self._rules: Rules | None = None
        self._checked = 0.0  # time.monotonic() of the last load

    def __call__(self) -> Rules:
        now = time.monotonic()
        if self._rules is None or now - self._checked > 1.0:
            self._rules, self._checked = self._load(), now
        return self._rules


# ---------------------------------------------------------------- rule words and terms, for both matchers

NEGATORS = {"ない", "無い", "ず", "ぬ"}  # lemmas of ない, ず, ん, ぬ (助動詞) and 無い (形容詞)


def term_offsets(doc: CaseDoc, upto: int | None = None) -> list[int]:
    """Character offset of each term in doc.text (terms are stored in text order), up to term `upto`."""
    text = doc.text
    cursor = 0
    out = []
    for t in doc.terms if upto is None else doc.terms[:upto + 1]:
        found = text.find(t.surface, cursor)
        if found < 0:
            found = cursor
        out.append(found)
        cursor = found + len(t.surface)
    return out

