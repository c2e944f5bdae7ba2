"""Labels from the desk (issue 14, item 6): a lead confirms or corrects the themes of a case.

A label says which themes a case is about (the primary first; none is a valid answer), whether the
customer evaluates something negatively, and how angry they are (0-3, or no judgement). One label per
case is kept (case_labels; the latest wins, every one is in the audit trail). From the labels:

- theme_precision(): per theme, of the labelled cases the rules tag with it, the share the lead
  confirmed — and the same for the inferred (推定) themes, and what the rules missed;
- export_set(): the labelled cases as a test set in the format of bench/data/real/ (texts.csv,
  labels.csv), so that `bench/bench_themes_real.py --set DIR` measures the analysis on the desk's own
  judgement. `python -m pipelines labels export --out DIR`; the case view offers the same as downloads.

Labels are written in a child process (jobs.runner.record_label), as every write from the UI is;
write_label() is what that process runs, inside the one writer path.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.store import db
from pipelines.store.errors import KakehashiError

# The industry-agnostic taxonomy of bench/data/real/README.md, which an exported set must use, and the
# project theme ids that map onto it (sub-themes of the earlier rules and of the packs). A theme that maps
# to None is outside the taxonomy on purpose (a plain question); any other unknown id is reported.
TAXONOMY = ("staff", "waiting", "quality", "price", "premises", "labeling", "procedure", "assortment",
            "safety", "delivery", "billing", "praise", "request")
TAXONOMY_ALIASES: dict[str, str | None] = {
    "taste": "quality", "packaging": "quality", "defect": "quality", "web": "quality",
    "contract": "procedure", "reservation": "procedure", "health": "safety", "inquiry": None,
}
INDUSTRIES = ("retail", "hospital", "it_services", "appliances", "transport", "travel", "food", "finance",
              "public", "telecom", "other")
TEXT_COLUMNS = ("id", "source", "industry", "text")
LABEL_COLUMNS = ("id", "themes", "negative", "anger", "split")
ANGER_LEVELS = (0, 1, 2, 3)


class LabelError(KakehashiError):
    """A label or an export request that cannot be used as given."""


@dataclass(frozen=True)
class Label:
    case_id: str
    themes: tuple[str, ...]          # theme ids, the primary first
    negative: bool
    anger: int | None                # 0..3, None: the text does not allow a judgement
    shown: tuple[str, ...] = ()      # the rule themes the case had when it was labelled
    labelled_by: str = ""
    labelled_at: dt.datetime | None = None


def checked_label(case_id: str, themes, negative: bool, anger: int | None, known_themes) -> Label:
    """A Label from what the form gave, or LabelError (Japanese and English) saying what is wrong."""
    case_id = (case_id or "").strip()
    if not case_id:
        raise LabelError("label_case", "ケースが選ばれていません。", "No case given.",
                         "ケースを選んでからラベルを付けてください。", "Pass a case id.")
    themes = tuple(dict.fromkeys(t for t in (themes or ()) if t))
    unknown = [t for t in themes if t not in set(known_themes)]
    if unknown:
        raise LabelError("label_theme", f"テーマ {', '.join(unknown)} はテーマ辞書にありません。",
                         f"Theme(s) {', '.join(unknown)} are not in the rules.",
                         "ページを再読み込みしてから選び直してください。", "Use the theme ids of the themes table.")
    if anger is not None and anger not in ANGER_LEVELS:
        raise LabelError("label_anger", f"怒りの度合い「{anger}」は 0〜3 のどれかです。", f"anger must be 0-3, not {anger!r}.",
                         "判断できないときは「判断できない」を選んでください。", "Leave it empty when it cannot be judged.")
    return Label(case_id, themes, bool(negative), anger)


def write_label(con, label: Label, user_id: str) -> Label:
    """Inside a writer: store `label` for its case (replacing an earlier one), with the rule themes
    the case has now. LabelError when the case does not exist."""
    if con.execute("SELECT count(*) FROM cases WHERE case_id = ?", [label.case_id]).fetchone()[0] == 0:
        raise LabelError("label_case", f"ケース「{label.case_id}」は見つかりません（取り込み直しで消えた可能性があります）。",
                         f"Case {label.case_id!r} does not exist.", "ケース一覧から選び直してください。",
                         "Check the case id with the case list.")
    shown = tuple(r[0] for r in con.execute(
        "SELECT ct.theme_id FROM case_themes ct LEFT JOIN themes t USING (theme_id) WHERE ct.case_id = ? "
        "ORDER BY t.position NULLS LAST, ct.theme_id", [label.case_id]).fetchall())
    now = dt.datetime.now().replace(microsecond=0)
    con.execute("DELETE FROM case_labels WHERE case_id = ?", [label.case_id])
    con.execute("INSERT INTO case_labels VALUES (?, ?, ?, ?, ?, ?, ?)",
                [label.case_id, list(label.themes), label.negative, label.anger, list(shown), user_id, now])
    db.bump_version(con)
    return Label(label.case_id, label.themes, label.negative, label.anger, shown, user_id, now)


def case_label(case_id: str, store: Path | str | None = None) -> Label | None:
    """The label of one case, or None."""
    with db.reader(store) as con:
        row = con.execute("SELECT case_id, themes, negative, anger, shown, labelled_by, labelled_at "
                          "FROM case_labels WHERE case_id = ?", [case_id]).fetchone()
    if row is None:
        return None
    return Label(row[0], tuple(row[1] or ()), bool(row[2]), row[3], tuple(row[4] or ()), row[5], row[6])


def label_count(store: Path | str | None = None) -> int:
    """How many cases carry a label (of cases still in the store)."""
    with db.reader(store) as con:
        return con.execute("SELECT count(*) FROM case_labels JOIN cases USING (case_id)").fetchone()[0]


def theme_precision(store: Path | str | None = None) -> pd.DataFrame:
    """Per theme, measured on the labelled cases: how many the rules tag with it and how many of those
    the lead confirmed (適合率), the same for the inferred themes, and the labelled cases the rules missed.

    Columns: theme_id, テーマ, ルールで付与, うち正しい, 適合率, 推定で付与, 推定のうち正しい, 推定の適合率,
    ラベルのみ (labelled with the theme, not tagged by a rule). One row per theme of the themes table
    that any of these counts touch; 適合率 is NaN where nothing was tagged.
    """
    with db.reader(store) as con:
        frame = con.execute(db.sql("labels_precision")).df()
    for tagged, correct, share in (("ルールで付与", "うち正しい", "適合率"), ("推定で付与", "推定のうち正しい", "推定の適合率")):
        frame[share] = frame[correct] / frame[tagged].where(frame[tagged] > 0)
    return frame[["theme_id", "テーマ", "ルールで付与", "うち正しい", "適合率", "推定で付与", "推定のうち正しい",
                  "推定の適合率", "ラベルのみ"]]


# ------------------------------------------------------------------------- the exported test set

def split_of(text_id: str) -> str:
    """'test' for about a third of the ids, else 'dev' — bench/bench_themes_real.py's split_of, which
    the bench checks every label against (tests/test_labels.py keeps the two equal)."""
    return "test" if int(hashlib.sha256(text_id.encode("utf-8")).hexdigest()[:8], 16) % 3 == 0 else "dev"


def taxonomy_id(theme_id: str) -> str | None:
    """The taxonomy id of a project theme id: itself, its alias, or None (outside the taxonomy)."""
    return theme_id if theme_id in TAXONOMY else TAXONOMY_ALIASES.get(theme_id)


@dataclass
class ExportedSet:
    """The two files of a set in bench/data/real/'s format, and what the export had to leave out."""

    texts_csv: bytes
    labels_csv: bytes
    cases: int = 0
    unmapped: Counter = field(default_factory=Counter)   # theme ids outside the taxonomy, dropped from labels
    missing: int = 0                                     # labelled cases no longer in the store

    def notes(self) -> list[str]:
        """What was left out, in English (CLI)."""
        out = []
        if self.unmapped:
            out.append("theme ids outside the taxonomy, left out of the labels: "
                       + ", ".join(f"{k} ({v})" for k, v in self.unmapped.most_common()))
        if self.missing:
            out.append(f"{self.missing} labelled case(s) are no longer in the store and were not exported")
        return out

    def notes_ja(self) -> list[str]:
        """The same, in Japanese (UI)."""
        out = []
        if self.unmapped:
            out.append("評価用の分類にないテーマはラベルから外しました: "
                       + "、".join(f"{k}（{v}件）" for k, v in self.unmapped.most_common()))
        if self.missing:
            out.append(f"ラベルのあるケースのうち {self.missing} 件は、取り込み直しなどで見つからないため書き出していません。")
        return out


def export_set(industry: str = "other", source: str = "desk", store: Path | str | None = None) -> ExportedSet:
    """The labelled cases as texts.csv and labels.csv (UTF-8, bench/data/real/README.md's columns): id
    `<source>-<case_id>`, the stored (masked) text, themes mapped to the taxonomy, split by split_of."""
    if industry not in INDUSTRIES:
        raise LabelError("label_industry", f"業種「{industry}」は使えません。", f"industry {industry!r} is not one of "
                         f"{', '.join(INDUSTRIES)}", f"次のどれかを選んでください: {', '.join(INDUSTRIES)}",
                         f"Use one of: {', '.join(INDUSTRIES)}.")
    if not source or not all(ch.isalnum() or ch in "_." for ch in source) or not source.isascii():
        raise LabelError("label_source", f"出所の名前「{source}」は英数字で付けてください。",
                         f"source {source!r} must be ASCII letters, digits, _ or .", "例: desk", "For example: desk")
    with db.reader(store) as con:
        rows = con.execute("""
            SELECT l.case_id, c.text, l.themes, l.negative, l.anger FROM case_labels l
            LEFT JOIN cases c USING (case_id) ORDER BY l.case_id""").fetchall()
    result = ExportedSet(b"", b"")
    texts, labels = _csv_writer(TEXT_COLUMNS), _csv_writer(LABEL_COLUMNS)
    for case_id, text, themes, negative, anger in rows:
        if text is None or not text.strip():
            result.missing += 1
            continue
        text_id = f"{source}-{case_id}"
        mapped: list[str] = []
        for theme_id in themes or ():
            target = taxonomy_id(theme_id)
            if target is None and theme_id not in TAXONOMY_ALIASES:
                result.unmapped[theme_id] += 1
            if target and target not in mapped:
                mapped.append(target)
        texts[1].writerow([text_id, source, industry, text])
        labels[1].writerow([text_id, "|".join(mapped), "1" if negative else "0",
                            "" if anger is None else str(anger), split_of(text_id)])
        result.cases += 1
    result.texts_csv, result.labels_csv = texts[0].getvalue().encode("utf-8"), labels[0].getvalue().encode("utf-8")
    return result


def _csv_writer(columns) -> tuple[io.StringIO, csv.writer]:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    return buffer, writer


def write_set(exported: ExportedSet, folder: Path) -> tuple[Path, Path]:
    """Write texts.csv and labels.csv into `folder` (made when missing); their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    texts, labels = folder / "texts.csv", folder / "labels.csv"
    texts.write_bytes(exported.texts_csv)
    labels.write_bytes(exported.labels_csv)
    return texts, labels
