"""Generated complaint texts for measuring name masking, with every planted item's position known.

    from bench.masking_corpus import generate
    texts = generate("dev", names=3000, name_free=3000, seed=12)

Nothing here was fetched: the templates in bench/data/masking/ are written by hand (complaints,
call-centre notes, e-mails, defect reports, hand-over notes in varied registers), and the words put
into them come from two places —

- the installed unidic-lite dictionary itself (its sys.dic, read directly): real surnames, given
  names and foreign names (名詞-固有名詞-人名-姓/名/一般), place names (地名), brand names
  (固有名詞-一般), and the katakana common nouns UniDic *also* lists as person names (ミラー, ギア,
  ショート, ロック …), which are exactly what a careless masker hides;
- short hand-written lists in bench/data/masking/words.txt (common surnames and given names,
  foreign names, car and appliance parts, car models, products, companies, places).

Each template set (dev, heldout) has its own templates, and every word pool is split in two halves
by a stable hash of the word: the held-out set tests templates *and* names the rules were never
looked at against.
"""
from __future__ import annotations

import random
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "masking"
SETS = ("dev", "heldout")
# Later held-out sets, each in its own folder: bench/data/masking/<set>/templates.txt (same syntax as
# templates_<set>.txt) and optionally words.txt, whose sections replace the shared lists of the same
# name (whole, not halved); the other pools are the held-out half. Opt-in: bench_masking.py --sets <set>.
FOLDER_SETS = tuple(sorted(p.name for p in DATA.iterdir() if (p / "templates.txt").is_file()))
ALL_SETS = SETS + FOLDER_SETS

# Kinds of planted items. NAME must be masked; the PII kinds must be masked by the regexes; every
# other kind must come out verbatim.
NAME = "name"
CODE = "code"   # order and lot numbers: must come out verbatim, after the regex and number masks too
PII_KINDS = ("phone", "email", "postal", "address")
PROTECTED_KINDS = ("part", "model", "product", "place", "company", "trap")

_KANJI = re.compile(r"^[一-龥々]+$")
_KATAKANA = re.compile(r"^[ァ-ヶー]+$")
_SLOT = re.compile(r"\{([A-Z]+)\}|\[([^\[\]]*)\]")
_NAME_SLOT = re.compile(r"\{(SEI|FULL|MEI|KSEI|KMEI|HMEI|FOREIGN|NAME)\}")


@dataclass(frozen=True)
class Segment:
    kind: str      # "text" for template wording, NAME, a PII kind or a protected kind
    text: str      # as written into the raw text (width variants included)
    form: str = ""  # for names: sei, full, mei, ksei, kmei, hmei, foreign


@dataclass(frozen=True)
class Generated:
    set_name: str
    template: int           # line number in the template file
    segments: tuple[Segment, ...]

    @property
    def raw(self) -> str:
        return "".join(s.text for s in self.segments)

    @property
    def has_name(self) -> bool:
        return any(s.kind == NAME for s in self.segments)


# ---------------------------------------------------------------- the dictionary's own words

def _dictionary_nouns() -> dict[str, dict[str, int]]:
    """POS ('名詞-固有名詞-人名-姓' …) → {orthography: lowest word cost} for every noun in sys.dic.

    sys.dic is MeCab's binary dictionary: a 72-byte header, the double array, 16-byte token records
    (left id, right id, POS id, cost, feature offset, compound) and the NUL-terminated feature
    strings. UniDic's features are pos1-4, cType, cForm, lForm, lemma, orth, …: field 8 is the
    written form. A lower cost means a more frequent word.
    """
    import numpy as np  # local: only the corpus generator reads the dictionary's binary records
    import unidic_lite

    data = (Path(unidic_lite.DICDIR) / "sys.dic").read_bytes()
    dsize, tsize, fsize = struct.unpack_from("<3I", data, 24)
    start = 72 + dsize
    records = np.frombuffer(data, count=tsize // 16, offset=start, dtype=np.dtype(
        [("left", "<u2"), ("right", "<u2"), ("pos", "<u2"), ("cost", "<i2"), ("feature", "<u4"), ("compound", "<u4")]))
    features = data[start + tsize:start + tsize + fsize]
    noun = "名詞".encode()
    out: dict[str, dict[str, int]] = {}
    for offset, cost in zip(records["feature"].tolist(), records["cost"].tolist()):
        if not features.startswith(noun, offset):
            continue
        fields = features[offset:features.index(b"\0", offset)].decode("utf-8").split(",")
        pos = "-".join(f for f in fields[:4] if f != "*")
        words = out.setdefault(pos, {})
        orth = fields[8]
        if orth not in words or cost < words[orth]:
            words[orth] = cost
    return out


def _by_frequency(words: dict[str, int], pattern: re.Pattern, limit: int, min_len: int = 1,
                  max_len: int = 8) -> list[str]:
    chosen = sorted((cost, w) for w, cost in words.items()
                    if pattern.match(w) and min_len <= len(w) <= max_len)
    return [w for _cost, w in chosen[:limit]]


def _half(words: list[str], set_name: str) -> list[str]:
    """The words of one set: a stable hash splits every pool into a dev half and a held-out half."""
    keep = SETS.index(set_name if set_name in SETS else "heldout")
    return [w for w in words if zlib.crc32(w.encode()) % 2 == keep]


def _hand_lists(path: Path = DATA / "words.txt") -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = lists.setdefault(line[1:-1], [])
            continue
        current.extend(line.split())
    return lists


@lru_cache(maxsize=2)
def pools(set_name: str) -> dict[str, list[str]]:
    """Word pools for one set, each list ordered most frequent first."""
    nouns = _dictionary_nouns()
    hand = _hand_lists()
    sei, mei, other = (nouns["名詞-固有名詞-人名-" + k] for k in ("姓", "名", "一般"))
    common = {**nouns["名詞-普通名詞-一般"], **nouns["名詞-普通名詞-サ変可能"]}
    person = set(sei) | set(mei) | set(other)
    # Katakana common nouns that UniDic also lists as person names, the common reading the more frequent.
    trap = sorted((cost, w) for w, cost in common.items() if w in person and _KATAKANA.match(w) and len(w) >= 2)
    lexicon = {
        "sei": _by_frequency(sei, _KANJI, 1500, 1, 3),
        "mei": [w for w in _by_frequency(mei, _KANJI, 3000, 1, 3) if w not in common][:1200],
        "ksei": _by_frequency(sei, _KATAKANA, 400, 2),
        "kmei": [w for w in _by_frequency(mei, _KATAKANA, 800, 2, 5) if w not in common],
        "foreign": [w for w in _by_frequency(other, _KATAKANA, 1500, 2, 6) if w not in common][:800],
        "trap": [w for _cost, w in trap[:400]],
        "place": _by_frequency(nouns["名詞-固有名詞-地名-一般"], _KANJI, 1500, 2, 4),
        "brand": _by_frequency(nouns["名詞-固有名詞-一般"], _KATAKANA, 600, 3, 8),
    }
    out = {}
    for key, words in lexicon.items():
        out[key] = _half(words, set_name)
    for key, words in hand.items():
        out[key] = _half(words, set_name)
    own = DATA / set_name / "words.txt"
    if set_name in FOLDER_SETS and own.is_file():
        out.update(_hand_lists(own))
    return out


# ---------------------------------------------------------------- filling templates

def templates(set_name: str) -> list[tuple[int, str]]:
    """(line number, template) of bench/data/masking/templates_<set>.txt (or <set>/templates.txt)."""
    path = DATA / set_name / "templates.txt" if set_name in FOLDER_SETS else DATA / f"templates_{set_name}.txt"
    lines = path.read_text(encoding="utf-8").split("\n")
    return [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]


_HIRAGANA = {chr(k): chr(k - 0x60) for k in range(0x30A1, 0x30F7)}
_HALF = {unicodedata.normalize("NFKC", chr(c)): chr(c) for c in range(0xFF66, 0xFF9E)}
_HALF_VOICED = {unicodedata.normalize("NFKC", chr(c) + "ﾞ"): chr(c) + "ﾞ" for c in range(0xFF76, 0xFF8F)}
_HALF_VOICED.update({unicodedata.normalize("NFKC", chr(c) + "ﾟ"): chr(c) + "ﾟ" for c in range(0xFF8A, 0xFF8F)})


def _hiragana(word: str) -> str:
    return "".join(_HIRAGANA.get(ch, ch) for ch in word)


def half_width_kana(text: str) -> str:
    """ガギグ → ｶﾞｷﾞｸﾞ: how old call-centre systems store katakana."""
    table = {**_HALF, **_HALF_VOICED, "ー": "ｰ", "、": "､", "。": "｡", "「": "｢", "」": "｣", "・": "･"}
    return "".join(table.get(ch, ch) for ch in text)


def full_width_ascii(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ("\u3000" if ch == " " else ch) for ch in text)


class _Filler:
    """Draws the words of one text. Frequent words are drawn more often (a Zipf-like rank weight)."""

    def __init__(self, rng: random.Random, words: dict[str, list[str]]):
        self.rng, self.words = rng, words

    def pick(self, key: str) -> str:
        pool = self.words[key]
        # rank r is drawn with weight ~ 1/(r+20) (inverse of its CDF): the head dominates, the tail still appears.
        index = int(20 * ((len(pool) + 20) / 20) ** self.rng.random() - 20)
        return pool[min(index, len(pool) - 1)]

    def surname(self) -> str:
        return self.pick("surnames" if self.rng.random() < 0.6 else "sei")

    def given(self) -> str:
        return self.pick("given" if self.rng.random() < 0.6 else "mei")

    def name(self, slot: str) -> Segment:
        rng = self.rng
        if slot == "NAME":  # a name of any form, as complaints actually write them
            slot = rng.choices(["SEI", "FULL", "KSEI", "FOREIGN", "HMEI"], [60, 22, 8, 7, 3])[0]
        if slot == "SEI":
            return Segment(NAME, self.surname(), "sei")
        if slot == "FULL":
            sep = rng.choices(["", " ", "\u3000"], [60, 25, 15])[0]
            return Segment(NAME, self.surname() + sep + self.given(), "full")
        if slot == "MEI":
            return Segment(NAME, self.given(), "mei")
        if slot == "KSEI":
            return Segment(NAME, self.pick("ksei"), "ksei")
        if slot == "KMEI":
            return Segment(NAME, self.pick("kmei"), "kmei")
        if slot == "HMEI":
            return Segment(NAME, _hiragana(self.pick("kmei")), "hmei")
        if slot == "FOREIGN":
            return Segment(NAME, self.pick("foreign" if rng.random() < 0.5 else "foreign_names"), "foreign")
        raise KeyError(slot)

    def item(self, slot: str) -> Segment:
        rng = self.rng
        if slot in ("SEI", "FULL", "MEI", "KSEI", "KMEI", "HMEI", "FOREIGN", "NAME"):
            return self.name(slot)
        if slot == "PART":  # of a car, or of anything
            return Segment("part", self.pick("parts"))
        if slot == "APART":  # of an appliance or product
            return Segment("part", self.pick("appliance_parts"))
        if slot == "TRAP":
            return Segment("trap", self.pick("trap"))
        if slot == "MODEL":
            return Segment("model", self.pick("models") if rng.random() < 0.7 else self.pick("brand"))
        if slot == "PRODUCT":
            return Segment("product", self.pick("products"))
        if slot == "COMPANY":
            return Segment("company", self.pick("companies"))
        if slot == "PLACE":
            kind = rng.random()
            if kind < 0.45:
                return Segment("place", self.pick("place"))
            if kind < 0.7:  # 田中町, 山本台: places named like people
                return Segment("place", self.surname() + rng.choice(["町", "市", "台", "区", "新田", "駅", "通り"]))
            return Segment("place", self.pick("places"))
        if slot == "PHONE":
            return Segment("phone", _phone(rng))
        if slot == "EMAIL":
            return Segment("email", _email(rng))
        if slot == "POSTAL":
            return Segment("postal", f"〒{rng.randrange(100, 999)}-{rng.randrange(10000):04d}")
        if slot == "ADDRESS":
            return Segment("address", self.pick("prefectures") + self.pick("cities") + self.pick("towns")
                           + f"{rng.randrange(1, 9)}丁目{rng.randrange(1, 30)}番{rng.randrange(1, 20)}号")
        if slot == "ORDER":
            return Segment(CODE, rng.choice([f"A-{rng.randrange(10**7, 10**8)}", f"No.{rng.randrange(10**5, 10**6)}",
                                               f"{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}"]))
        if slot == "LOT":
            return Segment(CODE, f"LOT {rng.randrange(2000, 2600)}-{rng.randrange(100, 999)}")
        if slot == "PRICE":
            return Segment("text", f"{rng.randrange(1, 300) * 100:,}円")
        if slot == "DATE":
            return Segment("text", rng.choice([f"{rng.randrange(1, 13)}月{rng.randrange(1, 29)}日",
                                               f"{rng.randrange(1, 13)}/{rng.randrange(1, 29)}", "昨日", "先週", "今朝"]))
        if slot == "NUM":
            return Segment("text", str(rng.randrange(2, 12)))
        if slot == "KM":
            return Segment("text", f"{rng.randrange(1, 120) * 1000:,}km")
        raise KeyError(f"unknown slot {{{slot}}}")


def _phone(rng: random.Random) -> str:
    hyphen = rng.choice(["-", "-", "-", "‐", "−", "ー", "－"])
    digits = rng.choice([f"0{rng.choice('789')}0{hyphen}{rng.randrange(10000):04d}{hyphen}{rng.randrange(10000):04d}",
                         f"03{hyphen}{rng.randrange(1000, 9999)}{hyphen}{rng.randrange(10000):04d}",
                         f"0{rng.choice('789')}0{rng.randrange(10**8):08d}",
                         f"0{rng.randrange(11, 99)}({rng.randrange(100, 999)}){rng.randrange(10000):04d}"])
    return digits


def _email(rng: random.Random) -> str:
    user = rng.choice(["info", "user", "k.tanaka", "taro_y", "support", "hanako.s", "m-ito"]) + str(rng.randrange(100))
    return f"{user}@{rng.choice(['example.com', 'example.co.jp', 'example.ne.jp', 'example.jp'])}"


def fill(template: str, filler: _Filler) -> list[Segment]:
    """The segments of one text: [a|b|c] picks one wording, {SLOT} a word."""
    segments: list[Segment] = []
    pos = 0
    for match in _SLOT.finditer(template):
        if match.start() > pos:
            segments.append(Segment("text", template[pos:match.start()]))
        if match.group(1):
            segments.append(filler.item(match.group(1)))
        else:
            # an alternative may hold slots itself
            segments.extend(fill(filler.rng.choice(match.group(2).split("|")), filler))
        pos = match.end()
    if pos < len(template):
        segments.append(Segment("text", template[pos:]))
    return segments


def _widths(segments: list[Segment], rng: random.Random) -> list[Segment]:
    """Some exports come from systems that store half-width katakana or full-width ASCII."""
    roll = rng.random()
    if roll < 0.06:
        return [Segment(s.kind, half_width_kana(s.text), s.form) for s in segments]
    if roll < 0.12:
        return [Segment(s.kind, full_width_ascii(s.text), s.form) for s in segments]
    return segments


def generate(set_name: str, names: int, name_free: int, seed: int = 12) -> list[Generated]:
    """`names` texts from the set's name-bearing templates and `name_free` from the others."""
    rng = random.Random(f"{set_name}:{seed}")
    filler = _Filler(rng, pools(set_name))
    with_names, without = [], []
    for number, template in templates(set_name):
        has_name = bool(_NAME_SLOT.search(template))
        (with_names if has_name else without).append((number, template))
    out = []
    for count, chosen in ((names, with_names), (name_free, without)):
        for _ in range(count):
            number, template = rng.choice(chosen)
            segments = _widths(fill(template, filler), rng)
            out.append(Generated(set_name, number, tuple(_merge_text(segments))))
    return out


def _merge_text(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for s in segments:
        if merged and s.kind == "text" and merged[-1].kind == "text":
            merged[-1] = Segment("text", merged[-1].text + s.text)
        elif s.text:
            merged.append(s)
    return merged
