"""Theme tagging: KH Coder-style coding rules, parsed once, evaluated over each case's stored terms.

A rules file (data/rules/themes.txt) holds one block per theme:

    ＊配送 [delivery] #1F77B4
    届く!neg | 配送 and 遅れる
    near(荷物, 届く!neg, 4)

The header gives the Japanese name, a stable ID (tags are stored under it, so a rename keeps them)
and the chart colour; each line below it is an alternative (lines are or-ed). The language is
described in docs/themes.md. Matching runs on `CaseDoc.terms`, so re-tagging never re-tokenizes;
only the rule words themselves go through the tokenizer, once, when the rules are parsed.
"""
from __future__ import annotations

import hashlib
import operator
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from pipelines.store.errors import KakehashiError
from pipelines.store.settings import RULES_DIR, rules_dir
from pipelines.nlp.text import CaseDoc, Term, for_tokenizer, normalize, tokenize

DEFAULT_RULES = RULES_DIR / "themes.txt"
# Bump when matching semantics change, so stored tags are recomputed even if no rule changed.
ENGINE_VERSION = "1"
POLARITIES = ("pos", "neg", "any")
# A plain word counts only where it is not negated: 「壊れていない」「問題はない」「異物は入っていません」
# are not complaints about 壊れる, 問題 or 異物. Write 届く!neg where the negation is the problem.
DEFAULT_POLARITY = "pos"
DEFAULT_NEAR = 5
THEME_ID = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
HEADER_MARKS = ("*", "＊")
_KEYWORDS = {"and": "AND", "or": "OR", "not": "NOT"}
_CALLS = {"near": "NEAR", "seq": "SEQ"}
_WORD_STOP = set(" \t()|&,\"「」!")
_TEXT_ORDER = 1_000_000  # raw-text evidence sorts after term evidence
# Spare colours for themes added without one (the editor may omit it); Tableau-like, readable on white.
_SPARE_COLORS = ("#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#9C755F", "#76B7B2", "#EDC948", "#FF9DA7",
                 "#BAB0AC", "#6B6ECF", "#B5CF6B", "#CE6DBD", "#8CA252", "#E7969C", "#637939", "#AD494A")


# ---------------------------------------------------------------------------------------------
# Errors


class RuleError(KakehashiError):
    """A rules file or expression that cannot be used, with the line and column to fix."""

    def __init__(self, ja: str, en: str, *, line: int = 0, column: int = 0, source_line: str = "",
                 origin: str = "") -> None:
        # The editor shows `reason_ja` under the text box and puts the cursor at line/column.
        self.line, self.column, self.origin, self.reason_ja, self.reason_en = line, column, origin, ja, en
        where_ja = " ".join(p for p in (origin, f"{line}行目 {column}文字目" if line else "") if p)
        where_en = ", ".join(p for p in (origin, f"line {line}, column {column}" if line else "") if p)
        excerpt = _caret(source_line, column) if source_line and column else ""
        hint_ja = "\n".join(p for p in (excerpt, "書き方: docs/themes.md") if p)
        hint_en = "\n".join(p for p in (excerpt, "Rule language: docs/themes.md") if p)
        super().__init__("theme_rules", f"{where_ja}: {ja}" if where_ja else ja,
                         f"{where_en}: {en}" if where_en else en, hint_ja, hint_en)


def _caret(line: str, column: int) -> str:
    """The line and a caret under `column`, counting full-width characters as two cells."""
    pad = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line[:column - 1])
    return f"  {line}\n  {' ' * pad}^"


# ---------------------------------------------------------------------------------------------
# The syntax tree


@dataclass(frozen=True, slots=True)
class Atom:
    """A word, phrase, raw substring (text:) or regex (/…/).

    `segments` holds, per space-separated part of a word or phrase, the spellings a run of
    consecutive terms may join to (as written, and as the tokenizer's lemmas of it). `clause` is
    False inside near()/seq(), where a noun's negation is its own only (see _clause_negated).
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
    if value and not any(c in _WORD_STOP or c.isspace() or c == "#" for c in value) \
            and value.lower() not in _KEYWORDS and not value.startswith(("text:", "/")):
        return value
    return '"' + value + '"'


# ---------------------------------------------------------------------------------------------
# Lexer


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str          # WORD PHRASE TEXT REGEX LP RP COMMA AND OR NOT NEAR SEQ NL EOF
    value: str
    line: int          # 1-based, in the file
    col: int           # 1-based, in the line as written
    polarity: str = ""  # "!neg" etc. after a word or a closing ")"; "" when unmarked
    text: str = ""     # the token as written, for messages


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    raw: str
    norm: str
    cols: tuple[int, ...]   # column in `raw` of each character of `norm`


def _normalize_line(number: int, raw: str) -> _Line:
    """NFKC as the case texts get it (全角括弧・記号 become ASCII), keeping columns of the raw line."""
    norm = normalize(raw)
    if len(norm) == len(raw):
        return _Line(number, raw, norm, tuple(range(1, len(raw) + 1)))
    chars: list[str] = []
    cols: list[int] = []
    for j, ch in enumerate(raw):
        for c in normalize(ch):
            chars.append(c)
            cols.append(j + 1)
    if "".join(chars) == norm:
        return _Line(number, raw, norm, tuple(cols))
    scale = len(raw) / max(len(norm), 1)   # rare (combining marks): approximate columns
    return _Line(number, raw, norm, tuple(min(len(raw), int(k * scale) + 1) for k in range(len(norm))))


class _Lexer:
    def __init__(self, lines: list[_Line], origin: str) -> None:
        self.lines, self.origin = lines, origin
        self.tokens: list[_Tok] = []
        self.open_parens: list[_Tok] = []

    def error(self, line: _Line, pos: int, ja: str, en: str) -> RuleError:
        col = line.cols[pos] if pos < len(line.cols) else len(line.raw) + 1
        return RuleError(ja, en, line=line.number, column=col, source_line=line.raw, origin=self.origin)

    def run(self) -> list[_Tok]:
        for line in self.lines:
            self.lex_line(line)
            continues = self.open_parens or not self.tokens or \
                self.tokens[-1].kind in ("AND", "OR", "NOT", "COMMA", "LP", "NL")
            if not continues:
                self.tokens.append(_Tok("NL", "", line.number, len(line.raw) + 1))
        if self.open_parens:
            tok = self.open_parens[-1]
            line = next(ln for ln in self.lines if ln.number == tok.line)
            raise RuleError("( が閉じていません。対応する ) を書いてください。",
                            "'(' is never closed; add the matching ')'.",
                            line=tok.line, column=tok.col, source_line=line.raw, origin=self.origin)
        last = self.lines[-1] if self.lines else _Line(0, "", "", ())
        self.tokens.append(_Tok("EOF", "", last.number, len(last.raw) + 1))
        return self.tokens

    def add(self, line: _Line, pos: int, kind: str, value: str, text: str, polarity: str = "") -> _Tok:
        tok = _Tok(kind, value, line.number, line.cols[pos] if pos < len(line.cols) else len(line.raw) + 1,
                   polarity, text)
        self.tokens.append(tok)
        return tok

    def lex_line(self, line: _Line) -> None:
        s, i, n = line.norm, 0, len(line.norm)
        while i < n:
            c = s[i]
            if c.isspace():
                i += 1
            elif c == "#":
                return  # a comment runs to the end of the line
            elif c == "(":
                self.open_parens.append(self.add(line, i, "LP", c, c))
                i += 1
            elif c == ")":
                if not self.open_parens:
                    raise self.error(line, i, "対応する ( のない ) があります。", "')' without a matching '('.")
                self.open_parens.pop()
                end, polarity = self.lex_polarity(line, i + 1, "RP")   # (a | b)!any marks every word inside
                self.add(line, i, "RP", c, s[i:end], polarity)
                i = end
            elif c in ",|&":
                self.add(line, i, {",": "COMMA", "|": "OR", "&": "AND"}[c], c, c)
                i += 1
            elif c == "!":
                raise self.error(line, i, "「!」の前に語がありません。否定指定は 届く!neg や (荷物 | 商品)!any のように"
                                 "語か ) の直後に付けます。", "'!' must follow a word or ')' directly, as in 届く!neg.")
            elif c in "\"「":
                i = self.lex_phrase(line, i)
            elif c == "/":
                i = self.lex_regex(line, i)
            else:
                i = self.lex_word(line, i)

    def lex_phrase(self, line: _Line, i: int, kind: str = "PHRASE", prefix: str = "") -> int:
        s = line.norm
        close = "」" if s[i] == "「" else '"'
        end = s.find(close, i + 1)
        if end < 0:
            raise self.error(line, i, f"引用符 {s[i]} が閉じていません。同じ行で {close} を書いてください。",
                             f"Quote {s[i]} is not closed on this line; add {close}.")
        value = " ".join(s[i + 1:end].split())
        if not value:
            raise self.error(line, i, "引用符の中が空です。", "Empty quotes.")
        start = i - len(prefix)
        i, polarity = self.lex_polarity(line, end + 1, kind)
        self.add(line, start, kind, value, s[start:i], polarity)
        return i

    def lex_regex(self, line: _Line, i: int) -> int:
        s, j = line.norm, i + 1
        while j < len(s) and s[j] != "/":
            j += 2 if s[j] == "\\" else 1
        if j >= len(s):
            raise self.error(line, i, "正規表現の / が閉じていません。/液漏れ|漏れ出/ のように両側を / で囲みます。",
                             "Regex is not closed; write it as /pattern/.")
        pattern = s[i + 1:j].replace("\\/", "/")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise self.error(line, i + 1 + (exc.pos or 0), f"正規表現の誤りです ({exc.msg})。",
                             f"Invalid regular expression ({exc.msg}).") from None
        if re.compile(pattern).search(""):
            raise self.error(line, i, "空文字列にも一致する正規表現は使えません (根拠が空になるため)。",
                             "A regex that matches the empty string would give empty evidence.")
        if j + 1 < len(s) and s[j + 1] == "!":
            raise self.error(line, j + 1, "/正規表現/ には否定指定 (!neg など) を付けられません。",
                             "A /regex/ cannot take a negation mark.")
        self.add(line, i, "REGEX", pattern, s[i:j + 1])
        return j + 1

    def lex_word(self, line: _Line, i: int) -> int:
        s, j = line.norm, i
        while j < len(s) and s[j] not in _WORD_STOP and not s[j].isspace():
            j += 1
        word = s[i:j]
        if word.lower().startswith("text:"):
            literal = word[5:]
            if not literal and j < len(s) and s[j] in "\"「":
                return self.lex_phrase(line, j, "TEXT", prefix="text:")
            if not literal:
                raise self.error(line, i, "text: の後に文字列がありません。例: text:土下座",
                                 "Nothing after 'text:'. Example: text:土下座")
            if j < len(s) and s[j] == "!":
                raise self.error(line, j, "text: には否定指定 (!neg など) を付けられません。",
                                 "A text: atom cannot take a negation mark.")
            self.add(line, i, "TEXT", literal, word)
            return j
        lower = word.lower()
        if lower in _KEYWORDS:
            self.add(line, i, _KEYWORDS[lower], lower, word)
            return j
        rest = s[j:].lstrip()
        if lower in _CALLS and rest.startswith("("):
            self.add(line, i, _CALLS[lower], lower, word)
            return j
        j2, polarity = self.lex_polarity(line, j, "WORD")
        self.add(line, i, "WORD", word, s[i:j2], polarity)
        return j2

    def lex_polarity(self, line: _Line, j: int, kind: str) -> tuple[int, str]:
        s = line.norm
        if j >= len(s) or s[j] != "!":
            return j, ""
        if kind == "TEXT":
            raise self.error(line, j, "text: には否定指定 (!neg など) を付けられません。",
                             "A text: atom cannot take a negation mark.")
        k = j + 1
        while k < len(s) and s[k].isascii() and s[k].isalpha():
            k += 1
        mark = s[j + 1:k].lower()
        if mark not in POLARITIES:
            raise self.error(line, j, f"否定指定「!{mark}」は使えません。!neg (否定のときだけ)・!pos (肯定のときだけ)・"
                             "!any (どちらでも) のいずれかです。",
                             f"Unknown negation mark '!{mark}'; use !neg, !pos or !any.")
        return k, mark


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, tokens: list[_Tok], lines: list[_Line], origin: str) -> None:
        self.tokens, self.pos, self.origin = tokens, 0, origin
        self.raw = {ln.number: ln.raw for ln in lines}

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.pos]

    def next(self) -> _Tok:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def error(self, tok: _Tok, ja: str, en: str) -> RuleError:
        return RuleError(ja, en, line=tok.line, column=tok.col, source_line=self.raw.get(tok.line, ""),
                         origin=self.origin)

    def body(self) -> Node:
        alternatives: list[Node] = []
        while self.tok.kind == "NL":
            self.next()
        while self.tok.kind != "EOF":
            alternatives.append(self.or_expr())
            if self.tok.kind == "NL":
                while self.tok.kind == "NL":
                    self.next()
            elif self.tok.kind != "EOF":
                raise self.unexpected()
        if not alternatives:
            raise RuleError("条件が空です。語を1つ以上書いてください。", "The rule is empty; write at least one word.",
                            origin=self.origin)
        return alternatives[0] if len(alternatives) == 1 else Or(tuple(alternatives))

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while self.tok.kind == "OR":
            self.next()
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(_flatten(children, Or))

    def and_expr(self) -> Node:
        children = [self.unary()]
        while self.tok.kind == "AND":
            self.next()
            children.append(self.unary())
        return children[0] if len(children) == 1 else And(_flatten(children, And))

    def unary(self) -> Node:
        if self.tok.kind == "NOT":
            self.next()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "LP":
            self.next()
            node = self.or_expr()
            if self.tok.kind != "RP":
                raise self.unexpected(closing=True)
            closing = self.next()
            return _mark(node, closing.polarity) if closing.polarity else node
        if tok.kind in ("NEAR", "SEQ"):
            return self.near()
        if tok.kind in ("WORD", "PHRASE", "TEXT", "REGEX"):
            self.next()
            return self.atom(tok)
        raise self.missing_operand(tok)

    def near(self) -> Near:
        call = self.next()
        self.next()  # the "(" the lexer saw
        a = self.positional(call)
        if self.tok.kind != "COMMA":
            raise self.error(self.tok, f"{call.value}( の1つ目の語の後に「,」が必要です。例: {call.value}(電話, 繋がる!neg, 3)",
                             f"{call.value}() needs a comma after its first argument.")
        self.next()
        b = self.positional(call)
        distance = DEFAULT_NEAR
        if self.tok.kind == "COMMA":
            self.next()
            dist_tok = self.next()
            if dist_tok.kind != "WORD" or not dist_tok.value.isdigit() or not 1 <= int(dist_tok.value) <= 50:
                raise self.error(dist_tok, f"{call.value}() の3つ目は距離 (1〜50 の整数、語の位置の差) です。",
                                 f"The third argument of {call.value}() is a distance, an integer from 1 to 50.")
            distance = int(dist_tok.value)
        if self.tok.kind != "RP":
            raise self.error(self.tok, f"{call.value}( が ) で閉じていません。", f"{call.value}( is not closed with ')'.")
        self.next()
        return Near(_in_near(a), _in_near(b), distance, call.kind == "SEQ")

    def positional(self, call: _Tok) -> Node:
        start = self.tok
        node = self.or_expr()
        if not _is_positional(node):
            raise self.error(start, f"{call.value}() の中に書けるのは語・句 (と or、入れ子の near/seq) だけです。"
                             "text: や /正規表現/、and・not は外に出してください。",
                             f"Inside {call.value}() only words, phrases, 'or' and nested near/seq are allowed.")
        return node

    def atom(self, tok: _Tok) -> Atom:
        if tok.kind == "TEXT":
            return Atom("text", tok.value, "any")
        if tok.kind == "REGEX":
            return Atom("regex", tok.value, "any")
        parts = tok.value.split(" ") if tok.kind == "PHRASE" else [tok.value]
        try:
            segments = tuple(_spellings(part) for part in parts)
        except _NotAWord as exc:
            raise self.error(tok, exc.ja, exc.en) from None
        return Atom("word", tok.value, tok.polarity, segments)

    def unexpected(self, closing: bool = False) -> RuleError:
        tok, prev = self.tok, self.tokens[self.pos - 1] if self.pos else None
        if tok.kind in ("WORD", "PHRASE", "TEXT", "REGEX", "LP", "NOT", "NEAR", "SEQ") and prev is not None:
            return self.error(tok, f"「{prev.text or prev.value}」と「{tok.text or tok.value}」の間に演算子がありません。"
                              "or (|) か and (&) を書いてください。",
                              f"No operator between '{prev.text}' and '{tok.text}'; write 'or' (|) or 'and' (&).")
        if tok.kind == "COMMA":
            return self.error(tok, "「,」は near( , ) / seq( , ) の中でだけ使えます。語を並べるときは | を使います。",
                              "',' is only used inside near()/seq(); separate alternatives with '|'.")
        if tok.kind == "RP":
            return self.error(tok, "対応する ( のない ) があります。", "')' without a matching '('.")
        if closing:
            return self.error(tok, "閉じ括弧 ) がありません。", "Missing ')'.")
        return self.error(tok, "ここで条件が終わるはずです。", "Expected the end of the rule here.")

    def missing_operand(self, tok: _Tok) -> RuleError:
        prev = self.tokens[self.pos - 1] if self.pos else None
        if tok.kind in ("AND", "OR") and (prev is None or prev.kind in ("NL", "LP", "AND", "OR", "NOT", "COMMA")):
            return self.error(tok, f"「{tok.text}」の前に語がありません。", f"Nothing before '{tok.text}'.")
        if prev is not None and prev.kind in ("AND", "OR", "NOT"):
            return self.error(prev, f"「{prev.text}」の後に語がありません。", f"Nothing after '{prev.text}'.")
        if tok.kind == "RP":
            return self.error(tok, "( と ) の間に語がありません。", "Nothing between '(' and ')'.")
        if tok.kind == "COMMA":
            return self.error(tok, "「,」の前後に語がありません。", "A word is missing next to ','.")
        return self.error(tok, "ここに語か ( が必要です。", "A word or '(' is expected here.")


def _mark(node: Node, polarity: str) -> Node:
    """Give every word without its own negation mark `polarity`."""
    if isinstance(node, Atom):
        return replace(node, polarity=polarity) if node.kind == "word" and not node.polarity else node
    if isinstance(node, Not):
        return Not(_mark(node.child, polarity))
    if isinstance(node, Near):
        return Near(_mark(node.a, polarity), _mark(node.b, polarity), node.distance, node.ordered)
    return type(node)(tuple(_mark(c, polarity) for c in node.children))


def _in_near(node: Node) -> Node:
    if isinstance(node, Atom):
        return replace(node, clause=False)
    if isinstance(node, Near):
        return node   # already done when it was parsed
    return type(node)(tuple(_in_near(c) for c in node.children))


def _flatten(children: list[Node], kind: type) -> tuple[Node, ...]:
    out: list[Node] = []
    for child in children:
        out.extend(child.children if isinstance(child, kind) else (child,))
    return tuple(out)


def _is_positional(node: Node) -> bool:
    if isinstance(node, Atom):
        return node.kind == "word"
    if isinstance(node, Or):
        return all(_is_positional(c) for c in node.children)
    return isinstance(node, Near)


def _requires_atom(node: Node) -> bool:
    """True when the node can only be true if some word matched (so a hit always has evidence)."""
    if isinstance(node, (Atom, Near)):
        return True
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_requires_atom(c) for c in node.children)
    return all(_requires_atom(c) for c in node.children)


class _NotAWord(Exception):
    def __init__(self, ja: str, en: str) -> None:
        super().__init__(en)
        self.ja, self.en = ja, en


@lru_cache(maxsize=8192)
def _spellings(word: str) -> tuple[str, ...]:
    """How a run of terms may spell a rule word: as written, and as the lemmas of its tokens.

    問合せ also matches 問い合わせ (its lemma). A word that would need a particle or auxiliary to
    match (届かない, 気に入る) can never be a run of stored terms, so it is refused with a fix.
    """
    tokens = tokenize(for_tokenizer(word))
    dropped = [t for t in tokens if not t.content]
    if dropped:
        content = [t.lemma.split("-")[0] for t in tokens if t.content]
        negated = any(t.lemma in ("ない", "無い", "ず", "ぬ") for t in dropped)
        if len(content) == 1:
            fix = f"{content[0]}!neg" if negated else f"{content[0]} / text:{word}"
        else:
            fix = f"near({content[0]}, {content[1]}, 2) / text:{word}" if len(content) == 2 else f"text:{word}"
        listed = "・".join(t.surface for t in dropped)
        if not content and negated:
            raise _NotAWord(f"「{word}」は否定の印として扱われ、語としては保存されません。否定された語は 届く!neg のように"
                            "!neg で書きます (「〜がない」は 名詞!neg、名詞の「無し」はそのまま書けます)。",
                            f"'{word}' is a negator, not a stored term; mark the negated word with !neg instead.")
        if not content:
            raise _NotAWord(f"「{word}」は語として保存されない (助詞・助動詞や する・いる・来る などの補助的な動詞) ため"
                            f"一致しません。前後の語と near() で組み合わせるか、text:{word} と書いてください。",
                            f"'{word}' is never stored as a term (a particle, auxiliary or light verb); "
                            f"combine neighbours with near() or write text:{word}.")
        raise _NotAWord(f"「{word}」の「{listed}」は語として保存されない (助詞・助動詞・補助動詞など) ため一致しません。"
                        f"{fix} と書いてください。",
                        f"'{word}' contains '{listed}', which is not stored as a term; write {fix} instead.")
    joined = "".join(t.lemma for t in tokens)
    return (word,) if joined == word else (word, joined)


# ---------------------------------------------------------------------------------------------
# Themes and rule sets


@dataclass(frozen=True, slots=True)
class ThemeHit:
    theme_id: str
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PreviewHit:
    case_id: str
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Coverage:
    cases: int
    tagged: int
    by_theme: dict[str, int]

    @property
    def share(self) -> float:
        return self.tagged / self.cases if self.cases else 0.0


@dataclass(frozen=True, slots=True)
class Score:
    """One theme on a hand-labelled set: cases it tagged, of those correctly, and cases labelled with it."""

    predicted: int
    correct: int
    labelled: int

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.labelled if self.labelled else 0.0


@dataclass(frozen=True, slots=True)
class Theme:
    """One theme: stable `theme_id`, Japanese `name`, chart `color`, and its rule text as written."""

    theme_id: str
    name: str
    color: str
    source: str                                   # the lines under the header, comments kept
    expression: Node = field(compare=False, repr=False)


def make_theme(theme_id: str, name: str, color: str, source: str, *, origin: str = "", first_line: int = 1) -> Theme:
    """A checked Theme (the rule editor's entry point); raises RuleError with line/column on a bad rule."""
    if not THEME_ID.match(theme_id or ""):
        raise RuleError(f"テーマID「{theme_id}」は使えません。英小文字で始まる英小文字・数字・_ (32文字まで) にしてください。",
                        f"Theme ID '{theme_id}' is invalid; use lowercase letters, digits and _ (max 32).",
                        origin=origin)
    if not name.strip() or any(c in name for c in "[]#\n"):
        raise RuleError(f"テーマ [{theme_id}] の名前「{name}」は使えません。空でなく、[ ] # と改行を含まない名前にしてください。",
                        f"Theme [{theme_id}] name must be non-empty, without [ ] # or a line break.", origin=origin)
    if not COLOR.match(color or ""):
        raise RuleError(f"テーマ [{theme_id}] の色「{color}」は #RRGGBB の形で書いてください (例: #1F77B4)。",
                        f"Theme [{theme_id}] colour '{color}' must be #RRGGBB.", origin=origin)
    for k, line in enumerate(source.splitlines()):
        if line.lstrip().startswith(HEADER_MARKS):
            # It would be read back as the header of a new theme.
            raise RuleError("条件の行を ＊ で始めることはできません (見出しと区別できないため)。",
                            "A rule line cannot start with '*' (it would read as a theme header).",
                            line=first_line + k, column=1, source_line=line, origin=origin)
    expression = parse_expression(source, origin=origin, first_line=first_line)
    return Theme(theme_id, name.strip(), color.upper(), _trim_block(source), expression)


def parse_expression(text: str, *, origin: str = "", first_line: int = 1) -> Node:
    """Parse one theme's rule text (lines are or-ed) into a syntax tree; RuleError on a mistake.

    >>> parse_expression("届く!neg | near(荷物, 着く!neg, 4)").source()
    '届く!neg or near(荷物, 着く!neg, 4)'
    """
    lines = [_normalize_line(first_line + k, raw) for k, raw in enumerate(text.splitlines())]
    tokens = _Lexer(lines, origin).run()
    node = _mark(_Parser(tokens, lines, origin).body(), DEFAULT_POLARITY)
    if not _requires_atom(node):
        first = next((ln for ln in lines if ln.norm.strip() and not ln.norm.lstrip().startswith("#")), None)
        raise RuleError("not だけの条件は使えません (どのケースにも一致し、根拠語が残りません)。語を1つ以上 and で加えてください。",
                        "A rule that is only 'not …' matches without evidence; add a word with 'and'.",
                        origin=origin, line=first.number if first else 0, column=1 if first else 0,
                        source_line=first.raw if first else "")
    return node


def _trim_block(source: str) -> str:
    lines = source.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(line.rstrip() for line in lines)


@dataclass(frozen=True)
class RuleSet:
    """Themes in display order, compiled once for fast tagging."""

    themes: tuple[Theme, ...]
    preamble: str = ""            # comment lines before the first theme, kept on save

    def __post_init__(self) -> None:
        seen_ids: dict[str, str] = {}
        seen_colors: dict[str, str] = {}
        for theme in self.themes:
            if theme.theme_id in seen_ids:
                raise RuleError(f"テーマID [{theme.theme_id}] が2つあります (「{seen_ids[theme.theme_id]}」と「{theme.name}」)。"
                                "IDはテーマごとに変えてください。",
                                f"Theme ID [{theme.theme_id}] is used twice; IDs must be unique.")
            if theme.color in seen_colors:
                raise RuleError(f"色 {theme.color} が「{seen_colors[theme.color]}」と「{theme.name}」で重なっています。"
                                "グラフで区別できるよう別の色にしてください。",
                                f"Colour {theme.color} is used by two themes; give each theme its own colour.")
            seen_ids[theme.theme_id] = theme.name
            seen_colors[theme.color] = theme.name
        object.__setattr__(self, "_compiled", _Compiled(self.themes))

    def __reduce__(self) -> tuple:
        # Compiled closures do not pickle; a spawned worker re-reads the rules text instead.
        return loads_rules, (dumps_rules(self), "pickled rules")

    def theme(self, theme_id: str) -> Theme:
        return next(t for t in self.themes if t.theme_id == theme_id)

    def with_theme(self, theme: Theme) -> RuleSet:
        """A copy with `theme` replacing the one with its ID, or appended when the ID is new."""
        ids = [t.theme_id for t in self.themes]
        themes = [theme if t.theme_id == theme.theme_id else t for t in self.themes]
        return replace(self, themes=tuple(themes if theme.theme_id in ids else themes + [theme]))

    def without(self, theme_id: str) -> RuleSet:
        return replace(self, themes=tuple(t for t in self.themes if t.theme_id != theme_id))

    def spare_color(self) -> str:
        """A colour no theme uses yet, for a theme added in the editor."""
        used = {t.color for t in self.themes}
        return next((c for c in _SPARE_COLORS if c not in used), "#333333")

    def hash(self) -> str:
        """Changes when matching can change (IDs, expressions, engine); not on renames, colours or comments."""
        digest = hashlib.sha256(f"engine={ENGINE_VERSION};default={DEFAULT_POLARITY}".encode())
        for theme in self.themes:
            digest.update(f"\n{theme.theme_id}\t{theme.expression.source()}".encode())
        # Rule words are read with the tokenizer: a dictionary that spells them differently matches differently.
        atoms = self._compiled.atoms   # type: ignore[attr-defined]
        spellings = sorted({s for atom in atoms for segment in atom.segments for s in segment})
        digest.update("\t".join(spellings).encode())
        return digest.hexdigest()[:16]

    def tag(self, doc: CaseDoc) -> list[ThemeHit]:
        """The themes of one case, in rule order, each with the words that made it true."""
        return self._compiled.tag(doc)   # type: ignore[attr-defined]

    def theme_rows(self) -> list[tuple[str, str, str, int]]:
        """(theme_id, name, color, position) rows for the `themes` table."""
        return [(t.theme_id, t.name, t.color, k) for k, t in enumerate(self.themes)]

    def tag_many(self, docs: Iterable[CaseDoc]) -> Iterator[tuple[str, str, tuple[str, ...]]]:
        """(case_id, theme_id, evidence) rows for case_themes."""
        tag = self._compiled.tag   # type: ignore[attr-defined]
        for doc in docs:
            for hit in tag(doc):
                yield doc.case_id, hit.theme_id, hit.evidence

    def coverage(self, docs: Iterable[CaseDoc]) -> Coverage:
        """How many cases get at least one theme, and how many get each."""
        by_theme = {t.theme_id: 0 for t in self.themes}
        cases = tagged = 0
        for doc in docs:
            hits = self.tag(doc)
            cases += 1
            tagged += bool(hits)
            for hit in hits:
                by_theme[hit.theme_id] += 1
        return Coverage(cases, tagged, by_theme)


def docs_from_rows(rows: Iterable[tuple]) -> Iterator[CaseDoc]:
    """CaseDocs from stored rows (case_id, text, idx, surface, lemma, pos, negated), ordered by case_id, idx.

    A case without terms comes as one row with idx NULL (a LEFT JOIN of cases to case_terms):

        SELECT c.case_id, c.text, t.idx, t.surface, t.lemma, t.pos, t.negated
        FROM cases c LEFT JOIN case_terms t USING (case_id) ORDER BY c.case_id, t.idx
    """
    case_id, text, terms = None, "", []
    for row_case, row_text, idx, surface, lemma, pos, negated in rows:
        if row_case != case_id:
            if case_id is not None:
                yield CaseDoc(case_id, text, tuple(terms))
            case_id, text, terms = row_case, row_text or "", []
        if idx is not None:
            terms.append(Term(idx, surface, lemma, pos, bool(negated)))
    if case_id is not None:
        yield CaseDoc(case_id, text, tuple(terms))


def evaluate(rules: RuleSet, labelled: Iterable[tuple[CaseDoc, Collection[str]]]) -> tuple[dict[str, Score], Coverage]:
    """Per-theme precision/recall and coverage of `rules` on (doc, theme IDs) pairs labelled by hand."""
    counts = {t.theme_id: [0, 0, 0] for t in rules.themes}
    cases = tagged = 0
    for doc, gold in labelled:
        found = {hit.theme_id for hit in rules.tag(doc)}
        cases += 1
        tagged += bool(found)
        for theme_id, count in counts.items():
            count[0] += theme_id in found
            count[1] += theme_id in found and theme_id in gold
            count[2] += theme_id in gold
    scores = {theme_id: Score(*count) for theme_id, count in counts.items()}
    return scores, Coverage(cases, tagged, {theme_id: s.predicted for theme_id, s in scores.items()})


def preview(expression: str, docs: Iterable[CaseDoc], limit: int | None = None) -> list[PreviewHit]:
    """Cases an expression (being edited) would tag, with evidence; RuleError if it does not parse."""
    rules = RuleSet((Theme("preview", "preview", "#000000", expression, parse_expression(expression)),))
    hits: list[PreviewHit] = []
    for doc in docs:
        found = rules.tag(doc)
        if found:
            hits.append(PreviewHit(doc.case_id, found[0].evidence))
            if limit is not None and len(hits) >= limit:
                break
    return hits


@dataclass(frozen=True, slots=True)
class Prefilter:
    """What a case must contain for `rules` to possibly tag it, so a preview over stored terms can
    skip the other cases in SQL and build documents only for these.

    Each rule line needs one word (or text atom) of its trigger set, one word of each further set it
    needs (near(a, b): one a and one b), and one string of each literal set its regexes need. Words
    are keyed by number: a stored term present as `keys` says (its surface or lemma, and whether it
    must be negated, not negated, or either), or a word the tokenizer split (`pairs`: the term, "\\0",
    the next term's first character — ログ + イ for ログイン); `literals` are strings in the text. A
    case is a candidate when some line has every set met (`admits`); `everything` when a regex with no
    literal it must contain triggers a line on its own. Polarity is checked only where a single term
    decides it, so this is a superset of what `tag` finds, never less.
    """

    keys: tuple[tuple[str, int, str], ...]            # (surface or lemma, key, "any" | "pos" | "neg" | "neg_or_noun")
    pairs: tuple[tuple[str, int], ...]                # (term + "\\0" + next term's first character, key)
    literals: tuple[tuple[str, int], ...]             # (substring of the text, key)
    lines: tuple[tuple[frozenset[int], ...], ...]     # per line: key sets, each needing one key present
    everything: bool

    def admits(self, present: Collection[int]) -> bool:
        """True when the keys present in a case meet every set of some line."""
        present = present if isinstance(present, (set, frozenset)) else set(present)
        return self.everything or any(all(not one_of.isdisjoint(present) for one_of in line) for line in self.lines)


# When a single term spelling a word makes it present (see _HIT_SLOTS): `neg` words inside a clause
# may also be nouns whose predicate is negated (_clause_negated), which the stored flag does not say.
_TERM_NEEDS = {("any", False): "any", ("any", True): "any", ("pos", False): "pos", ("pos", True): "pos",
               ("neg", False): "neg", ("neg", True): "neg_or_noun"}


def prefilter(rules: RuleSet) -> Prefilter:
    """The candidate test for `rules` (see Prefilter), read from the compiled rules: the words each
    line is triggered by and needs, and the literals its text atoms and regexes need."""
    compiled = rules._compiled   # type: ignore[attr-defined]
    keys: set[tuple[str, int, str]] = set()
    pairs: set[tuple[str, int]] = set()
    for no, atom in enumerate(compiled.atoms):
        if atom.kind != "word":
            continue
        single = len(atom.segments) == 1
        for spelling in atom.segments[0]:   # a phrase starts where its first segment does
            keys.add((spelling, no, _TERM_NEEDS[atom.polarity, atom.clause] if single else "any"))
            pairs.update((f"{spelling[:k]}\0{spelling[k]}", no) for k in range(1, len(spelling)))
    literal_keys: dict[str, int] = {}

    def literal_key(literal: str) -> int:
        return literal_keys.setdefault(literal, len(compiled.atoms) + len(literal_keys))

    literals = {(literal, no) for no in compiled.eager for literal in (compiled.text_atoms[no][1] or ((),))[0]}
    lines: list[tuple[frozenset[int], ...]] = []
    triggers: dict[tuple[int, int], set[int]] = {}
    for no, refs in compiled.lines_by_atom.items():
        for ref in refs:
            triggers.setdefault(ref, set()).add(no)
    for (theme, line), trigger in sorted(triggers.items()):
        needs, line_literals = ((), ()) if line < 0 else compiled.lines[theme][line][1:]
        lines.append((frozenset(trigger), *needs,
                      *(frozenset(literal_key(lit) for lit in one_of) for one_of in line_literals)))
    literals.update(literal_keys.items())
    return Prefilter(tuple(sorted(keys)), tuple(sorted(pairs)), tuple(sorted(literals)), tuple(lines),
                     bool(compiled.eager_always))


# ---------------------------------------------------------------------------------------------
# The file


_HEADER = re.compile(r"^\s*\*\s*(?P<name>[^\[#]*)(?:\[(?P<id>[^\]]*)\])?\s*(?P<color>#\S*)?\s*(?P<rest>.*)$")


def loads_rules(text: str, origin: str = "themes.txt") -> RuleSet:
    """A RuleSet from the text of a rules file."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    preamble: list[str] = []
    blocks: list[tuple[int, str, list[str]]] = []   # (header line number, header, body lines)
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith(HEADER_MARKS):
            blocks.append((number, line, []))
        elif blocks:
            blocks[-1][2].append(line)
        elif line.strip() and not line.lstrip().startswith(("#", "＃")):
            raise RuleError("最初のテーマ見出しより前に条件があります。見出し「＊テーマ名 [id] #色」を先に書いてください。",
                            "A rule appears before the first theme header '＊名前 [id] #color'.",
                            line=number, column=1, source_line=line, origin=origin)
        else:
            preamble.append(line)
    if not blocks:
        raise RuleError("テーマが1つもありません。「＊テーマ名 [id] #色」の見出しと条件を書いてください。",
                        "No themes found; add a header '＊名前 [id] #color' and rule lines.", origin=origin)
    headers = [(number, header, *_parse_header(number, header, origin)) for number, header, _ in blocks]
    seen: dict[str, tuple[int, str]] = {}
    for number, header, name, theme_id, color in headers:
        for key, what_ja, what_en in ((theme_id, f"テーマID [{theme_id}]", f"Theme ID [{theme_id}]"),
                                      (color.upper(), f"色 {color}", f"Colour {color}")):
            if key and key in seen:
                raise RuleError(f"{what_ja} が{seen[key][0]}行目の「{seen[key][1]}」と重なっています。テーマごとに変えてください。",
                                f"{what_en} is also used on line {seen[key][0]}; give each theme its own.",
                                line=number, column=1, source_line=header, origin=origin)
            seen[key] = (number, name)
    spare = (c for c in _SPARE_COLORS if c not in seen)
    themes = []
    for (number, header, name, theme_id, color), (_, _, body) in zip(headers, blocks):
        if not any(ln.strip() and not ln.lstrip().startswith(("#", "＃")) for ln in body):
            raise RuleError(f"テーマ「{name}」[{theme_id}] に条件がありません。見出しの次の行から語を書いてください。",
                            f"Theme [{theme_id}] has no rule lines.", line=number, column=1, source_line=header,
                            origin=origin)
        themes.append(make_theme(theme_id, name, color or next(spare, "#333333"), "\n".join(body),
                                 origin=origin, first_line=number + 1))
    return RuleSet(tuple(themes), _trim_block("\n".join(preamble)))


def _parse_header(number: int, header: str, origin: str) -> tuple[str, str, str]:
    m = _HEADER.match(normalize(header).replace("＊", "*"))
    name, theme_id, color = (m.group("name").strip(), m.group("id"), m.group("color")) if m else ("", None, None)
    example = "例: ＊配送 [delivery] #1F77B4"
    if not m or not name:
        raise RuleError(f"テーマ見出しに名前がありません。{example}", "Theme header has no name.",
                        line=number, column=1, source_line=header, origin=origin)
    if theme_id is None:
        raise RuleError(f"テーマ見出しに [id] がありません。IDは名前を変えても変えない英字の識別子です。{example}",
                        f"Theme header has no [id]. Example: * 配送 [delivery] #1F77B4",
                        line=number, column=len(header) + 1, source_line=header, origin=origin)
    if m.group("rest"):
        raise RuleError(f"テーマ見出しの後ろに余分な文字「{m.group('rest')}」があります。{example}",
                        "Unexpected text after the theme header.", line=number, column=1, source_line=header,
                        origin=origin)
    if not THEME_ID.match(theme_id):
        raise RuleError(f"テーマID「{theme_id}」は使えません。英小文字で始まる英小文字・数字・_ (32文字まで) にしてください。",
                        f"Theme ID '{theme_id}' is invalid; use lowercase letters, digits and _ (max 32).",
                        line=number, column=header.find("[") + 2, source_line=header, origin=origin)
    if color and not COLOR.match(color):
        raise RuleError(f"色「{color}」は #RRGGBB の形で書いてください (例: #1F77B4)。",
                        f"Colour '{color}' must be #RRGGBB.", line=number, column=header.find("#") + 1,
                        source_line=header, origin=origin)
    return name, theme_id, color or ""


def dumps_rules(rules: RuleSet) -> str:
    """The text of a rules file; loads_rules(dumps_rules(r)) gives the same themes and hash."""
    parts = [rules.preamble] if rules.preamble else []
    for theme in rules.themes:
        parts.append(f"＊{theme.name} [{theme.theme_id}] {theme.color}\n{theme.source}")
    return "\n\n".join(parts) + "\n"


def rules_path() -> Path:
    """The rules file the dashboard and `analyze` use: themes.txt in settings.rules_dir()
    ($KAKEHASHI_RULES_DIR, else data/rules)."""
    return rules_dir() / "themes.txt"


def load_rules(path: str | os.PathLike | None = None) -> RuleSet:
    """The rules file at `path` (default: rules_path()), parsed and compiled."""
    path = Path(path) if path else rules_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RuleError(f"テーマ辞書 {path} が見つかりません。", f"Theme rules file {path} not found.",
                        origin=str(path)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp932")   # a file saved from Windows Notepad in ANSI; never shift_jis (no ①, ～)
    return _loads_cached(text, path.name)


@lru_cache(maxsize=4)
def _loads_cached(text: str, origin: str) -> RuleSet:
    """A load and the analyze() after it read the same file: compile it once (RuleSet is frozen)."""
    return loads_rules(text, origin=origin)


def save_rules(rules: RuleSet, path: str | os.PathLike | None = None) -> Path:
    """Write the rules file atomically (UTF-8, LF), so a crash never leaves half a file."""
    path = Path(path) if path else rules_path()
    text = dumps_rules(rules)
    loads_rules(text, origin=path.name)   # refuse to write what could not be read back
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------------------------------
# Compiled evaluation
#
# Per case: one pass over the terms looks each surface and lemma up in one dict, which yields the
# words present (a handful per case). A rule line is evaluated only when a word it needs is present.
# text:/regex atoms cost a scan of the text, so a line that also needs a word is triggered by the
# word and its regex runs only then ("lazy"); only regexes that are a line's sole trigger run for
# every case, and only when a literal they need is in the text. A match is (first idx, last idx,
# order, evidence); order is the term position, so evidence reads in order.

_Match = tuple[int, int, int, str]
_Matches = dict[int, list[_Match]]               # atom number -> its matches in one case
_Eval = Callable[[_Matches], "list[_Match] | None"]
_Need = tuple[frozenset[int], ...]               # for each set, one of its atoms must be present
# Per key: the one-term words it spells, by when they count (see match_atoms); the words it may begin,
# keyed by the next character of the spelling (ログ begins ログイン under イ); the "a b" phrases it may begin.
# Hits: (atoms when the term is negated, when it is not, and when it is not but its clause may be:
# those for an affirmative clause, those for a negated one).
_Hits = tuple[list[int], list[int], list[int], list[int]]
_Entry = tuple[_Hits, dict[str, list[tuple[int, str]]], list[int]]
_HIT_SLOTS = {("any", False): (0, 1), ("any", True): (0, 1), ("pos", False): (1,), ("neg", False): (0,),
              ("pos", True): (2,), ("neg", True): (0, 3)}
# Reserved keys of a case's matches: its text, and the lazy text atoms already found absent.
_TEXT, _ABSENT = -1, -2
_ORDER = operator.itemgetter(2)


class _Compiled:
    def __init__(self, themes: tuple[Theme, ...]) -> None:
        self.atoms: list[Atom] = []
        self.atom_no: dict[Atom, int] = {}
        self.index: dict[str, _Entry] = {}
        # text:/regex atoms: (literal or compiled regex, literal sets it needs — see _required_literals)
        self.text_atoms: dict[int, tuple[str | re.Pattern[str], tuple[tuple[str, ...], ...]]] = {}
        self.eager: set[int] = set()
        self.ids = [t.theme_id for t in themes]
        # Each theme's top-level alternatives (its lines): closure, the word sets and the literal sets
        # (of its lazy regexes) to check before calling it.
        # atom -> [(theme, line)], where a negative line -1 - atom means the line is that atom alone.
        self.lines: list[list[tuple[_Eval, _Need, tuple[tuple[str, ...], ...]]]] = []
        self.lines_by_atom: dict[int, list[tuple[int, int]]] = {}
        for number, theme in enumerate(themes):
            self.compile_theme(theme.expression, number)
        self.index_eager_text()

    # -- building --

    def compile_theme(self, expression: Node, theme: int) -> None:
        lines: list[tuple[_Eval, _Need, tuple[tuple[str, ...], ...]]] = []
        for alternative in _alternatives(expression):
            if isinstance(alternative, Atom):
                no = self.add_atom(alternative)
                self.lines_by_atom.setdefault(no, []).append((theme, -1 - no))
                if no in self.text_atoms:
                    self.eager.add(no)
                continue
            fn, need = self.compile(alternative)
            trigger = need[0]   # parse_expression guarantees every alternative needs some atom
            self.eager.update(no for no in trigger if no in self.text_atoms)
            for no in trigger:
                self.lines_by_atom.setdefault(no, []).append((theme, len(lines)))
            lines.append((fn, self.checkable(need[1:]), self.line_literals(alternative)))
        self.lines.append(lines)

    def line_literals(self, line: Node) -> tuple[tuple[str, ...], ...]:
        """Literal sets a line's regexes need (word & /regex/, word & (/a/ | /b/)).

        Most cases that have the word lack a literal the regex needs, so these are checked before any
        closure is called.
        """
        if not isinstance(line, And):
            return ()
        out: list[tuple[str, ...]] = []
        for child in line.children:
            if isinstance(child, Atom) and child.kind != "word":
                out += self.text_atoms[self.add_atom(child)][1]
            elif isinstance(child, Or) and all(isinstance(c, Atom) and c.kind != "word" for c in child.children):
                firsts = [self.text_atoms[self.add_atom(c)][1] for c in child.children]
                if all(firsts):
                    out.append(tuple(dict.fromkeys(lit for sets in firsts for lit in sets[0])))
        return tuple(out)

    def add_atom(self, atom: Atom) -> int:
        no = self.atom_no.get(atom)
        if no is None:
            no = self.atom_no[atom] = len(self.atoms)
            self.atoms.append(atom)
            if atom.kind == "text":
                self.text_atoms[no] = (atom.value, ((atom.value,),))
            elif atom.kind == "regex":
                self.text_atoms[no] = (re.compile(atom.value), _required_literals(atom.value))
            else:
                self.index_word(atom, no)
        return no

    def index_word(self, atom: Atom, no: int) -> None:
        first = atom.segments[0]
        if len(atom.segments) > 1:
            for key in {s[:k] for s in first for k in range(1, len(s) + 1)}:
                self.entry(key)[2].append(no)
            return
        for spelling in first:
            # A term spelling the whole word is a hit; a term spelling a proper prefix may start a
            # run (ログ + イン = ログイン), whatever split the tokenizer chose in that sentence.
            hits = self.entry(spelling)[0]
            for slot in _HIT_SLOTS[atom.polarity, atom.clause]:
                hits[slot].append(no)
            for k in range(1, len(spelling)):
                self.entry(spelling[:k])[1].setdefault(spelling[k], []).append((no, spelling[k:]))

    def entry(self, key: str) -> _Entry:
        return self.index.setdefault(key, (([], [], [], []), {}, []))

    def index_eager_text(self) -> None:
        """Literal index of the text atoms that trigger a line on their own (looked for in every case)."""
        self.literals_by_char: dict[str, list[str]] = {}
        self.atoms_by_literal: dict[str, list[int]] = {}
        self.eager_always = [no for no in self.eager if not self.text_atoms[no][1]]
        for no in sorted(self.eager):
            sets = self.text_atoms[no][1]
            for literal in sets[0] if sets else ():
                if literal not in self.atoms_by_literal:
                    self.literals_by_char.setdefault(literal[0], []).append(literal)
                self.atoms_by_literal.setdefault(literal, []).append(no)
        # A character class of the literals' first characters: findall walks the text in C and
        # allocates only the characters that start some literal (iterating a str allocates each one).
        self.first_chars = re.compile("[" + "".join(map(re.escape, self.literals_by_char)) + "]") \
            if self.literals_by_char else None

    def order(self, need: _Need) -> _Need:
        """Word-only sets first: the first set is the trigger, and words are found for free."""
        return tuple(sorted(need, key=lambda one_of: any(no in self.text_atoms for no in one_of)))

    def checkable(self, need: _Need) -> _Need:
        """The sets worth checking against a case's matches: lazy text atoms are not there yet."""
        return tuple(one_of for one_of in need if not any(no in self.text_atoms for no in one_of))

    def compile(self, node: Node) -> tuple[_Eval, _Need]:
        """A closure evaluating `node` on a case's matches, and the atoms it needs (trigger first)."""
        if isinstance(node, Atom):
            no = self.add_atom(node)
            if no in self.text_atoms:
                return self.text_closure(no), (frozenset((no,)),)
            return (lambda m: m.get(no)), (frozenset((no,)),)
        if isinstance(node, Not):
            child, _ = self.compile(node.child)
            return (lambda m: [] if child(m) is None else None), ()
        if isinstance(node, And):
            compiled = [self.compile(c) for c in node.children]
            # Cheap word-only children first, so a missing word skips the regexes after it.
            compiled.sort(key=lambda fn_need: not fn_need[1] or fn_need[1] != self.checkable(fn_need[1]))
            parts = [fn for fn, _ in compiled]

            def all_of(m: _Matches) -> list[_Match] | None:
                out: list[_Match] = []
                for part in parts:
                    found = part(m)
                    if found is None:
                        return None
                    out += found
                return out
            return all_of, self.order(_needs(*(need for _, need in compiled)))
        if isinstance(node, Or):
            return self.compile_or(node)
        return self.compile_near(node)

    def text_closure(self, no: int) -> _Eval:
        """A text:/regex atom: found by match_text when eager, else searched when first needed."""
        eager = self.eager
        target, sets = self.text_atoms[no]
        first, others = (sets[0], sets[1:]) if sets else ((), ())

        def lazy(m: _Matches) -> list[_Match] | None:
            found = m.get(no)
            if found is not None or no in eager:
                return found
            absent: set[int] = m[_ABSENT]   # type: ignore[assignment]
            if no in absent:
                return None
            found = _search(target, first, others, m[_TEXT])   # type: ignore[arg-type]
            if found is None:
                absent.add(no)
            else:
                m[no] = found
            return found
        return lazy

    def compile_or(self, node: Or) -> tuple[_Eval, _Need]:
        word_atoms = [c for c in node.children if isinstance(c, Atom) and c.kind == "word"]
        atom_nos = frozenset(self.add_atom(c) for c in word_atoms)
        parts = [self.compile(c) for c in node.children if c not in word_atoms]
        # Some child must hold, so one atom from the union of each child's first need must be present.
        need: _Need = () if any(not n for _, n in parts) else (atom_nos.union(*(n[0] for _, n in parts)),)
        checks = [(fn, self.checkable(n)) for fn, n in parts]

        def any_atom(m: _Matches) -> list[_Match] | None:
            out: list[_Match] | None = None
            for no in atom_nos.intersection(m):   # m holds only the atoms present: a handful
                out = m[no] if out is None else out + m[no]
            return out
        if not parts:
            return any_atom, need

        def any_of(m: _Matches) -> list[_Match] | None:
            out = any_atom(m)
            for part, part_need in checks:
                if _all_present(part_need, m):
                    found = part(m)
                    if found is not None:
                        out = found if out is None else out + found
            return out
        return any_of, need

    def compile_near(self, node: Near) -> tuple[_Eval, _Need]:
        (left, need_a), (right, need_b) = self.compile(node.a), self.compile(node.b)
        distance, ordered = node.distance, node.ordered
        if _atoms_only(node.a) and _atoms_only(node.b):
            # The common shape near(word | word…, word | word…): no closure calls, no list building
            # unless both sides are present.
            side_a, side_b = need_a[0], need_b[0]

            def left(m: _Matches) -> list[_Match] | None:
                return _gather(side_a, m)

            def right(m: _Matches) -> list[_Match] | None:
                return _gather(side_b, m)

        def near(m: _Matches) -> list[_Match] | None:
            a_matches = left(m)
            b_matches = right(m) if a_matches else None
            if not b_matches:
                return None
            out: list[_Match] = []
            for a in a_matches:
                for b in b_matches:
                    if 0 < b[0] - a[1] <= distance or not ordered and 0 < a[0] - b[1] <= distance:
                        span = (min(a[0], b[0]), max(a[1], b[1]))
                        out += ((*span, a[2], a[3]), (*span, b[2], b[3]))
            return out or None
        return near, _needs(need_a, need_b)

    # -- matching one case --

    def match_atoms(self, doc: CaseDoc) -> _Matches:
        terms, text = doc.terms, doc.text
        get = self.index.get
        found: list[tuple[int, _Entry]] = []
        for i, term in enumerate(terms):
            # Most terms are in no rule: one or two dict misses, nothing else.
            surface, lemma = term.surface, term.lemma
            entry = get(surface)
            if entry is not None:
                found.append((i, entry))
            if lemma != surface:
                entry = get(lemma)
                if entry is not None:
                    found.append((i, entry))
        m: _Matches = {}
        starts: list[tuple[int, _Entry]] = []
        for i, entry in found:
            # entry[0]: the atoms this term is, when negated / not / by its clause (see _HIT_SLOTS).
            when_negated, when_affirmative, clause_pos, clause_neg = entry[0]
            term = terms[i]
            if term.negated:
                nos = when_negated
            elif clause_pos or clause_neg:
                nos = when_affirmative + (clause_neg if _clause_negated(terms, i, text) else clause_pos)
            else:
                nos = when_affirmative
            if nos:
                match = (term.idx, term.idx, term.idx, term.surface)
                for no in nos:
                    hits = m.get(no)
                    if hits is None:
                        m[no] = [match]
                    elif hits[-1] != match:
                        hits.append(match)
            if entry[1] or entry[2]:
                starts.append((i, entry))
        if starts:
            self.match_runs(terms, text, starts, m)
        if self.eager:
            self.match_text(text, m)
        return m

    def match_runs(self, terms: tuple[Term, ...], text: str, starts: list[tuple[int, _Entry]], m: _Matches) -> None:
        """Words spelled by several consecutive terms, and "a b" phrases."""
        n = len(terms)
        for i, (_, runs, phrases) in starts:
            for no in phrases:
                end = _run_end(self.atoms[no].segments, terms, i)
                if end is not None:
                    self.add_run(no, terms, text, i, end, m)
            nxt = i + 1
            if not runs or nxt == n or terms[nxt].idx != terms[i].idx + 1:
                continue
            after = terms[nxt]
            candidates = runs.get(after.surface[:1], [])
            if after.lemma[:1] != after.surface[:1]:
                candidates = candidates + runs.get(after.lemma[:1], [])
            for no, rest in candidates:
                end = _spell(rest, terms, nxt)
                if end is not None:
                    self.add_run(no, terms, text, i, end, m)

    def match_text(self, text: str, m: _Matches) -> None:
        """The eager text atoms: those whose first literal set has a member in the text are searched."""
        by_char, by_literal = self.literals_by_char, self.atoms_by_literal
        chars = set(self.first_chars.findall(text)) if self.first_chars else ()
        todo = {no for ch in chars for lit in by_char[ch] if lit in text for no in by_literal[lit]}
        todo.update(self.eager_always)
        for no in todo:
            target, sets = self.text_atoms[no]
            found = _search(target, (), sets[1:], text)
            if found is not None:
                m[no] = found

    def add_run(self, no: int, terms: tuple[Term, ...], text: str, i: int, end: int, m: _Matches) -> None:
        atom = self.atoms[no]
        run = terms[i:end + 1]
        negated = any(t.negated for t in run) or atom.clause and _clause_negated(terms, end, text)
        if atom.polarity == "pos" and negated or atom.polarity == "neg" and not negated:
            return
        match = (terms[i].idx, terms[end].idx, terms[i].idx, "".join(t.surface for t in run))
        found = m.setdefault(no, [])
        if match not in found:
            found.append(match)

    def tag(self, doc: CaseDoc) -> list[ThemeHit]:
        m = self.match_atoms(doc)
        if not m:
            return []
        todo: set[tuple[int, int]] = set()
        get = self.lines_by_atom.get
        for no in m:
            lines = get(no)
            if lines:
                todo.update(lines)
        text = m[_TEXT] = doc.text   # type: ignore[assignment]  # for lazy text atoms
        m[_ABSENT] = set()         # type: ignore[assignment]
        hits: list[ThemeHit] = []
        current, found = -1, []
        for theme, line in sorted(todo):   # by theme, then line
            if theme != current:
                if found:
                    hits.append(ThemeHit(self.ids[current], _evidence(found)))
                current, found = theme, []
            if line < 0:
                found += m[-1 - line]
                continue
            fn, need, literals = self.lines[theme][line]
            # Inline rather than helper calls: this runs for ~10 lines per case.
            missing = False
            for one_of in need:
                if one_of.isdisjoint(m):
                    missing = True   # another word the line needs is absent
                    break
            if not missing:
                for one_of in literals:
                    for literal in one_of:
                        if literal in text:
                            break
                    else:
                        missing = True   # so is every literal one of its regexes needs
                        break
            if missing:
                continue
            line_found = fn(m)
            if line_found:
                found += line_found
        if found:
            hits.append(ThemeHit(self.ids[current], _evidence(found)))
        return hits


def _gather(atom_nos: frozenset[int], m: _Matches) -> list[_Match] | None:
    present = atom_nos.intersection(m)
    if not present:
        return None
    if len(present) == 1:
        return m[next(iter(present))]
    out: list[_Match] = []
    for no in present:
        out += m[no]
    return out


def _all_present(need: _Need, m: _Matches) -> bool:
    for one_of in need:
        if one_of.isdisjoint(m):
            return False
    return True


def _all_in(literal_sets: tuple[tuple[str, ...], ...], text: str) -> bool:
    for one_of in literal_sets:
        for literal in one_of:
            if literal in text:
                break
        else:
            return False
    return True


def _search(target: str | re.Pattern[str], first: tuple[str, ...], others: tuple[tuple[str, ...], ...],
            text: str) -> list[_Match] | None:
    """A text atom in `text`, when some literal of `first` and of each of `others` is there."""
    if first and not _all_in((first,), text) or others and not _all_in(others, text):
        return None
    if isinstance(target, str):
        at = text.find(target)
        return [(-1, -1, _TEXT_ORDER + at, target)] if at >= 0 else None
    hit = target.search(text)
    return [(-1, -1, _TEXT_ORDER + hit.start(), hit.group(0))] if hit and hit.group(0) else None


def _clause_negated(terms: tuple[Term, ...], i: int, text: str) -> bool:
    """A noun that is the subject of a negated predicate: 異物は(特に)入っていません, エラーは出ていない.

    The stored flag marks a noun only through する・ある・できる (問題はない, 発送されていない). Here the
    next stored term decides when it is a negated verb or adjective at most a particle and adverbs
    away, and the particle is one that makes the noun its subject (は・が・も…), read from the text:
    「エラーで選べない」 is still an error.
    """
    term = terms[i]
    if not term.pos.startswith("名詞"):
        return False
    for nxt in terms[i + 1:i + 4]:
        if nxt.idx > term.idx + 4:
            return False
        if nxt.pos.startswith("副詞"):
            continue
        if not (nxt.negated and nxt.pos.startswith(("動詞", "形容詞"))):
            return False
        return _is_subject(term.surface, nxt.surface, text)
    return False


_SUBJECT_PARTICLES = ("は", "が", "も", "って", "なんて", "なんか", "など", "とか")


def _is_subject(noun: str, predicate: str, text: str) -> bool:
    """Somewhere in `text`, `noun` + は/が/も… and then `predicate` within the same clause."""
    start = 0
    while (at := text.find(noun, start)) >= 0:
        after = at + len(noun)
        if text.startswith(_SUBJECT_PARTICLES, after):
            window = text[after:after + 14]
            end = window.find(predicate)
            if end > 0 and not any(mark in window[:end] for mark in "。、!?"):
                return True
        start = at + 1
    return False


def _alternatives(node: Node) -> Iterator[Node]:
    """The or-ed parts of a theme, nested ors flattened: each is looked up from the atoms present."""
    if isinstance(node, Or):
        for child in node.children:
            yield from _alternatives(child)
    else:
        yield node


def _atoms_only(node: Node) -> bool:
    return isinstance(node, Atom) or isinstance(node, Or) and all(isinstance(c, Atom) for c in node.children)


def _needs(*needs: _Need) -> _Need:
    return tuple(dict.fromkeys(one_of for need in needs for one_of in need))


def _run_end(segments: tuple[tuple[str, ...], ...], terms: tuple[Term, ...], i: int) -> int | None:
    """The index of the last term of a run starting at terms[i] that spells every segment in order."""
    position = i
    for k, spellings in enumerate(segments):
        if k and (position + 1 >= len(terms) or terms[position + 1].idx != terms[position].idx + 1):
            return None
        start = position + 1 if k else position
        ends = [e for s in spellings if (e := _spell(s, terms, start)) is not None]
        if not ends:
            return None
        position = min(ends)
    return position


def _spell(rest: str, terms: tuple[Term, ...], i: int) -> int | None:
    """Consecutive terms from i whose surfaces or lemmas join to exactly `rest`; the last index."""
    term = terms[i]
    for piece in (term.surface, term.lemma):
        if rest == piece:
            return i
        if rest.startswith(piece) and i + 1 < len(terms) and terms[i + 1].idx == term.idx + 1:
            end = _spell(rest[len(piece):], terms, i + 1)
            if end is not None:
                return end
    return None


def _required_literals(pattern: str) -> tuple[tuple[str, ...], ...]:
    """Sets of strings such that `pattern` can only match if each set has one string in the text.

    Read from the parsed pattern: every item a match must contain (a literal run, or a group whose
    branches all start with a literal) gives a set. The most selective set comes first: it is the
    one looked up for every case; the others are checked only when it is present. () = none known.
    """
    try:
        from re import _parser   # private, but stable across 3.11–3.13; any surprise means "no prefilter"
        parsed = _parser.parse(pattern)
        if parsed.state.flags & re.IGNORECASE:
            return ()
        sets = list(dict.fromkeys(_mandatory_literals(list(parsed))))
    except Exception:   # noqa: BLE001 - an optimisation only; the regex itself was validated at parse
        return ()
    # Longer literals are rarer, and kanji rarer than kana: 「教えて」 before 「ます」.
    return tuple(sorted(sets, key=lambda lits: -min(len(x) + any(c > "ヿ" for c in x) for x in lits)))


def _mandatory_literals(items: list) -> Iterator[tuple[str, ...]]:
    from re import _constants as c
    run = ""
    for op, av in items + [(None, None)]:
        if op is c.LITERAL:
            run += chr(av)
            continue
        if run:
            yield (run,)
            run = ""
        if op is c.SUBPATTERN and not av[1] & re.IGNORECASE:
            yield from _mandatory_literals(list(av[3]))
        elif op is c.BRANCH:
            prefixes = [_leading_literal(list(branch)) for branch in av[1]]
            if all(prefixes):
                yield tuple(prefixes)
        elif op is c.MAX_REPEAT or op is c.MIN_REPEAT:
            if av[0] >= 1:
                yield from _mandatory_literals(list(av[2]))


def _leading_literal(items: list) -> str:
    from re import _constants as c
    out = ""
    for op, av in items:
        if op is not c.LITERAL:
            break
        out += chr(av)
    return out


def _evidence(found: list[_Match]) -> tuple[str, ...]:
    """Each matched piece once, in reading order."""
    if len(found) == 1:
        return (found[0][3],)
    return tuple(dict.fromkeys(match[3] for match in sorted(found, key=_ORDER)))
