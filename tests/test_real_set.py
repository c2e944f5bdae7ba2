"""The hand-labelled real-text set (bench/data/real) and its bench: integrity of the committed set,
the fixed split, a clear refusal for each way a set can be broken, and the measures on a small set.

The sentences here were written for this file to exercise the machinery; they are not part of the
real set and never go into bench/data/real.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from bench.bench_themes_real import (
    DEFAULT_SET,
    NONE,
    TAXONOMY,
    THEME_MAP,
    Labelled,
    Report,
    SetError,
    auc,
    evaluate,
    load_rules,
    load_set,
    main,
    map_themes,
    nmi,
    spearman,
    split_of,
)

README = DEFAULT_SET / "README.md"


def test_the_committed_set_is_valid_and_every_source_is_documented():
    items, unlabelled = load_set(DEFAULT_SET)   # raises SetError on any broken row
    assert unlabelled >= 0
    assert all(item.split == split_of(item.id) for item in items)
    readme = README.read_text(encoding="utf-8")
    with (DEFAULT_SET / "texts.csv").open(encoding="utf-8-sig", newline="") as fh:
        sources = {row["source"] for row in csv.DictReader(fh)}
    assert all(f"| {source} |" in readme for source in sources), "a source without a row in README's Sources table"


def test_the_readme_names_every_theme_of_the_taxonomy():
    readme = README.read_text(encoding="utf-8")
    for theme_id, name in TAXONOMY.items():
        assert re.search(rf"^\| `{theme_id}` \| {name} \|", readme, re.MULTILINE), theme_id


def test_the_split_is_fixed_per_id_and_keeps_a_third_untouched():
    ids = [f"src-{n}" for n in range(3000)]
    splits = [split_of(i) for i in ids]
    assert splits == [split_of(i) for i in ids]
    assert set(splits) == {"dev", "test"}
    assert 0.30 < splits.count("test") / len(splits) < 0.37
    # A text keeps its split when others are added: the split depends on the id alone.
    assert split_of("src-17") == splits[17]


def _write_set(folder: Path, texts: list[list[str]], labels: list[list[str]],
               text_header: str = "id,source,industry,text", label_header: str = "id,themes,negative,anger,split"):
    folder.mkdir(parents=True, exist_ok=True)
    for name, header, rows in (("texts.csv", text_header, texts), ("labels.csv", label_header, labels)):
        with (folder / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header.split(","))
            writer.writerows(rows)
    return folder


def _dev_ids(count: int) -> list[str]:
    return [i for i in (f"t-{n}" for n in range(100)) if split_of(i) == "dev"][:count]


A, B = _dev_ids(2)
GOOD_TEXT = [[A, "fixture", "retail", "店員の態度が悪かった。"], [B, "fixture", "transport", "電車が遅れた。"]]
GOOD_LABELS = [[A, "staff", "1", "2", "dev"], [B, "waiting", "1", "", "dev"]]

BROKEN = [
    ("duplicate id", GOOD_TEXT + [[A, "fixture", "retail", "もう一度"]], GOOD_LABELS, "is also on line 2"),
    ("unknown industry", [[A, "fixture", "bakery", "x"]], [], "industry 'bakery' is not one of"),
    ("empty text", [[A, "fixture", "retail", "  "]], [], "is empty"),
    ("unknown theme", GOOD_TEXT, [[A, "staff|rudeness", "1", "", "dev"]], "rudeness not in the taxonomy"),
    ("theme twice", GOOD_TEXT, [[A, "staff|staff", "1", "", "dev"]], "listed twice"),
    ("negative not 0/1", GOOD_TEXT, [[A, "staff", "yes", "", "dev"]], "negative must be 0 or 1"),
    ("anger out of range", GOOD_TEXT, [[A, "staff", "1", "4", "dev"]], "anger must be 0-3 or empty"),
    ("split chosen by hand", GOOD_TEXT, [[A, "staff", "1", "", "test"]], "splits are never chosen by hand"),
    ("label without text", GOOD_TEXT, [["t-none", "staff", "1", "", split_of("t-none")]], "has no text in texts.csv"),
]


@pytest.mark.parametrize(("texts", "labels", "words"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_a_broken_set_is_refused_with_the_file_the_line_and_the_fix(tmp_path, texts, labels, words):
    folder = _write_set(tmp_path / "set", texts, labels)
    with pytest.raises(SetError, match=re.escape(words)) as caught:
        load_set(folder)
    assert re.search(r"\.csv(:\d+)?: ", str(caught.value))


def test_a_missing_column_or_file_is_named(tmp_path):
    folder = _write_set(tmp_path / "set", GOOD_TEXT, GOOD_LABELS, label_header="id,themes,negative,split")
    with pytest.raises(SetError, match="column\\(s\\) anger missing"):
        load_set(folder)
    (folder / "labels.csv").unlink()
    with pytest.raises(SetError, match="labels.csv not found"):
        load_set(folder)


def test_unlabelled_texts_are_counted_not_dropped_silently(tmp_path):
    folder = _write_set(tmp_path / "set", GOOD_TEXT, GOOD_LABELS[:1])
    items, unlabelled = load_set(folder)
    assert [i.id for i in items] == [A] and unlabelled == 1
    assert items[0].themes == ("staff",) and items[0].negative and items[0].anger == 2


def test_measures_are_the_usual_definitions():
    assert auc([0, 0, 1, 1], [0, 1, 1, 2]) == pytest.approx(0.875)     # a tie counts half
    assert auc([1, 1], [0, 1]) is None                                  # one class: undefined
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 1, 1], [0, 1, 2]) is None                       # constant: undefined
    assert nmi(["a", "a", "b", "b"], ["x", "x", "y", "y"]) == pytest.approx(1.0)   # names do not matter
    assert nmi(["a", "b", "a", "b"], ["x", "x", "y", "y"]) == pytest.approx(0.0)


def test_project_theme_ids_map_into_the_taxonomy():
    report = Report()
    assert map_themes(["taste", "defect", "health", "inquiry", "praise"], report) == ["quality", "safety", "praise"]
    assert map_themes(["premises", "assortment"], report) == ["premises", "assortment"]   # taxonomy ids as they are
    assert map_themes(["brand_new_theme"], report) == [] and report.unmapped == {"brand_new_theme": 1}
    assert all(v is None or v in TAXONOMY for v in THEME_MAP.values())


RULES = {
    "themes.txt": "＊配送 [delivery] #1F77B4\n届く!neg\n\n＊接客 [staff] #9467BD\n態度\n\n"
                  "＊問い合わせ [inquiry] #C5B0D5\n教える\n\n＊新しいテーマ [novel] #123456\n虫\n",
    "causes.txt": "[梱包不良]\n語句: 梱包が雑\n",
    "severity.txt": "[不満 1]\n否定的な評価: 残念\n\n[怒り・緊急 2]\n強い否定: 最悪\n",
}


@pytest.fixture(scope="module")
def rules_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules")
    for name, text in RULES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_the_measures_on_a_small_set(rules_folder):
    items = [
        Labelled("1", "fixture", "retail", "荷物がまだ届きません。", ("delivery",), True, 1, "dev"),
        Labelled("2", "fixture", "retail", "店員の態度が最悪でした。", ("staff",), True, 2, "dev"),
        Labelled("3", "fixture", "retail", "手続きを教えてください。", (), False, 0, "dev"),
        Labelled("4", "fixture", "food", "虫が入っていました。", ("safety",), True, None, "dev"),
    ]
    report = evaluate(items, load_rules(rules_folder))
    assert report.texts == 4
    assert report.coverage == pytest.approx(0.5)        # inquiry maps to no theme, novel is unknown
    assert report.covered_raw == 4 and report.unmapped == {"novel": 1}
    assert (report.predicted["delivery"], report.correct["delivery"]) == (1, 1)
    assert (report.predicted["staff"], report.correct["staff"]) == (1, 1)
    assert report.labelled["safety"] == 1 and report.predicted["safety"] == 0
    # Levels 0, 2, 0, 0: the negative texts (0, 2, 0) above the calm one (0), ties counting half.
    assert report.auc == pytest.approx(2 / 3)
    assert report.anger_texts == 3 and report.rho == pytest.approx(0.866, abs=0.001)
    assert 0 < report.nmi < 1
    assert [(e[0].id, e[1]) for e in report.errors] == [("4", NONE)]
    assert report.peer_auc is not None                  # the ML-Ask peer: 最悪 is a negative entry


def test_the_bench_prints_a_table_for_a_set(tmp_path, rules_folder, capsys):
    folder = _write_set(tmp_path / "set", GOOD_TEXT, GOOD_LABELS)
    assert main(["--set", str(folder), "--rules", str(rules_folder), "--errors", "5"]) == 0
    out = capsys.readouterr().out
    assert "split: dev, texts: 2" in out and "coverage (a taxonomy theme)" in out
    assert re.search(r"^staff\s+接客・対応\s+1\s+1\s+1\.00", out, re.MULTILINE)
    assert "coverage by industry: retail 1.00 (n=1), transport " in out


def test_the_bench_refuses_an_empty_split_and_warns_before_the_test_split(tmp_path, capsys):
    folder = _write_set(tmp_path / "set", GOOD_TEXT, GOOD_LABELS)   # both texts are in dev
    assert main(["--set", str(folder), "--test"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("WARNING: --test evaluates the untouched third")
    assert "has no labelled texts in the test split" in err
    assert main(["--set", str(folder), "--test", "--errors", "3"]) == 2
    assert "--errors is for the dev split only" in capsys.readouterr().err


def test_a_set_that_does_not_load_exits_2_with_the_reason(tmp_path, capsys):
    folder = _write_set(tmp_path / "set", GOOD_TEXT, [[A, "rude", "1", "", "dev"]])
    assert main(["--set", str(folder)]) == 2
    assert "rude not in the taxonomy" in capsys.readouterr().err


def test_rules_that_do_not_load_are_reported_not_measured(tmp_path, rules_folder, capsys):
    broken = tmp_path / "rules"
    broken.mkdir()
    for name, text in RULES.items():
        (broken / name).write_text(text, encoding="utf-8")
    (broken / "themes.txt").write_text("＊配送 [delivery] #1F77B4\n(届く\n", encoding="utf-8")
    folder = _write_set(tmp_path / "set", GOOD_TEXT, GOOD_LABELS)
    assert main(["--set", str(folder), "--rules", str(broken)]) == 2
    assert "the rules do not load, so nothing was measured: themes.txt, line" in capsys.readouterr().err
