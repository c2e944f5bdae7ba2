"""The read functions every page shares (pipelines.reports.shared), on a small store loaded by the
real pipeline: the home page's counts, the import history, saved mappings, the sidebar's choices,
the theme colours and the CSV download."""
from __future__ import annotations

import csv
import io
import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest.load import LoadOptions, load_file
from pipelines.ingest.mapping import saved_mapping, saved_mapping_names
from pipelines.reports.shared import (
    UNCLASSIFIED_COLOR,
    csv_for_excel,
    filter_options,
    import_history,
    monthly_counts,
    overview,
    rejected_rows,
    rejected_rows_as_table,
    rejected_table,
    theme_palette,
)
from pipelines.store import db
from pipelines.store.errors import RefusedFile

# A desk's own export with headers no preset knows, mapped by hand and saved under a name.
HEADER = ["管理コード", "発生した日", "いただいた声", "対象の商品", "窓口", "担当部署", "完了日"]
MAPPING = {"case_id": "管理コード", "received_at": "発生した日", "text": "いただいた声", "product": "対象の商品",
           "channel": "窓口", "department": "担当部署", "closed_at": "完了日"}
ROWS = [
    ["S-1", "2025/03/28 10:00", "注文した加湿器がまだ届きません。", "加湿器", "電話", "お客様相談室", "2025/03/29"],
    ["S-2", "2025/03/30 11:00", "加湿器から水が漏れています。", "加湿器", "メール", "品質保証部", ""],
    ["S-3", "不明", "請求額が二重になっています。", "光回線プランⅡ", "電話", "経理部", ""],      # line 4: rejected
    ["S-4", "2025/04/01 09:30", "請求額が二重になっています。", "光回線プランⅡ", "電話", "経理部", "2025/04/02"],
    ["S-5", "2025/04/02 15:00", "箱が潰れていました。", "加湿器", "Web", "お客様相談室", ""],
    ["S-6", "2025/04/03 16:45", "㈱ミナト電機の延長保証について教えてください。", "延長保証", "電話", "お客様相談室", ""],
]
EVENTS = [["ケース番号", "日時", "移管元", "移管先", "対応区分"],
          ["S-2", "2025/03/30 12:00", "お客様相談室", "品質保証部", "移管"],
          ["S-4", "2025/04/01 10:00", "お客様相談室", "経理部", "移管"]]


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(rows)
    return path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> dict:
    """Three imports into one store: cases (mapped by hand, saved), events, and a refused file. Read only."""
    folder = tmp_path_factory.mktemp("shared")
    store = folder / "store.duckdb"
    cases = load_file(_write_csv(folder / "voices.csv", [HEADER, *ROWS]), store,
                      LoadOptions(mapping=MAPPING, save_mapping_as="窓口アンケート", workers=1))
    events = load_file(_write_csv(folder / "handoffs.csv", EVENTS), store, LoadOptions(kind="events", workers=1))
    with pytest.raises(RefusedFile):
        load_file(_write_csv(folder / "no_dates.csv", [["番号", "問い合わせ内容"], ["X-1", "届かない"]]), store,
                  LoadOptions(workers=1))
    return {"store": store, "folder": folder, "cases": cases, "events": events}


# ---------------------------------------------------------------- the home page

def test_overview_counts_what_the_home_page_shows(loaded):
    view = overview(loaded["store"])
    assert (view.cases, view.open_cases, view.products, view.departments, view.events) == (5, 3, 3, 3, 2)
    assert (view.first, view.last) == (datetime(2025, 3, 28, 10, 0), datetime(2025, 4, 3, 16, 45))
    assert view.terms > 0, "the loaded texts were tokenized"


def test_monthly_counts(loaded):
    counts = monthly_counts(loaded["store"])
    assert list(counts.columns) == ["月", "件数"]
    assert list(counts.itertuples(index=False, name=None)) == [("2025-03", 2), ("2025-04", 3)]


def test_a_store_that_does_not_exist_yet_reads_as_empty(tmp_path):
    missing = tmp_path / "not-yet.duckdb"
    assert overview(missing).cases == 0
    assert monthly_counts(missing).empty and import_history(missing).empty
    assert filter_options(missing) == {"products": [], "channels": [], "departments": [], "themes": []}
    assert theme_palette(missing) == {"未分類": UNCLASSIFIED_COLOR}
    assert not missing.exists(), "reading never creates the store"


# ---------------------------------------------------------------- import history

def test_import_history_lists_every_import_newest_first_in_japanese(loaded):
    history = import_history(loaded["store"])
    shown = history[["ファイル名", "種類", "状態", "読込行数", "追加", "除外"]].astype(object).where(history.notna(), None)
    assert [tuple(row) for row in shown.itertuples(index=False)] == [
        ("no_dates.csv", "ケース", "受付不可", 0, None, None),
        ("handoffs.csv", "対応履歴", "完了", 2, 2, 0),
        ("voices.csv", "ケース", "完了", 6, 5, 1),
    ]
    assert "必須の列「受付日時」が見つかりません" in history["メッセージ"][0]
    assert history["対応づけ"][2] == "窓口アンケート"
    assert list(history["番号"]) == sorted(history["番号"], reverse=True)


def test_import_history_shows_the_case_identity_a_load_used(loaded, tmp_path):
    store = tmp_path / "store.duckdb"
    shutil.copy(loaded["store"], store)
    with db.writer(store) as con:      # as a load that reports its identity records it (ingest.identity)
        for column, kind in (("identity", "VARCHAR"), ("identity_reason", "VARCHAR"), ("rows_conflict", "BIGINT")):
            con.execute(f"ALTER TABLE import_batches ADD COLUMN IF NOT EXISTS {column} {kind}")
        con.execute("UPDATE import_batches SET identity = 'generated', rows_conflict = 0, "
                    "identity_reason = 'ケース番号の列がないため、各行の全項目からケースIDを生成しました。' WHERE batch_id = ?",
                    [loaded["cases"].batch_id])
    history = import_history(store).set_index("番号")
    shown = history.loc[loaded["cases"].batch_id, ["ケースの識別", "番号が重なり別ケースとして保存", "識別の理由"]]
    assert shown.tolist() == ["各行の全項目から生成", 0, "ケース番号の列がないため、各行の全項目からケースIDを生成しました。"]


def test_rejected_rows_of_an_import(loaded):
    shown = rejected_rows(loaded["cases"].batch_id, loaded["store"])
    assert list(shown.columns) == ["行番号", "理由", "元の行"]
    assert list(zip(shown["行番号"], shown["理由"])) == [(4, "受付日時「不明」を日付として読めません")]
    assert "請求額が二重になっています" in shown["元の行"][0]
    assert rejected_rows(loaded["events"].batch_id, loaded["store"]).empty


def test_rejected_rows_as_a_table_with_the_files_columns(loaded):
    shown = rejected_table(loaded["cases"].batch_id, loaded["store"])
    assert list(shown.columns) == ["行番号", "理由", *HEADER]
    assert (shown["発生した日"][0], shown["いただいた声"][0]) == ("不明", "請求額が二重になっています。")
    assert rejected_table(loaded["events"].batch_id, loaded["store"]).columns.tolist() == ["行番号", "理由"]


def test_a_rejected_row_that_could_not_be_split_keeps_its_text_and_a_files_reason_column_its_name():
    shown = rejected_rows_as_table([
        (3, "列が多すぎます（区切り文字や引用符の閉じ忘れを確認してください）", 'C-3,2025/04/01,"届かない,困っています'),
        (5, "受付日時「不明」を日付として読めません", '{"受付日": "不明", "理由": "返品", "内容": null}'),
    ])
    assert list(shown.columns) == ["行番号", "理由", "受付日", "理由（ファイルの列）", "内容", "元の行"]
    assert shown.iloc[0].tolist() == [3, "列が多すぎます（区切り文字や引用符の閉じ忘れを確認してください）", "", "", "",
                                      'C-3,2025/04/01,"届かない,困っています']
    assert shown.iloc[1].tolist() == [5, "受付日時「不明」を日付として読めません", "不明", "返品", "", ""]


# ---------------------------------------------------------------- saved mappings

def test_a_mapping_saved_at_upload_is_listed_and_read_back(loaded):
    assert saved_mapping_names(loaded["store"]) == ["窓口アンケート"]
    assert saved_mapping("窓口アンケート", loaded["store"]) == MAPPING
    assert saved_mapping("ほかの名前", loaded["store"]) is None


def test_the_next_upload_can_use_the_saved_mapping_by_name(loaded, tmp_path):
    store = tmp_path / "store.duckdb"
    shutil.copy(loaded["store"], store)
    later = [HEADER, ["S-7", "2025/04/04 10:00", "加湿器の電源が入りません。", "加湿器", "電話", "お客様相談室", ""]]
    result = load_file(_write_csv(tmp_path / "april.csv", later), store, LoadOptions(mapping="窓口アンケート", workers=1))
    assert (result.inserted, result.mapping) == (1, MAPPING)
    assert import_history(store)["対応づけ"][0] == "窓口アンケート"


# ---------------------------------------------------------------- sidebar filters and colours

def test_filter_options_offer_what_the_store_holds_most_frequent_first(loaded):
    options = filter_options(loaded["store"])
    assert options["products"] == ["加湿器", "光回線プランⅡ", "延長保証"]
    assert options["channels"] == ["電話", "Web", "メール"]
    assert options["departments"] == ["お客様相談室", "品質保証部", "経理部"]
    assert options["themes"] and all(isinstance(theme_id, str) and name for theme_id, name in options["themes"])


def test_theme_palette_gives_each_theme_its_colour_and_unclassified_grey(loaded):
    palette = theme_palette(loaded["store"])
    names = [name for _, name in filter_options(loaded["store"])["themes"]]
    assert list(palette) == names + ["未分類"], "the rules file's order, 未分類 last"
    assert palette["未分類"] == UNCLASSIFIED_COLOR == "#9e9e9e"
    assert all(color.startswith("#") and len(color) == 7 for color in palette.values())


# ---------------------------------------------------------------- CSV for Excel

def _read_back(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize(("cell", "written"), [
    ("=HYPERLINK(\"http://example.com\")", "'=HYPERLINK(\"http://example.com\")"),
    ("+81-90-1234-5678", "'+81-90-1234-5678"),
    ("-1+2", "'-1+2"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("請求額が二重です", "請求額が二重です"),
    ("a=b", "a=b"),                      # only a leading sign starts a formula
])
def test_csv_for_excel_neutralises_formulas(cell, written):
    assert _read_back(csv_for_excel(pd.DataFrame({"理由": [cell]}))) == [["理由"], [written]]


def test_csv_for_excel_is_what_excel_opens_in_japanese():
    frame = pd.DataFrame({"ケース番号": ["S-1", "S-2"], "内容": ["㈱ミナト電機、髙橋様", "10時～18時　ｶﾅ"],
                          "件数": [-3, 12]})
    data = csv_for_excel(frame)
    assert data.startswith(b"\xef\xbb\xbf"), "a UTF-8 BOM, or Excel reads the Japanese as mojibake"
    assert data.count(b"\r\n") == 3 and data.count(b"\n") == 3, "CRLF line endings"
    assert _read_back(data) == [["ケース番号", "内容", "件数"], ["S-1", "㈱ミナト電機、髙橋様", "-3"],
                                ["S-2", "10時～18時　ｶﾅ", "12"]], "numbers are numbers, not neutralised text"


def test_csv_for_excel_neutralises_pandas_string_columns_and_leaves_the_frame_alone():
    frame = pd.DataFrame({"メモ": pd.array(["=1+1", None], dtype="string")})
    assert _read_back(csv_for_excel(frame)) == [["メモ"], ["'=1+1"], [""]]
    assert frame["メモ"][0] == "=1+1", "the page's own frame is not changed"
