"""Personal data masking: regexes on normalized text (run inside DuckDB), names from tokens.

The regexes use only syntax shared by RE2 (DuckDB) and Python's re, so the same patterns run in
SQL for bulk loads and in Python for small strings. RE2 has no look-behind, so each pattern
captures the character before the match and puts it back.

Names are found in the tokens of the text (mask_names, name_spans): UniDic's 人名 tags where they
are unambiguous, and the context people are written in everywhere else (the section below says
which). README's "Name masking" gives the measured recall and false masks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from operator import attrgetter

from pipelines.nlp.text import (HYPHENS, MASK_CLOSE, MASK_OPEN, CaseDoc, Term, Token, for_tokenizer, normalize,
                                normalize_many, tokenize, tokenize_stream)

PHONE, EMAIL, POSTAL, ADDRESS, NAME = "〔電話番号〕", "〔メール〕", "〔郵便番号〕", "〔住所〕", "〔氏名〕"
CARD, MY_NUMBER = "〔カード番号〕", "〔個人番号〕"

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

# Card numbers and マイナンバー are runs of digits a regex cannot tell from order or tracking numbers;
# their check digits can. A candidate is a run of digits, possibly in groups separated by one space or
# hyphen, not the tail of a code (A-4111…); it is masked only when it has the shape and the check
# digit: 14-19 digits in one run or 13-19 in groups passing Luhn's check (〔カード番号〕), or 12 digits
# with the check digit of the My Number Act (〔個人番号〕). 1234-5678-9012 has neither and stays. Runs before the phone pattern,
# which would take 0123 4567 8901 for a phone number. On NFKC text (full-width digits are folded).
_NUMBER_CANDIDATE = r"(^|[^0-9A-Za-z_\-])([0-9]+(?:[ -][0-9]+)*)"
_NUMBER_PREFILTER = r"[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}|[0-9]{4}[ -][0-9]{6}"
# 13 digits in one run are a JAN/EAN barcode far more often than a card (4901234567894 passes Luhn).
_CARD_SHAPE = r"[0-9]{14,19}|[0-9]{4}(?:[ -][0-9]{3,7}){2,4}"
_MY_NUMBER_SHAPE = r"[0-9]{12}|[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}"
_NUMBER_RE = re.compile(_NUMBER_CANDIDATE)
_PREFILTER_RE = re.compile(_NUMBER_PREFILTER)
_CARD_RE = re.compile(_CARD_SHAPE)
_MY_NUMBER_RE = re.compile(_MY_NUMBER_SHAPE)


def luhn_valid(digits: str) -> bool:
    """Luhn's check, as card numbers carry it. luhn_valid("4111111111111111") is True."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        value = int(ch) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def my_number_valid(digits: str) -> bool:
    """The check digit of a 12-digit 個人番号 (番号法施行令 8条): 11 − Σ Pn×Qn mod 11 (0 when the
    remainder is 0 or 1), Pn the n-th digit from the right before the check digit, Qn = n+1 for
    n ≤ 6 and n−5 after. my_number_valid("123456789018") is True."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    remainder = sum(int(digits[11 - n]) * (n + 1 if n <= 6 else n - 5) for n in range(1, 12)) % 11
    return (0 if remainder <= 1 else 11 - remainder) == int(digits[11])


def _number_mask(candidate: str) -> str | None:
    digits = candidate.replace(" ", "").replace("-", "")
    if len(digits) == 12 and _MY_NUMBER_RE.fullmatch(candidate) and my_number_valid(digits):
        return MY_NUMBER
    if 13 <= len(digits) <= 19 and _CARD_RE.fullmatch(candidate) and luhn_valid(digits):
        return CARD
    return None


def mask_numbers(text: str) -> str:
    """Card numbers (Luhn) and マイナンバー (check digit) in NFKC text; other numbers stay."""
    if not text or not _PREFILTER_RE.search(text):
        return text

    def replace(match: re.Match) -> str:
        mask = _number_mask(match.group(2))
        return match.group(0) if mask is None else match.group(1) + mask

    return _NUMBER_RE.sub(replace, text)


def mask_sql_macro() -> str:
    """CREATE MACRO kk_mask(s): the number masks, then every regex mask, nested, inside DuckDB."""
    expr = "kk_mask_numbers(s)"
    for _name, pattern, repl in PATTERNS:
        # Python's \1 becomes RE2's \1 in DuckDB as well; quotes are doubled for the SQL literal.
        expr = f"regexp_replace({expr}, '{_sql(pattern)}', '{_sql(repl)}', 'g')"
    return _NUMBER_MACROS + f"CREATE OR REPLACE TEMP MACRO kk_mask(s) AS {expr};"


def _sql(literal: str) -> str:
    return literal.replace("'", "''")


# The same checks in SQL (plain expressions: a macro with a subquery becomes a join per use).
_NUMBER_MACROS = f"""
CREATE OR REPLACE TEMP MACRO kk_luhn_valid(d) AS
    list_sum(list_transform(range(1, length(d) + 1), lambda i:
        CASE WHEN (length(d) - i) % 2 = 1
             THEN CASE WHEN CAST(substr(d, i, 1) AS INTEGER) >= 5 THEN 2 * CAST(substr(d, i, 1) AS INTEGER) - 9
                       ELSE 2 * CAST(substr(d, i, 1) AS INTEGER) END
             ELSE CAST(substr(d, i, 1) AS INTEGER) END)) % 10 = 0;
CREATE OR REPLACE TEMP MACRO kk_my_number_check(r) AS CASE WHEN r <= 1 THEN 0 ELSE 11 - r END;
CREATE OR REPLACE TEMP MACRO kk_my_number_valid(d) AS
    kk_my_number_check(list_sum(list_transform(range(1, 12), lambda n:
        CAST(substr(d, 12 - n, 1) AS INTEGER) * CASE WHEN n <= 6 THEN n + 1 ELSE n - 5 END)) % 11)
    = CAST(substr(d, 12, 1) AS INTEGER);
CREATE OR REPLACE TEMP MACRO kk_number_mask_of(x, d) AS
    CASE WHEN length(d) = 12 AND regexp_full_match(x, '{_MY_NUMBER_SHAPE}') AND kk_my_number_valid(d) THEN '{MY_NUMBER}'
         WHEN length(d) BETWEEN 13 AND 19 AND regexp_full_match(x, '{_CARD_SHAPE}') AND kk_luhn_valid(d) THEN '{CARD}'
    END;
CREATE OR REPLACE TEMP MACRO kk_mask_numbers(s) AS
    CASE WHEN regexp_matches(s, '{_NUMBER_PREFILTER}')
         THEN list_reduce(list_prepend(s, regexp_extract_all(s, '{_sql(_NUMBER_CANDIDATE)}', 2)), lambda acc, x:
                  coalesce(replace(acc, x, kk_number_mask_of(x, replace(replace(x, ' ', ''), '-', ''))), acc))
         ELSE s END;
"""


def mask_regex(text: str) -> str:
    """The same masks in Python, for small strings (notes, previews): numbers, then the regexes."""
    if not text:
        return text
    text = mask_numbers(text)
    for _name, compiled, repl in _COMPILED:
        text = compiled.sub(repl, text)
    return text


# ---------------------------------------------------------------- person names, from tokens
#
# UniDic tags person names 名詞-固有名詞-人名 (姓, 名, 一般 — the last mostly foreign names), but it
# also lists as names many words complaints are full of: ミラー, ヒューズ, ギア, ショート (parts),
# セレナ, ミラ, タント (cars), 金沢, 豊田 (places). So a tag alone is trusted only where it is
# unambiguous — a kanji surname, or a surname with a given name — and everything else needs the
# context people are written in: an honorific or a title after (様, さん, 氏, 部長), a
# self-introduction (〜と申します), a cue before (担当の, 氏名:, 息子の) or the place of a signature.
# In such a context a word UniDic does not tag as a name can be one (担当の森, さとう様, 𠮷田様).
# bench/bench_masking.py measures the rules on generated and hand-written complaints.

_PERSON = "名詞-固有名詞-人名"
_SURNAME = _PERSON + "-姓"
_GIVEN = _PERSON + "-名"
_PLACE = "名詞-固有名詞-地名"
_PROPER = "名詞-固有名詞-一般"
_MASK_POS = "名詞-マスク"

# After a name (suffix tokens in UniDic). After さん a place or a brand is a business (日立さん, 日産さん);
# after the others it is a person (山口様, 野村様, 大和くん).
HONORIFICS = frozenset({"様", "さま", "さん", "氏", "殿", "くん", "君", "ちゃん", "ちゃま"})
_BUSINESS_HONORIFICS = frozenset({"さん"})
# Titles written after a name (田中部長), and before one with の (店長の林さん).
_TITLES = frozenset({"部長", "課長", "係長", "社長", "店長", "副店長", "支店長", "所長", "工場長", "主任", "先生",
                     "会長", "専務", "常務", "次長", "室長", "院長", "医師", "教授", "先輩", "監督", "選手", "代表"})
# Titles that follow a place as often as a person: 日本代表, 東京所長.
_PLACE_TITLES = frozenset({"代表", "選手", "監督", "所長", "支店長", "工場長"})
# Before a name, then の, は, a colon or a space: who is named. Staff cues name people at work, whose
# surnames may be place or brand names too (担当の山口, 担当:野村); personal cues name family (息子の健太).
_STAFF_CUES = frozenset({"担当", "担当者", "係", "係員", "対応者", "受付", "受付者", "記入者", "作成者", "報告者",
                         "記録者", "氏名", "名前", "署名", "契約者", "申込者", "依頼者", "相談者", "購入者", "名義", "宛名",
                         "店員", "社員", "営業", "販売員", "配達員", "整備士", "技術者", "作業員", "上司", "責任者",
                         "オペレーター", "スタッフ", "ドライバー"}) | _TITLES
_PERSONAL_CUES = frozenset({"私", "わたし", "わたくし", "僕", "俺", "本人", "息子", "娘", "妻", "夫", "主人", "家内", "嫁",
                            "母", "父", "祖母", "祖父", "長男", "長女", "次男", "次女", "三男", "孫", "兄", "姉", "弟", "妹",
                            "子", "子供", "子ども", "友人", "知人"})
_CUES = _STAFF_CUES | _PERSONAL_CUES
# Cues whose value is a name however it is spelled (氏名:さとう ゆうこ).
_NAME_FIELDS = frozenset({"氏名", "名前", "署名", "宛名"})
_CUE_TAILS = ("者", "名", "欄")  # 担当+者, 担当+者+名, 氏名+欄
# Between a cue and the name.
_CONNECTORS = frozenset({"の", "は", ":", "、", ",", "=", "/", "・"})
# Common nouns that take an honorific or follow a cue without being a name (配達員さん, 奥様, 担当の方).
_ROLE_NOUNS = frozenset({
    "客", "担当", "担当者", "配達員", "運転手", "店員", "係", "皆", "みな", "皆様", "奥", "娘", "息子", "先生", "社長",
    "部長", "課長", "店長", "看護師", "医者", "業者", "ドライバー", "スタッフ", "オペレーター", "方", "人", "者", "相手",
    "家族", "母", "父", "主人", "お子", "子", "神", "仏", "王", "姫", "殿", "姉", "兄", "弟", "妹", "爺", "婆", "嫁", "婿",
    "孫", "坊", "嬢", "旦那", "隣", "隣り", "互い", "猫", "犬", "ワン", "ニャン", "パパ", "ママ", "大家", "大工", "御陰",
    "皆さん", "彼", "彼女", "友達", "本人", "先方", "上司", "部下", "後輩", "先輩", "同僚", "赤ちゃん", "お客", "客様",
    "貴方", "あなた", "自分", "私", "僕", "俺", "メーカー", "ディーラー", "会社", "店", "屋"})
# Nouns after 〜の that make a bare surname a place or a business: 金沢の店舗, 豊田の工場.
_PLACE_NOUNS = frozenset({"店舗", "店", "支店", "本店", "営業所", "販売店", "ディーラー", "工場", "倉庫", "事業所", "駅",
                          "空港", "港", "病院", "会社", "本社", "支社", "付近", "周辺", "方面", "地区", "地域", "市内",
                          "県内", "町内", "出身", "在住", "道路", "交差点", "店頭", "センター", "施設", "拠点", "量販店",
                          "家電量販店", "郵便局", "局", "工事", "現場", "物件", "住宅", "団地", "マンション"})
# Nouns that follow a person's name in notes without making one word of it (田中対応, 田中宛).
_PERSON_FOLLOWERS = frozenset({"対応", "担当", "宛", "宛て", "記", "拝", "作成", "記入", "確認", "方"}) | _TITLES
# Counters: 二名様 and 三人さん are numbers of people, not names like 七戸様 or 三岸さん.
_COUNTERS = frozenset("名人件個台回枚本日月年時分歳才階号番度点円箱袋組社店部課")
_NUMERALS = frozenset("一二三四五六七八九十百千万")
_SELF_INTRO_VERBS = frozenset({"申す", "申し上げる"})
_PLACE_HEADS = frozenset({"都", "道", "府", "県", "市", "区", "町", "村", "郡"})
# UniDic has 南様 as one common noun, and 南 is a common surname.
_GLUED_HONORIFIC = frozenset({"南様"})
# UniDic also glues 様 to one kanji in words nobody writes in a complaint (和様, 毛様, 水様, 山様):
# before 様 such a kanji is a surname (中和様, 三水様). These X様 words are words, not names.
_SAMA_WORDS = frozenset({"仕様", "模様", "有様", "文様", "紋様", "態様", "両様", "各様", "別様", "無様", "不様", "外様",
                         "逆様", "今様", "図様", "唐様", "体様", "変様", "様様", "同様", "異様", "多様", "一様", "左様",
                         "方様", "俗様", "旧様", "古様", "悪様", "横様", "時様", "面様", "本様", "百様", "膜様", "網様",
                         "髄様", "漠様", "絵様", "厚様", "薄様", "死様", "為様", "奥様", "皆様", "王様", "神様", "殿様",
                         "客様", "貴様", "姫様", "若様", "上様", "仏様"})
# Staff notes name who called: 〜より折り返し, 〜より入電 (田中より折り返し, 7/2 山口より入電).
_CONTACT_NOUNS = frozenset({"折り返し", "折返し", "入電", "架電", "連絡", "電話", "返信", "回答", "報告", "着信", "伝言"})

_KATAKANA = re.compile(r"[ァ-ヶー]+")
_KANJI_ANY = re.compile(r"[\u3400-\u9fff\U00020000-\U0002ffff々]")
_HIRAGANA = re.compile(r"[ぁ-ゖー]+")
_KANJI = re.compile(r"[々〆ヵヶ\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]+")
_TO_KATAKANA = {k: k + 0x60 for k in range(0x3041, 0x3097)}


@dataclass(frozen=True, slots=True)
class MaskedText:
    text: str
    tokens: list[Token]
    names: int


def mask_names(text: str, tokens: list[Token]) -> MaskedText:
    """Replace the person names in `text` (tokens from tokenize(for_tokenizer(text))) by 〔氏名〕.

    >>> text = "担当の田中さんがセレナのミラーを見た"
    >>> mask_names(text, tokenize(text)).text
    '担当の〔氏名〕さんがセレナのミラーを見た'
    """
    return _with_masks(text, tokens, name_spans(tokens))


def _with_masks(text: str, tokens: list[Token], spans: list[tuple[int, int]]) -> MaskedText:
    """`text` with each (first, end) token span replaced by 〔氏名〕, and its tokens to match."""
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
            out_tokens.append(Token(NAME, _MASK_POS, NAME, True, True, first.start + shift))
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


_START = attrgetter("start")
_PERSON_POS = frozenset({_SURNAME, _GIVEN, _PERSON + "-一般"})
# Surfaces that may introduce a name UniDic does not tag: honorifics, titles, cues, 〜と申します.
_TRIGGERS = HONORIFICS | _CUES | _GLUED_HONORIFIC | {"申し", "言い", "より", *_CUE_TAILS}


def name_spans(tokens: list[Token]) -> list[tuple[int, int]]:
    """(first, end) token ranges of the person names in `tokens`, in order, not overlapping.

    Works on a whole complaint as on a short cell: a cell that is only 「山田太郎」 or 「田中」 is one
    span; a cell that is only 「セレナ」 or 「サトウ」 has none (nothing says it is a person).
    """
    # Only person-name tags and the words that can introduce a name are looked at: most texts have
    # none, and one pass over the tokens (t[0] is the surface, t[1] the POS) finds them.
    hits = [i for i, t in enumerate(tokens) if t[0] in _ANY_TRIGGER or t[1] in _PERSON_POS or t[0][-1] == "様"]
    end = _signature_end(tokens)
    opening = len(tokens) > 1 and not _OPENING_COPULA.isdisjoint([t[0] for t in tokens[1:4]])
    latin = any(tokens[i][0] in _LATIN_TRIGGERS for i in hits)
    if not hits and end is None and not opening and not latin:
        return []
    found: list[tuple[int, int] | None] = []
    for i in hits:
        tok = tokens[i]
        surface = tok.surface
        if (surface in HONORIFICS and tok.pos.startswith("接尾辞")) or surface in _TITLES:
            found.append(_name_before(tokens, i, surface))
        elif surface in ("申し", "言い") and i and _introduces_oneself(tokens, i - 1):
            found.append(_name_before(tokens, i - 1, "と"))
        elif surface in _GLUED_HONORIFIC and _dictionary_name(surface[:-1]):
            found.append((i, i + 1))
        elif surface[-1] == "様" and len(surface) == 2:
            found.append(_glued_sama(tokens, i))
        elif surface == "より" and i + 1 < len(tokens) and tokens[i + 1].surface in _CONTACT_NOUNS:
            found.append(_caller_before(tokens, i))
        cue = _cue_word(tokens, i)
        if cue:
            found.append(_name_after_cue(tokens, i, cue))
        elif tok.pos in _PERSON_POS:
            found.append(_bare_name(tokens, i))
    if opening:
        found.append(_opening_name(tokens))
    if end is not None:
        found.append(_signature(tokens, end))
    if latin:
        found += _latin_names(tokens)
    return _merged([span for span in found if span])


# Romanised names are told by the same kinds of context, written the English way: a romanised
# honorific (Yamada-san, Tanaka sama), a title before (Mr. Yamada, Dr Smith) or a sign-off (Regards,
# Taro Yamada). The name is one or two capitalised Latin words; "Thanks for your help" has none.
_LATIN_HONORIFICS = frozenset({"san", "sama", "kun", "chan", "sensei", "dono", "San", "Sama", "Kun", "Chan", "Sensei"})
_LATIN_TITLES = frozenset({"Mr", "Mrs", "Ms", "Miss", "Dr", "Mister", "Madam", "Prof", "MR", "MRS", "MS", "DR"})
_SIGN_OFFS = frozenset({"Regards", "regards", "Sincerely", "sincerely", "Thanks", "thanks", "Cheers", "Best",
                        "Respectfully", "Yours", "yours", "From", "Signed"})
_LATIN_TRIGGERS = _LATIN_HONORIFICS | _LATIN_TITLES | _SIGN_OFFS
_ANY_TRIGGER = _TRIGGERS | _LATIN_TRIGGERS
_LATIN_NAME = re.compile(r"[A-Z][a-z'\-]+|[A-Z]{2,}")
_TITLE_CASE = re.compile(r"[A-Z][a-z'\-]+")   # a signature: Yamada, not ABC (a code)


def _latin_word(tokens: list[Token], k: int) -> bool:
    return 0 <= k < len(tokens) and bool(_LATIN_NAME.fullmatch(tokens[k].surface)) \
        and tokens[k].surface not in _LATIN_TRIGGERS


def _latin_names(tokens: list[Token]) -> list[tuple[int, int]]:
    """Spans of romanised names in an honorific, title or sign-off context."""
    spans = []
    for i, tok in enumerate(tokens):
        surface = tok.surface
        if surface in _LATIN_HONORIFICS and i >= 1:
            last = i - 2 if tokens[i - 1].surface == "-" and _glued(tokens, i) and _glued(tokens, i - 1) else i - 1
            if last == i - 1 and _gap(tokens[last], tok) != 1:
                continue  # Yamadasan is one word: not this rule
            if _latin_word(tokens, last):
                first = last - 1 if _latin_word(tokens, last - 1) and _gap(tokens[last - 1], tokens[last]) == 1 else last
                spans.append((first, last + 1))
        elif surface in _LATIN_TITLES or surface in _SIGN_OFFS:
            k = i + 1
            while k < len(tokens) and tokens[k].surface in (".", ",", ":") and k - i < 2:
                k += 1
            end = k
            while end < len(tokens) and end - k < 3 and _latin_word(tokens, end) \
                    and (end == k or _gap(tokens[end - 1], tokens[end]) == 1):
                end += 1
            if end > k and (surface in _LATIN_TITLES or end == len(tokens) or not tokens[end].surface.isascii()
                            or tokens[end].surface in (".", "!")):
                spans.append((k, end))
    return spans


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for first, end in sorted(spans):
        if out and first < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((first, end))
    return out


def _gap(left: Token, right: Token) -> int:
    """Characters between two tokens (the spaces and line breaks MeCab skipped)."""
    return right.start - left.start - len(left.surface)


def _glued(tokens: list[Token], i: int) -> bool:
    """Token i follows token i-1 with nothing between them."""
    return i > 0 and _gap(tokens[i - 1], tokens[i]) == 0


def _katakana_word_part(tokens: list[Token], i: int) -> bool:
    """ダン+ボール, アウト+ランダー: a katakana name glued to other katakana is part of a word."""
    if not _KATAKANA.fullmatch(tokens[i].surface):
        return False
    for j in (i - 1, i + 1):
        if 0 <= j < len(tokens) and _glued(tokens, max(i, j)) and _KATAKANA.fullmatch(tokens[j].surface) \
                and not tokens[j].pos.startswith(_PERSON):
            return True
    return False


def _name_part(tokens: list[Token], k: int) -> bool:
    """Can token k be part of a name once something says a name is there? 人名 tokens, words UniDic
    does not know (髙, 𠮷, Taro, ちゃむ), and a kanji glued after such an unknown kanji (𠮷+田)."""
    tok = tokens[k]
    if tok.pos.startswith(_PERSON):
        return not _katakana_word_part(tokens, k)
    surface = tok.surface
    if not tok.known:
        return surface.isalpha() and (tok.pos.startswith(("名詞", "記号")) or bool(_KANJI.fullmatch(surface)))
    if tok.pos.startswith("記号-一般"):
        return surface.isalpha()
    return _glued(tokens, k) and not tokens[k - 1].known and bool(_KANJI.fullmatch(tokens[k - 1].surface)) \
        and bool(_KANJI.fullmatch(surface)) and tok.pos.startswith(("名詞", "接尾辞"))


def _name_like(tokens: list[Token], k: int, context: str) -> bool:
    """Can token k be (the end of) a name in this context: an honorific, a title, 'と' of 〜と申します,
    'staff' or 'personal' for a cue before it, 'end' for a signature?"""
    tok = tokens[k]
    surface, pos = tok.surface, tok.pos
    if surface in _ROLE_NOUNS or tok.lemma in _ROLE_NOUNS:
        return False
    if _name_part(tokens, k):
        # ホンダさん, NECさん: before さん a Japanese name written in katakana whose usual reading is a
        # brand or a place (people write 本田), or an acronym, is a business; グエンさん, サントスさん
        # (foreign names, 人名-一般) are people.
        return not (context in _BUSINESS_HONORIFICS and (
            (pos.startswith((_SURNAME, _GIVEN)) and _KATAKANA.fullmatch(surface) and _business_word(surface))
            or _ACRONYM.fullmatch(surface)))
    if pos.startswith((_PLACE, _PROPER)):
        # 山口様, 山口課長, 野村様, ヤマダ様, 担当の山口: places and brands are surnames too; 日立さん,
        # 日産さん, ヤマトさん are businesses, 日本代表 a team.
        if context in _BUSINESS_HONORIFICS or context in _PLACE_TITLES or context == "personal":
            return False
        if context == "より":   # 松尾より折り返し, but 東京より入電: a place the dictionary also reads as a surname
            return bool(_KANJI.fullmatch(surface)) and _dictionary_name(surface)
        return bool(_KANJI.fullmatch(surface)) or (context in HONORIFICS and bool(_KATAKANA.fullmatch(surface)))
    if pos.startswith("名詞-普通名詞") and _KANJI.fullmatch(surface):
        # 西さん, 星さん: one kanji before an honorific; 森 after 担当の and before 課長 (not 本+部長,
        # 前+社長): asked of the dictionary
        if context in HONORIFICS and len(surface) == 1:
            # not a counter after a number: 二名様, 三人さん
            return surface not in _COUNTERS or not (_glued(tokens, k) and tokens[k - 1].pos.startswith("名詞-数詞"))
        return len(surface) <= 3 and _dictionary_name(surface)
    return False


def _name_before(tokens: list[Token], anchor: int, context: str) -> tuple[int, int] | None:
    """The name right before an honorific, a title or と of 〜と申します at `anchor`, if any."""
    last = anchor - 1
    if last < 0 or _gap(tokens[last], tokens[anchor]) > 1 or tokens[last].pos == _MASK_POS:
        return None
    if _HIRAGANA.fullmatch(tokens[last].surface):
        hiragana = _hiragana_name_before(tokens, anchor)
        if hiragana:
            return hiragana
    first = _numbered_name_start(tokens, last) if context != "と" else None
    if first is None:
        if not _name_like(tokens, last, context):
            return _split_kanji_name(tokens, anchor) if context in _CHILD_HONORIFICS else None
        first = last
    # 山田 太郎様, マイケル・ジョーダンさん, 髙+橋: back over name parts, one space at most between them.
    while first > 0 and anchor - first < 5:
        if _name_part(tokens, first - 1) and _gap(tokens[first - 1], tokens[first]) <= 1:
            first -= 1
        elif tokens[first - 1].surface in ("・", "=") and first > 1 and _name_part(tokens, first - 2) \
                and tokens[first].pos.startswith(_PERSON):
            first -= 2
        else:
            break
    return (first, anchor)


def _clause_start(tokens: list[Token], k: int) -> bool:
    """Does token k start a clause: the text's start, after a space or line break, or after punctuation?"""
    return k == 0 or _gap(tokens[k - 1], tokens[k]) > 0 or tokens[k - 1].surface in _OPENING \
        or tokens[k - 1].pos.startswith("補助記号")


def _caller_before(tokens: list[Token], yori: int) -> tuple[int, int] | None:
    """田中より折り返し, 7/2 三岸より入電: who called, at the start of a note's clause."""
    span = _name_before(tokens, yori, "より")
    return span if span and _clause_start(tokens, span[0]) else None


def _glued_sama(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """中+和様, 三+水様, 毛様: a surname UniDic read as one word with 様 (not 仕様, 模様, 奥様)."""
    tok = tokens[i]
    if tok.surface in _SAMA_WORDS or tok.surface[0] in _ROLE_NOUNS or not tok.pos.startswith("名詞-普通名詞") \
            or not _KANJI.fullmatch(tok.surface):
        return None
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    if after and _glued(tokens, i + 1) and after.pos.startswith(("名詞", "接尾辞")):
        return None  # 和様建築: the word goes on
    first = i
    while first > 0 and i - first < 2 and _glued(tokens, first) and len(tokens[first - 1].surface) == 1 \
            and _KANJI.fullmatch(tokens[first - 1].surface) and tokens[first - 1].pos.startswith(("接頭辞", "名詞-数詞")):
        first -= 1
    return (first, i + 1) if _clause_start(tokens, first) or tokens[first - 1].surface == "の" else None


def _split_kanji_name(tokens: list[Token], anchor: int) -> tuple[int, int] | None:
    """真+一くん, 十+次くん: before くん or ちゃん (said of children, never of a business), a name of two
    or three kanji UniDic cut into single characters."""
    first = anchor
    while first > 0 and anchor - first < 3 and len(tokens[first - 1].surface) == 1 \
            and _KANJI.fullmatch(tokens[first - 1].surface) and (first == anchor or _glued(tokens, first)) \
            and tokens[first - 1].surface not in _COUNTERS and tokens[first - 1].surface not in _ROLE_NOUNS:
        first -= 1
    if anchor - first < 2 or (first > 0 and _glued(tokens, first) and _KANJI.fullmatch(tokens[first - 1].surface[-1])):
        return None
    return (first, anchor)


_CHILD_HONORIFICS = frozenset({"くん", "君", "ちゃん", "ちゃま"})


def _numbered_name_start(tokens: list[Token], last: int) -> int | None:
    """七戸様, 三岸さん: UniDic splits a surname that starts with a numeral into 七 + 戸. Not 二名様."""
    if last < 1 or not _glued(tokens, last) or tokens[last].surface in _COUNTERS \
            or not _KANJI.fullmatch(tokens[last].surface) or tokens[last].pos.startswith("接尾辞-名詞的-助数詞"):
        return None
    number = tokens[last - 1]
    if number.pos.startswith("名詞-数詞") and all(ch in _NUMERALS for ch in number.surface) \
            and not (last > 1 and _glued(tokens, last - 1) and tokens[last - 2].pos.startswith("名詞-数詞")):
        return last - 1
    return None


def _hiragana_name_before(tokens: list[Token], anchor: int) -> tuple[int, int] | None:
    """しょう+へい+ちゃん, さとう様, お+りえ+ちゃん: a name in hiragana that UniDic splits or reads
    as something else (砂糖), checked by reading it in katakana."""
    first, chars = anchor, 0
    while first > 0:
        tok = tokens[first - 1]
        if not _HIRAGANA.fullmatch(tok.surface) or _gap(tok, tokens[first]) or chars + len(tok.surface) > 6 \
                or tok.surface in HONORIFICS or (tok.surface == "の" and first > 1 and tokens[first - 2].surface in _CUES):
            break
        first -= 1
        chars += len(tok.surface)
    # 娘の|としちゃん: after a cue and の, the whole run is the name, however UniDic reads it.
    cued = first > 1 and tokens[first - 1].surface == "の" and tokens[first - 2].surface in _CUES
    # さんと|おばあちゃん: elsewhere particles before the name are not part of it.
    while not cued and first < anchor - 1 and tokens[first].pos.startswith("助詞"):
        chars -= len(tokens[first].surface)
        first += 1
    run = tokens[first:anchor]
    word = run[1:] if run and run[0].pos.startswith("接頭辞") else run
    if chars < 2 or (len(word) == 1 and (word[0].surface in _ROLE_NOUNS or word[0].lemma in _ROLE_NOUNS)):
        return None  # おかあさん, みなさま, ばあちゃん
    surface = "".join(t.surface for t in run)
    return (first, anchor) if cued or _dictionary_name(surface.translate(_TO_KATAKANA), any_kind=True) else None


def _introduces_oneself(tokens: list[Token], i: int) -> bool:
    """と申します, と申し上げます, と言います (not と言われた, と言った)."""
    if i + 1 >= len(tokens) or not tokens[i].pos.startswith("助詞"):
        return False
    verb = tokens[i + 1].lemma
    return verb in _SELF_INTRO_VERBS or (verb == "言う" and i + 2 < len(tokens) and tokens[i + 2].surface == "ます")


def _cue_word(tokens: list[Token], i: int) -> str:
    """The cue word (担当, 担当者, 担当者名, 氏名欄 …) that ends at token i, or ''."""
    word = tokens[i].surface
    if word not in _TRIGGERS:
        return ""
    if i + 1 < len(tokens) and tokens[i + 1].surface in _CUE_TAILS and _glued(tokens, i + 1):
        return ""  # the cue goes on: 担当|者
    k = i
    while tokens[k].surface in _CUE_TAILS and i - k < 2 and _glued(tokens, k):
        k -= 1
        word = tokens[k].surface + word
    if word in _CUES or (word[-1] in ("名", "欄") and word[:-1] in _CUES):
        return word
    return ""


def _name_after_cue(tokens: list[Token], cue: int, word: str) -> tuple[int, int] | None:
    """The name after 担当の, 氏名:, 息子の, 店長の …, if any."""
    field = word in _NAME_FIELDS or word.endswith(("名", "欄"))
    context = "personal" if word in _PERSONAL_CUES else "staff"
    start = cue + 1
    if start < len(tokens) and tokens[start].surface in _CONNECTORS:
        start += 1
    elif start < len(tokens) and _glued(tokens, start) and not field:
        return None  # 担当部署, 娘婿: the cue is part of a longer word
    if start >= len(tokens):
        return None
    end = start + 1
    if context == "staff" and start + 1 < len(tokens) and _numbered_name_start(tokens, start + 1) == start:
        end = start + 2  # 担当の三岸
    elif not (_name_like(tokens, start, context) or (field and _spelled_name(tokens[start]))):
        return None
    while end < len(tokens) and end - start < 4 and _gap(tokens[end - 1], tokens[end]) <= 1 \
            and (_name_part(tokens, end) or (field and _spelled_name(tokens[end]))
                 or (field and _gap(tokens[end - 1], tokens[end]) == 1 and _given_name(tokens[end].surface))):
        end += 1
    after = tokens[end] if end < len(tokens) else None
    if after and _glued(tokens, end) and after.pos.startswith(("名詞", "接尾辞")) \
            and after.surface not in _PERSON_FOLLOWERS and after.surface not in HONORIFICS:
        return None  # 担当の森林組合: the word goes on
    return (start, end)


def _given_name(surface: str) -> bool:
    """氏名:八幡 学: a kanji word after the surname and a space that UniDic reads as a given name."""
    return len(surface) <= 3 and bool(_KANJI.fullmatch(surface)) and _dictionary_name(surface)


def _spelled_name(tok: Token) -> bool:
    """In a name field a name spelled in kana or Latin letters is the name however UniDic reads it
    (さとう ゆうこ, Taro); a kanji word must look like a name on its own (宛名の会社名 is no name)."""
    return tok.surface.isalpha() and not _KANJI_ANY.search(tok.surface) \
        and not tok.pos.startswith(("助詞", "助動詞", "補助記号"))


def _bare_name(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """A name with no context around it: a surname and a given name (山田太郎), or a kanji surname
    that does not start a place or business name (田中, but not 豊田市, 鈴木自動車, 金沢の店舗)."""
    if i and tokens[i - 1].pos.startswith(_PERSON) and _gap(tokens[i - 1], tokens[i]) <= 1:
        return None  # inside a run already looked at
    end = i + 1
    while end < len(tokens) and tokens[end].pos.startswith(_PERSON) and _gap(tokens[end - 1], tokens[end]) <= 1:
        end += 1
    run = tokens[i:end]
    if any(_katakana_word_part(tokens, k) for k in range(i, end)):
        return None
    first = i
    # 髙橋一郎: a surname in a rare kanji is an unknown word right before the given name.
    while first > 0 and not tokens[first - 1].known and _KANJI.fullmatch(tokens[first - 1].surface) \
            and _glued(tokens, first):
        first -= 1
    if first < i or any(a.pos.startswith(_SURNAME) and b.pos.startswith(_GIVEN) for a, b in pairwise(run)):
        return (first, end)
    if not (len(run) == 1 and run[0].pos.startswith(_SURNAME) and _KANJI.fullmatch(run[0].surface)):
        return None
    after = tokens[end] if end < len(tokens) else None
    if after and _glued(tokens, end) and after.pos.startswith(("名詞", "接尾辞")) \
            and after.surface not in _PERSON_FOLLOWERS and after.surface not in HONORIFICS:
        return None  # 豊田市, 鈴木自動車, 吉野家
    if after and after.surface == "の" and _place_follows(tokens, end + 1):
        return None  # 金沢の店舗, 豊田の営業所
    if _glued(tokens, i) and (tokens[i - 1].pos.startswith(_PLACE) or tokens[i - 1].surface in _PLACE_HEADS):
        return None  # 愛知県岡崎
    return (i, end)


_PLACE_ENDINGS = ("店", "所", "場", "駅", "局", "社", "館", "院", "署", "港", "センター")


def _place_follows(tokens: list[Token], k: int) -> bool:
    """Does a place or business noun start at token k: 店舗, 営業+所, 家電+量販+店?"""
    word, end = "", k
    while end < len(tokens) and end - k < 4 and tokens[end].pos.startswith(("名詞", "接尾辞")) \
            and (end == k or _glued(tokens, end)):
        word += tokens[end].surface
        end += 1
    return bool(word) and (word in _PLACE_NOUNS or tokens[k].surface in _PLACE_NOUNS or word.endswith(_PLACE_ENDINGS))


def _opening_name(tokens: list[Token]) -> tuple[int, int] | None:
    """田中です。 / こちら森です: a name that opens the text and introduces the writer."""
    start = 0
    if tokens and tokens[0].surface in ("こちら", "私", "わたくし", "僕"):
        start = 2 if len(tokens) > 2 and tokens[1].surface in ("は", "、") else 1
    end = start
    while end < len(tokens) and end - start < 4 and (end == start or _gap(tokens[end - 1], tokens[end]) <= 1) \
            and (_name_part(tokens, end) or _name_like(tokens, end, "staff")):
        end += 1
    if end == start or end >= len(tokens) or tokens[end].surface not in _OPENING_COPULA:
        return None
    return (start, end)


_OPENING_COPULA = frozenset({"です", "でございます"})
_CLOSING = frozenset({"。", ")", "」", "】", "!", "?", ".", "』"})
_OPENING = frozenset({"。", "(", "「", "【", "!", "?", "、", "―", "-", "ー", "〜", "/"})
_LATIN_SIGNATURE_AFTER = frozenset({"。", "(", "「", "【", "―", "ー", "〜"})


def _signature_end(tokens: list[Token]) -> int | None:
    """The index of the last word when the text ends like a signature (〜。田中 / (森)), else None."""
    end = len(tokens) - 1
    while end >= 0 and tokens[end].surface in _CLOSING:
        end -= 1
    if end < 1 or len(tokens) - 1 - end > 2:
        return None
    last = tokens[end]
    if last.pos.startswith("名詞-固有名詞") or not last.known:
        return end
    # (森), 。西: a one- or two-kanji common noun alone after an opening mark
    if last.pos.startswith("名詞-普通名詞") and len(last.surface) <= 2 and tokens[end - 1].surface in _OPENING:
        return end
    return None


def _signature(tokens: list[Token], end: int) -> tuple[int, int] | None:
    """A name alone after the last sentence (〜お願いします。山田花子), or in brackets at the end."""
    first = end + 1
    while first > 0 and end - first < 2 and (_name_part(tokens, first - 1) or (
            first == end + 1 and _name_like(tokens, end, "end"))):
        first -= 1
    if first > end or first == 0:
        return None  # nothing name-like, or a text that is only a name: no context says it is a person
    before = tokens[first - 1]
    if not (before.surface in _OPENING or _gap(before, tokens[first]) > 0):
        return None
    run = tokens[first:end + 1]
    bracketed = before.surface == "("
    if any(t.surface.isascii() for t in run) and not (
            before.surface in _LATIN_SIGNATURE_AFTER and all(_TITLE_CASE.fullmatch(t.surface) for t in run)):
        # English text ends in words UniDic does not know ("…makes a loud noise"): a romanised
        # signature is capitalised and follows a Japanese sentence or a bracket (〜お願いします。Taro Yamada).
        return None
    if not bracketed and all(t.pos.startswith(_PERSON + "-一般") and _KATAKANA.fullmatch(t.surface) for t in run):
        return None  # 〜の不具合。セレナ: a foreign name alone after a sentence is too often a model
    if not bracketed and not any(_name_part(tokens, k) for k in range(first, end + 1)) \
            and run[-1].pos.startswith((_PLACE, _PROPER)):
        return None  # 〜発送。大阪: a place alone; (宮城) in brackets is a signature
    return (first, end + 1)


@lru_cache(maxsize=4096)
def _dictionary_name(surface: str, any_kind: bool = False) -> bool:
    """Does UniDic read `surface` as a surname or given name (`any_kind`: any person name) when it
    is followed by さん? (森, 翁, ショウヘイ; ジロー is 人名-一般)"""
    if not surface or surface in _ROLE_NOUNS or len(surface) > 6:
        return False
    probe = tokenize(surface + "さん")
    kinds = (_PERSON,) if any_kind else (_SURNAME, _GIVEN)
    # known: before さん MeCab tags any unknown katakana as a name
    return len(probe) == 2 and probe[0].surface == surface and probe[0].known and probe[0].pos.startswith(kinds)


_ACRONYM = re.compile(r"[A-Z&]{2,4}")


@lru_cache(maxsize=4096)
def _business_word(surface: str) -> bool:
    """Does UniDic read `surface` as a brand or a place when nothing says it is a person (ホンダの)?"""
    probe = tokenize(surface + "の")
    return len(probe) == 2 and probe[0].surface == surface and probe[0].known and probe[0].pos.startswith((_PROPER, _PLACE))


# ---------------------------------------------------------------- short cells
#
# Extra columns (備考, 契約者, 連絡先 …), product, department, status and the like hold short values,
# where a name has no sentence around it. A cell goes through the same masks as free text, and is
# masked whole when it is wholly a phone number, an e-mail or a person's name: by UniDic's tags (山田太郎,
# サトウ, ｽｽﾞｷ ｲﾁﾛｳ; not セレナ or ミラー, which UniDic lists as foreign names too), or, in a column whose
# cells are mostly such names (a 契約者 column), any cell shaped like a name (Taro Yamada, セレナ).

_WHOLE_PHONE = re.compile(r"(?:\+81[ -]?|0)[0-9()\- ]{8,16}")
_SKIPPED = ("補助記号", "空白", "記号")
_NAME_TAGS = (_SURNAME, _GIVEN)
# A column is a names column when at least this share of its distinct cells (and two of them) are names.
NAMES_COLUMN_SHARE = 0.5


def _content(tokens: list[Token]) -> list[int]:
    return [k for k, t in enumerate(tokens) if not t.pos.startswith(_SKIPPED) and t.surface != "・"]


def _wholly_name(tokens: list[Token], spans: list[tuple[int, int]]) -> bool:
    """Is the cell only a person's name by UniDic's tags (or the free-text rules: `spans`)?"""
    content = _content(tokens)
    if not content:
        return False
    covered = {k for first, end in spans for k in range(first, end)}
    if all(k in covered for k in content):
        return True
    if not all(tokens[k].pos.startswith(_NAME_TAGS) or _name_part(tokens, k) and not tokens[k].known
               for k in content):
        return False
    if len(content) == 1 and _business_word(tokens[content[0]].surface):
        return False  # ホンダ, マツダ: a brand alone
    return any(tokens[k].pos.startswith(_NAME_TAGS) for k in content)


def _name_shaped(text: str, tokens: list[Token]) -> bool:
    """In a names column: a cell of a few proper nouns, unknown words, kana or Latin words, no digits."""
    content = _content(tokens)
    if not content or len(content) > 4 or len(text) > 30 or any(ch.isdigit() for ch in text):
        return False
    return all(tokens[k].pos.startswith("名詞-固有名詞") or not tokens[k].known
               or _KATAKANA.fullmatch(tokens[k].surface) or _HIRAGANA.fullmatch(tokens[k].surface)
               or (tokens[k].surface.isascii() and tokens[k].surface.isalpha()) for k in content)


def mask_column(values: list[str]) -> dict[str, str]:
    """{cell: masked cell} for the distinct cells of one short-cell column that masking changes: the
    number and regex masks, names anywhere in the cell, and a cell masked whole when it is wholly a
    name or a phone number. Cells not in the result are stored as they are. The masked cells are
    NFKC-normalized on the way, like free text.

    >>> mask_column(["山田太郎", "サトウ", "セレナ", "田中様より入電", "2025/04/01"])
    {'山田太郎': '〔氏名〕', 'サトウ': '〔氏名〕', '田中様より入電': '〔氏名〕様より入電'}
    """
    present = [value for value in values if value and value.strip()]
    # One Arrow pass and one MeCab stream for the whole column: per cell they cost several times more.
    parsed = [(value, plain, mask_regex(plain)) for value, plain in
              zip(present, (plain.strip() for plain in normalize_many(present)))]
    tokens_of = dict(zip((regexed for _v, _p, regexed in parsed),
                         tokenize_stream([for_tokenizer(regexed) for _v, _p, regexed in parsed])))
    spans_of = {regexed: name_spans(tokens) for regexed, tokens in tokens_of.items()}
    whole = {value for value, _plain, regexed in parsed if _wholly_name(tokens_of[regexed], spans_of[regexed])}
    names_column = len(whole) >= 2 and len(whole) >= NAMES_COLUMN_SHARE * len(parsed)
    out: dict[str, str] = {}
    for value, plain, regexed in parsed:
        tokens = tokens_of[regexed]
        if value in whole or (names_column and _name_shaped(regexed, tokens)):
            masked = NAME
        elif _WHOLE_PHONE.fullmatch(regexed) and 10 <= sum(ch.isdigit() for ch in regexed) <= 13:
            masked = PHONE
        else:
            masked = _with_masks(regexed, tokens, spans_of[regexed]).text
        if masked != plain:
            out[value] = masked
    return out


def mask_cells(values: list[str | None]) -> list[str | None]:
    """Every cell of one column as it is stored (mask_column; the cells it leaves alone unchanged)."""
    changed = mask_column(list({v for v in values if v}))
    return [changed.get(v, v) if v else v for v in values]


# 「…」 in our reasons; '…' and "…" in a database error a failure message carries as its detail.
_QUOTED = re.compile(r"(「)([^「」]*)(」)|(')([^'\n]{1,200})(')|(\")([^\"\n]{1,200})(\")")


def mask_quoted(message: str) -> str:
    """A message that quotes values (受付日時「…」を日付として読めません; Could not convert '…'): every
    quoted value masked as a cell, the rest by the regex masks, so a stored reason never quotes
    personal data in clear."""
    if not message:
        return message
    found = [next(g for g in m.groups()[1::3] if g is not None) for m in _QUOTED.finditer(message)]
    changed = mask_column(found) if found else {}

    def replace(match: re.Match) -> str:
        opening, value, closing = next(match.groups()[k:k + 3] for k in (0, 3, 6) if match.group(k + 1) is not None)
        return opening + changed.get(value, value) + closing

    return mask_regex(_QUOTED.sub(replace, message))


def mask_text(text: str) -> MaskedText:
    """Full masking of one raw string in Python: normalize, regexes, tokenize once, names."""
    regex_masked = mask_regex(normalize(text))
    return mask_names(regex_masked, tokenize(for_tokenizer(regex_masked)))


def doc_from_text(case_id: str, text: str) -> CaseDoc:
    """A CaseDoc straight from raw text (tests, rule previews): the same steps as a load."""
    masked = mask_text(text)
    terms = tuple(Term(i, t.surface, t.lemma, t.pos, t.negated) for i, t in enumerate(masked.tokens) if t.content)
    return CaseDoc(case_id, masked.text, terms)


__all__ = ["CARD", "HONORIFICS", "MASK_CLOSE", "MASK_OPEN", "MY_NUMBER", "PATTERNS", "MaskedText", "doc_from_text",
           "luhn_valid", "mask_cells", "mask_column", "mask_names", "mask_numbers", "mask_quoted", "mask_regex", "mask_sql_macro",
           "mask_text", "my_number_valid", "name_spans"]
