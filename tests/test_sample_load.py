"""The sample generator's output loads completely, and none of its planted personal data survives.

Uses a second seed and a small size, so nothing is tuned to the bundled data set.
"""
from __future__ import annotations

import json
import re

import duckdb
import pytest

from devtools.sample import generate
from pipelines.ingest.load import LoadOptions, load_file

# Independent of pipelines/nlp/pii.py: any 10-11 digit run starting with 0 once separators are removed.
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー－()（）]")
_PHONE_DIGITS = re.compile(r"(?<![0-9])0[0-9]{9,10}(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample11")
    manifest = generate(folder, seed=11, n_cases=3000)
    store = folder / "store.duckdb"
    results = {kind: load_file(folder / name, store, LoadOptions(kind=kind, workers=1))
               for name, kind in (("cases.csv", "cases"), ("events.csv", "events"),
                                  ("countermeasures.csv", "countermeasures"))}
    return manifest, store, results


def test_every_row_is_accounted_for(loaded):
    manifest, _store, results = loaded
    cases = results["cases"]
    assert cases.inserted == manifest["n_cases"] and cases.rejected == 0 and cases.accounted()
    assert results["events"].rejected == 0 and results["events"].inserted > manifest["n_cases"] // 2
    assert results["countermeasures"].inserted >= 3


def test_no_planted_phone_number_or_email_survives(loaded):
    manifest, store, _ = loaded
    with duckdb.connect(str(store), read_only=True) as con:
        texts = con.execute("SELECT case_id, text, coalesce(response, '') FROM cases").fetchall()
        terms = [r[0] for r in con.execute("SELECT surface FROM case_terms").fetchall()]
        columns = con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'cases'").fetchall()
    planted = set(manifest["pii"]["case_ids"])
    assert planted, "the generator planted personal data"
    for case_id, text, response in texts:
        for value in (text, response):
            assert not _PHONE_DIGITS.search(_SEPARATORS.sub("", value)), (case_id, value)
            assert not _EMAIL.search(value), (case_id, value)
    assert not any(_EMAIL.search(t) for t in terms)
    masked = {case_id for case_id, text, _ in texts if "〔電話番号〕" in text or "〔メール〕" in text}
    assert len(masked & planted) > len(planted) * 0.5
    assert ("お客様氏名",) not in columns and ("電話番号",) not in columns


def test_name_and_phone_columns_are_not_stored(loaded):
    _manifest, store, _ = loaded
    with duckdb.connect(str(store), read_only=True) as con:
        extra_keys = con.execute("SELECT DISTINCT unnest(json_keys(extra)) FROM cases WHERE extra IS NOT NULL").fetchall()
        keys = con.execute("SELECT count(DISTINCT customer_key) FROM cases").fetchall()[0][0]
    assert ("お客様氏名",) not in extra_keys and ("電話番号",) not in extra_keys
    assert keys > 100


def test_repeat_customer_links_by_customer_key(loaded):
    manifest, store, _ = loaded
    repeat = manifest["repeat_customer"]
    with duckdb.connect(str(store), read_only=True) as con:
        top = con.execute("SELECT customer_key, count(*) FROM cases GROUP BY 1 ORDER BY 2 DESC LIMIT 1").fetchall()[0]
    assert top == (repeat["customer_id"], repeat["contacts"])


def test_reloading_the_sample_changes_nothing(loaded, tmp_path):
    manifest, store, _ = loaded
    again = load_file(store.parent / "cases.csv", store, LoadOptions(workers=1))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, manifest["n_cases"])


def test_manifest_is_next_to_the_sample():
    from pipelines.store.settings import SAMPLE_DIR

    manifest = json.loads((SAMPLE_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["n_cases"] >= 20000 and len(manifest["departments"]) >= 6 and len(manifest["themes"]) >= 8
