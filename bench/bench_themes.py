"""Per-theme precision of the theme rules (default taxonomy + industry packs) on a labelled set.

    .venv/bin/python bench/bench_themes.py                    # tests/data/independent_complaints.csv
    .venv/bin/python bench/bench_themes.py --errors praise    # and the texts praise got wrong
    .venv/bin/python bench/bench_themes.py --pack none        # the default taxonomy alone, for every text

The labelled set's own taxonomy (the earlier 16 themes) is mapped to the default themes, and each
industry to the pack its desk would choose, by tests/data/independent_complaints_map.json; a
sub-theme a pack adds counts as its parent (`< parent` in the pack file). Themes the set
has no label for (施設・環境, 品揃え・在庫) are listed with their counts and no precision.
The set was written by another author, but the rules were revised while looking at its errors:
read these as development figures, not held-out ones.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.nlp.pii import doc_from_text
from pipelines.rules.themes import load_rules
from pipelines.rules.themes.packs import tag_as_default

DEFAULT_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "independent_complaints.csv"
MAP_FILE = DEFAULT_SET.with_name("independent_complaints_map.json")   # labels -> default themes, industry -> pack


def read_set(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", type=Path, default=DEFAULT_SET, help="CSV with id, industry, text, themes (a;b)")
    ap.add_argument("--pack", default="by-industry", help="by-industry (default), none, or a pack ID for every text")
    ap.add_argument("--errors", default="", help="print the wrong tags of this theme (default theme ID)")
    ap.add_argument("--uncovered", action="store_true", help="print the texts no theme tags")
    args = ap.parse_args()
    rows = read_set(args.set)
    mapping = json.loads(MAP_FILE.read_text(encoding="utf-8"))
    label_map, industry_pack, unlabelled = mapping["labels"], mapping["packs"], mapping["unlabelled"]
    base = load_rules()
    predicted, correct, labelled = Counter(), Counter(), Counter()
    errors: dict[str, list[str]] = defaultdict(list)
    covered = 0
    for row in rows:
        pack = (industry_pack.get(row.get("industry", ""), None) if args.pack == "by-industry"
                else None if args.pack == "none" else args.pack)
        gold = set().union(*(label_map.get(label, [label]) for label in row["themes"].split(";") if label))
        found = tag_as_default(doc_from_text(row["id"], row["text"]), pack, base)
        covered += bool(found)
        if args.uncovered and not found:
            print("   untagged", row["id"], f"[{row['themes']}]", row["text"][:80])
        for theme_id in gold:
            labelled[theme_id] += 1
        for theme_id, evidence in found.items():
            predicted[theme_id] += 1
            if theme_id in gold:
                correct[theme_id] += 1
            else:
                errors[theme_id].append(f"{row['id']} [{row['themes']}] {'/'.join(evidence)}: {row['text'][:70]}")
    print(f"{args.set.name}: {len(rows)} texts, packs {args.pack}; coverage {covered}/{len(rows)} ({covered / len(rows):.1%})")
    print(f"{'theme':<12} {'precision':>9} {'recall':>7} {'tagged':>7} {'labelled':>9}")
    for theme in base.themes:
        t = theme.theme_id
        if t in unlabelled:
            print(f"{t:<12} {'-':>9} {'-':>7} {predicted[t]:>7} {'-':>9}   (no label in this set)")
            continue
        precision = f"{correct[t] / predicted[t]:.2f}" if predicted[t] else "-"
        recall = f"{correct[t] / labelled[t]:.2f}" if labelled[t] else "-"
        print(f"{t:<12} {precision:>9} {recall:>7} {predicted[t]:>7} {labelled[t]:>9}")
    total_p = sum(predicted[t] for t in predicted if t not in unlabelled)
    total_c = sum(correct[t] for t in correct if t not in unlabelled)
    print(f"micro precision {total_c / max(total_p, 1):.2f}, recall {total_c / max(sum(labelled.values()), 1):.2f}")
    for line in errors.get(args.errors, []):
        print("  ", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
