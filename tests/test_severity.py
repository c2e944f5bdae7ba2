"""Emotion and severity levels: what a desk lead would escalate, and what they would leave calm.

Every sentence below was written for this file. One-word cues also match on UniDic lemmas
(ひどい → ひどかった), so those expectations hold for unidic-lite, UniDic 2.1.2.
"""
from __future__ import annotations

import time

import pytest

from pipelines.nlp.pii import doc_from_text
from pipelines.rules.severity import Severity, load_severity_rules, score

UNIDIC = "2.1.2"  # the tokenization the lemma-matched expectations were made with

# (industry, text, level, harassment types)
CASES = [
    # 0 — calm: praise, questions, factual reports, cancelled or thanked cues
    ("ec", "いつも丁寧に梱包していただき、ありがとうございます。", 0, ()),
    ("food", "この商品は電子レンジで温めても大丈夫ですか？", 0, ()),
    ("ec", "箱が潰れて届きました。交換をお願いします。", 0, ()),
    ("software", "至急対応していただき、本当に助かりました。ありがとうございました。", 0, ()),
    ("food", "二度と買わないなんてことはないです。これからも応援しています。", 0, ()),
    ("ec", "最悪の場合、返品でも構いません。", 0, ()),
    ("food", "最高です！！また注文します！！", 0, ()),
    ("clinic", "患者さんが腹痛を訴えて来院されました。", 0, ()),
    ("software", "アップデートしてからアプリが開きません。", 0, ()),
    ("telecom", "料金も安いし電波も良くて、不満はありません。", 0, ()),
    # 1 — dissatisfied
    ("travel", "楽しみにしていたので残念です。", 1, ()),
    ("ec", "前回と同じサイズを頼んだのに、小さいものが届きました。", 1, ()),
    ("software", "設定の説明がよく分からず困っています。", 1, ()),
    ("clinic", "弁護士に相談するほどではないですが、改善をお願いします。", 1, ()),
    ("ec", "まだ届きません！！", 1, ()),
    ("food", "味がひどかったです。", 1, ()),
    # 2 — angry or urgent
    ("ec", "至急返金してください。", 2, ()),
    ("travel", "フロントの対応が最悪でした。", 2, ()),
    ("telecom", "責任者を出せ！！", 2, ()),
    ("food", "もう二度と買いません。", 2, ()),
    ("telecom", "何度も電話しているのに、一向につながりません。", 2, ()),
    ("ec", "いい加減にしてください。", 2, ()),
    ("travel", "口コミサイトに全部書きます。", 2, ()),
    ("ec", "店員に「バカ」と言われました。", 2, ()),
    ("software", "毎日電話しているのに、まったくつながりません。", 2, ()),
    ("ec", "いつまで待たせるんだ！！！どうなってるんだ！！！いい加減にしろ！！！", 2, ()),
    # 3 — severe: legal or authority threats, harassment (MHLW types)
    ("ec", "これ以上対応しないなら弁護士に相談します。", 3, ()),
    ("food", "消費生活センターに相談しました。", 3, ()),
    ("food", "食中毒だと思うので保健所に通報します。", 3, ()),
    ("telecom", "訴えてやる。覚えておけ。", 3, ("脅迫",)),
    ("travel", "SNSで晒してやるからな", 3, ("脅迫",)),
    ("telecom", "お前ら給料泥棒だな", 3, ("暴言・侮辱",)),
    ("ec", "土下座して謝れ", 3, ("土下座の要求",)),
    ("clinic", "田中という受付の担当者をクビにしろ", 3, ("従業員個人への攻撃",)),
    ("food", "慰謝料として10万円払え", 3, ("過剰な要求",)),
    ("ec", "今すぐ家まで謝りに来い", 3, ("過剰な要求",)),
    ("ec", "大声で怒鳴り続け、机を叩かれた。", 3, ("威圧的な言動",)),
    ("telecom", "毎日のようにお電話があり、本日は3時間にわたり電話を切らせてもらえなかった。", 3,
     ("継続的・執拗な言動", "拘束的な行動")),
]


@pytest.fixture(scope="module")
def rules():
    return load_severity_rules()


@pytest.mark.parametrize("industry, text, level, harassment", CASES,
                         ids=[f"L{c[2]}-{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_levels(rules, industry, text, level, harassment):
    result = rules.score(doc_from_text("T", text))
    assert isinstance(result, Severity)
    assert (result.level, result.harassment) == (level, harassment), result.reasons
    assert bool(result.reasons) == (level > 0), "a level above 0 says why, a calm case has nothing to say"


@pytest.mark.parametrize("text, repeat, reasons", [
    ("責任者を出せ！！", 0, ["『責任者を出せ』: 責任者の要求", "！！ ×1"]),
    ("いつまで待たせるんだ！！！どうなってるんだ！！！いい加減にしろ！！！", 0, ["！！ ×3"]),
    ("至急返金してください。", 0, ["『至急』: 緊急の要求"]),
    ("土下座して謝れ", 0, ["『土下座』: 土下座の要求（カスハラ: 土下座の要求）"]),
    ("弁護士に相談するほどではないですが、改善をお願いします。", 0, ["『弁護士』: 法的措置への言及（打ち消しあり）"]),
    ("前回と同じサイズを頼んだのに、小さいものが届きました。", 0, ["『頼んだのに』: 期待の裏切り"]),
    ("まだ届きません。困っています。", 2, ["30日以内に3回目の連絡", "『困って』: 否定的な評価"]),
])
def test_reasons_read_like_a_note(rules, text, repeat, reasons):
    """Reasons are shown in the case list as they are; they must name the words and what they mean."""
    shown = rules.score(doc_from_text("T", text), repeat).reasons
    assert [reason for reason in reasons if reason not in shown] == [], shown


@pytest.mark.parametrize("text, repeat, level", [
    ("配送状況を教えてください。", 0, 0),
    ("配送状況を教えてください。", 1, 0),   # a second question is not a complaint
    ("配送状況を教えてください。", 4, 1),   # a fifth contact in 30 days is
    ("まだ届きません。困っています。", 0, 1),
    ("まだ届きません。困っています。", 2, 2),  # dissatisfied on the 3rd contact → angry
    ("まだ届きません。いい加減にしてください。", 1, 2),
    ("まだ届きません。いい加減にしてください。", 2, 3),  # anger on the 3rd contact → severe
])
def test_repeat_contacts_raise_the_level(rules, text, repeat, level):
    result = rules.score(doc_from_text("T", text), repeat_contacts=repeat)
    assert result.level == level
    if repeat:
        assert f"30日以内に{repeat + 1}回目の連絡" in result.reasons


def test_module_level_score_uses_the_shipped_lexicon():
    assert score(doc_from_text("T", "至急連絡ください")).level == 2
    assert score(doc_from_text("T", "弁護士に相談します"), repeat_contacts=0).level == 3


def test_a_user_lexicon_takes_effect(tmp_path):
    """A desk adds its own wording; a dictionary-form cue also catches its inflections through lemmas."""
    path = tmp_path / "severity.txt"
    path.write_text("[怒り 2]\n苛立ち: 苛立つ, むかっとした\n[カスハラ:脅迫]\n脅し: 乗り込むぞ\n", encoding="utf-8")
    rules = load_severity_rules(path)
    assert rules.score(doc_from_text("T", "対応の遅さに苛立っています")).level == 2
    result = rules.score(doc_from_text("T", "明日そっちに乗り込むぞ"))
    assert (result.level, result.harassment) == (3, ("脅迫",))
    assert rules.hash() != load_severity_rules().hash()


@pytest.mark.parametrize("content, words", [
    ("[怒り]\n苛立ち: 苛立つ\n", ["1行目", "見出し"]),
    ("[怒り 2]\n苛立つ, 腹が立つ\n", ["2行目", "説明"]),
    ("[怒り 2]\n苛立ち: /苛立(/\n", ["2行目", "正規表現"]),
])
def test_bad_lexicon_lines_are_named(tmp_path, content, words):
    from pipelines.rules.causes import RulesFileError

    path = tmp_path / "severity.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RulesFileError) as info:
        load_severity_rules(path)
    message = info.value.message_ja()
    assert path.name in message
    for word in words:
        assert word in message


def test_speed_guard(rules):
    """Generous floor against a catastrophic regression; the real benchmark is in the report."""
    docs = [doc_from_text(str(i), text) for i, (_, text, _, _) in enumerate(CASES)] * 40
    started = time.process_time()
    for doc in docs:
        rules.score(doc, 1)
    per_second = len(docs) / max(time.process_time() - started, 1e-9)
    assert per_second > 3000, f"{per_second:,.0f} cases/s"
