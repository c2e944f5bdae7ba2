"""Industry packs (issue 14, item 1): the default taxonomy, what each pack adds, the sample's pack, the store's choice.

The goldens in tests/data/golden/themes_packs.tsv were written for this file, a few per pack and theme.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipelines.nlp.pii import doc_from_text
from pipelines.rules.bundle import load_bundle
from pipelines.rules.themes import RuleError, available_packs, load_rules, pack_by_id, rules_with_pack, stored_pack
from pipelines.rules.themes.packs import SAMPLE_PACK, apply_pack, store_pack_choice
from pipelines.store import db

GOLDEN = Path(__file__).resolve().parent / "data" / "golden" / "themes_packs.tsv"
PACKS = {"food", "retail", "healthcare", "it_telecom", "transport", "travel", "finance", "public"}


def _golden() -> list[tuple[str, str, bool, str]]:
    with GOLDEN.open(encoding="utf-8") as f:
        rows = [line for line in f if not line.startswith("#")]
    return [(r["pack"], r["theme"], r["tagged"] == "1", r["text"]) for r in csv.DictReader(rows, delimiter="\t")]


@pytest.mark.parametrize("pack, theme, tagged, text", _golden())
def test_golden_sentences(pack, theme, tagged, text):
    rules = rules_with_pack(None if pack == "-" else pack)
    found = {hit.theme_id: hit.evidence for hit in rules.tag(doc_from_text("g", text))}
    assert (theme in found) is tagged, found


def test_every_pack_loads_and_keeps_the_default_themes():
    base = [t.theme_id for t in load_rules().themes]
    assert {p.pack_id for p in available_packs()} == PACKS
    for pack in available_packs():
        ids = [t.theme_id for t in rules_with_pack(pack.pack_id).themes]
        assert [i for i in ids if i in base] == base, pack.pack_id   # the default themes, in their order
        assert pack.name and pack.description and pack.adds, pack.pack_id
        for theme_id, _name, parent in pack.adds:
            assert parent in base and ids.index(theme_id) > ids.index(parent), (pack.pack_id, theme_id)


def test_every_theme_and_pack_has_golden_sentences():
    rows = _golden()
    for pack in available_packs():
        for theme_id, _name, _parent in pack.adds:
            assert any(p == pack.pack_id and t == theme_id and tagged for p, t, tagged, _ in rows), theme_id
    assert {t for p, t, tagged, _ in rows if p == "-" and tagged} >= {t.theme_id for t in load_rules().themes}


def test_the_food_pack_renames_and_extends_without_changing_ids():
    food = rules_with_pack("food")
    assert food.theme("quality").name == "品質・異物" and food.theme("health").name == "健康被害・安全"
    assert load_rules().theme("quality").name == "品質・不具合"
    assert food.hash() != load_rules().hash()   # a pack changes what matches: the store is re-tagged
    assert "quality" in pack_by_id("food").extends and ("taste", "味・風味", "quality") in pack_by_id("food").adds


def test_a_pack_mistake_names_the_pack_file_line():
    base = load_rules()
    with pytest.raises(RuleError) as caught:
        apply_pack(base, "# パック: 試し\n\n＊新しい [fresh] < quality\nキャップ 蓋\n", origin="trial.txt")
    assert caught.value.line == 4 and "trial.txt" in caught.value.message_en()
    with pytest.raises(RuleError):
        apply_pack(base, "＊新しい [fresh] < nowhere\nキャップ\n")
    with pytest.raises(RuleError) as unknown:
        pack_by_id("bakery")
    assert "food" in unknown.value.message_ja()


def test_sub_themes_without_parent_go_before_the_closing_themes():
    rules = apply_pack(load_rules(), "＊季節限定 [seasonal]\n限定\n")
    ids = [t.theme_id for t in rules.themes]
    assert ids.index("seasonal") == ids.index("request") - 1


def test_the_store_keeps_the_chosen_pack(tmp_path):
    store = tmp_path / "store.duckdb"
    assert stored_pack(store) is None and load_bundle(store).pack == ""
    with db.writer(store) as con:
        store_pack_choice(con, "travel")
    assert stored_pack(store) == "travel"
    bundle = load_bundle(store)
    assert bundle.pack == "travel" and "room" in {t.theme_id for t in bundle.themes.themes}
    assert load_bundle(store, pack="").pack == "" and SAMPLE_PACK == "food"
