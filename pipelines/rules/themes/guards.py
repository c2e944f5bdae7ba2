"""Precision guards (issue 14, item 2): what a theme rule may not fire on.

1. Names are not evidence. A term UniDic tags as a proper noun (固有名詞) is never a rule word, and
   neither is any word inside a name of the export's own product or department columns: a product
   called 「やさしい麦茶」 must not make お褒め fire on a leak complaint by its やさしい. Such names
   are masked (terms dropped, the text blanked with spaces of the same length) before matching.
2. Intent themes need their intent, not one word. お褒め needs a positive word in a sentence that
   is not a complaint (no complaint cue: 〜のに, 〜ですが、, 残念, 漏れ, 壊れ …), and in a text that complains
   elsewhere, more than a courtesy thanks (いつもありがとうございます before the complaint).
   要望・提案 needs a request form (〜てほしい, 〜してください, 〜を希望, 検討してください …) in the
   sentence of its evidence.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from pipelines.nlp.text import CaseDoc, Term, for_tokenizer, normalize, tokenize

PROPER_NOUN = "固有名詞"
PRAISE, REQUEST = "praise", "request"
# Themes that are not complaints: their evidence does not make a sentence a complaint.
NOT_COMPLAINTS = frozenset({PRAISE, REQUEST, "inquiry"})
_SENTENCE_END = re.compile(r"[。！？!?\n]+")
# A sentence with one of these complains, whatever kind word it also has (美味しかったのに…, 丁寧ですが割れて…).
COMPLAINT_CUES = re.compile(
    r"のに|けど|けれど|しかし|ところが|にもかかわらず|残念|不満|がっかり|ガッカリ|困[りっるら]|ひど|酷|最悪|不快|許せ|"
    r"二度と|漏れ|壊れ|割れ|破損|異物|カビ|届かな|届いていな|遅[いくれ]|返金|苦情|クレーム|怒|腹が立|おかしい|"
    r"ありえな|あり得な|期待外れ|期待はずれ|残念|ひどい|不良|故障|痛[いみ]|かぶれ|できませ|できな[いく]|"
    r"(でした|です|ました|ます|だった|だ)が、")
# Thanks alone is how Japanese complaints open and close (いつもありがとうございます、…が届きません): in a
# text that complains, thanks in a sentence that opens like a formula is not praise.
COURTESY = re.compile(r"^(ありがとう|有り難う|有難う|感謝|お礼|御礼)")
COURTESY_SENTENCE = re.compile(r"^\s*(いつも|毎度|平素|日頃|日ごろ|お世話|お忙しい|ご確認|ご連絡|ご返信|ご回答|お問い合わせ|"
                               r"問い合わせ|ご丁寧|先日は)")
REQUEST_FORMS = re.compile(
    r"(て|で)(ほしい|欲しい|ほしかった|頂きたい|いただきたい|もらいたい|ください|下さい|くれ(ません|ない)か|"
    r"(もらえ|いただけ|頂け)(ません|ない|る|れば|たら))|(を|の)(希望|要望|提案)|(希望|要望|提案)(します|いたします|致します|です|があります|したい)|"
    r"お願い(します|いたします|致します|したい)|検討|ように(して|なると|なれば)|"
    r"(あれば|あると|あったら|できれば|できると|られると|えると)|(が|も|は)(ほしい|欲しい)|(ない|無い)(ですか|んですか|でしょうか)|"
    r"(たら|れば|ば)(いい|良い)のに|べき|ませんか")


class NameGuard:
    """The names (product, department … values) whose words must not trigger a theme, as one regex."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(sorted({normalize(n).strip() for n in names if n and normalize(n).strip()},
                                  key=lambda n: (-len(n), n)))
        self.pattern = re.compile("|".join(map(re.escape, self.names))) if self.names else None

    def apply(self, doc: CaseDoc) -> CaseDoc:
        """`doc` without its proper-noun terms and with every name masked (terms dropped, text blanked)."""
        terms = doc.terms
        if any(PROPER_NOUN in t.pos for t in terms):
            terms = tuple(t for t in terms if PROPER_NOUN not in t.pos)
        spans = [m.span() for m in self.pattern.finditer(doc.text)] if self.pattern is not None else []
        if not spans:
            return doc if terms is doc.terms else CaseDoc(doc.case_id, doc.text, terms)
        return CaseDoc(doc.case_id, _blank(doc.text, spans), _outside(terms, doc.text, spans))


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], "　" * (end - start)]
        last = end
    return "".join(parts) + text[last:]


def _outside(terms: tuple[Term, ...], text: str, spans: list[tuple[int, int]]) -> tuple[Term, ...]:
    """The terms that do not fall inside a span, found one after the other in the text (stored
    terms carry token positions, not offsets)."""
    kept, cursor = [], 0
    for term in terms:
        at = text.find(term.surface, cursor)
        if at < 0:
            kept.append(term)
            continue
        end = at + len(term.surface)
        cursor = end
        if not any(start < end and at < stop for start, stop in spans):
            kept.append(term)
    return tuple(kept)


def name_terms(name: str) -> list[tuple[str, str]]:
    """(surface, lemma) of the stored terms of a name, as a load would store them."""
    return [(t.surface, t.lemma) for t in tokenize(for_tokenizer(normalize(name))) if t.content]


def sentence_of(text: str, piece: str) -> str:
    """The sentence of `text` that holds the first occurrence of `piece` ("" when it is not there)."""
    at = text.find(piece)
    if at < 0:
        return ""
    starts = [m.end() for m in _SENTENCE_END.finditer(text, 0, at)]
    start = starts[-1] if starts else 0
    end = _SENTENCE_END.search(text, at + len(piece))
    return text[start:end.start() if end else len(text)]


def praise_holds(text: str, evidence: tuple[str, ...], complaint_evidence: set[str]) -> tuple[str, ...]:
    """The praise evidence that is a real evaluation: in a sentence without a complaint cue, and, when
    the text complains (another theme's evidence), not a courtesy thanks (いつもありがとうございます)."""
    complains = bool(complaint_evidence)
    kept = []
    for piece in evidence:
        sentence = sentence_of(text, piece)
        if not sentence or COMPLAINT_CUES.search(sentence):
            continue
        if complains and COURTESY.match(piece) and COURTESY_SENTENCE.match(sentence):
            continue
        kept.append(piece)
    return tuple(kept)


def request_holds(text: str, evidence: tuple[str, ...]) -> tuple[str, ...]:
    """The request evidence whose sentence has a request form."""
    return tuple(piece for piece in evidence if REQUEST_FORMS.search(sentence_of(text, piece) or piece))
