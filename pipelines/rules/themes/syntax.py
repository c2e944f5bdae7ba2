"""The theme rule language: its definitions, syntax tree and themes, and how a tree is written back.

Rule lines parse (parser.py) into the nodes here, which matcher.py compiles. `source()` writes a node
back in the language, in one canonical spelling: the editor shows it, and RuleSet.hash() digests it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

POLARITIES = ("pos", "neg", "any")
# A plain word counts only where it is not negated: 「壊れていない」「問題はない」「異物は入っていません」
# are not complaints about 壊れる, 問題 or 異物. Write 届く!neg where the negation is the problem.
DEFAULT_POLARITY = "pos"
DEFAULT_NEAR = 5
THEME_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
HEADER_MARKS = ("*", "＊")
# The keywords, in any case; a word spelled like one is written back in quotes.
KEYWORDS = {"and": "AND", "or": "OR", "not": "NOT"}
# The characters that end a bare word.
WORD_STOP = set(" \t()|&,\"「」!")
# Spare colours for themes added without one (the editor may omit it); Tableau-like, readable on white.
SPARE_COLORS = ("#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#9C755F", "#76B7B2", "#EDC948", "#FF9DA7",
                 "#BAB0AC", "#6B6ECF", "#B5CF6B", "#CE6DBD", "#8CA252", "#E7969C", "#637939", "#AD494A")


# ---------------------------------------------------------------------------------------------
# The syntax tree


@dataclass(frozen=True, slots=True)
class Atom:
    """A word, phrase, raw substring (text:) or regex (/…/).

    `segments` holds, per space-separated part of a word or phrase, the spellings a run of
    consecutive terms may join to (as written, and as the tokenizer's lemmas of it). `clause` is
    False inside near()/seq(), where a noun's negation is its own only (see matcher._clause_negated).
    """

    kind: str                                  # "word" | "text" | "regex"
    value: str
    polarity: str = DEFAULT_POLARITY
    segments: tuple[tuple[str, ...], ...] = ()
    clause: bool = True

    def source(self) -> str:
        if self.kind == "text":
            return f"text:{_quote(self.value)}"
        if self.kind == "regex":
            return "/" + self.value.replace("/", "\\/") + "/"
        mark = "" if self.polarity == DEFAULT_POLARITY else f"!{self.polarity}"
        return _quote(self.value) + mark


@dataclass(frozen=True, slots=True)
class Not:
    child: Node

    def source(self) -> str:
        return f"not {_wrap(self.child, (Atom, Not, Near))}"


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]

    def source(self) -> str:
        return " and ".join(_wrap(c, (Atom, Not, Near, And)) for c in self.children)


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]

    def source(self) -> str:
        return " or ".join(_wrap(c, (Atom, Not, Near, And, Or)) for c in self.children)


@dataclass(frozen=True, slots=True)
class Near:
    """Both sides within `distance` token positions; `ordered` (seq) puts b after a."""

    a: Node
    b: Node
    distance: int = DEFAULT_NEAR
    ordered: bool = False

    def source(self) -> str:
        return f"{'seq' if self.ordered else 'near'}({self.a.source()}, {self.b.source()}, {self.distance})"


Node = Atom | Not | And | Or | Near


def _wrap(node: Node, bare: tuple[type, ...]) -> str:
    return node.source() if isinstance(node, bare) else f"({node.source()})"


def _quote(value: str) -> str:
    if value and not any(c in WORD_STOP or c.isspace() or c == "#" for c in value) \
            and value.lower() not in KEYWORDS and not value.startswith(("text:", "/")):
        return value
    return '"' + value + '"'


# ---------------------------------------------------------------------------------------------
# Themes


@dataclass(frozen=True, slots=True)
class Theme:
    """One theme: stable `theme_id`, Japanese `name`, chart `color`, and its rule text as written."""

    theme_id: str
    name: str
    color: str
    source: str                                   # the lines under the header, comments kept
    expression: Node = field(compare=False, repr=False)
