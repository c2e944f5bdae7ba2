"""Normalization and tokenization of Japanese text: golden tables.

The cases live in tests/data/golden/ (text_*.tsv, tokenize_*.tsv, one case a line). Token
expectations depend on the dictionary: each file that depends on it names it in a header line
(unidic-lite 1.0.8 = UniDic 2.1.2), and the first test checks that this is the one installed.
"""
from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from pipelines.nlp import text
from pipelines.nlp.text import dictionary_version, for_tokenizer, normalize, tokenize
from pipelines.rules.causes import load_cause_rules
from pipelines.rules.severity import load_severity_rules
from pipelines.rules.themes import load_rules as load_theme_rules

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
DICTIONARY_LINE = re.compile(r"^# dictionary: unidic-lite (\S+) = UniDic (\S+)", re.MULTILINE)
# Files whose expectations hold for one dictionary only.
DICTIONARY_DEPENDENT = ("tokenize_lemmas.tsv", "tokenize_terms.tsv", "tokenize_negation.tsv")


def _golden_lines(name: str) -> list[tuple[int, str]]:
    """(line number, line) of a golden file's cases. Split on LF only: str.splitlines() would also
    split on U+2028 and other characters a case may hold; a CR means the file lost its LF endings."""
    content = (GOLDEN / name).read_bytes().decode("utf-8")
    lines = []
    for number, line in enumerate(content.split("\n"), 1):
        if "\r" in line:
            raise ValueError(f"{name}:{number}: CR in a line; save the file with LF line endings")
        if line and not line.startswith("#"):
            lines.append((number, line))
    if not lines:  # an empty table would skip its tests instead of failing them
        raise ValueError(f"{name} holds no cases")
    return lines


def golden_tsv(name: str, columns: int) -> list[tuple[str, ...]]:
    """The cases of tests/data/golden/<name>: `columns` TAB-separated values a line, then an optional note."""
    cases = []
    for number, line in _golden_lines(name):
        values = line.split("\t")
        if len(values) not in (columns, columns + 1):
            raise ValueError(f"{name}:{number}: {len(values)} TAB-separated values, expected {columns} and a note")
        cases.append(tuple(values[:columns]))
    return cases


def golden_jsonl(name: str, *keys: str) -> list[tuple]:
    """The cases of tests/data/golden/<name>: one JSON object a line, the values of `keys` in order."""
    return [tuple(json.loads(line)[key] for key in keys) for _, line in _golden_lines(name)]


def _flag(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(f"expected true or false, not {value!r}")
    return value == "true"


def content(sentence: str):
    """The terms a load stores for a sentence: content tokens of the normalized text."""
    return [t for t in tokenize(for_tokenizer(normalize(sentence))) if t.content]


@pytest.mark.parametrize("name", DICTIONARY_DEPENDENT)
def test_expectations_use_the_pinned_dictionary(name):
    named = DICTIONARY_LINE.search((GOLDEN / name).read_text(encoding="utf-8"))
    assert named, f"{name} must name the dictionary its expectations were made with"
    package, unidic = named.groups()
    assert (version("unidic-lite"), dictionary_version()) == (package, unidic)


# ---------------------------------------------------------------- normalize

# (as typed, as stored)
NORMALIZED = golden_tsv("text_normalize.tsv", 2)


@pytest.mark.parametrize(("typed", "stored"), NORMALIZED)
def test_normalize(typed, stored):
    assert normalize(typed) == stored


# Text whose emphasis and line breaks are blanked for the tokenizer: offsets must not move.
FOR_TOKENIZER = golden_jsonl("text_for_tokenizer.jsonl", "text", "blanked")


@pytest.mark.parametrize(("text", "blanked"), FOR_TOKENIZER)
def test_for_tokenizer_keeps_every_offset(text, blanked):
    assert for_tokenizer(text) == blanked
    assert len(for_tokenizer(text)) == len(text)


# ---------------------------------------------------------------- lemmas (UniDic 2.1.2)

# (sentence, a lemma its stored terms must contain) — spelling variants meet on one lemma.
LEMMAS = golden_tsv("tokenize_lemmas.tsv", 2)


@pytest.mark.parametrize(("sentence", "lemma"), LEMMAS)
def test_spelling_variants_share_a_lemma(sentence, lemma):
    lemmas = [t.lemma for t in content(sentence)]
    assert lemma in lemmas
    assert not [x for x in lemmas if "-" in x], "English glosses of loanwords are stripped"


# (sentence, the content lemmas stored, in order) — particles, auxiliaries and light verbs are not terms.
TERMS = [(sentence, lemmas.split(" ")) for sentence, lemmas in golden_tsv("tokenize_terms.tsv", 2)]


@pytest.mark.parametrize(("sentence", "lemmas"), TERMS)
def test_only_content_words_are_terms(sentence, lemmas):
    assert [t.lemma for t in content(sentence)] == lemmas


# ---------------------------------------------------------------- negation (UniDic 2.1.2)

# (sentence, lemma, negated?)
NEGATION = [(sentence, lemma, _flag(negated)) for sentence, lemma, negated in golden_tsv("tokenize_negation.tsv", 3)]


@pytest.mark.parametrize(("sentence", "lemma", "negated"), NEGATION)
def test_negation(sentence, lemma, negated):
    flags = [t.negated for t in content(sentence) if t.lemma == lemma]
    assert flags == [negated]


def _resident_file_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("RssFile:")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux only")
def test_released_dictionary_pages_leave_the_rss_and_come_back_when_read():
    sentence = "注文した商品がまだ届かないのですが。"
    before = tokenize(for_tokenizer(normalize(sentence)))
    # Compiling the rules touches much of the dictionary, as in a load's parent process. They may be
    # cached from an earlier test whose pages were released since: the sample's texts touch it again.
    for load in (load_theme_rules, load_cause_rules, load_severity_rules):
        load()
    sample = (Path(__file__).resolve().parent.parent / "data" / "sample" / "cases.csv").read_text(encoding="utf-8-sig")
    for line in sample.splitlines()[1:3001]:
        tokenize(for_tokenizer(normalize(line)))
    resident = _resident_file_kb()
    text.release_dictionary_pages()
    assert _resident_file_kb() < resident
    assert tokenize(for_tokenizer(normalize(sentence))) == before
