"""Personal data masking: regexes on normalized text (run inside DuckDB), names from tokens.

The regexes use only syntax shared by RE2 (DuckDB) and Python's re, so the same patterns run in
SQL for bulk loads and in Python for small strings. RE2 has no look-behind, so each pattern
captures the character before the match and puts it back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from operator import attrgetter

from pipelines.nlp.text import HYPHENS, MASK_CLOSE, MASK_OPEN, CaseDoc, Term, Token, for_tokenizer, normalize, tokenize

PHONE, EMAIL, POSTAL, ADDRESS, NAME = "〔電話番号〕", "〔メール〕", "〔郵便番号〕", "〔住所〕", "〔氏名〕"

_H = f"[-{HYPHENS}]"
_NOT_CODE = r"(^|[^0-9A-Za-z_/\-])"   # a phone number is not the tail of an order or lot number
_END = r"([^0-9\-]|$)"
_PREF = "(?:東京都|北海道|大阪府|京都府|[^\\s、。,!?()「」\"{}\\[\\]0-9]{2,3}県)"
_BLOCK = "[0-9一二三四五六七八九十]+(?:丁目|番地|番|号|-)"

# (name, pattern, replacement). Order matters: e-mail before phone (digits in addresses), address last.
PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("email", r"([^A-Za-z0-9._%+\-]|^)[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
     rf"\1{EMAIL}"),
    ("postal", rf"(〒|郵便番号\s*:?)\s*[0-9]{{3}}{_H}?[0-9]{{4}}", rf"{POSTAL}"),
    ("phone", rf"{_NOT_CODE}(\(0[0-9]{{1,4}}\)\s?[0-9]{{1,4}}{_H}[0-9]{{3,4}}|(?:\+81[ -]?|0)[0-9]{{1,4}}(?:{_H}|\(| )[0-9]{{1,4}}(?:{_H}|\)| )\s?[0-9]{{3,4}}|0[5789]0[0-9]{{8}}|0[1-9][0-9]{{8}}){_END}",
     rf"\1{PHONE}\3"),
    # The part before 都道府県市区町村 is kanji only, so 「住所は大阪府…」 keeps 「住所は」.
    ("address", rf"{_PREF}?[一-龥々〆ヵヶケ]{{0,12}}?[都道府県市区町村郡][^\s、。,!?()「」:\"{{}}\[\]]{{0,12}}?{_BLOCK}(?:[0-9]+(?:番地|番|号|-)?|の[0-9]+)*",
     ADDRESS),
)
_COMPILED = tuple((name, re.compile(p), r) for name, p, r in PATTERNS)

_PERSON = "名詞-固有名詞-人名"
# Honorifics after a name. お客様 is excluded because its noun run (客) is a common noun.
HONORIFICS = {"様", "さん", "氏", "殿", "さま", "くん", "ちゃん"}
# Common nouns that take an honorific without being a name (配達員さん, 担当者様).
_ROLE_NOUNS = {"客", "担当", "担当者", "配達員", "運転手", "店員", "係", "皆", "みな", "皆様", "奥", "娘", "息子",
               "先生", "社長", "部長", "課長", "店長", "看護師", "医者", "業者", "ドライバー", "スタッフ", "オペレーター",
               "方", "人", "相手", "家族", "母", "父", "主人", "お子", "子", "神", "仏"}


def mask_sql_macro() -> str:
    """CREATE MACRO kk_mask(s): every regex mask, nested, for use inside DuckDB."""
    expr = "s"
    for _name, pattern, repl in PATTERNS:
        # Python's \1 becomes RE2's \1 in DuckDB as well; quotes are doubled for the SQL literal.
        expr = f"regexp_replace({expr}, '{_sql(pattern)}', '{_sql(repl)}', 'g')"
    return f"CREATE OR REPLACE TEMP MACRO kk_mask(s) AS {expr};"


def _sql(literal: str) -> str:
    return literal.replace("'", "''")


def mask_regex(text: str) -> str:
    """The same regex masks in Python, for small strings (notes, previews)."""
    if not text:
        return text
    for _name, compiled, repl in _COMPILED:
        text = compiled.sub(repl, text)
    return text


@dataclass(frozen=True, slots=True)
class MaskedText:
    text: str
    tokens: list[Token]
    names: int


def mask_names(text: str, tokens: list[Token]) -> MaskedText:
    """Replace person names found by UniDic (固有名詞-人名) and by an honorific after a noun run."""
    spans = _name_spans(tokens)
    if not spans:
        return MaskedText(text, tokens, 0)
    out_text, out_tokens, last, shift = [], [], 0, 0
    span_iter = iter(spans)
    current = next(span_iter, None)
    i = 0
    while i < len(tokens):
        if current and i == current[0]:
            first, end = tokens[current[0]], tokens[current[1] - 1]
            out_text.append(text[last:first.start])
            out_text.append(NAME)
            out_tokens.append(Token(NAME, "名詞-マスク", NAME, True, True, first.start + shift))
            last = end.start + len(end.surface)
            shift += len(NAME) - (last - first.start)
            i = current[1]
            current = next(span_iter, None)
            continue
        tok = tokens[i]
        out_tokens.append(tok._replace(start=tok.start + shift))
        i += 1
    out_text.append(text[last:])
    return MaskedText("".join(out_text), out_tokens, len(spans))


_POS, _SURFACE = attrgetter("pos"), attrgetter("surface")


def _name_spans(tokens: list[Token]) -> list[tuple[int, int]]:
    # Most texts hold neither a person name nor an honorific: two passes in C rule them out at a
    # fraction of the cost of the loop below.
    if _PERSON not in "\t".join(map(_POS, tokens)) and HONORIFICS.isdisjoint(map(_SURFACE, tokens)):
        return []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        if tokens[i].pos.startswith(_PERSON) and not _katakana_compound(tokens, i):
            start, j = i, i
            # 髙橋一郎: a surname in a rare variant kanji is an unknown word right before the given name.
            while start > 0 and not tokens[start - 1].known and tokens[start - 1].pos.startswith("名詞") \
                    and (not spans or spans[-1][1] < start):
                start -= 1
            while j < len(tokens) and (tokens[j].pos.startswith(_PERSON)
                                       or (not tokens[j].known and tokens[j].pos.startswith("名詞"))):
                j += 1
            spans.append((start, j))
            i = j
            continue
        if tokens[i].surface in HONORIFICS and i > 0 and tokens[i].pos.startswith("接尾辞"):
            run = _noun_run_before(tokens, i)
            if run and _looks_like_name(tokens[run[0]:run[1]]):
                if spans and spans[-1][1] > run[0]:
                    spans[-1] = (min(spans[-1][0], run[0]), max(spans[-1][1], run[1]))
                else:
                    spans.append(run)
        i += 1
    return spans


_KATAKANA = re.compile(r"[ァ-ヶー]+")


def _katakana_compound(tokens: list[Token], i: int) -> bool:
    """ダン+ボール: a katakana given name glued to a katakana noun is a word (段ボール), not a name."""
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    return bool(nxt and _KATAKANA.fullmatch(tokens[i].surface) and nxt.pos.startswith("名詞-普通名詞")
                and _KATAKANA.fullmatch(nxt.surface) and nxt.start == tokens[i].start + len(tokens[i].surface))


def _noun_run_before(tokens: list[Token], honorific: int) -> tuple[int, int] | None:
    j = honorific
    while j > 0 and tokens[j - 1].pos.startswith(("名詞", "記号-一般")) and tokens[j - 1].surface not in (MASK_OPEN, MASK_CLOSE):
        if tokens[j - 1].pos == "名詞-マスク":
            break
        j -= 1
        if honorific - j >= 4:
            break
    return (j, honorific) if j < honorific else None


def _looks_like_name(run: list[Token]) -> bool:
    """A noun run before 様/さん is a name when it ends in a proper or unknown word.

    山田様, ちゃむ様 (unknown, split into symbols) are names; 配達員さん (a role), 佐川急便さん and
    ヤマト運輸さん (end in a common noun or an organisation) are not.
    """
    last = run[-1]
    if last.surface in _ROLE_NOUNS or last.lemma in _ROLE_NOUNS:
        return False
    if any(t.pos.startswith(("名詞-固有名詞-組織名", "名詞-固有名詞-地名")) for t in run):
        return False
    return (not last.known) or last.pos.startswith((_PERSON, "名詞-固有名詞-一般", "記号"))


def mask_text(text: str) -> MaskedText:
    """Full masking of one raw string in Python: normalize, regexes, tokenize once, names."""
    regex_masked = mask_regex(normalize(text))
    return mask_names(regex_masked, tokenize(for_tokenizer(regex_masked)))


def doc_from_text(case_id: str, text: str) -> CaseDoc:
    """A CaseDoc straight from raw text (tests, rule previews): the same steps as a load."""
    masked = mask_text(text)
    terms = tuple(Term(i, t.surface, t.lemma, t.pos, t.negated) for i, t in enumerate(masked.tokens) if t.content)
    return CaseDoc(case_id, masked.text, terms)


__all__ = ["PATTERNS", "mask_sql_macro", "mask_regex", "mask_names", "mask_text", "doc_from_text", "MASK_OPEN", "MASK_CLOSE"]
