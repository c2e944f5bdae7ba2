"""How well the name masker does on realistic complaint text: recall, false masks, what survives.

    .venv/bin/python bench/bench_masking.py                  # dev, held-out, held-out 2: 3,000 + 3,000 texts each
    .venv/bin/python bench/bench_masking.py --errors 30      # and the dev set's misses and false masks
    .venv/bin/python bench/bench_masking.py --sets dev       # one set

Texts come from bench/masking_corpus.py (templates written for this benchmark, filled with names and
words from the installed UniDic and short hand-written lists; seed-fixed) and the hand-written tricky
cases in tests/data/golden/pii_names.tsv. Each text goes through the load's steps (normalize, the regex
masks, tokenize once, pipelines.nlp.pii.mask_names); every planted item's position is known, so:

- recall: planted names whose every character ends up inside a name mask (a partly masked name is a miss);
- false masks: texts without any personal name that get a 〔氏名〕 (target ≤ 0.3% of texts), and, in
  texts with names, masks that touch no name;
- survival: parts, models, products, places, companies and the katakana words UniDic also lists as
  names (ミラー, ギア …) that come out verbatim (target 100%); phones, e-mails, postal codes and
  addresses that come out masked (target 100%).

The held-out sets' templates and words were never looked at while tuning the rules: their errors are
not printed unless asked for (--errors-set heldout), so that they stay held out. Held-out 2
(bench/data/masking/heldout2/) was written by another writer who never read the masker, and was
first run once the masker's rules were frozen; its figures are reported as they came.

Order and lot numbers (A-12345678, 1234-5678-9012, LOT 2503-221) are planted too, as `code`: they must
come out verbatim (the card and My Number masks must not take them).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.masking_corpus import ALL_SETS, CODE, NAME, PII_KINDS, PROTECTED_KINDS, Generated, generate
from pipelines.nlp import pii
from pipelines.nlp.text import for_tokenizer, normalize, tokenize

TRICKY = ROOT / "tests" / "data" / "golden" / "pii_names.tsv"
SET_TITLES = {"dev": "dev", "heldout": "held-out",
              "heldout2": "held-out 2, written by another writer without reading the masker, first run once it was frozen"}
PII_MASK = {"phone": pii.PHONE, "email": pii.EMAIL, "postal": pii.POSTAL, "address": pii.ADDRESS}


@dataclass
class Figures:
    texts: int = 0
    name_texts: int = 0
    names: int = 0
    caught: int = 0
    partial: int = 0
    free_texts: int = 0
    free_masked: int = 0
    stray_in_name_texts: int = 0   # masks touching no name, in texts that have one
    unaligned: int = 0
    by_form: Counter = field(default_factory=Counter)
    by_form_caught: Counter = field(default_factory=Counter)
    planted: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    mask_seconds: float = 0.0
    misses: list = field(default_factory=list)
    false_masks: list = field(default_factory=list)


def _char_spans(tokens, spans) -> list[tuple[int, int]]:
    return [(tokens[a].start, tokens[b - 1].start + len(tokens[b - 1].surface)) for a, b in spans]


def _covered(lo: int, hi: int, text: str, spans: list[tuple[int, int]]) -> tuple[int, int]:
    """(characters of text[lo:hi] inside a mask, characters to cover), spaces not counted."""
    need = [i for i in range(lo, hi) if not text[i].isspace()]
    inside = sum(1 for i in need if any(a <= i < b for a, b in spans))
    return inside, len(need)


def evaluate(texts: list[Generated], figures: Figures) -> Figures:
    for item in texts:
        figures.texts += 1
        pieces = [pii.mask_regex(normalize(s.text)) for s in item.segments]
        masked = pii.mask_regex(normalize(item.raw))
        if "".join(pieces) != masked:  # the regexes reached across a planted item: positions unknown
            figures.unaligned += 1
            continue
        tokens = tokenize(for_tokenizer(masked))
        started = time.perf_counter()
        pii.mask_names(masked, tokens)
        figures.mask_seconds += time.perf_counter() - started
        spans = _char_spans(tokens, pii.name_spans(tokens))
        offset, touched = 0, set()
        name_positions = []
        for segment, piece in zip(item.segments, pieces):
            lo, hi = offset, offset + len(piece)
            offset = hi
            hits = {k for k, (a, b) in enumerate(spans) if a < hi and b > lo}
            if segment.kind == NAME:
                touched |= hits
                inside, need = _covered(lo, hi, masked, spans)
                figures.names += 1
                figures.by_form[segment.form] += 1
                name_positions.append((lo, hi))
                if inside == need:
                    figures.caught += 1
                    figures.by_form_caught[segment.form] += 1
                else:
                    figures.partial += inside > 0
                    figures.misses.append((item, masked, piece))
            elif segment.kind == CODE:
                figures.planted[CODE] += 1
                figures.kept[CODE] += not hits and piece == normalize(segment.text)
            elif segment.kind in PROTECTED_KINDS:
                figures.planted[segment.kind] += 1
                figures.kept[segment.kind] += not hits
                if hits:
                    figures.false_masks.append((item, masked, piece))
            elif segment.kind in PII_KINDS:
                figures.planted[segment.kind] += 1
                figures.kept[segment.kind] += piece == PII_MASK[segment.kind]
        stray = [k for k in range(len(spans)) if k not in touched]
        if item.has_name:
            figures.name_texts += 1
            figures.stray_in_name_texts += bool(stray)
        else:
            figures.free_texts += 1
            figures.free_masked += bool(spans)
        if stray and not any(f[0] is item for f in figures.false_masks):
            figures.false_masks.append((item, masked, ", ".join(masked[spans[k][0]:spans[k][1]] for k in stray)))
    return figures


def tricky_cases() -> list[tuple[str, str, str]]:
    """(raw, expected, note) of tests/data/golden/pii_names.tsv."""
    cases = []
    for line in TRICKY.read_bytes().decode("utf-8").split("\n"):
        if line and not line.startswith("#"):
            raw, expected, *note = line.split("\t")
            cases.append((raw, expected, note[0] if note else ""))
    return cases


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}% ({part}/{whole})" if whole else "–"


def report(name: str, figures: Figures) -> None:
    print(f"\n== {name}: {figures.texts} texts ({figures.name_texts} with names, {figures.free_texts} without)")
    print(f"  name recall                     {_pct(figures.caught, figures.names)}   target ≥ 95%")
    print(f"    partly masked (counted missed) {figures.partial}")
    for form in sorted(figures.by_form):
        print(f"    {form:8s}                      {_pct(figures.by_form_caught[form], figures.by_form[form])}")
    print(f"  texts without names given a mask {_pct(figures.free_masked, figures.free_texts)}   target ≤ 0.3%")
    print(f"  name texts with a mask on no name {_pct(figures.stray_in_name_texts, figures.name_texts)}")
    for kind in (*PROTECTED_KINDS, CODE):
        print(f"  {kind:8s} survives                {_pct(figures.kept[kind], figures.planted[kind])}")
    for kind in PII_KINDS:
        print(f"  {kind:8s} masked                  {_pct(figures.kept[kind], figures.planted[kind])}")
    recall = figures.caught / max(figures.names, 1)
    false_share = figures.free_masked / max(figures.free_texts, 1)
    pii_kept = all(figures.kept[kind] == figures.planted[kind] for kind in PII_KINDS)
    print(f"  targets: recall ≥ 95% {'met' if recall >= 0.95 else 'NOT met'}; false masks ≤ 0.3% "
          f"{'met' if false_share <= 0.003 else 'NOT met'}; phones, e-mails, postal codes, addresses 100% "
          f"{'met' if pii_kept else 'NOT met'}")
    if figures.unaligned:
        print(f"  (texts skipped because a regex mask reached across planted items: {figures.unaligned})")
    print(f"  mask_names                        {1e6 * figures.mask_seconds / max(figures.texts, 1):.1f} µs a text"
          " (first sight of each name included)")


def _show(title: str, rows: list, limit: int) -> None:
    print(f"\n-- {title} ({len(rows)}; template line: text ⟶ masked | item)")
    for item, masked, what in rows[:limit]:
        tokens = tokenize(for_tokenizer(masked))
        print(f"  {item.template}: {pii.mask_names(masked, tokens).text}  | {what}")
        print("      " + " ".join(f"{t.surface}/{t.pos.split('-', 1)[-1]}{'' if t.known else '?'}" for t in tokens))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", type=int, default=3000, help="texts with names per set")
    parser.add_argument("--name-free", type=int, default=3000, help="texts without names per set")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--sets", nargs="+", default=list(ALL_SETS), choices=ALL_SETS)
    parser.add_argument("--errors", type=int, default=0, help="print this many misses and false masks")
    parser.add_argument("--errors-set", default="dev", choices=ALL_SETS)
    args = parser.parse_args()

    for set_name in args.sets:
        figures = evaluate(generate(set_name, args.names, args.name_free, args.seed), Figures())
        report(f"{SET_TITLES.get(set_name, set_name)} (seed {args.seed})", figures)
        if args.errors and set_name == args.errors_set:
            _show("missed names", figures.misses, args.errors)
            _show("false masks", figures.false_masks, args.errors)
    cases = tricky_cases()
    wrong = [(raw, expected, pii.mask_text(raw).text) for raw, expected, _note in cases
             if pii.mask_text(raw).text != expected]
    print(f"\n== tricky cases (tests/data/golden/pii_names.tsv): {len(cases) - len(wrong)}/{len(cases)} as expected")
    for raw, expected, got in wrong[:args.errors or 10]:
        print(f"  {raw}\n    expected {expected}\n    got      {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
