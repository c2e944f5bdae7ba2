"""Shared vocabulary: the word lists that tokenization, topic suggestions, the theme explorer and
alert words agree on (stop words of a contact centre, formal nouns, code pieces)."""
from __future__ import annotations

# Words nearly every contact-centre case contains, and desk-note boilerplate (入電, ご立腹, 敬具):
# they would make every topic look alike. Matched on a word's lemma or surface, and on the whole
# text of a compound; a compound also loses them at its edges (返金希望 → 返金, お客様窓口 → 窓口).
VOC_STOP_WORDS = frozenset({
    # the spec's core list
    "お客様", "客", "様", "件", "対応", "連絡", "確認", "お願い", "商品", "今回", "先日", "購入",
    "問い合わせ", "電話", "時",
    # spelling variants and close relatives
    "問合せ", "問い合せ", "願い", "さん", "顧客", "入電", "申し出", "申し出る", "旨", "希望", "要望", "様子",
    "注文番号",
    # letter and call boilerplate: お世話になります, 突然のご連絡失礼いたします, すみません, 拝啓…敬具
    "世話", "失礼", "済む", "拝啓", "敬具", "清栄", "貴社", "候", "喜び", "申し上げる", "立腹", "指摘", "意見",
    "内容", "本当", "気", "話", "有り", "者",
    # who called (30代女性、お子様あり): demographics, not topics
    "男性", "女性", "年配", "高齢", "子", "子様", "家族",
    # verbs of speaking and knowing that every case uses (〜について, 〜と思います, 〜と言われた)
    "付く", "つく", "思う", "言う", "申す", "存ずる", "伺う", "致す", "聞く", "分かる", "教える", "伝える",
    "下さる", "頂く", "宜しい", "良い",
    # bare counters and positions
    "今", "前", "後", "中", "度", "回", "点", "以上", "以下", "其の他",
})
# Negated forms that are complaints in their own right (連絡がない, 対応してくれない): kept although
# the plain words are stop words.
KEEP_NEGATED = frozenset({"連絡", "対応", "返信", "回答", "確認", "電話"})
# Formal nouns (形式名詞) carry grammar, not meaning. Their UniDic lemmas end a negation's scope
# (nlp.text: 届かない訳ではない does not negate 届く)...
FORMAL_NOUN_LEMMAS = frozenset({"訳", "事", "物", "為", "の", "所", "筈", "様", "方"})
# ...and with their kana spellings (matched on surfaces too) and 通り they are never a topic word
# and end a compound (確認の為).
FORMAL_NOUNS = FORMAL_NOUN_LEMMAS | {"ため", "こと", "もの", "よう", "わけ", "ところ", "はず", "とおり", "通り"}
# ASCII pieces of order numbers and sizes (注文番号A-2024…, 500ml, No.123): never part of a term.
CODE_WORDS = frozenset({"no", "ml", "l", "g", "kg", "mg", "cm", "mm", "km", "tel", "fax"})

NEGATED_SUFFIX = "(否定)"  # feature 届く(否定) ↔ rule 届く!neg
