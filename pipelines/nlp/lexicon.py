"""Emotion and polarity words from ML-Ask, matched on the project's tokens (fugashi + unidic-lite lemmas).

The word lists are ML-Ask's (Ptaszynski, Dybala, Rzepka, Araki; BSD-3-Clause), vendored from the PyPI
package mlask-official 0.5.0 into data/lexicon/mlask/ (its SOURCE.md names the files and their hashes;
docs/real-data.md says why this dictionary and not another). Ten emotion classes, each with a valence:

    喜び yorokobi, 好き suki, 安らぎ yasu                     positive
    哀しみ aware, 嫌悪 iya, 怒り ikari, 恐れ kowa           negative
    昂り takaburi, 驚き odoroki, 恥 haji                    either (valence 0)

Each entry (腹が立つ, がっかりする, 😡) is read once with the project's tokenizer and kept as the lemmas
of its content words, so it matches every inflection and spelling the lemma merges: 腹が立った, 腹立つ,
がっかりしました. Between two words of an entry the text may have up to MAX_GAP - 1 function words
(愛想を尽かす ← 愛想をすっかり尽かした does not match; 愛想を尽かした does). Entries with no content word
(emoji, kaomoji) are matched as strings on the normalized text.

A hit whose words are negated (嬉しくない, 安心できない: Token.negated from nlp.text) takes the classes
ML-Ask's contextual valence shifters give the negated class (喜び → 嫌悪, 怒り → 安らぎ) and the
opposite valence.

    >>> lexicon = load_lexicon()
    >>> [(h.listed, h.valence) for h in lexicon.match_text("本当に腹が立った")]
    [('ikari', -1)]
    >>> [(h.emotions, h.valence) for h in lexicon.match_text("全然嬉しくない")]
    [(('iya',), -1)]
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from pipelines.nlp.text import (
    Term,
    Token,
    dictionary_version,
    for_tokenizer,
    normalize,
    normalize_many,
    tokenize,
    tokenize_stream,
)

LEXICON_DIR = Path(__file__).resolve().parents[2] / "data" / "lexicon" / "mlask"
MAX_GAP = 3  # idx distance between consecutive words of one entry: at most two function words between
EMOTEME_MIN_CHARS = 3  # shorter emotemes (ご, かー) are pieces of ordinary words
_IGNORED_POS = ("助詞", "補助記号", "空白")
_NEGATORS = {"ない", "無い", "ず", "ぬ"}

# From mlask_official/_analyzer.py (0.5.0), BSD-3-Clause, © 2007-2013 Michal Ptaszynski, Pawel Dybala,
# Rafal Rzepka, Kenji Araki — see data/lexicon/mlask/LICENSE.
EMOTIONS = ("yorokobi", "suki", "yasu", "aware", "iya", "ikari", "kowa", "haji", "takaburi", "odoroki")
EMOTION_NAMES = {"yorokobi": "喜び", "suki": "好き", "yasu": "安らぎ", "aware": "哀しみ", "iya": "嫌悪",
                 "ikari": "怒り", "kowa": "恐れ", "haji": "恥", "takaburi": "昂り", "odoroki": "驚き"}
VALENCE = {"yorokobi": 1, "suki": 1, "yasu": 1, "aware": -1, "iya": -1, "ikari": -1, "kowa": -1,
           "haji": 0, "takaburi": 0, "odoroki": 0}
NEGATED_CLASSES = {  # ML-Ask's contextual valence shifters (CVS_TABLE)
    "suki": ("iya",), "ikari": ("yasu",), "kowa": ("yasu",),
    "yasu": ("ikari", "takaburi", "odoroki", "haji", "kowa"), "iya": ("yorokobi", "suki"),
    "aware": ("suki", "yorokobi", "takaburi", "odoroki", "haji"), "takaburi": ("yasu", "aware"),
    "odoroki": ("yasu", "aware"), "haji": ("yasu", "aware"), "yorokobi": ("iya",),
}


class LexiconError(ValueError):
    """The lexicon's files are missing or unreadable (English: raised below the UI's error family)."""


class _TermLike(Protocol):
    idx: int
    surface: str
    lemma: str
    negated: bool


@dataclass(frozen=True, slots=True)
class EmotionHit:
    """One emotive expression found in a text."""

    listed: str                 # the class ML-Ask lists the entry under
    emotions: tuple[str, ...]   # the classes it conveys here: `listed`, or its shifted classes when negated
    words: str                  # the text's words that matched (surfaces joined)
    negated: bool
    position: int               # term idx of the first word (-1 for a string match)

    @property
    def valence(self) -> int:
        """+1 positive, -1 negative, 0 either; flipped when negated."""
        value = VALENCE[self.listed]
        return -value if self.negated else value

    @property
    def reason(self) -> str:
        """The hit in a desk lead's words, for a case's reasons: 「腹立っ」(怒り), 「嬉しく」(喜びの否定)."""
        return f"「{self.words}」({EMOTION_NAMES[self.listed]}{'の否定' if self.negated else ''})"


@dataclass(frozen=True)
class Lexicon:
    """The emotive expressions by lemma key, and ML-Ask's emotemes (intensifying words)."""

    entries: dict[tuple[str, ...], tuple[str, ...]]     # lemma key → classes it is listed under
    literals: tuple[tuple[str, tuple[str, ...]], ...]   # (normalized string, classes): emoji, 頭に来, 申し分ない
    emotemes: frozenset[str]                            # normalized strings
    skipped: tuple[str, ...]                            # "class<TAB>entry<TAB>why": not matched, said so
    digest: str
    _by_first: dict[str, tuple[tuple[str, ...], ...]] = field(init=False, repr=False, compare=False)
    _literals_by_first: dict[str, list] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_first", _by_first(self.entries))
        # Strings by first character: a text is checked only for those that can start in it.
        literals_by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for literal, classes in self.literals:
            literals_by_first.setdefault(literal[0], []).append((literal, classes))
        object.__setattr__(self, "_literals_by_first", literals_by_first)

    def hash(self) -> str:
        """Changes when a word list or the tokenizer's dictionary does (for a rules bundle's hash)."""
        return hashlib.sha256(f"{self.digest}|{dictionary_version()}".encode()).hexdigest()[:16]

    def match(self, terms: Sequence[_TermLike], text: str = "") -> list[EmotionHit]:
        """The emotive expressions among a case's stored terms (CaseDoc.terms), and in `text` (its
        normalized text) the string entries, longest first and without overlaps."""
        hits = [self._hit(key, run) for key, run in _runs(terms, self._by_first)]
        if text:
            by_first = self._literals_by_first
            found = [(text.find(literal), literal, classes) for first in by_first.keys() & set(text)
                     for literal, classes in by_first[first] if literal in text]
            hits += [EmotionHit(classes[0], classes, literal, False, -1) for _at, literal, classes in sorted(found)]
        return hits

    def emoteme_words(self, text: str) -> list[str]:
        """ML-Ask's emotemes (めちゃくちゃ, しょんぼり, interjections) in a normalized text, as ML-Ask
        finds them: as strings. Intensity cues, not emotions."""
        return [word for _at, word in sorted((text.find(w), w) for w in self.emotemes if w in text)]

    def match_text(self, text: str) -> list[EmotionHit]:
        """match() on raw text: normalized and tokenized as a load does (without masking names)."""
        normalized = normalize(text)
        return self.match(terms_of(normalized), normalized)

    def _hit(self, key: tuple[str, ...], run: Sequence[_TermLike]) -> EmotionHit:
        listed = self.entries[key][0]
        negated = any(t.negated for t in run)
        emotions = NEGATED_CLASSES[listed] if negated else self.entries[key]
        return EmotionHit(listed, emotions, "".join(t.surface for t in run), negated, run[0].idx)


def _by_first(keys: Iterable[tuple[str, ...]]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Keys by their first lemma, longest first, so that 腹立ち紛れ wins over 腹立ち."""
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for key in keys:
        by_first.setdefault(key[0], []).append(key)
    return {first: tuple(sorted(found, key=len, reverse=True)) for first, found in by_first.items()}


def _runs(terms: Sequence[_TermLike], by_first: dict[str, tuple[tuple[str, ...], ...]]
          ) -> list[tuple[tuple[str, ...], Sequence[_TermLike]]]:
    """(key, matched terms) for each key found, scanning left to right without overlaps."""
    found = []
    get = by_first.get
    i, n = 0, len(terms)
    while i < n:
        keys = get(terms[i].lemma)
        if keys:
            for key in keys:
                end = _run_end(key, terms, i) if len(key) > 1 else i + 1
                if end:
                    found.append((key, terms[i:end]))
                    i = end - 1
                    break
        i += 1
    return found


def _run_end(key: tuple[str, ...], terms: Sequence[_TermLike], i: int) -> int:
    """The end (exclusive) of `key` matched at terms[i], or 0."""
    if i + len(key) > len(terms):
        return 0
    for k in range(1, len(key)):
        term, before = terms[i + k], terms[i + k - 1]
        if term.lemma != key[k] or term.idx - before.idx > MAX_GAP:
            return 0
    return i + len(key)


def terms_of(normalized: str) -> tuple[Term, ...]:
    """The content-word Terms of a normalized text, as a load stores them (names left unmasked)."""
    tokens = tokenize(for_tokenizer(normalized))
    return tuple(Term(i, t.surface, t.lemma, t.pos, t.negated) for i, t in enumerate(tokens) if t.content)


def summarize(hits: Iterable[EmotionHit]) -> dict[str, int]:
    """Counts a score can use: negative and positive hits (after negation) and anger (怒り) hits."""
    hits = list(hits)
    return {"negative": sum(h.valence < 0 for h in hits), "positive": sum(h.valence > 0 for h in hits),
            "anger": sum("ikari" in h.emotions for h in hits)}


def load_lexicon(directory: str | Path | None = None) -> Lexicon:
    """The ML-Ask lexicon in `directory` (default data/lexicon/mlask), read once per process while
    its files are unchanged. Raises LexiconError naming what is missing."""
    directory = Path(directory) if directory else LEXICON_DIR
    files = _files(directory)
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _load_cached(str(directory), stamp)


def _files(directory: Path) -> list[Path]:
    files = [directory / "emotions" / f"{e}_{kind}.txt" for e in EMOTIONS for kind in ("uncoded", "modern")]
    files += [directory / "emotemes" / name for name in ("emotemes_all.txt", "interjections_uncoded.txt")]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise LexiconError(f"The emotion lexicon is incomplete: {', '.join(missing[:3])}"
                           f"{' …' if len(missing) > 3 else ''} not found — restore data/lexicon/mlask/ "
                           f"from git (git status data/lexicon) — check with: ls {directory}/emotions")
    return files


@lru_cache(maxsize=4)
def _load_cached(directory: str, stamp: tuple) -> Lexicon:
    root = Path(directory)
    digest = hashlib.sha256()
    listed = [(emotion, kind, line) for emotion in EMOTIONS for kind in ("uncoded", "modern")
              for line in _read_lines(root / "emotions" / f"{emotion}_{kind}.txt", digest)]
    emoteme_lines = [line for name in ("emotemes_all.txt", "interjections_uncoded.txt")
                     for line in _read_lines(root / "emotemes" / name, digest)]
    entries: dict[tuple[str, ...], list[str]] = {}
    literals: dict[str, list[str]] = {}
    skipped: list[str] = []
    # One batch through the normalizer and the tokenizer: one call per entry took seconds.
    normalized = normalize_many([line for _e, _k, line in listed])
    for (emotion, kind, line), text, tokens in zip(listed, normalized, tokenize_stream(
            [for_tokenizer(t) for t in normalized])):
        key, string, reason = _key(tokens, text, modern=kind == "modern")
        if reason:
            skipped.append(f"{emotion}\t{line}\t{reason}")
            continue
        target = entries.setdefault(key, []) if key else literals.setdefault(string, [])
        if emotion not in target:
            target.append(emotion)
    emotemes = frozenset(t for t in normalize_many(emoteme_lines) if len(t) >= EMOTEME_MIN_CHARS)
    return Lexicon({k: tuple(v) for k, v in entries.items()}, tuple((s, tuple(v)) for s, v in literals.items()),
                   emotemes, tuple(skipped), digest.hexdigest()[:16])


def _read_lines(path: Path, digest) -> list[str]:
    """Entries of one word-list file: one per line; blank lines and # comments (the modern lists) skipped."""
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LexiconError(f"{path} could not be read as UTF-8 ({exc}) — restore it from git — "
                           f"check with: git diff --stat {path}") from exc
    digest.update(path.name.encode() + b"\0" + data)
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def _key(tokens: Sequence[Token], text: str, modern: bool) -> tuple[tuple[str, ...], str, str]:
    """How an entry is matched: (lemma key, "", "") on stored terms, ((), string, "") as a string on
    the normalized text, or ((), "", why not at all) — the why in English, for Lexicon.skipped.

    Stored terms keep the lemmas of content words only: no particles, auxiliaries or light verbs
    (nlp.text). An entry whose sense rests on one of those and leaves a single word (気になる → 気,
    頭に来る → 頭, 目がない → 目) would match every 気, 頭 and 目; it is matched as a string instead:
    its stem before the last character when a verb or adjective carries it (頭に来 matches 頭に来た,
    気にな matches 気になった), the whole entry when a negation does (申し分ない, 悪くない: 悪くな would match
    悪くなった). 安心する → 安心 only loses する and stays a lemma key. Emoji and kaomoji are strings.
    """
    key = tuple(t.lemma for t in tokens if t.content)
    if not key:
        if text.isascii() or len(text) == 1 and text.isalpha():   # ｗ, a lone ` of a kaomoji
            return (), "", "too short to match as a string"
        return (), text, ""
    dropped = [t for t in tokens if not t.content and not t.pos.startswith(_IGNORED_POS)
               and (t.pos.startswith(("動詞", "形容詞")) and t.lemma != "為る" or t.lemma in _NEGATORS)]
    if len(key) == 1 and dropped:
        string = text if any(t.lemma in _NEGATORS for t in dropped) else text[:-1]
        if len(string) < EMOTEME_MIN_CHARS:
            return (), "", f"rests on {dropped[0].surface}, which stored terms do not keep, and is too short"
        return (), string, ""
    if len(key) == 1 and len(key[0]) == 1 and (key[0].isascii() or key[0].isalpha() and (
            modern or len(text) > 1 or not _is_kanji(key[0]))):
        return (), "", "a single character"
    return key, "", ""


def _is_kanji(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"
