"""Japanese text: normalization and tokenization (fugashi + unidic-lite), decided once and tested once.

unidic-lite is UniDic 2.1.2. Tests that pin tokens name that version next to their expectations.
"""
from __future__ import annotations

import ctypes
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, NamedTuple

import fugashi
import pyarrow as pa
import pyarrow.compute as pc
import unidic_lite

from pipelines.nlp.vocabulary import FORMAL_NOUN_LEMMAS

# Hyphen and dash look-alikes NFKC leaves alone; between digits or Latin letters they mean '-'.
HYPHENS = "‐‑‒–—―−ー－﹣ｰ"
# RE2-compatible patterns (no look-behind) so that Arrow's regex kernels and Python's re agree.
_HYPHEN_BETWEEN = (rf"([0-9A-Za-z])[{HYPHENS}]([0-9A-Za-z])", r"\1-\2")
_DASH_RUN = (r"[‐‑‒–—―−]", "-")  # never a long-vowel mark, so always a plain hyphen
_WAVE = (r"[~〜～∼]", "〜")
_REPEAT_RUN = re.compile(r"([!?])[!?]+|([ー〜…・])\2+")
# Two emphasis characters in a row: a prefilter that scans several times faster than _REPEAT_RUN.
_REPEAT_HINT = re.compile(r"[!?ー〜…・]{2}")

MASK_OPEN, MASK_CLOSE = "〔", "〕"
_GLOSS = re.compile(r"-[A-Za-z].*$")

# POS prefixes never stored as terms: particles, auxiliaries, punctuation, whitespace.
_FUNCTION_POS = ("助詞", "助動詞", "補助記号", "空白")
_LIGHT_LEMMAS = {"為る", "居る", "有る", "在る", "成る", "来る", "行く", "下さる", "頂く", "貰う", "呉れる", "仕舞う",
                 "置く", "見る", "頂ける", "無い", "良い", "易い", "難い", "欲しい"}
# Negators: ない (助動詞 and 形容詞 無い), ず / ん / ぬ (all lemma ず or ぬ).
_NEGATOR_LEMMAS = {"ない", "無い", "ず", "ぬ"}
# Tokens that may sit between a predicate and its negator without ending the chunk.
_PASS_LEMMAS = {"は", "も", "が", "て", "で", "ます", "れる", "られる", "せる", "させる", "たい",
                "わけ", "訳", "こと", "の", "だ", "です", "じゃ", "ば", "や", "く"}


def normalize(text: str) -> str:
    """NFKC plus what NFKC misses: hyphen variants between digits/letters → '-', waves → '〜'.

    >>> normalize("ＴＥＬ０９０ー１２３４ー５６７８～")
    'TEL090-1234-5678〜'
    """
    return normalize_many([text])[0] if text else ""


def normalize_many(texts) -> list[str]:
    """normalize() over many texts (a list or an Arrow array), as a list."""
    return normalize_arrow(pa.array(texts, type=pa.string())).to_pylist()


def normalize_arrow(array: "pa.Array") -> "pa.Array":
    """The one implementation of normalize(): Arrow's C++ kernels (utf8proc NFKC, RE2), which are
    some 15× faster than unicodedata on Japanese text. NULLs stay NULL."""
    out = pc.utf8_normalize(array, form="NFKC")
    pattern, replacement = _HYPHEN_BETWEEN
    # Twice, because neighbouring matches overlap: 090ー1ーー2 → both hyphens between digits.
    out = pc.replace_substring_regex(out, pattern=pattern, replacement=replacement)
    out = pc.replace_substring_regex(out, pattern=pattern, replacement=replacement)
    for pattern, replacement in (_DASH_RUN, _WAVE):
        out = pc.replace_substring_regex(out, pattern=pattern, replacement=replacement)
    return out


def intensity_signals(text: str) -> dict[str, int]:
    """Counts of emphasis runs (！！, ？！, ーー) in normalized text, before they are collapsed."""
    return {
        "exclaim_runs": len(re.findall(r"[!?]{2,}", text)),
        "exclaims": text.count("!"),
        "long_runs": len(re.findall(r"[ー〜]{2,}", text)),
    }


def for_tokenizer(text: str) -> str:
    """Blank out emphasis repeats and line breaks without changing the length.

    Token offsets then point into the stored text itself, so name masks land on the right
    characters while 「！！」 and line breaks stay in the verbatim.
    """
    if _REPEAT_HINT.search(text):
        text = _REPEAT_RUN.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 1), text)
    # Four replace() calls: str.translate() looks every character of a non-ASCII string up in a dict.
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ").replace("\u3000", " ")


class Token(NamedTuple):
    """One token of a text. A NamedTuple: millions are made per load, and a frozen dataclass
    costs several times more to build."""

    surface: str
    pos: str          # levels joined by '-', e.g. 名詞-普通名詞-一般
    lemma: str        # 語彙素 without English gloss; orthBase for proper nouns; surface when unknown
    known: bool
    content: bool     # stored as a term: not a particle, auxiliary or punctuation, nor a light verb (する, いる)
    start: int        # character offset in the tokenized text
    negated: bool = False


_RC = """node-format-kk = %m\\t%F-[0,1,2,3]\\t%f[7]\\t%f[10]\\n
unk-format-kk = %m\\t%F-[0,1,2,3]\\t\\t\\n
eos-format-kk =
bos-format-kk =
"""


@lru_cache(maxsize=1)
def tagger():
    """One fugashi Tagger per process, with a tab-separated output format read by split()."""

    rc = Path(tempfile.gettempdir()) / "kakehashi-mecabrc"
    if not rc.exists() or rc.read_text(encoding="utf-8") != _RC:
        rc.write_text(_RC, encoding="utf-8")
    return fugashi.GenericTagger(f'-r "{rc}" -d "{unidic_lite.DICDIR}" -O kk')


def release_dictionary_pages() -> None:
    """Give back this process's resident pages of the dictionary files (Linux; elsewhere nothing).

    Compiling the rules tokenizes their words, which touches ~100 MB of the memory-mapped dictionary
    scattered over its files. A parent that forks workers and tokenizes nothing more has no use for
    them, yet they would count in its RSS for the whole load. The files are mapped read-only, so
    MADV_DONTNEED loses nothing: a later read faults the page back in from the page cache.
    """

    if not sys.platform.startswith("linux"):
        return
    try:
        maps = Path("/proc/self/maps").read_text()
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    dontneed = 4  # MADV_DONTNEED
    dicdir = os.path.realpath(unidic_lite.DICDIR)   # the maps list real paths (a venv may be a symlink)
    for line in maps.splitlines():
        if dicdir in line:
            low, high = (int(bound, 16) for bound in line.split()[0].split("-"))
            madvise(low, high - low, dontneed)


def dictionary_version() -> str:

    return (Path(unidic_lite.DICDIR) / "version").read_text(encoding="utf-8").strip()


def tokenize(text: str) -> list[Token]:
    """Tokens of one normalized text (call for_tokenizer() first), with negation marked."""
    return next(tokenize_stream([text]))


def tokenize_stream(texts: list[str]) -> Iterator[list[Token]]:
    """tokenize() over many texts, one token list at a time. MeCab parses them all before Python
    reads its output, so each stays hot in the CPU's caches (some 15% faster); each token list is
    made only when asked for, so a caller that keeps only the terms never holds a chunk's tokens."""
    parse = tagger().parse
    outputs = [(parse(text) if len(text) <= MECAB_PIECE else _parse_in_pieces(parse, text)) if text else ""
               for text in texts]
    return map(_read_tokens, texts, outputs)


# MeCab dies (SIGSEGV, taking the process with it) on one text of some 500,000 characters. A longer
# text is parsed in pieces cut after a line break or 。; _read_tokens finds each token by its offset
# in the whole text, so the pieces' outputs simply join.
MECAB_PIECE = 100_000


def _parse_in_pieces(parse, text: str) -> str:
    outputs, start = [], 0
    while start < len(text):
        end = min(start + MECAB_PIECE, len(text))
        if end < len(text):
            cut = max(text.rfind("\n", start, end), text.rfind("。", start, end))
            end = cut + 1 if cut > start else end
        outputs.append(parse(text[start:end]))
        start = end
    return "\n".join(outputs)


def _read_tokens(text: str, output: str) -> list[Token]:
    """The tokens of `text` from MeCab's output for it (see _RC), masks merged, negation marked."""
    tokens: list[Token] = []
    kinds: list[tuple[bool, bool, int]] = []
    cursor = 0
    find = text.find
    lines = _LINES
    new = tuple.__new__  # Token(...) without the NamedTuple's Python-level __new__, which costs as much again
    for line in output.split("\n"):
        if not line:
            continue
        head, kind = lines.get(line) or _read_line(line)
        surface = head[0]
        found = find(surface, cursor)
        start = found if found >= 0 else cursor
        cursor = start + len(surface)
        tokens.append(new(Token, (*head, start, False)))
        kinds.append(kind)
    if MASK_OPEN in text:
        merged = _merge_masks(tokens)
        if merged is not tokens:
            tokens, kinds = merged, [_kinds(t.pos, t.lemma) for t in merged]
    return _mark_negation(tokens, kinds)


# A MeCab output line → (surface, pos, lemma, known, content) and its _kinds(), read once per distinct line:
# a corpus reuses a few tens of thousands of lines, and reading them was most of tokenize()'s time.
_LINES: dict[str, tuple[tuple[str, str, str, bool, bool], tuple[bool, bool, int]]] = {}
_LINES_MAX = 100_000  # ~30 MB


def _read_line(line: str) -> tuple[tuple[str, str, str, bool, bool], tuple[bool, bool, int]]:
    fields = line.split("\t")
    if len(fields) < 4:  # fugashi strips the trailing tabs of the last line
        fields += [""] * (4 - len(fields))
    surface, pos, lemma, orth_base = fields
    known = bool(lemma) and lemma != "*"
    if not known:
        lemma = surface
    elif pos.startswith("名詞-固有名詞"):
        lemma = orth_base or surface
    elif "-" in lemma:
        lemma = _GLOSS.sub("", lemma)
    kinds = _kinds(pos, lemma)
    if len(_LINES) >= _LINES_MAX:  # unknown words (names, codes) are endless; keep memory bounded
        _LINES.clear()
    entry = _LINES[line] = ((surface, pos, lemma, known, kinds[0]), kinds)
    return entry


def _merge_masks(tokens: list[Token]) -> list[Token]:
    """〔電話番号〕 and other mask tokens become one token each."""
    if not any(t.surface == MASK_OPEN for t in tokens):
        return tokens
    merged: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.surface == MASK_OPEN:
            j = i + 1
            while j < len(tokens) and tokens[j].surface != MASK_CLOSE and j - i < 8:
                j += 1
            if j < len(tokens) and tokens[j].surface == MASK_CLOSE:
                surface = "".join(t.surface for t in tokens[i:j + 1])
                merged.append(Token(surface, "名詞-マスク", surface, True, True, tok.start))
                i = j + 1
                continue
        merged.append(tok)
        i += 1
    return merged


_PASS, _NEGATOR, _STOP = 1, 2, 0
_PASS_POS = ("助動詞", "動詞-非自立可能", "形容詞-非自立可能", "接尾辞", "助詞-接続助詞")


@lru_cache(maxsize=65536)
def _kinds(pos: str, lemma: str) -> tuple[bool, bool, int]:
    """(stored as a term, can be negated, role after a predicate), decided once per (POS, lemma)."""
    content = not pos.startswith(_FUNCTION_POS) and not (
        pos.startswith(("動詞-非自立可能", "形容詞-非自立可能")) and lemma in _LIGHT_LEMMAS)
    negator = lemma in _NEGATOR_LEMMAS and pos.startswith(("助動詞", "形容詞"))
    if negator:
        return content, False, _NEGATOR
    # できない / できません: the ability itself is what is negated.
    predicate = lemma not in FORMAL_NOUN_LEMMAS and (lemma == "出来る" or pos.startswith(
        ("動詞-一般", "形容詞-一般", "形状詞", "名詞-普通名詞", "名詞-固有名詞")))
    if pos.startswith("助詞-接続助詞"):
        role = _PASS if lemma in {"て", "ば", "で"} else _STOP
    elif lemma in _PASS_LEMMAS or pos.startswith(_PASS_POS):
        role = _PASS
    else:
        role = _STOP
    return content, predicate, role


def _mark_negation(tokens: list[Token], kinds: list[tuple[bool, bool, int]]) -> list[Token]:
    """A predicate is negated when an odd number of negators follow it inside its chunk (`kinds`
    holds _kinds() of each token).

    届かない → 届く negated; 届かないわけではない → not negated (double negation);
    問題はない → 問題 negated; 折り返しがない → 折り返し negated (absent).
    """
    if not any(k[2] == _NEGATOR for k in kinds):
        return tokens
    out = tokens
    for i, (_content, predicate, _role) in enumerate(kinds):
        if not predicate:
            continue
        negators = 0
        for _c, _p, role in kinds[i + 1:i + 12]:
            if role == _NEGATOR:
                negators += 1
            elif role == _STOP:
                break
        if negators % 2 == 1:
            if out is tokens:
                out = list(tokens)
            # A negated noun negates its whole run: ログ+イン+できない → both parts.
            noun = tokens[i].pos.startswith("名詞")
            k = i
            while k >= 0 and (k == i or (noun and tokens[k].pos.startswith(("名詞", "接頭辞")))):
                out[k] = out[k]._replace(negated=True)
                k -= 1
    return out


class Term(NamedTuple):
    """One stored term of a case (a row of case_terms). A NamedTuple, like Token: every analysis
    builds one per stored term of each case, and a frozen dataclass costs several times more."""

    idx: int
    surface: str
    lemma: str
    pos: str
    negated: bool


@dataclass(frozen=True, slots=True)
class CaseDoc:
    """What the analysis sees of one case: its masked, normalized text and its stored terms
    (content words only, in order; idx is the token position, so gaps are function words)."""

    case_id: str
    text: str
    terms: tuple[Term, ...]
