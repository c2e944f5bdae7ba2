"""Emotion and severity of a case: a level 0..3 with its reasons in words, and customer-harassment types.

Levels
  0  calm — praise, a question, a factual report
  1  dissatisfied — a negative evaluation (残念, 困る, 〜たのに), a reminder, a puzzled 「どういうこと」
  2  angry or urgent — 至急, 最悪, 責任者を出せ, 二度と買わない, ！！ with a complaint
  3  severe — a legal or authority threat (弁護士, 消費生活センター), customer harassment as typed by the
     MHLW カスタマーハラスメント対策企業マニュアル, or anger on the 3rd+ contact within 30 days

Cues come from data/rules/severity.txt (its header documents the format). They are matched on the
normalized text, because UniDic 2.1.2 (unidic-lite) splits short fixed words (土下座 → 土 + 下座),
and, for one-word cues written in dictionary form, on the stored lemmas too (ひどい → ひどかった・酷く).
Negation and hedging are handled cheaply: 「二度と買わないなんてことはない」 cancels 二度と,
「弁護士に相談するほどではない」 lowers 弁護士, a cue in a thank-you sentence counts two levels less.

Beyond the cues (issue 14, item 4), so that the level ranks real dissatisfaction and anger:

- polarity: the ML-Ask emotion lexicon (pipelines.nlp.lexicon) on the stored terms — a negative hit
  (がっかり, 汚い, 困る) or a negated positive one (美味しくない, 嬉しくない) makes a case at least
  dissatisfied; severity.txt's own 否定的な評価 lines add the common evaluative words a desk sees;
- intensity: 全然・まったく・本当に… in a negative sentence, ！ after a complaint, several negative
  evaluations, a word repeated (遅い、遅い), an anger word of the lexicon: enough of them together
  (INTENSE_POINTS) make dissatisfaction anger (level 2), and each is named in the reasons;
- sarcasm, where it is cheap to see: 「結構なことで」, 「ご立派」, and 「さすが…ですね」 or (笑) in a
  text that complains elsewhere — one level above the complaint, at most 2.

    >>> from pipelines.nlp.pii import doc_from_text
    >>> score(doc_from_text("C-1", "至急返金してください")).level
    2
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from pipelines.nlp.lexicon import EmotionHit, Lexicon, load_lexicon
from pipelines.nlp.text import CaseDoc, for_tokenizer, normalize, tokenize
from pipelines.rules.rulesfile import (
    NEGATORS,
    PhraseTable,
    Rechecked,
    check_phrase,
    compile_alternation,
    load_while_unchanged,
    read_rules_file,
    rule_error,
    rules_text_hash,
    term_offsets,
)
from pipelines.store.definitions import REPEAT_WINDOW_DAYS
from pipelines.store.settings import RULES_DIR

DEFAULT_SEVERITY_FILE = RULES_DIR / "severity.txt"
MATCHER_VERSION = "severity-2"
MAX_REASONS = 8
INTENSE_POINTS = 3   # intensity points that make a dissatisfied case angry (level 1 → 2)


class Severity(NamedTuple):
    """Level 0..3, why (Japanese, for the UI) and the harassment types seen."""

    level: int
    reasons: tuple[str, ...] = ()
    harassment: tuple[str, ...] = ()


CALM = Severity(0)
EXCLUDED_LEVEL = 0  # a [除外] phrase sits in the cue table as a level-0 cue (pickles, unlike a bare sentinel)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """How repeat contacts and ！！ runs move the level (repeat contacts are counted in SQL, 30 days back)."""

    repeat_escalates: int = 2   # earlier contacts from which anger → 3 and dissatisfaction → 2 (3rd contact)
    repeat_alone: int = 4       # earlier contacts from which even a calm text is level 1 (5th contact)
    exclaim_alone: int = 3      # ！！ runs that make a text level 2 with no word cue
    repeat_window_days: int = REPEAT_WINDOW_DAYS


@dataclass(frozen=True, slots=True)
class Cue:
    label: str          # 責任者の要求
    level: int          # 1..3
    harassment: str     # '' or the MHLW type (脅迫, 土下座の要求, …)


_LIST_SECTIONS = {"打ち消し": "cancel", "除外": "exclude", "感謝": "thanks", "称賛": "praise"}
_LEVEL_SECTION = re.compile(r"^(.+?)\s*([123])$")
_HARASSMENT_SECTION = re.compile(r"^カスハラ\s*[:：]\s*(.+)$")
_SENTENCE_END = re.compile(r"[。!?\n]+")
_EXCLAIM_RUN = re.compile(r"[!?]{2,}")  # the same runs text.intensity_signals() counts
# Right after a cue: 最悪ではない, 不満はありません, ひどくない — but not the rhetorical 最悪じゃないですか.
_NEGATED_AFTER = re.compile(r"(?:く|じゃ|では|い)?(?:は|も)?(?:ない|なかった|ありません|ません|なく)")
_RHETORICAL = re.compile(r"(?:じゃ|では)ない(?:です|でしょう)?か")
# The customer as the one receiving the words (店員に「バカ」と言われた) or a passive (怒鳴られた).
_REPORTED = re.compile(r"(?:と|って)[^、。]{0,6}?(?:言われ|いわれ|怒鳴られ|罵られ|脅され)|^(?:れ|られ|され)"
                       r"|(?:され|られ)(?:た|て|る|ま)")
# The customer's own repeated efforts, not pressure on staff: 毎日電話しているのにつながらない.
_OWN_EFFORT = re.compile(r"のに|ても(?!ら[えっいう])|でも|けど|けれど")
_CLAUSE_END = re.compile(r"[、。!?\n]")
_KANA_END = re.compile(r"[ぁ-ん]")
_ALL_HIRAGANA = re.compile(r"^[ぁ-ん]+$")
_NUMERALS = set("0123456789一二三四五六七八九十百数")
_QUOTE_STOP = set("をがにはでともへ、。!?「」『』() ")
# Intensifiers: they strengthen the evaluation of their sentence (全然よくならない, 本当に残念).
_INTENSIFIER = re.compile(r"全然|ぜんぜん|全く|まったく|本当に|ほんとうに|ほんとに|非常に|とても|すごく|凄く|すっごく"
                          r"|めちゃくちゃ|めちゃめちゃ|めっちゃ|ひどく|あまりにも|あまりに|いくらなんでも|どれだけ|一向に|さっぱり")
_SINGLE_EXCLAIM = re.compile(r"(?<![!?])!(?![!?])")   # a lone ！ (NFKC: !); runs are _EXCLAIM_RUN's
_REPEATED_WORD = re.compile(r"([ぁ-んァ-ヶ一-龠]{2,6})[、,]\1")   # 遅い、遅い / なんで、なんで
# Sarcasm that needs no context, and the one that needs a complaint elsewhere in the text.
_SARCASM_ALONE = re.compile(r"結構なこと(?:で|です)|ご立派な(?:こと|対応|会社|お店)|ご立派です|お見事な対応")
_SARCASM_IN_COMPLAINT = re.compile(r"さすが[^。!?\n]{0,20}?(?:ですね|ですよね|だね|だよね|ですな|ですわ|ですこと)"
                                   r"|大した(?:もの|会社|お店|対応)(?:ですね|だね|だ)|\(笑\)|\(苦笑\)|ww+")
# A problem stated plainly: context that turns さすが…ですね into sarcasm.
_PROBLEM = re.compile(r"間違|ミス|遅れ|壊れ|不良|届かな|届いていな|できな|できませ|繋がらな|つながらな|またも|また同じ"
                      r"|何度も|何回も|されていな|していな|ていませ|ませんでした|もなく|もない|一切な|[るた]なんて|とは[。!]?$")
NEGATIVE_LEXICON_LABEL = "否定的な感情"
# A lexicon hit that reads otherwise in a desk's mail: 大変 as "very" (大変お世話になっております) counts
# only as 大変な/大変だ/大変で…; a worry (心配, 不安: ML-Ask's 恐れ) in a question is an inquiry's reason.
_TAIHEN_NEGATIVE = re.compile(r"大変(?:な|だ|で|じゃ|すぎ)")
_INQUIRY = re.compile(r"教えて|知りたい|ですか|でしょうか|ますか|ませんか|\?")


@dataclass(eq=False)
class SeverityRules:
    """Compiled cue lexicon. Build with load_severity_rules()."""

    path: Path
    cues: PhraseTable
    lemma_cues: dict[tuple[str, bool], Cue]
    cancel: re.Pattern[str]
    thanks: re.Pattern[str]
    praise: re.Pattern[str]
    text_hash: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    cue_lemmas: frozenset[str] = frozenset()
    lexicon: Lexicon | None = None     # ML-Ask's emotion words; None leaves polarity to the cues alone

    def __post_init__(self) -> None:
        self.cue_lemmas = frozenset(lemma for lemma, _ in self.lemma_cues)

    def __repr__(self) -> str:
        return f"SeverityRules({str(self.path)!r}, hash={self.text_hash})"

    def hash(self) -> str:
        """Changes with the lexicon, the matcher version and the UniDic version."""
        return self.text_hash

    def score(self, doc: CaseDoc, repeat_contacts: int = 0) -> Severity:
        """Level, reasons and harassment types of one case; repeat_contacts = earlier contacts in 30 days."""
        text = doc.text
        hits, excluded = self._cue_hits(doc)
        ends: list[int] = [m.end() for m in _SENTENCE_END.finditer(text)]
        negative = self._negative_hits(doc, hits, excluded, ends)
        sarcasm = _SARCASM_ALONE.search(text) or _SARCASM_IN_COMPLAINT.search(text)
        if not hits and not negative and not sarcasm and repeat_contacts <= 0 and not _EXCLAIM_RUN.search(text):
            return CALM
        found: list[tuple[int, int, int, str]] = []  # (level, start, order, reason)
        harassment: list[str] = []
        if hits:
            seen: dict[str, int] = {}
            for start, end, cue in hits:
                level, kind, note = self._judge(text, start, end, cue, ends)
                if kind and kind not in harassment:
                    harassment.append(kind)
                key = cue.label if level == cue.level else cue.label + note
                if key in seen:
                    continue
                seen[key] = len(found)
                found.append((level, start, len(found), _reason(text, start, end, cue, kind, note, ends)))
        negative = [(start, hit) for start, hit in negative
                    if not self.thanks.search(text, *_sentence_span(text, ends, start))]
        for start, hit in negative:
            found.append((1, start, len(found), f"{hit.reason}: {NEGATIVE_LEXICON_LABEL}"))
        level = max((f[0] for f in found), default=0)
        level, extra = self._sarcasm(text, level, bool(found), sarcasm)
        found += extra
        level, extra = self._strength(text, level, found, negative, ends)
        found += extra
        level, extra = self._intensity(text, level, ends)
        found += extra
        level, extra = self._repeat(level, repeat_contacts)
        found += extra
        if harassment:
            level = 3
        found.sort(key=lambda f: (-f[0], f[1], f[2]))
        reasons = tuple(f[3] for f in found if f[0] > 0)[:MAX_REASONS]  # a cancelled cue explains nothing
        return Severity(max(0, min(3, level)), reasons, tuple(harassment))

    # ---- pieces

    def _cue_hits(self, doc: CaseDoc) -> tuple[list[tuple[int, int, Cue]], list[tuple[int, int]]]:
        """The cues found, in text order, and the spans of [除外] phrases (which cancel what they overlap)."""
        text = doc.text
        hits = self.cues.find_all(text)
        if self.lemma_cues:
            offsets = None
            lemmas = self.cue_lemmas
            for i, term in enumerate(doc.terms):
                if term.lemma not in lemmas:  # a set test before building a (lemma, negated) key
                    continue
                cue = self.lemma_cues.get((term.lemma, term.negated))
                if cue is None:
                    continue
                offsets = offsets or term_offsets(doc, self._last_cue_term(doc))
                start = offsets[i]
                if not any(h[0] <= start < h[1] for h in hits):  # 訴えるぞ is already a cue as written
                    hits.append((start, start + len(term.surface), cue))
        if not hits:
            return hits, []
        excluded = [(a, b) for a, b, cue in hits if cue.level == EXCLUDED_LEVEL]
        if excluded:
            hits = [h for h in hits if h[2].level != EXCLUDED_LEVEL
                    and not any(a < h[1] and h[0] < b for a, b in excluded)]
        hits.sort(key=lambda h: (h[0], -h[1]))
        return hits, excluded

    def _negative_hits(self, doc: CaseDoc, cues: list[tuple[int, int, Cue]], excluded: list[tuple[int, int]],
                       ends: list[int]) -> list[tuple[int, EmotionHit]]:
        """(text offset, hit) of the lexicon's negative hits that no cue or [除外] phrase already covers."""
        if self.lexicon is None:
            return []
        hits = [h for h in self.lexicon.match(doc.terms, doc.text) if h.valence < 0]
        if not hits:
            return []
        text = doc.text
        offsets = None
        out = []
        for hit in hits:
            if hit.position < 0:
                start = text.find(hit.words)
            else:
                offsets = offsets or dict(zip((t.idx for t in doc.terms), term_offsets(doc)))
                start = offsets.get(hit.position, -1)
            if start < 0:
                continue
            end = start + len(hit.words)
            if hit.words == "大変" and not _TAIHEN_NEGATIVE.match(text, start):
                continue
            if hit.emotions == ("kowa",) and _INQUIRY.search(text, *_sentence_span(text, ends, start)):
                continue
            if any(a < end and start < b for a, b in excluded) or any(
                    a < end and start < b for a, b, cue in cues if cue.level > 0):
                continue   # ご迷惑 (an apology quoted), or 最悪 already a cue of its own
            out.append((start, hit))
        return out

    def _sarcasm(self, text: str, level: int, complaint: bool, match: re.Match | None) -> tuple[int, list]:
        """結構なことで anywhere; さすが…ですね only where the text complains (a cue, a negative word, a problem)."""
        if match is None:
            return level, []
        if not _SARCASM_ALONE.search(text) and not (complaint or _PROBLEM.search(text)):
            return level, []   # さすが老舗ですね、美味しかった: sincere
        new = min(2, level + 1) if level >= 1 else 1
        return new, [(new, match.start(), 0, f"『{match.group()}』: 皮肉")]

    def _strength(self, text: str, level: int, found: list, negative: list, ends: list[int]) -> tuple[int, list]:
        """Intensity of a dissatisfied text: intensifiers and ！ in its negative sentences, several negative
        evaluations, a repeated word, an anger word. INTENSE_POINTS of them make it angry (level 2)."""
        if level != 1:
            return level, []
        starts = sorted({f[1] for f in found if 0 < f[0] and f[1] < len(text)})
        spans = sorted({_sentence_span(text, ends, start) for start in starts})
        signs: list[str] = []
        for lo, hi in spans:
            signs += [m.group() for m in _INTENSIFIER.finditer(text, lo, hi)]
            signs += ["！"] * len(_SINGLE_EXCLAIM.findall(text, lo, hi))
        signs += [f"{m.group(1)}の繰り返し" for m in _REPEATED_WORD.finditer(text)]
        signs += ["怒りの語" for _, hit in negative if "ikari" in hit.emotions and not hit.negated]
        evaluations = len(starts)
        points = len(signs) + max(0, evaluations - 1)
        if points < INTENSE_POINTS:
            return level, []
        shown = "・".join(dict.fromkeys(signs)) or "否定的な評価"
        return 2, [(2, len(text), 0, f"強い調子: {shown}（否定的な評価 {evaluations} 件）")]

    def _last_cue_term(self, doc: CaseDoc) -> int:
        lemmas = self.cue_lemmas
        return max(i for i, t in enumerate(doc.terms) if t.lemma in lemmas)

    def _judge(self, text: str, start: int, end: int, cue: Cue, ends: list[int]) -> tuple[int, str, str]:
        """(level, harassment type, note) of one cue in its context."""
        sentence = bisect_right(ends, start)
        sentence_end = ends[sentence] if sentence < len(ends) else len(text)
        sentence_start = ends[sentence - 1] if sentence else 0
        after = text[end:min(sentence_end, end + 24)]
        level, kind = cue.level, cue.harassment
        # Only a word-like cue can be negated from outside (最悪ではない); a cue that ends in kana was
        # written with its own ending (二度と買わ|ない), and the negation is part of the cue.
        negated = (not _KANA_END.match(text[end - 1]) and _NEGATED_AFTER.match(after)
                   and not _RHETORICAL.match(after))
        if negated or self.cancel.search(after):
            return max(0, level - 2), "", "（打ち消しあり）"
        if kind:
            clause = after[:m.start()] if (m := _CLAUSE_END.search(after)) else after
            if _REPORTED.search(clause):
                return 2, "", "（言われた側として）"
            if _OWN_EFFORT.search(clause):
                return 2, "", "（本人の繰り返しの努力として）"
            return level, kind, ""
        if self.thanks.search(text, sentence_start, sentence_end):
            return max(0, level - 2), "", "（感謝の文中）"
        return level, "", ""

    def _intensity(self, text: str, level: int, ends: list[int] | None) -> tuple[int, list]:
        """！！ runs outside thank-you and praise sentences."""
        first = _EXCLAIM_RUN.search(text)
        if first is None or level == 0 and (self.thanks.search(text) or self.praise.search(text)):
            return level, []  # ！！ amplify the tone already there: 「最高です！！また注文します！！」 stays calm
        ends = ends if ends is not None else [m.end() for m in _SENTENCE_END.finditer(text)]
        runs = 0
        for m in _EXCLAIM_RUN.finditer(text, first.start()):
            sentence = bisect_right(ends, m.start())  # the run ends its own sentence: read what precedes it
            head = text[ends[sentence - 1] if sentence else 0:m.start()]
            if self.thanks.search(head) or self.praise.search(head):
                continue
            runs += 1
        if not runs:
            return level, []
        new = max(level, 1)
        if level >= 1 or runs >= self.thresholds.exclaim_alone:
            new = max(level, 2)
        return new, [(min(new, 2), len(text), 0, f"！！ ×{runs}")]

    def _repeat(self, level: int, repeat_contacts: int) -> tuple[int, list]:
        if repeat_contacts <= 0:
            return level, []
        t = self.thresholds
        new = level
        if repeat_contacts >= t.repeat_escalates and level >= 1:
            new = min(3, level + 1)
        elif repeat_contacts >= t.repeat_alone:
            new = max(level, 1)
        reason = f"{t.repeat_window_days}日以内に{repeat_contacts + 1}回目の連絡"
        return new, [(max(new, 1), 10**9, 0, reason)]  # a fact worth showing at any level


def _sentence_span(text: str, ends: list[int], start: int) -> tuple[int, int]:
    """(start, end) of the sentence holding offset `start`; `ends`: where each sentence ends."""
    sentence = bisect_right(ends, start)
    return ends[sentence - 1] if sentence else 0, ends[sentence] if sentence < len(ends) else len(text)


def _reason(text: str, start: int, end: int, cue: Cue, kind: str, note: str, ends: list[int]) -> str:
    """「『責任者を出せ』: 責任者の要求」; a short cue is quoted with what precedes it (『伝えたのに』)."""
    if end - start <= 5 and _ALL_HIRAGANA.match(text[start:end]):  # 『頼んだのに』, not 『たのに』
        sentence = bisect_right(ends, start)
        lo = max(ends[sentence - 1] if sentence else 0, start - 5)
        while start > lo and text[start - 1] not in _QUOTE_STOP:
            start -= 1
    while start > 0 and text[start - 1] in _NUMERALS:  # 『3時間にわた』, not 『時間にわた』
        start -= 1
    quoted = text[start:end].strip()
    suffix = f"（カスハラ: {kind}）" if kind else note
    return f"『{quoted}』: {cue.label}{suffix}"


# ---------------------------------------------------------------- loading

def load_severity_rules(path: str | Path | None = None) -> SeverityRules:
    """Read and compile a cue lexicon (default data/rules/severity.txt); cached until the file changes."""
    return load_while_unchanged(path or DEFAULT_SEVERITY_FILE, _load_cached)


@lru_cache(maxsize=8)
def _load_cached(path_str: str, mtime_ns: int, size: int) -> SeverityRules:
    path = Path(path_str)
    cues = PhraseTable()
    lemma_cues: dict[tuple[str, bool], Cue] = {}
    lists: dict[str, list[str]] = {name: [] for name in _LIST_SECTIONS.values()}
    for rl in read_rules_file(path):
        for item in rl.items:
            check_phrase(item, path, rl.line)
        if rl.section in _LIST_SECTIONS:
            lists[_LIST_SECTIONS[rl.section]] += list(rl.items)
            continue
        harassment = _HARASSMENT_SECTION.match(rl.section)
        level_section = _LEVEL_SECTION.match(rl.section)
        if not (harassment or level_section):
            raise rule_error(path, rl.section_line, f"見出し [{rl.section}] を読めません。",
                             f"heading [{rl.section}] is neither a level nor a harassment type.",
                             "見出しは [名前 1〜3]、[カスハラ:種類]、[打ち消し]、[除外]、[感謝]、[称賛] のどれかです。", "")
        if not rl.key:
            raise rule_error(path, rl.line, "「説明: 語句, 語句」の形で書いてください。",
                             "write lines as 'label: phrase, phrase'.", "説明は理由の欄に出ます。", "")
        cue = Cue(rl.key, 3 if harassment else int(level_section.group(2)),
                  harassment.group(1).strip() if harassment else "")
        for item in rl.items:
            cues.add(item, cue)
            # Harassment stays text-only: a lemma is too loose to label a customer (帰らない ≈ 返らない).
            lemma = None if harassment else _lemma_key(item)
            if lemma and lemma not in lemma_cues:
                lemma_cues[lemma] = cue
    for item in lists["exclude"]:
        cues.add(item, Cue("除外", EXCLUDED_LEVEL, ""))  # one scan finds cues and the look-alikes that cancel them
    cues.build()
    lexicon = load_lexicon()
    # The scores go stale with the lexicon too: its hash (word lists and dictionary) joins the file's.
    text_hash = rules_text_hash(path, f"{MATCHER_VERSION}|{lexicon.hash()}")
    return SeverityRules(path, cues, lemma_cues, compile_alternation(lists["cancel"]),
                         compile_alternation(lists["thanks"]), compile_alternation(lists["praise"]), text_hash,
                         lexicon=lexicon)


_DICTIONARY_FORM_END = tuple("うくぐすつぬぶむるい")


def _lemma_key(item: str) -> tuple[str, bool] | None:
    """A one-word cue in dictionary (or negative) form also matches on lemmas: ひどい → ひどかった・酷く.

    Stems (許せな, 腹が立) stay text-only: their lemma would drop the meaning the ending carries.
    """
    if not item or not item.endswith(_DICTIONARY_FORM_END) or "..." in item or item.startswith("/"):
        return None
    tokens = tokenize(for_tokenizer(normalize(item)))
    content = [t for t in tokens if t.content]
    negated = any(t.lemma in NEGATORS and t.pos.startswith(("助動詞", "形容詞")) for t in tokens)
    if len(content) != 1 or not content[0].pos.startswith(("動詞", "形容詞")):
        return None
    if any(not t.content and t.pos.startswith(("動詞", "形容詞")) and t.lemma not in NEGATORS for t in tokens):
        return None  # あり+得+ない: the lemma 得る alone would match やむを得ない
    if not negated and tokens[-1] is not content[0]:
        return None
    return content[0].lemma, negated


def score(doc: CaseDoc, repeat_contacts: int = 0) -> Severity:
    """Severity of one case with the default lexicon (data/rules/severity.txt).

    >>> from pipelines.nlp.pii import doc_from_text
    >>> score(doc_from_text("C-2", "弁護士に相談します")).level
    3
    """
    return default_severity_rules().score(doc, repeat_contacts)


_DEFAULT = Rechecked(load_severity_rules)


def default_severity_rules() -> SeverityRules:
    """The shipped lexicon, re-checked for edits at most once a second (a stat per case adds up)."""
    return _DEFAULT()
