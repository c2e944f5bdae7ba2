"""How the analysis does on real Japanese customer text labelled by hand (issue 14, item 5):

    .venv/bin/python bench/bench_themes_real.py                  # the development two thirds
    .venv/bin/python bench/bench_themes_real.py --errors 20      # and 20 dev texts it gets wrong
    .venv/bin/python bench/bench_themes_real.py --set DIR        # another set in the same format
    .venv/bin/python bench/bench_themes_real.py --rules DIR      # other rules files (themes, causes, severity)
    .venv/bin/python bench/bench_themes_real.py --test           # the untouched third: once, at the end

The set is bench/data/real/ (its README gives the format, the taxonomy and how texts were labelled).
Each text goes through what a load does (pipelines.nlp.pii.doc_from_text: normalize, mask, tokenize)
and then the current rules (pipelines.rules.bundle.load_bundle: data/rules or $KAKEHASHI_RULES_DIR):
themes (RuleSet.tag) and the emotion level (SeverityRules.score, 0-3). Printed:

- coverage: the share of texts with at least one theme that maps into the taxonomy;
- per theme: texts tagged, of those correct (the theme is among the labelled ones), precision, recall;
- NMI between the first mapped theme (rule order) and the labelled primary theme, "(none)" being a
  class of its own on both sides;
- negativity AUC: how well the emotion level ranks the texts labelled negative above the rest;
- anger ρ: Spearman's rank correlation of the emotion level with the labelled anger (0-3), on the
  texts whose anger could be judged;
- beside the last two, a plain dictionary peer: ML-Ask's lexicon (pipelines.nlp.lexicon), negative
  minus positive hits, and anger hits.

The project's theme ids are mapped to the taxonomy's by THEME_MAP below: edit it when the rules'
themes change; a theme id it does not know is reported and counts as no theme.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SET = ROOT / "bench" / "data" / "real"
NONE = "(none)"

# The industry-agnostic taxonomy of issue 14, item 1 (bench/data/real/README.md says what each covers).
TAXONOMY = {
    "staff": "接客・対応", "waiting": "待ち時間・遅れ", "quality": "品質・不具合", "price": "価格・料金",
    "premises": "施設・環境", "labeling": "表示・案内", "procedure": "手続き・ルール", "assortment": "品揃え・在庫",
    "safety": "安全・衛生", "delivery": "配送", "billing": "請求・支払い", "praise": "お褒め", "request": "要望・提案",
}
INDUSTRIES = frozenset({"retail", "hospital", "it_services", "appliances", "transport", "travel", "food",
                        "finance", "public", "telecom", "other"})

# Project theme id (data/rules/themes.txt) → taxonomy id, or None for a theme outside the taxonomy.
# A rules file that already uses the taxonomy's ids needs no entry: they map to themselves.
THEME_MAP: dict[str, str | None] = {
    "quality": "quality", "taste": "quality", "packaging": "quality", "defect": "quality",
    "web": "quality",              # a site or app that fails is the service's own defect
    "delivery": "delivery", "billing": "billing", "contract": "procedure", "reservation": "procedure",
    "staff": "staff", "labeling": "labeling", "health": "safety", "waiting": "waiting",
    "request": "request", "praise": "praise",
    "inquiry": None,               # a plain question: no theme of the taxonomy
    # the default taxonomy's other themes (data/rules/themes.txt) and the packs' sub-themes, by their parent
    "price": "price", "procedure": "procedure", "premises": "premises", "assortment": "assortment",
    "checkout": "waiting", "returns": "procedure", "medical_care": "quality", "appointment": "procedure",
    "medication": "quality", "connection": "quality", "system": "quality", "account": "procedure",
    "device": "quality", "operation": "waiting", "ticket": "price", "crew": "staff", "lost_item": "procedure",
    "room": "premises", "meal": "quality", "booking": "procedure", "tour": "procedure", "banking": "procedure",
    "card": "billing", "loan": "procedure", "claim": "procedure", "fraud": "safety", "counter": "procedure",
    "public_facility": "premises", "waste": "premises", "neighbourhood": "premises", "public_fee": "price",
}

TEXT_COLUMNS = ("id", "source", "industry", "text")
LABEL_COLUMNS = ("id", "themes", "negative", "anger", "split")


class SetError(Exception):
    """The labelled set cannot be used as it is: what, where, how to fix (English, for the CLI)."""


@dataclass(frozen=True)
class Labelled:
    id: str
    source: str
    industry: str
    text: str
    themes: tuple[str, ...]     # primary first; empty when none applies
    negative: bool
    anger: int | None
    split: str

    @property
    def primary(self) -> str:
        return self.themes[0] if self.themes else NONE


def split_of(text_id: str) -> str:
    """'test' for about a third of the ids, 'dev' for the rest; fixed per id on every machine."""
    return "test" if int(hashlib.sha256(text_id.encode("utf-8")).hexdigest()[:8], 16) % 3 == 0 else "dev"


def load_set(directory: Path) -> tuple[list[Labelled], int]:
    """The labelled texts of a set folder (texts.csv, labels.csv) and how many texts have no label.
    Raises SetError naming the file, the line and the fix."""
    texts = {row["id"]: row for row in _rows(directory / "texts.csv", TEXT_COLUMNS, _check_text)}
    labelled = []
    for row in _rows(directory / "labels.csv", LABEL_COLUMNS, _check_label):
        if row["id"] not in texts:
            raise SetError(f"{directory / 'labels.csv'}:{row['_line']}: id {row['id']!r} has no text in texts.csv "
                           f"— add the text or remove the label")
        text = texts[row["id"]]
        labelled.append(Labelled(row["id"], text["source"], text["industry"], text["text"],
                                 tuple(t for t in row["themes"].split("|") if t), row["negative"] == "1",
                                 int(row["anger"]) if row["anger"] else None, row["split"]))
    return labelled, len(texts) - len(labelled)


def _rows(path: Path, columns: Sequence[str], check) -> list[dict[str, str]]:
    if not path.is_file():
        raise SetError(f"{path} not found — a set folder holds texts.csv and labels.csv "
                       f"(see bench/data/real/README.md) — check with: ls {path.parent}")
    rows, seen = [], {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise SetError(f"{path}: column(s) {', '.join(missing)} missing; the header must name "
                           f"{','.join(columns)} — check with: head -1 {path}")
        for row in reader:
            line = reader.line_num
            row = {k: (v or "").strip() if k != "text" else (v or "") for k, v in row.items() if k in columns}
            if row["id"] in seen:
                raise SetError(f"{path}:{line}: id {row['id']!r} is also on line {seen[row['id']]} — ids are unique")
            seen[row["id"]] = line
            problem = check(row)
            if problem:
                raise SetError(f"{path}:{line}: {problem}")
            rows.append({**row, "_line": str(line)})
    return rows


def _check_text(row: dict[str, str]) -> str:
    if not row["id"] or not row["source"]:
        return "id and source must not be empty"
    if row["industry"] not in INDUSTRIES:
        return f"industry {row['industry']!r} is not one of {', '.join(sorted(INDUSTRIES))}"
    if not row["text"].strip():
        return f"text of {row['id']!r} is empty"
    return ""


def _check_label(row: dict[str, str]) -> str:
    themes = [t for t in row["themes"].split("|") if t]
    unknown = [t for t in themes if t not in TAXONOMY]
    if unknown:
        return f"theme(s) {', '.join(unknown)} not in the taxonomy ({', '.join(TAXONOMY)})"
    if len(set(themes)) != len(themes):
        return f"a theme is listed twice in {row['themes']!r}"
    if row["negative"] not in ("0", "1"):
        return f"negative must be 0 or 1, not {row['negative']!r}"
    if row["anger"] not in ("", "0", "1", "2", "3"):
        return f"anger must be 0-3 or empty, not {row['anger']!r}"
    if row["split"] != split_of(row["id"]):
        return (f"split of {row['id']!r} is {split_of(row['id'])!r} by split_of(), not {row['split']!r} "
                f"— splits are never chosen by hand")
    return ""


# ---------------------------------------------------------------------------------------------
# Measures


@dataclass
class Report:
    texts: int = 0
    covered: int = 0
    covered_raw: int = 0           # any project theme, mapped or not
    nmi: float | None = None
    auc: float | None = None
    rho: float | None = None
    anger_texts: int = 0
    peer_auc: float | None = None
    peer_rho: float | None = None
    predicted: Counter = field(default_factory=Counter)
    correct: Counter = field(default_factory=Counter)
    labelled: Counter = field(default_factory=Counter)
    unmapped: Counter = field(default_factory=Counter)
    by_industry: Counter = field(default_factory=Counter)           # texts per industry
    covered_by_industry: Counter = field(default_factory=Counter)   # of those, with a taxonomy theme
    errors: list = field(default_factory=list)   # (item, first theme, level) where the first theme is wrong

    @property
    def coverage(self) -> float:
        return self.covered / self.texts if self.texts else 0.0


def map_themes(theme_ids: Sequence[str], report: Report | None = None) -> list[str]:
    """Project theme ids → taxonomy ids, in order, without repeats; unknown ids counted in `report`."""
    out: list[str] = []
    for theme_id in theme_ids:
        mapped = theme_id if theme_id in TAXONOMY else THEME_MAP.get(theme_id, None)
        if theme_id not in TAXONOMY and theme_id not in THEME_MAP and report is not None:
            report.unmapped[theme_id] += 1
        if mapped and mapped not in out:
            out.append(mapped)
    return out


def load_rules(folder: Path | None = None):
    """The rules bundle the analysis uses, or the three files of `folder` (themes.txt, causes.txt,
    severity.txt: e.g. an earlier version to compare with). Raises KakehashiError when one does not load."""
    # Function-local: importing the pipeline loads the tokenizer, which `--help` and a refused set never need.
    from pipelines.rules.bundle import RuleBundle, load_bundle
    from pipelines.rules.causes import load_cause_rules
    from pipelines.rules.severity import load_severity_rules
    from pipelines.rules.themes import load_rules as load_theme_rules

    if folder is None:
        return load_bundle()
    return RuleBundle(load_theme_rules(folder / "themes.txt"), load_cause_rules(folder / "causes.txt"),
                      load_severity_rules(folder / "severity.txt"))


def evaluate(items: Sequence[Labelled], bundle=None, lexicon=None) -> Report:
    """Every measure of the module docstring, on `items`, with the given rules (default: the current ones)."""
    # Function-local: importing the pipeline loads the tokenizer, which `--help` and a refused set never need.
    from pipelines.nlp.lexicon import load_lexicon, summarize
    from pipelines.nlp.pii import doc_from_text

    bundle = bundle or load_rules()
    lexicon = lexicon or load_lexicon()
    report = Report(texts=len(items))
    gold, first, levels, negatives, peer_neg, angers, anger_levels, peer_anger = [], [], [], [], [], [], [], []
    for item in items:
        doc = doc_from_text(item.id, item.text)
        raw = [hit.theme_id for hit in bundle.themes.tag(doc)]
        themes = map_themes(raw, report)
        level = bundle.severity.score(doc).level
        counts = summarize(lexicon.match(doc.terms, doc.text))
        report.covered += bool(themes)
        report.by_industry[item.industry] += 1
        report.covered_by_industry[item.industry] += bool(themes)
        report.covered_raw += bool(raw)
        for theme in themes:
            report.predicted[theme] += 1
            report.correct[theme] += theme in item.themes
        for theme in item.themes:
            report.labelled[theme] += 1
        gold.append(item.primary)
        first.append(themes[0] if themes else NONE)
        levels.append(level)
        negatives.append(int(item.negative))
        peer_neg.append(counts["negative"] - counts["positive"])
        if item.anger is not None:
            angers.append(item.anger)
            anger_levels.append(level)
            peer_anger.append(counts["anger"])
        if first[-1] != item.primary:
            report.errors.append((item, first[-1], level))
    report.nmi = nmi(gold, first)
    report.auc, report.peer_auc = auc(negatives, levels), auc(negatives, peer_neg)
    report.anger_texts = len(angers)
    report.rho, report.peer_rho = spearman(anger_levels, angers), spearman(peer_anger, angers)
    return report


def nmi(gold: Sequence[str], predicted: Sequence[str]) -> float | None:
    """Normalized mutual information (arithmetic mean), None on fewer than two texts."""
    from sklearn.metrics import normalized_mutual_info_score  # local: sklearn takes a second to import

    return float(normalized_mutual_info_score(gold, predicted)) if len(gold) >= 2 else None


def auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC AUC of `scores` for `labels` (ties count half), None unless both classes are present."""
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score  # local: sklearn takes a second to import

    return float(roc_auc_score(labels, scores))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's ρ, None when it is undefined (fewer than 3 pairs, or one side constant)."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    from scipy.stats import spearmanr  # local: scipy.stats takes a second to import

    value = float(spearmanr(x, y).statistic)
    return None if math.isnan(value) else value


def format_report(report: Report, split: str, sets: str) -> str:
    def fig(value: float | None) -> str:
        return "   –" if value is None else f"{value:.2f}"

    lines = [
        f"set: {sets}, split: {split}, texts: {report.texts}",
        "",
        "measure                                    value   plain dictionary peer (ML-Ask)",
        f"coverage (a taxonomy theme)                {fig(report.coverage)}",
        f"  any project theme, mapped or not         {fig(report.covered_raw / report.texts if report.texts else None)}",
        f"NMI first theme vs primary theme           {fig(report.nmi)}",
        f"negativity AUC of the emotion level        {fig(report.auc)}    {fig(report.peer_auc)}",
        f"anger Spearman rho (n={report.anger_texts:<4})               {fig(report.rho)}    {fig(report.peer_rho)}",
        "",
        "theme        name            tagged  correct  precision  labelled  recall",
    ]
    for theme, name in TAXONOMY.items():
        tagged, correct, labelled = report.predicted[theme], report.correct[theme], report.labelled[theme]
        precision = correct / tagged if tagged else None
        recall = correct / labelled if labelled else None
        lines.append(f"{theme:<12} {name:<{16 - _wide(name)}}{tagged:>6}  {correct:>7}  {fig(precision):>9}  "
                     f"{labelled:>8}  {fig(recall):>6}")
    lines += ["", "coverage by industry: " + ", ".join(
        f"{industry} {report.covered_by_industry[industry] / texts:.2f} (n={texts})"
        for industry, texts in sorted(report.by_industry.items()))]
    if report.unmapped:
        lines += ["", "project themes THEME_MAP does not know (counted as no theme): "
                  + ", ".join(f"{k} ({v})" for k, v in report.unmapped.most_common())]
    return "\n".join(lines)


def _wide(text: str) -> int:
    """How many more columns than characters `text` takes (a CJK character is two columns wide)."""
    return sum(1 for ch in text if ord(ch) > 0x2E80)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, action="append", dest="sets",
                        help="a set folder (texts.csv, labels.csv); repeat to join several (default bench/data/real)")
    parser.add_argument("--test", action="store_true", help="evaluate the untouched third (only at the end)")
    parser.add_argument("--errors", type=int, default=0, help="print this many dev texts whose first theme is wrong")
    parser.add_argument("--rules", type=Path, help="a folder with themes.txt, causes.txt and severity.txt to measure "
                                                   "instead of the current rules (e.g. an earlier version)")
    args = parser.parse_args(argv)
    split = "test" if args.test else "dev"
    if args.test:
        print("WARNING: --test evaluates the untouched third of the set. Run it once, at the end, after all "
              "tuning, and report that figure; never tune rules or dictionaries on what it shows.", file=sys.stderr)
        if args.errors:
            print("--errors is for the dev split only: the test split's texts are not shown.", file=sys.stderr)
            return 2
    folders = args.sets or [DEFAULT_SET]
    items, unlabelled = [], 0
    try:
        for folder in folders:
            found, without = load_set(folder)
            items += found
            unlabelled += without
    except SetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    chosen = [item for item in items if item.split == split]
    names = ", ".join(str(f) for f in folders)
    if unlabelled:
        print(f"{unlabelled} text(s) have no label and are not evaluated.", file=sys.stderr)
    if not chosen:
        print(f"error: {names} has no labelled texts in the {split} split ({len(items)} labelled in all) — "
              f"add real texts and their labels as bench/data/real/README.md describes (docs/real-data.md says "
              f"why the committed set is empty) — check with: wc -l {folders[0]}/*.csv", file=sys.stderr)
        return 2
    # Function-local: the error family lives with the pipeline, imported only once a set is usable.
    from pipelines.store.errors import KakehashiError

    try:
        report = evaluate(chosen, load_rules(args.rules))
    except (KakehashiError, OSError) as exc:
        message = exc.message_en() if isinstance(exc, KakehashiError) else str(exc)
        print(f"error: the rules do not load, so nothing was measured: {message}", file=sys.stderr)
        return 2
    print(format_report(report, split, names))
    if args.errors:
        print(f"\nfirst theme differs from the primary theme ({len(report.errors)} of {report.texts}):")
        for item, first, level in report.errors[:args.errors]:
            print(f"  {item.id}  labelled {'|'.join(item.themes) or NONE}  got {first}  level {level}  "
                  f"{item.text[:80]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
