"""Lexer and parser of the theme rule language, and the rules file's text format, both ways.

A rules file (data/rules/themes.txt) holds one block per theme:

    ＊配送 [delivery] #1F77B4
    届く!neg | 配送 and 遅れる
    near(荷物, 届く!neg, 4)

The header gives the Japanese name, a stable ID (tags are stored under it, so a rename keeps them)
and the chart colour; each line below it is an alternative (lines are or-ed). The language is
described in docs/themes.md. Only the rule words go through the tokenizer, once, when the rules are
parsed. Every mistake is a RuleError with the line and column to fix, in Japanese and English.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache

from pipelines.nlp.text import for_tokenizer, normalize, tokenize
from pipelines.rules.themes.syntax import (
    COLOR,
    DEFAULT_NEAR,
    DEFAULT_POLARITY,
    HEADER_MARKS,
    KEYWORDS,
    POLARITIES,
    SPARE_COLORS,
    THEME_ID,
    WORD_STOP,
    And,
    Atom,
    Near,
    Node,
    Not,
    Or,
    Theme,
)
from pipelines.store.errors import KakehashiError

_CALLS = {"near": "NEAR", "seq": "SEQ"}


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
        while j < len(s) and s[j] not in WORD_STOP and not s[j].isspace():
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
        if lower in KEYWORDS:
            self.add(line, i, KEYWORDS[lower], lower, word)
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
# Themes


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


# ---------------------------------------------------------------------------------------------
# The file's text


_HEADER = re.compile(r"^\s*\*\s*(?P<name>[^\[#]*)(?:\[(?P<id>[^\]]*)\])?\s*(?P<color>#\S*)?\s*(?P<rest>.*)$")


def parse_rules_text(text: str, origin: str = "themes.txt") -> tuple[tuple[Theme, ...], str]:
    """The themes of a rules file's text, and its preamble (the comment lines before the first theme)."""
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
    spare = (c for c in SPARE_COLORS if c not in seen)
    themes = []
    for (number, header, name, theme_id, color), (_, _, body) in zip(headers, blocks):
        if not any(ln.strip() and not ln.lstrip().startswith(("#", "＃")) for ln in body):
            raise RuleError(f"テーマ「{name}」[{theme_id}] に条件がありません。見出しの次の行から語を書いてください。",
                            f"Theme [{theme_id}] has no rule lines.", line=number, column=1, source_line=header,
                            origin=origin)
        themes.append(make_theme(theme_id, name, color or next(spare, "#333333"), "\n".join(body),
                                 origin=origin, first_line=number + 1))
    return tuple(themes), _trim_block("\n".join(preamble))


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


def format_rules_text(themes: Iterable[Theme], preamble: str = "") -> str:
    """The text of a rules file: the preamble, then each theme's header and lines (parse_rules_text reads it)."""
    parts = [preamble] if preamble else []
    for theme in themes:
        parts.append(f"＊{theme.name} [{theme.theme_id}] {theme.color}\n{theme.source}")
    return "\n\n".join(parts) + "\n"
