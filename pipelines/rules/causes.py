"""Recurring causes: cause expressions in a case text, mapped to canonical causes by an editable dictionary.

Three kinds of evidence, strongest first:
  clue   — a causal clue names the cause: 「キャップの締めが甘かったため」「システム障害により」
  pair   — a noun and a failure predicate a few words apart, by lemma: 箱 × 潰れる, 電話 × 繋がらない
  phrase — a fixed phrase in the text: 二重請求, 異物, 期限切れ

Pairs read the stored terms, so 表記ゆれ is merged (つぶれる/潰れる/ツブれる share one lemma). Phrases
and clues read the normalized text, because UniDic 2.1.2 (unidic-lite) splits short fixed words
(不具合 → 不 + 具合). The dictionary is data/rules/causes.txt; its header documents the format.

    >>> from pipelines.nlp.pii import doc_from_text
    >>> rules = load_cause_rules()
    >>> [h.cause for h in rules.extract(doc_from_text("C-1", "キャップが緩くて液漏れしていました"))]
    ['キャップ不良']
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from pipelines.nlp.pii import doc_from_text
from pipelines.nlp.text import CaseDoc, Term, for_tokenizer, normalize, tokenize
from pipelines.rules.rulesfile import (
    NEGATORS,
    PhraseTable,
    Rechecked,
    RulesFileError,  # noqa: F401 - re-exported: callers catch causes.RulesFileError
    check_phrase,
    load_while_unchanged,
    read_rules_file,
    rule_error,
    rules_text_hash,
    term_offsets,
)
from pipelines.store.settings import RULES_DIR

DEFAULT_CAUSES_FILE = RULES_DIR / "causes.txt"
# Bump when the matching code changes what a dictionary yields, so stored tags are re-made.
MATCHER_VERSION = "causes-1"

FORWARD_WINDOW = 8   # noun … predicate: at most this many token positions apart (光回線が夜になると…切れる)
BACKWARD_WINDOW = 3  # predicate … noun: 潰れた箱, 違う商品
CLUE_REACH = 24      # characters a clue looks back for its cause (to the last 、。!?)
EVIDENCE_PER_CAUSE = 3

# Evidence strength: a clue-named cause beats everything; a symptom yields to any cause in its sentence.
TIER_CLUE, TIER_CAUSE, TIER_SYMPTOM_PAIR, TIER_SYMPTOM_PHRASE = 3, 2, 1, 0


class CauseHit(NamedTuple):
    """One canonical cause found in a case, with the words that show it (a NamedTuple: cheap to make
    a million of, immutable, and .cause/.evidence/.kind read like a dataclass)."""

    cause: str
    evidence: tuple[str, ...]
    kind: str  # 'clue' | 'pair' | 'phrase'


# ---------------------------------------------------------------- rule words → lemma keys

# Predicates whose negation UniDic puts on the noun before them (解約できない → 解約 negated).
_CARRIERS = {"為る", "出来る", "来る", "有る", "在る", "無い", "居る", "成る", "無し"}
_BLURRING = {"難い", "易い", "辛い", "過ぎる"}  # 分かりにくい and 分かりやすい share a lemma: use a phrase


@dataclass(frozen=True, slots=True)
class RuleWord:
    key: str        # joined lemma, e.g. 二重, 賞味期限, 繋がる
    negated: bool   # written in a negative form: 繋がらない, 届いていない
    carrier: bool   # the word is only a negated carrier (ない, できない, 来ない): the noun itself is negated
    parts: tuple[str, ...] = ()  # the lemmas the key is made of: 賞味期限 → 賞味, 期限


def compile_word(word: str, path: Path, line: int) -> RuleWord:
    """A dictionary word → lemma key, from the same tokenizer the cases went through."""
    tokens = tokenize(for_tokenizer(normalize(word)))
    negated = any(t.lemma in NEGATORS and t.pos.startswith(("助動詞", "形容詞")) for t in tokens)
    if any(t.lemma in _BLURRING for t in tokens[1:]):  # 分かり+にくい; 過ぎる alone is a verb
        raise rule_error(path, line, f"「{word}」は語の組では「〜にくい/〜やすい/〜すぎる」を区別できません。",
                         f"'{word}': pairs match lemmas, which drop 〜にくい/〜やすい/〜すぎる.",
                         "「語句:」の行に書いてください（本文そのままで照合します）。", "")
    terms = tuple(Term(i, t.surface, t.lemma, t.pos, t.negated) for i, t in enumerate(tokens)
                  if t.content and t.lemma not in _CARRIERS)
    if not terms:
        if not negated:
            raise rule_error(path, line, f"「{word}」には内容語がありません。", f"'{word}' has no content word.",
                             "名詞や動詞を書いてください（例: 潰れる, 繋がらない）。", "")
        return RuleWord("", True, True)
    units = _units(terms)
    if len(units) != 1:
        shown = " / ".join(terms[u[4]].surface + ("…" if u[5] > u[4] else "") for u in units)
        raise rule_error(path, line, f"「{word}」は1語として扱えません（{shown}）。",
                         f"'{word}' is more than one word for the tokenizer ({shown}).",
                         "組の両側は1語ずつにしてください。言い回しは「語句:」の行へ。", "")
    return RuleWord(max(units[0][2], key=len), negated, False, tuple(t.lemma for t in terms))


# ---------------------------------------------------------------- the dictionary

@dataclass(frozen=True, slots=True)
class PairRule:
    cause: str
    noun: str
    preds: frozenset[str]  # empty: the noun itself negated (返金されない, 解約できない)
    negated: bool
    tier: int


@dataclass(eq=False)
class CauseRules:
    """A compiled cause dictionary. Build with load_cause_rules()."""

    path: Path
    causes: tuple[str, ...]
    aliases: dict[str, str]
    phrases: PhraseTable
    clue_words: PhraseTable
    noun_index: dict[str, list[PairRule]]
    known: frozenset[str]  # every lemma key a pair can use, and 出来る (a negation carrier)
    parts: frozenset[str]  # one lemma each key cannot appear without (賞味期限 → 賞味, お客様センター → センター)
    text_hash: str
    _labels: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"CauseRules({str(self.path)!r}, {len(self.causes)} causes, hash={self.text_hash})"

    def hash(self) -> str:
        """Changes with the dictionary text, the matcher version and the UniDic version (stored tags go stale)."""
        return self.text_hash

    def extract(self, doc: CaseDoc) -> list[CauseHit]:
        """Canonical causes of one case, in order of first evidence; one hit per cause."""
        hits = self._hits(doc)
        return _merge(doc.text, hits) if hits else []

    def unmapped(self, doc: CaseDoc) -> list[str]:
        """Cause expressions a causal clue names that the dictionary does not know: candidates to add."""
        found: list[str] = []
        _apply_clues(self, doc.text, self._hits(doc, clues=False), found)
        return found

    def canonical(self, label: str) -> str:
        """A desk's free-form cause label → canonical cause, else the label cleaned."""
        cached = self._labels.get(label)
        if cached is None:
            cached = self._labels[label] = _canonical(self, label)
            if len(self._labels) > 50000:
                self._labels.clear()
        return cached

    def _hits(self, doc: CaseDoc, clues: bool = True) -> list[list]:
        """Raw hits as [start, end, cause, tier, kind], offsets into doc.text."""
        text = doc.text
        hits: list[list] = []
        for start, end, value in self.phrases.find_all(text):
            if not _ABSENT.match(text, end):  # 「エラーは特に出ていません」「異物は入っていなかった」
                hits.append([start, end, value[0], value[1], "phrase"])
        terms = doc.terms
        parts = self.parts
        anchors = [i for i, t in enumerate(terms) if t.lemma in parts]
        # A pair needs two dictionary words (キャップ不良 is two, 二重請求 three) or a negated one (返金されない).
        if len(anchors) > 1 or anchors and terms[anchors[0]].negated:
            units = _units(terms, self.known, anchors)
            pairs = _pair_hits(units, self.noun_index)
            if pairs:
                hits += _locate_pairs(doc, units, pairs)
        if clues and _CLUE_HINT.search(text):
            _apply_clues(self, text, hits, None)
        if len(hits) > 1:
            hits = _drop_explained_symptoms(text, hits)
        return hits


# ---------------------------------------------------------------- causal clues

# A phrase whose occurrence is denied right after it: topic/も/が, an adverb, a verb of being there, a negation.
_ABSENT = re.compile(r"(?:など|なんか|とか)?(?:は|も|が)(?:特に|全く|まったく|一切|何も|なにも|どこにも)?"
                     r"(?:入って|混入して|出て|発生して|起きて|見つかって|見当たら|見られ|あり|ござい|確認されて|確認でき)"
                     r"(?:い|おり)?(?:ませ|な[いかく])")
_CLUE_HINT = re.compile(r"原因|起因|ため|によ|せい|影響|のは")
_CLUE = re.compile(r"が原因(?=[でだとのかじにな])|に起因|のせい(?=[でだかにじ])|せいか|の影響(?=[でにをがだ])"
                   r"|によって|により|による|ため(?:に|で)?")
# Nouns that name a failure or a circumstance: 「不具合のため」 is a cause, 「確認のため」 a purpose.
_CAUSAL_TAIL = re.compile(
    r"(不良|不具合|破損|故障|障害|遅延|遅れ|ミス|誤り|間違い|不足|切れ|混入|漏れ|トラブル|エラー|不備|欠陥|劣化|事故|混雑"
    r"|集中|殺到|都合|事情|不在|停電|メンテナンス|点検|渋滞|欠品|品切れ|変更|増加|不注意|手違い)$")
# Past, ている, negative or adjective forms before ため: 「遅れたため」「切れていたため」「緩いため」.
_VERB_FORM = re.compile(r"(?:た|ていた|ている|てる|てた|なかった|ない|だった|かった|い)$")
_EFFECT_FIRST = re.compile(r"のは、?([^。!?\n]{2,30}?)(?:から(?:だ|です|では|でしょう|かと|と思)|ため(?:だ|です|と思|では)"
                           r"|せい(?:だ|です|では|かと|と思)|が原因)")
_CAUSE_IS = re.compile(r"原因は、?([^。!?\n]{2,30}?)(?:だ|です|でした|と思|とのこと|らしい|のよう|みたい|[。!?\n]|$)")
_CAUSE_IS_HEAD = re.compile(r"^原因は、?")
_CLUE_STOP = "、。!?\n「」『』()"
_NOT_A_CAUSE = {"不明", "分からない", "わからない", "調査中", "確認中", "何", "それ", "これ", "そ", "こ"}
_SENTENCE_END = re.compile(r"[。!?\n]+")


def _clue_spans(text: str) -> list[tuple[int, int, int, bool]]:
    """(cause start, clue end, cause end, needs a failure noun) for every causal clue in the text."""
    spans: list[tuple[int, int, int, bool]] = []
    for m in _CLUE.finditer(text):
        clue = m.group()
        lo = max(0, m.start() - CLUE_REACH)
        start = max(max(text.rfind(ch, lo, m.start()) for ch in _CLUE_STOP) + 1, lo)
        cause = text[start:m.start()]
        needs_noun = False
        if clue.startswith("ため"):
            if cause.endswith("の"):
                needs_noun = True  # 確認のため・念のため are purposes; 不具合のため is a cause
            elif not _VERB_FORM.search(cause):
                continue  # 確認するため: a purpose
        elif clue.startswith("によ"):
            needs_noun = True  # 人によって, 担当者によって: 'depending on' or an agent
        if len(cause.strip()) >= 2:
            spans.append((start, m.end(), m.start(), needs_noun))
    if "のは" in text:
        spans += [(m.start(1), m.end(), m.end(1), False) for m in _EFFECT_FIRST.finditer(text)]
    if "原因は" in text:
        spans += [(m.start(), m.end(1), m.end(1), False) for m in _CAUSE_IS.finditer(text)]
    return spans


def _is_failure_noun(text: str, start: int, end: int, hits: list[list]) -> bool:
    noun = text[start:end].removesuffix("の")
    if noun.endswith("こと"):
        return bool(_VERB_FORM.search(noun[:-2]))  # 「誤って出荷したことにより」
    return bool(_CAUSAL_TAIL.search(noun)) or any(h[1] >= start + len(noun) - 1 and h[0] >= start for h in hits)


def _apply_clues(rules: CauseRules, text: str, hits: list[list], unmapped: list[str] | None) -> None:
    """Hits inside a clue's cause span become clue hits; a span nothing explains is an unmapped expression."""
    for start, end, span_end, needs_noun in _clue_spans(text):
        inside = [h for h in hits if h[0] >= start and h[1] <= span_end]
        words = []
        for a, b, cause in rules.clue_words.find_all(text, start, span_end):
            words.append([a, b, cause, TIER_CLUE, "clue"])
        if needs_noun and not _is_failure_noun(text, start, span_end, inside + words):
            continue
        inside += words
        hits += words
        if inside:
            for hit in inside:
                hit[0], hit[1], hit[3], hit[4] = start, end, TIER_CLUE, "clue"
        elif unmapped is not None:
            expression = _CAUSE_IS_HEAD.sub("", text[start:span_end].strip()).removesuffix("の")
            if expression and expression not in _NOT_A_CAUSE and expression not in unmapped:
                unmapped.append(expression)


# ---------------------------------------------------------------- pairs over terms

_POS_KIND: dict[str, int] = {}  # POS string → 0 other, 1 noun, 2 prefix, 3 suffix (a few dozen distinct POS)


def _pos_kind(pos: str) -> int:
    kind = _POS_KIND.get(pos)
    if kind is None:
        kind = _POS_KIND[pos] = (1 if pos.startswith("名詞") else 2 if pos.startswith("接頭辞")
                                 else 3 if pos.startswith("接尾辞") else 0)
    return kind


def _joinable(left: Term, right: Term) -> bool:
    """二+重, 不+具合 (noun runs, prefixes) and 詰め+方, 高圧+的 (a suffix on anything) form one unit."""
    if right.idx != left.idx + 1:
        return False
    kind = _POS_KIND.get(left.pos)
    if kind is None:
        kind = _pos_kind(left.pos)
    next_kind = _POS_KIND.get(right.pos)
    if next_kind is None:
        next_kind = _pos_kind(right.pos)
    return next_kind == 3 or kind == 2 or (kind != 0 and next_kind != 0)


def _auxiliary(left: Term, right: Term) -> bool:
    return right.idx == left.idx + 1 and left.pos.startswith(("形容詞", "動詞", "形状詞"))


_JOINS: dict[tuple[tuple[str, ...], frozenset[str] | None], tuple[str, ...]] = {}  # runs recur: 注文番号, 定期便


def _run_keys(lemmas: tuple[str, ...], known: frozenset[str] | None) -> tuple[str, ...]:
    cache_key = (lemmas, known)
    keys = _JOINS.get(cache_key)
    if keys is None:
        size = len(lemmas)
        joins = {"".join(lemmas[x:y]) for x in range(size) for y in range(x + 1, size + 1)}
        keys = tuple(sorted(joins if known is None else joins & known))
        if len(_JOINS) > 100_000:
            _JOINS.clear()
        _JOINS[cache_key] = keys
    return keys


def _units(terms: tuple[Term, ...], known: frozenset[str] | None = None,
           anchors: list[int] | None = None) -> list[tuple]:
    """Noun runs joined into one unit (UniDic 2.1.2 splits 二重 → 二 + 重, 不具合 → 不 + 具合).

    A unit is (first idx, last idx, keys, negated, first term, last term); keys are the lemma joins of
    the contiguous runs of its terms, so 賞味期限 answers to 期限 and to 賞味期限. With `known` (the
    dictionary's words) and `anchors` (the terms holding a lemma one of them needs), only units the
    dictionary can use are built: token positions, not list positions, measure distances, so the
    gaps cost nothing.
    """
    n = len(terms)
    starts = range(n) if anchors is None else anchors
    units: list[tuple] = []
    done = -1
    for i in starts:
        if i <= done:
            continue
        term = terms[i]
        if (i + 1 == n or terms[i + 1].idx != term.idx + 1) and (i <= done + 1 or terms[i - 1].idx != term.idx - 1):
            done = i  # fast path: particles on both sides, the usual case
            if known is None or term.lemma in known:
                units.append((term.idx, term.idx, (term.lemma,), term.negated, i, i))
            continue
        if term.lemma in _BLURRING and i and _auxiliary(terms[i - 1], term):
            done = i  # 近+すぎる: 過ぎる here says "too", not "past" (期限を過ぎる)
            continue
        a = b = i
        if anchors is not None:
            while a > done + 1 and _joinable(terms[a - 1], terms[a]):
                a -= 1
        while b + 1 < n and _joinable(terms[b], terms[b + 1]):
            b += 1
        done = b
        if a == b:
            if known is None or term.lemma in known:
                units.append((term.idx, term.idx, (term.lemma,), term.negated, i, i))
            continue
        keys = _run_keys(tuple(t.lemma for t in terms[a:b + 1]), known)
        if keys:
            units.append((terms[a].idx, terms[b].idx, keys, terms[b].negated, a, b))
    return units


def _pair_hits(units: list[tuple], noun_index: dict[str, list[PairRule]]) -> list[tuple[PairRule, int, int]]:
    """(rule, noun unit, predicate unit) for every dictionary pair found."""
    found: list[tuple[PairRule, int, int]] = []
    if len(units) < 2 and not any(len(u[2]) > 1 or u[3] for u in units):
        return found  # a pair needs two units, a compound (キャップ不良) or a negated noun (返金されない)
    present = {key for unit in units for key in unit[2]}
    negation = any(unit[3] for unit in units)
    for ui, unit in enumerate(units):
        for key in unit[2]:
            rules = noun_index.get(key)
            if not rules:
                continue
            for rule in rules:
                # most rules fail here, before the window is walked
                if rule.preds.isdisjoint(present) if rule.preds else not negation:
                    continue
                match = _match_pred(rule, key, units, ui)
                if match is not None:
                    found.append((rule, ui, match))
    return found


def _match_pred(rule: PairRule, key: str, units: list[tuple], ui: int) -> int | None:
    first, last, keys, negated = units[ui][:4]
    count = len(units)
    if not rule.preds:  # 返金されない, 解約できない: the noun is negated, or 出来る after it is
        if negated:
            return ui
        j = ui + 1
        while j < count and units[j][0] - last <= FORWARD_WINDOW:
            if units[j][3] and "出来る" in units[j][2]:
                return j
            j += 1
        return None
    preds = rule.preds
    if len(keys) > 1 and negated == rule.negated:  # 二重請求, キャップ不良: both inside one compound
        for k in keys:
            if k in preds and k not in key and key not in k:
                return ui
    j = ui + 1
    while j < count and units[j][0] - last <= FORWARD_WINDOW:
        if units[j][3] == rule.negated and not preds.isdisjoint(units[j][2]):
            return j
        j += 1
    j = ui - 1
    while j >= 0 and first - units[j][1] <= BACKWARD_WINDOW:
        if units[j][3] == rule.negated and not preds.isdisjoint(units[j][2]):
            return j
        j -= 1
    return None


_NEG_TAIL = re.compile(r"[ぁ-ん]{0,8}?(?:ない|なかった|ません|ず)")


def _locate_pairs(doc: CaseDoc, units: list[tuple], pairs: list[tuple[PairRule, int, int]]) -> list[list]:
    """Pairs as text spans; a pair that straddles a sentence end is dropped (箱は無事。潰れていたのは…)."""
    text = doc.text
    offsets = term_offsets(doc, max(units[max(ui, pj)][5] for _, ui, pj in pairs))
    out: list[list] = []
    for rule, ui, pj in pairs:
        a, b = (ui, pj) if ui <= pj else (pj, ui)
        start = offsets[units[a][4]]
        end = offsets[units[b][5]] + len(doc.terms[units[b][5]].surface)
        if _SENTENCE_END.search(text, start, end):
            continue
        if rule.negated:  # show 繋がらない, not 繋がら
            tail = _NEG_TAIL.match(text, end)
            if tail:
                end = tail.end()
        out.append([start, end, rule.cause, rule.tier, "pair"])
    return out


def _drop_explained_symptoms(text: str, hits: list[list]) -> list[list]:
    """A symptom (液漏れ, 届かない) yields its cause only when nothing stronger in its sentence explains it."""
    if all(h[3] >= TIER_CAUSE for h in hits):
        return hits
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    best: dict[int, dict[str, int]] = {}
    for h in hits:
        causes = best.setdefault(bisect_right(ends, h[0]), {})
        causes[h[2]] = max(causes.get(h[2], -1), h[3])
    return [h for h in hits
            if not any(tier > h[3] and cause != h[2] for cause, tier in best[bisect_right(ends, h[0])].items())]


_KIND_RANK = {"clue": 0, "pair": 1, "phrase": 2}


def _merge(text: str, hits: list[list]) -> list[CauseHit]:
    """One CauseHit per cause: its strongest kind, and its evidence as the text of overlapping spans joined."""
    if len(hits) == 1:
        start, end, cause, _, kind = hits[0]
        return [CauseHit(cause, (text[start:end],), kind)]
    hits.sort(key=lambda h: (h[0], -h[1]))
    kinds: dict[str, str] = {}
    spans: dict[str, list[list[int]]] = {}
    for start, end, cause, _, kind in hits:
        if cause not in kinds or _KIND_RANK[kind] < _KIND_RANK[kinds[cause]]:
            kinds[cause] = kind
        ranges = spans.setdefault(cause, [])
        if ranges and start <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([start, end])
    return [CauseHit(cause, tuple(text[a:b] for a, b in ranges[:EVIDENCE_PER_CAUSE]), kinds[cause])
            for cause, ranges in spans.items()]


# ---------------------------------------------------------------- loading

_KEYS = {"別名": "alias", "語句": "phrase", "組": "pair", "症状": "symptom", "原因語": "clue"}
_LABEL_TRIM = re.compile(r"^[\s【\[(「『]+|[\s】\])」』。.、:]+$")


def _split_pair(item: str) -> tuple[list[str], list[str]] | None:
    for sign in ("×", "*"):
        if sign in item:
            left, _, right = item.partition(sign)
            return ([w.strip() for w in left.split("|") if w.strip()],
                    [w.strip() for w in right.split("|") if w.strip()])
    return None


def _label_key(label: str) -> str:
    """How labels are compared: NFKC, no brackets, no spaces."""
    text = _LABEL_TRIM.sub("", unicodedata.normalize("NFKC", label or "").strip())
    return re.sub(r"\s+", "", text)


def load_cause_rules(path: str | Path | None = None) -> CauseRules:
    """Read and compile a cause dictionary (default data/rules/causes.txt); cached until the file changes."""
    return load_while_unchanged(path or DEFAULT_CAUSES_FILE, _load_cached)


@lru_cache(maxsize=8)
def _load_cached(path_str: str, mtime_ns: int, size: int) -> CauseRules:
    path = Path(path_str)
    causes: list[str] = []
    aliases: dict[str, str] = {}
    phrases, clue_words = PhraseTable(), PhraseTable()
    noun_index: dict[str, list[PairRule]] = {}
    parts: set[str] = set()
    for rl in read_rules_file(path):
        if not rl.section:
            raise rule_error(path, rl.line, "最初の規則の前に [原因名] の見出しがありません。",
                             "a rule comes before any [cause] heading.", "例: [キャップ不良]", "")
        cause = rl.section
        if cause not in causes:
            causes.append(cause)
            _add_alias(aliases, cause, cause, path, rl.line)
        kind = _KEYS.get(rl.key)
        if kind is None:
            raise rule_error(path, rl.line, f"「{rl.key}」は使えない項目名です。", f"unknown key '{rl.key}'.",
                             "使える項目: " + "・".join(_KEYS), "keys: " + ", ".join(_KEYS))
        for item in rl.items:
            pair = _split_pair(item)
            if kind == "alias":
                _add_alias(aliases, item, cause, path, rl.line)
            elif kind == "clue":
                check_phrase(item, path, rl.line)
                clue_words.add(item, cause)
            elif pair is not None and kind in ("pair", "symptom"):
                _add_pairs(noun_index, parts, cause, pair, TIER_CAUSE if kind == "pair" else TIER_SYMPTOM_PAIR,
                           path, rl.line)
            elif kind == "pair":
                raise rule_error(path, rl.line, f"「{item}」に × がありません。", f"'{item}' has no '×'.",
                                 "組は「名詞 × 述語」と書きます（例: 箱|段ボール × 潰れる|凹む）。", "")
            else:
                check_phrase(item, path, rl.line)
                phrases.add(item, (cause, TIER_CAUSE if kind == "phrase" else TIER_SYMPTOM_PHRASE))
    phrases.build()
    clue_words.build()
    text_hash = rules_text_hash(path, MATCHER_VERSION)
    known = {"出来る"} | set(noun_index)
    for rules in noun_index.values():
        for rule in rules:
            known |= rule.preds
    return CauseRules(path, tuple(causes), aliases, phrases, clue_words, noun_index, frozenset(known),
                      frozenset(parts | {"出来る"}), text_hash)


def _add_alias(aliases: dict[str, str], label: str, cause: str, path: Path, line: int) -> None:
    key = _label_key(label)
    if aliases.get(key, cause) != cause:
        raise rule_error(path, line, f"別名「{label}」が [{aliases[key]}] と [{cause}] の両方にあります。",
                         f"alias '{label}' is under both [{aliases[key]}] and [{cause}].", "どちらか一方に残してください。", "")
    aliases[key] = cause


def _anchor(parts: tuple[str, ...]) -> str:
    """The part a case must contain for a compound key to be there: the longest, which is the rarest
    in practice (お客様センター → センター, not 御 or 様)."""
    return max(reversed(parts), key=len)  # ties go to the head: お湯 → 湯


def _add_pairs(noun_index: dict[str, list[PairRule]], parts: set[str], cause: str, pair: tuple[list[str], list[str]],
               tier: int, path: Path, line: int) -> None:
    nouns, preds = pair
    if not nouns or not preds:
        raise rule_error(path, line, "組の片側が空です。", "one side of a pair is empty.", "例: 箱|段ボール × 潰れる", "")
    groups: dict[tuple[bool, bool], set[str]] = {}  # one PairRule per polarity
    for word in (compile_word(p, path, line) for p in preds):
        groups.setdefault((word.negated, word.carrier), set()).add(word.key)
        if word.parts:
            parts.add(_anchor(word.parts))
    for noun in nouns:
        noun_word = compile_word(noun, path, line)
        parts.add(_anchor(noun_word.parts))
        if noun_word.negated or noun_word.carrier:
            raise rule_error(path, line, f"組の左側「{noun}」は名詞にしてください。",
                             f"the left side '{noun}' must be a noun.", "", "")
        for (negated, carrier), keys in groups.items():
            rule = PairRule(cause, noun_word.key, frozenset() if carrier else frozenset(keys), negated, tier)
            noun_index.setdefault(noun_word.key, []).append(rule)


# ---------------------------------------------------------------- desk labels

def canonical_cause(label: str, rules: CauseRules | None = None) -> str:
    """A desk's own cause label → a canonical cause when it names one, else the label cleaned.

    >>> canonical_cause("キャップの締め不良")
    'キャップ不良'
    >>> canonical_cause(" 担当者の確認漏れ。")
    '担当者の確認漏れ'
    """
    return (rules or default_cause_rules()).canonical(label)


_DEFAULT = Rechecked(load_cause_rules)


def default_cause_rules() -> CauseRules:
    """The shipped dictionary, re-checked for edits at most once a second (a stat per case adds up)."""
    return _DEFAULT()


def _canonical(rules: CauseRules, label: str) -> str:
    key = _label_key(label)
    if not key:
        return ""
    if key in rules.aliases:
        return rules.aliases[key]
    hits = rules.extract(doc_from_text("label", key))
    if hits:
        return hits[0].cause
    return _LABEL_TRIM.sub("", unicodedata.normalize("NFKC", label).strip())
