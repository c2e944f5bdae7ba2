"""Recurring causes: what a desk would name as the cause of each case, across industries.

Every sentence below was written for this file. Pairs match on UniDic lemmas, so the expectations
hold for unidic-lite, UniDic 2.1.2 (pinned in requirements.txt): a newer UniDic that splits or
lemmatizes differently may move a case between 'pair' and 'phrase', or lose it.
"""
from __future__ import annotations

import pytest

from pipelines.nlp.pii import doc_from_text
from pipelines.nlp.text import dictionary_version
from pipelines.rules.causes import CauseHit, canonical_cause, load_cause_rules

UNIDIC = "2.1.2"  # the tokenization every expectation below was made with

# The canonical causes the dashboard promises (連絡不備 is the desk's 折り返しなし).
REQUIRED = ("梱包不良", "キャップ不良", "容器破損", "誤配送", "配送遅延", "異物混入", "品質劣化", "賞味期限切れ",
            "説明不足", "表示誤り", "システム不具合", "請求誤り", "返金遅延", "解約手続き不備", "連絡不備", "応対不良",
            "在庫切れ")

# (industry, text, expected canonical causes)
CASES = [
    # food
    ("food", "昨日届いた麦茶のペットボトル、キャップが緩んでいて中身が漏れていました。", {"キャップ不良"}),
    ("food", "開封したヨーグルトに小さな虫が入っていました。気持ち悪いです。", {"異物混入"}),
    ("food", "まだ賞味期限内なのに、袋を開けたら酸っぱい臭いがしました。", {"品質劣化"}),
    ("food", "スーパーで買った豆腐、消費期限が切れていました。", {"賞味期限切れ"}),
    ("food", "リニューアルしてから味が変わってしまい、前のほうが好きでした。", {"味の変化"}),
    ("food", "瓶にひびが入っていて、ソースが漏れていました", {"容器破損"}),
    ("food", "異物は特に入っていませんでしたが、味が薄かったです。", {"味の変化"}),
    ("food", "健康のために毎日飲んでいます。とても美味しいです。", set()),
    # EC
    ("ec", "届いた段ボールがつぶれていて、中のお皿が一枚欠けていました。", {"梱包不良"}),
    ("ec", "注文したものと違う色のTシャツが届きました。", {"誤配送"}),
    ("ec", "発送予定日を1週間過ぎても、まだ商品が届きません。", {"配送遅延"}),
    ("ec", "同じ注文なのにクレジットカードで二重に決済されています。", {"請求誤り"}),
    ("ec", "返品して2週間たちますが、返金がまだありません。", {"返金遅延"}),
    ("ec", "商品ページに防水と書いてあったのに、小雨で中まで濡れました。", {"表示誤り"}),
    ("ec", "人気商品のため在庫切れが続いていて、いつ買えるのか分かりません", {"在庫切れ"}),
    ("ec", "箱は潰れていませんでした。中身も無事です。", set()),
    ("ec", "届くのが早くて助かりました。", set()),
    # telecom
    ("telecom", "昨日からスマホの電波が弱くて、通話がすぐ途切れます。", {"通信障害"}),
    ("telecom", "サポートセンターに何度電話してもつながりません。", {"窓口不通"}),
    ("telecom", "解約したのに、翌月も料金を引き落とされました。", {"解約手続き不備", "請求誤り"}),
    ("telecom", "店頭スタッフの説明と、実際の契約内容がまったく違っていました。", {"誤案内"}),
    ("telecom", "マイページから解約しようとしても、解約ボタンが見当たりません。", {"解約手続き不備"}),
    # clinic
    ("clinic", "予約していたのに、受付で予約が入っていないと言われました。", {"予約不備"}),
    ("clinic", "診察まで3時間も待たされました。", {"待ち時間"}),
    ("clinic", "受付の方の態度が横柄で、とても不快でした。", {"応対不良"}),
    ("clinic", "検査結果を折り返し連絡すると言われたのに、1週間たっても連絡がありません。", {"連絡不備"}),
    ("clinic", "念のため、次回の予約日を確認したいです。", set()),
    ("clinic", "確認のため、診察券の番号をお伝えします。", set()),
    ("clinic", "待合室のトイレが汚れていて不衛生でした。", {"清掃不備"}),
    # travel
    ("travel", "ホテルの部屋のエアコンが壊れていて、一晩中暑かったです。", {"設備不良"}),
    ("travel", "予約サイトでダブルブッキングになっていて、別のホテルに回されました。", {"予約不備"}),
    ("travel", "シャワーのお湯が出なくて困りました。", {"設備不良"}),
    ("travel", "大雪のため、ツアーが中止になりました。", {"天候・災害"}),
    # software
    ("software", "アップデートしてからアプリが起動しなくなりました。", {"システム不具合"}),
    ("software", "ログインしようとすると毎回エラーが表示されます。", {"システム不具合"}),
    ("software", "パスワード再設定のメールがいつまでたっても届きません。", {"システム不具合"}),
    ("software", "問い合わせから3日経ちますが、まだ返信がありません。", {"連絡不備"}),
    ("software", "料金改定の説明がなかったので、何が変わったのか分かりません", {"説明不足"}),
    # causal clues
    ("clue", "液漏れしていたのは、キャップの締めが甘かったからだと思います。", {"キャップ不良"}),
    ("clue", "配送業者の誤仕分けにより、別の住所に届けられていました。", {"誤配送"}),
    ("clue", "担当者のミスにより、請求金額が間違っていました。", {"請求誤り"}),
    ("clue", "サーバー障害が原因で、朝からサービスが使えませんでした。", {"システム不具合"}),
    ("clue", "台風の影響で配送が遅れているとのことでした。", {"天候・災害", "配送遅延"}),
    ("clue", "キャップ不良のため、交換をお願いします。", {"キャップ不良"}),
]


@pytest.fixture(scope="module")
def rules():
    return load_cause_rules()


def test_dictionary_is_the_one_expectations_were_made_with():
    assert dictionary_version().startswith(UNIDIC)


@pytest.mark.parametrize("industry, text, expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_causes(rules, industry, text, expected):
    hits = rules.extract(doc_from_text("T", text))
    assert {h.cause for h in hits} == expected, hits
    assert all(isinstance(h, CauseHit) and h.evidence and h.kind in ("clue", "pair", "phrase") for h in hits)


@pytest.mark.parametrize("text, cause, kind, evidence", [
    ("液漏れしていたのは、キャップの締めが甘かったからだと思います。", "キャップ不良", "clue", "キャップの締めが甘かったから"),
    ("サーバー障害が原因で、朝からサービスが使えませんでした。", "システム不具合", "clue", "サーバー障害が原因"),
    ("届いた箱が潰れていました。", "梱包不良", "pair", "箱が潰れ"),
    ("電話が全然つながらないのですが。", "窓口不通", "pair", "電話が全然つながらない"),
    ("二重請求になっています。", "請求誤り", "pair", "二重請求"),  # 二重 + 請求 inside one compound
    ("部署をたらい回しにされました。", "たらい回し", "phrase", "たらい回し"),
])
def test_kind_and_evidence_show_why(rules, text, cause, kind, evidence):
    """The dashboard shows the evidence next to the cause: it must be the words that decided it."""
    hit = next(h for h in rules.extract(doc_from_text("T", text)) if h.cause == cause)
    assert hit.kind == kind
    assert evidence in hit.evidence[0]


def test_symptom_gives_way_to_its_cause(rules):
    # 液漏れ alone points at the container; with a loose cap in the same sentence, the cap is the cause.
    assert [h.cause for h in rules.extract(doc_from_text("T", "液漏れしていました。"))] == ["容器破損"]
    assert [h.cause for h in rules.extract(doc_from_text("T", "キャップが緩くて液漏れしていました。"))] == ["キャップ不良"]


def test_pairs_merge_spelling_variants(rules):
    """Lemmas merge 表記ゆれ: つぶれ/潰れ, ゆるい/緩い, つながら/繋がら."""
    for text in ("箱がつぶれていた", "箱が潰れていた", "キャップがゆるかった", "キャップが緩かった"):
        assert rules.extract(doc_from_text("T", text)), text


def test_unmapped_clue_expressions_are_offered_for_the_dictionary(rules):
    doc = doc_from_text("T", "原因は担当者の入力ミスとのことでした。")
    assert rules.extract(doc) == []
    assert rules.unmapped(doc) == ["担当者の入力ミス"]
    assert rules.unmapped(doc_from_text("T", "確認のため、番号を教えてください。")) == []


def test_katakana_danboru_survives_masking(rules):
    """ダン of ダンボール is a given name to UniDic; the name mask must not eat the box."""
    assert {h.cause for h in rules.extract(doc_from_text("T", "届いたダンボールが潰れていました"))} == {"梱包不良"}


# ---------------------------------------------------------------- desk labels

@pytest.mark.parametrize("label, expected", [
    ("キャップの締め不良", "キャップ不良"),
    ("キャップ不良", "キャップ不良"),
    ("二重請求", "請求誤り"),
    ("折り返しなし", "連絡不備"),
    ("【梱包ミス】", "梱包不良"),
    ("配送業者の遅れ", "配送遅延"),
    ("ﾛｸﾞｲﾝできない", "システム不具合"),
    ("異物(髪の毛)混入", "異物混入"),
    (" 担当者の確認漏れ。", "担当者の確認漏れ"),
    ("その他", "その他"),
    ("接客・対応", "接客・対応"),  # a theme name stays itself: countermeasures may target themes
    ("", ""),
])
def test_canonical_cause(label, expected):
    assert canonical_cause(label) == expected


# ---------------------------------------------------------------- the dictionary file

def test_shipped_dictionary_has_every_required_cause(rules):
    assert set(REQUIRED) <= set(rules.causes)


def test_every_cause_has_rules_beyond_its_heading(rules):
    covered = {cause for rules_ in rules.noun_index.values() for cause in (r.cause for r in rules_)}
    covered |= {value[0] for value in rules.phrases.literal.values()}
    covered |= {value[0] for _, _, value in rules.phrases.special}
    covered |= set(rules.clue_words.literal.values())
    assert set(rules.causes) <= covered


def test_hash_follows_the_file(tmp_path):
    path = tmp_path / "causes.txt"
    path.write_text("[梱包不良]\n組: 箱 × 潰れる\n", encoding="utf-8")
    first = load_cause_rules(path).hash()
    path.write_text("[梱包不良]\n組: 箱 × 潰れる|凹む\n", encoding="utf-8")
    second = load_cause_rules(path)
    assert first != second.hash()
    assert second.extract(doc_from_text("T", "箱が凹んでいた"))[0].cause == "梱包不良"


def test_a_user_rule_takes_effect(tmp_path):
    """A desk adds its own cause with a phrase and a pair; both work, and the alias maps its label."""
    path = tmp_path / "causes.txt"
    path.write_text("# 自社用\n[のし誤り]\n別名: 熨斗ミス\n語句: のしが違\n組: 熨斗|のし紙 × 違う|間違う\n", encoding="utf-8")
    rules = load_cause_rules(path)
    assert [h.cause for h in rules.extract(doc_from_text("T", "のし紙の名前が間違っていました"))] == ["のし誤り"]
    assert rules.canonical("熨斗ミス") == "のし誤り"


@pytest.mark.parametrize("content, words", [
    ("組: 箱 × 潰れる\n", ["1行目", "見出し"]),
    ("[梱包不良]\n条件: 箱\n", ["2行目", "条件", "使えない項目名"]),
    ("[梱包不良]\n組: 箱 潰れる\n", ["2行目", "×"]),
    ("[梱包不良]\n語句: /箱(/\n", ["2行目", "正規表現"]),
    ("[梱包不良]\n組: 箱 × 分かりにくい\n", ["2行目", "語句"]),
    ("[梱包不良]\n組: 箱が潰れた × 凹む\n", ["2行目", "1語"]),
    ("[梱包不良]\n別名: 箱潰れ\n[配送事故]\n別名: 箱潰れ\n", ["4行目", "両方"]),
])
def test_bad_dictionary_lines_are_named(tmp_path, content, words):
    """An analyst's typo must point at the line and say how to fix it, in Japanese for the UI."""
    from pipelines.rules.causes import RulesFileError

    path = tmp_path / "causes.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RulesFileError) as info:
        load_cause_rules(path)
    message = info.value.message_ja()
    assert path.name in message
    for word in words:
        assert word in message


def test_missing_dictionary_says_where(tmp_path):
    from pipelines.rules.causes import RulesFileError

    with pytest.raises(RulesFileError) as info:
        load_cause_rules(tmp_path / "nope.txt")
    assert "nope.txt" in info.value.message_ja() and "ls" in info.value.message_en()
