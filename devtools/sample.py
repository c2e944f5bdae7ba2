"""Generate the bundled sample: a fictional food maker's customer-desk export.

The files look like what a Japanese CRM hands over (UTF-8 with BOM, CRLF, Japanese
headers) and carry known, seed-chosen patterns -- a spike, a cause that comes back
after its countermeasure, a slow department, a repeat customer, severe cases left at
the desk, cases bounced between departments -- written to manifest.json so every
analysis can be checked against the answer.

    python -m devtools.sample --out data/sample --seed 7 --cases 24000
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

# ---------------------------------------------------------------- organisation

COMPANY = "はるかぜ食品株式会社"
DESK = "お客様相談室"
QA, MFG, LOGI, SALES = "品質保証部", "製造部", "物流部", "営業部"
ACCT, IT, LEGAL = "経理部", "情報システム部", "法務部"
DEPARTMENTS = (DESK, QA, MFG, LOGI, SALES, ACCT, IT, LEGAL)
CHANNEL_WEIGHTS = {"電話": 40, "メール": 20, "Webフォーム": 23, "チャット": 10, "SNS": 5, "手紙": 2}

CASE_COLUMNS = (
    "ケース番号", "受付日時", "受付チャネル", "顧客ID", "お客様氏名", "電話番号", "商品名", "分類",
    "担当部署", "対応状況", "優先度", "完了日時", "問い合わせ内容", "対応内容",
)
EVENT_COLUMNS = ("ケース番号", "日時", "移管元部署", "移管先部署", "アクション", "メモ")
COUNTERMEASURE_COLUMNS = ("実施日", "対象", "担当部署", "内容")
TIME_FORMAT = "%Y/%m/%d %H:%M"
PLAIN_INQUIRY = "一般問い合わせ"


@dataclass(frozen=True)
class SampleOptions:
    """What to generate; everything else is chosen from the seed."""

    seed: int = 7
    n_cases: int = 24000
    start: date = date(2024, 6, 1)
    months: int = 19

    @property
    def end(self) -> date:
        """Last day with cases: `months` calendar months after `start`, minus one day."""
        month_index = self.start.month - 1 + self.months
        first_after = date(self.start.year + month_index // 12, month_index % 12 + 1, 1)
        return first_after - timedelta(days=1)


@dataclass(frozen=True)
class Product:
    name: str
    aliases: tuple[str, ...]   # how customers write it
    kind: str                  # bottle / jar / frozen / powder / bread / bar / pouch / bag
    weight: float
    price: int
    in_stores: bool
    subscription: bool
    peak_months: tuple[int, ...] = ()


PRODUCTS = (
    Product("はるかぜ緑茶 500ml", ("緑茶", "お茶", "緑茶のペットボトル", "ペットボトルのお茶", "はるかぜ緑茶",
            "緑茶500ml", "緑茶５００ｍｌ"), "bottle", 16, 135, True, True, (6, 7, 8, 9)),
    Product("無添加ドレッシング 和風たまねぎ", ("ドレッシング", "和風ドレッシング", "たまねぎドレッシング",
            "無添加ドレッシング"), "bottle", 9, 430, True, False),
    Product("冷凍餃子 12個入り", ("餃子", "ぎょうざ", "ギョーザ", "冷凍餃子", "冷凍ぎょうざ"), "frozen", 11, 398,
            True, False, (11, 12, 1, 2)),
    Product("毎朝青汁 定期便 30包", ("青汁", "毎朝青汁", "あおじる", "青汁"), "powder", 14, 3980,
            False, True),
    Product("国産はちみつ 300g", ("はちみつ", "ハチミツ", "蜂蜜", "国産はちみつ"), "jar", 6, 1680, True, False),
    Product("玄米食パン", ("玄米パン", "食パン", "パン", "玄米食パン"), "bread", 8, 320, True, False),
    Product("ソイプロテインバー 12本入り", ("プロテインバー", "ソイプロテインバー", "プロテインのバー"), "bar", 8,
            2160, True, True),
    Product("黒酢りんごドリンク 1L", ("黒酢ドリンク", "黒酢", "りんご黒酢", "黒酢のドリンク"), "bottle", 7, 680,
            True, False, (6, 7, 8)),
    Product("だし醤油 500ml", ("だし醤油", "醤油", "しょうゆ", "だししょうゆ"), "bottle", 7, 450, True, False),
    Product("野菜たっぷりスープ 詰め合わせ", ("スープ", "スープの詰め合わせ", "野菜スープ", "スープセット"),
            "pouch", 6, 2700, False, False, (11, 12)),
    Product("発芽玄米 2kg", ("発芽玄米", "玄米", "お米"), "bag", 8, 1580, True, True),
)
PRODUCT_BY_NAME = {product.name: product for product in PRODUCTS}

THEMES = (
    "品質・異物", "味・風味", "容器・包装", "配送", "請求・返金", "契約・定期便", "接客・対応",
    "Webサイト・システム", "表示・説明", "健康被害・安全", "要望・提案", "お褒め",
)


@dataclass(frozen=True)
class Cause:
    """A canonical cause: its theme, its owning department and how customers word it.

    Clauses are plain-form (普通形) so one connector list fits them all; a clause may
    start with "kind,kind|" to apply only to those product kinds.
    """

    name: str
    theme: str
    dept: str
    weight: float
    handoff: float
    clauses: tuple[str, ...]
    sentences: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    needs: str = ""            # "mail" (ordered by mail) / "sub" (定期便) / ""
    mode: str = "complaint"    # complaint / praise / wish / inquiry


# ---------------------------------------------------------------- causes and their wording
# Slots in braces are filled per text: see SLOTS and TextContext.

CAUSES = (
    Cause("異物混入", "品質・異物", QA, 5.0, 0.85, (
        "{item}が入っていた", "中に{item}が混入していた", "開けたら{item}のようなものが入っていた",
        "食べている途中で{item}が出てきた", "袋の中に{item}が入っていた", "半分ほど食べたところで{item}に気づいた",
        "bottle|飲み終わる頃、底に{item}が沈んでいた", "bottle,jar|容器の底に{item}らしきものが見えた",
        "frozen|具の中から{item}が出てきた", "bread|パンの中に{item}が練り込まれていた",
        "子どもが食べようとしたら{item}が入っているのに気づいた", "よく見ると{item}が混ざっていた",
        "{item}がくっついていた", "口に入れたら{item}のような硬いものが当たった",
        "powder|粉の中に{item}が混じっていた", "bar|バーの表面に{item}が埋まっていた",
    ), ("異物が混入していました。", "異物混入です。", "{item}が入っていました！！",
        "中から{item}が出てきました。気持ち悪くてもう口にできません。", "{item}入ってたんですけど。")),
    Cause("変色", "品質・異物", QA, 2.0, 0.8, (
        "色がいつもと違った", "中身が茶色く変色していた", "色が変わっていた", "変色している部分があった",
        "一部が黒ずんでいた", "bottle|液体が濁っていた", "powder|粉が固まって変色していた",
        "jar|白く濁って固まっていた", "bread|表面が変な色になっていた", "色が明らかにおかしかった",
        "開封したら色が薄くなっていた", "frozen|中の具が変色していた", "bottle|沈殿物があって色も濃かった",
        "同じ商品なのに前回と色が全然違った", "端のほうが緑っぽく変色していた",
    ), ("変色しているように見えます。", "色がおかしいです。", "色、変じゃないですか？"),
        ("bottle", "jar", "powder", "bread", "frozen", "pouch", "bar")),
    Cause("カビ", "品質・異物", QA, 2.0, 0.85, (
        "カビが生えていた", "かびが生えていた", "白いカビのようなものがついていた", "緑色のカビが生えていた",
        "表面にカビらしきものが点々とあった", "賞味期限内なのにカビが生えていた", "開封してすぐなのにカビていた",
        "袋の内側に黒いカビのようなものが見えた", "青カビのようなものが付いていた",
        "bread|パンの耳のところにカビが生えていた", "bar|包装を開けたらカビが生えていた",
        "ふわふわした白いものが表面を覆っていた", "届いた時点でカビが生えていた",
        "期限まで{days}以上あるのにカビだらけだった", "黒い斑点のようなカビが出ていた",
    ), ("カビが生えてました！", "カビです。期限内なのに。", "カビが生えています。"),
        ("bread", "bar", "powder", "bag", "pouch", "frozen")),
    Cause("異臭", "品質・異物", QA, 3.0, 0.75, (
        "変なにおいがした", "変な臭いがする", "異臭がした", "薬品のようなニオイがした",
        "開けた瞬間に酸っぱいにおいがした", "生臭いにおいがした", "いつもと違う臭いがする",
        "油が古くなったようなにおいがした", "プラスチックのような臭いが移っていた", "においがきつくて口にできなかった",
        "ツンとするにおいがした", "開封したとたん腐ったような臭いがした", "洗剤みたいなにおいがした",
        "bottle|飲もうとしたら変なにおいがした", "frozen|焼いたら嫌なにおいがした",
    ), ("臭いがおかしいです。", "変なニオイがします。", "におい、おかしくないですか。")),
    Cause("味の変化", "味・風味", QA, 7.0, 0.45, (
        "味が薄かった", "いつもと味が違う", "味が変わった気がする", "前より味が落ちた", "苦味が強かった",
        "甘すぎた", "しょっぱすぎた", "風味がまったくしなかった", "酸っぱい味がした", "水っぽかった",
        "リニューアルしてから味が変わった", "後味が悪い", "前に買ったものと明らかに味が違った",
        "bottle|飲んだら味がおかしかった", "bar|パサパサしていて前と食感が違った",
        "frozen|皮がべちゃっとしていて美味しくなかった", "powder|粉っぽくて溶けにくくなった",
        "bread|ぼそぼそして味がしなかった", "bottle|香りが弱くなった", "味がぼやけている",
        "いつもの味じゃない", "薄くて味がほとんどしない", "妙に渋かった",
    ), ("味が違います。", "まずくなりました。", "前のほうが美味しかったです。", "味、変えましたか？",
        "味が薄いです。", "前と味がちがう。")),
    Cause("キャップ不良", "容器・包装", QA, 3.5, 0.6, (
        "{cap}が緩くて{leak}いた", "{cap}の締めが甘く、{leak}いた", "{cap}がしっかり閉まっていなかった",
        "{cap}が最初から緩んでいた", "開ける前から{cap}が空回りしていた", "{cap}がきちんと締まらない",
        "{cap}が斜めに閉まっていて{leak}いた", "{cap}を開けようとしたら手応えがなく、すでに開いていた",
        "{cap}のところから{leak}いた", "{cap}が緩くて袋の中がべたべたになっていた", "{cap}の締めが甘かった",
        "未開封なのに{cap}が緩かった", "{cap}が閉まりきっておらず、{leak}いた",
        "{cap}がゆるゆるで、箱の中まで濡れていた", "{cap}が少し浮いていて、{leak}いた",
        "{cap}の締め付けが弱くて{leak}いた",
    ), ("{cap}が緩いです。", "{cap}の締め付けが甘いです。", "{cap}がちゃんと閉まってませんでした！",
        "{cap}が緩かったです。中身が少し減っていました。"), ("bottle",)),
    Cause("容器破損", "容器・包装", QA, 2.5, 0.55, (
        "bottle,jar|容器にひびが入っていた", "bottle|ボトルがへこんでいて{leak}いた", "jar|瓶が割れていた",
        "jar|ビンのフタにひびが入っていた", "pouch,frozen,bag,powder|袋が破れていた",
        "pouch|パウチに穴が開いていて{leak}いた", "frozen|袋に穴が開いていた", "powder,bar,frozen|個包装が破れていた",
        "powder|個包装が破れて粉が出ていた", "bar|包装が開いてしまっていた", "bottle,jar,pouch|容器が変形していた",
        "bottle|ボトルの底が割れていた", "powder,bag,pouch|中の袋が破けていた", "bag|袋の端が裂けて中身がこぼれていた",
        "jar|フタが歪んでいてきちんと閉まらない", "bread|袋の口が開いていた",
    ), ("容器が破損していました。", "pouch,frozen,bag,powder,bread|袋が破れてました。", "bottle,jar|容器が割れてました。")),
    Cause("梱包不良", "容器・包装", LOGI, 3.0, 0.55, (
        "届いた{box}が潰れていた", "{box}がつぶれていて中身がへこんでいた", "緩衝材が全く入っていなかった",
        "{box}の中で商品がバラバラになっていた", "{box}が破れていて中身が見えていた", "梱包がずさんだった",
        "{box}の角がへこんでいた", "{box}が濡れてふにゃふにゃになっていた",
        "梱包が雑で、中で商品が転がっていた", "テープがはがれて{box}が開きかけていた",
        "{box}がボコボコになっていた", "緩衝材が少なくて中で商品が動いていた",
        "{box}が明らかに潰れた状態で届いた", "{box}が大きすぎて隙間だらけだった",
        "梱包が甘くて{box}の中で商品同士がぶつかっていた",
    ), ("{box}が潰れて届きました。", "梱包がひどいです。", "箱がぐちゃぐちゃでした！",
        "梱包、もう少しちゃんとしてもらえませんか。"), (), "mail"),
    Cause("配送遅延", "配送", LOGI, 6.5, 0.5, (
        "注文した商品がまだ{todokanai}", "{days}経っても{todokanai}", "お届け予定日を過ぎても{todokanai}",
        "発送メールが来たのに荷物が{todokanai}", "定期便が予定日に{todokanai}", "指定した日に届かなかった",
        "配達予定日から{days}以上遅れている", "{courier}の追跡で止まったままになっている",
        "追跡番号で調べても反映されない", "いつ届くのか分からない", "到着が大幅に遅れた",
        "週末に必要だったのに間に合わなかった", "配送状況が「準備中」のまま動かない",
        "時間指定をしたのに夜遅くまで来なかった", "発送の連絡すら来ない",
    ), ("届きません。", "まだ届きません。", "荷物が届かないのですが。", "いつ届きますか？",
        "注文してから{days}になりますがまだです。", "まだ届いてません！！"), (), "mail"),
    Cause("誤配送", "配送", LOGI, 3.5, 0.55, (
        "注文したものと違う商品が届いた", "頼んでいない商品が入っていた", "他の人宛ての荷物が届いた",
        "数が足りなかった", "{n}個頼んだのに{m}個しか入っていなかった", "味の違う商品が届いた",
        "別の住所に配達されていた", "隣の家に届けられていた", "同じ商品が2つ届いた",
        "注文と違うサイズが届いた", "中身が別の商品だった", "{courier}から他人の荷物を渡された",
        "セットのはずが一部しか入っていなかった",
    ), ("違う商品が届きました。", "誤配送です。", "頼んだものと違うんですが。"), (), "mail"),
    Cause("配送時破損", "配送", LOGI, 3.0, 0.55, (
        "商品が破損して届いた", "届いた時には中身が割れていた", "frozen|冷凍なのに溶けた状態で届いた",
        "frozen|クール便のはずが常温で届いた", "jar|瓶が割れた状態で届いた", "bottle|ボトルがへこんで届いた",
        "配送中に{leak}しまったようで箱が濡れていた", "bread|パンがぺちゃんこになって届いた",
        "bar|中のバーがボロボロに折れていた", "商品が壊れて届いた", "置き配で雨に濡れていた",
        "{courier}の配達で箱ごとへこんでいた", "輸送中の衝撃で中身が傷んでいた",
    ), ("破損していました。", "壊れて届きました。", "bottle,jar|割れてました。"), (), "mail"),
    Cause("二重請求", "請求・返金", ACCT, 2.5, 0.6, (
        "同じ注文で二重に請求されていた", "クレジットカードに{amount}が2回請求されていた",
        "{amount}が二重に引き落とされていた", "1回しか注文していないのに2回分の請求が来た",
        "明細を見たら同じ金額が２回計上されていた", "二重請求になっている",
        "カードの利用明細に同じ請求が2件あった", "代引きで払ったのにカードにも請求が来た",
        "{amount}の請求が二重になっていた", "請求書が2通届いて両方とも同じ金額だった",
    ), ("二重請求されています。", "請求が2回来ています。"), (), "mail"),
    Cause("返金遅延", "請求・返金", ACCT, 3.0, 0.6, (
        "返金すると言われたのにまだ返金されていない", "返品したのに返金されない", "キャンセルしたのに返金がない",
        "{days}以上経っても返金が確認できない", "返金予定日を過ぎても入金がない",
        "返金されたはずの{amount}が戻っていない", "返金の連絡が来ない", "振込先を伝えたのに返金されない",
        "返金手続きが途中で止まっている", "返金額が{amount}と聞いていたのに少なかった",
    ), ("返金されません。", "まだ返金されていません。", "返金まだですか？"), (), "mail"),
    Cause("引き落とし誤り", "請求・返金", ACCT, 3.5, 0.55, (
        "解約したはずなのに引き落としが続いている", "スキップした月も引き落とされていた",
        "請求金額が注文時と違った", "{amount}と聞いていたのに多く引き落とされた", "割引が適用されていなかった",
        "初回無料のはずが請求された", "定期便の料金が勝手に上がっていた", "ポイントが使われていなかった",
        "口座から身に覚えのない引き落としがあった", "送料無料のはずが送料を取られていた",
    ), ("引き落とし額がおかしいです。", "請求金額が違います。"), (), "sub"),
    Cause("解約不可", "契約・定期便", SALES, 4.0, 0.35, (
        "定期便を解約{dekinai}", "解約したいのに電話がつながらない", "Webで解約手続きが{dekinai}",
        "解約の方法が分からない", "マイページに解約ボタンがない", "解約を申し出たのに次の便が届いた",
        "何度電話しても解約させてもらえない", "解約の電話が全然つながらない", "解約には電話が必要と言われた",
        "解約を伝えたのに受け付けられていなかった", "解約しようとしたらしつこく引き止められた",
        "解約の締め日が分かりにくくて間に合わなかった",
    ), ("解約したいです。", "解約させてください。", "定期便をやめたいです。", "解約できません！"),
        (), "sub"),
    Cause("定期便変更", "契約・定期便", SALES, 4.0, 0.3, (
        "定期便のスキップが{dekinai}", "お届け周期を変更したいのにやり方が分からない",
        "次回をスキップしたはずなのに届いた", "届け先住所を変更したのに旧住所に送られた",
        "お届け日を変更{dekinai}", "数量を減らしたいのに変更{dekinai}", "スキップ期限がいつなのか分からない",
        "変更の締め切りが早すぎる", "お届けを一時休止したい", "定期便の内容変更が反映されていなかった",
        "お届け周期を２か月に一回にしたい",
    ), ("スキップしたいです。", "次回のお届けを変更したいです。", "スキップってどうやるんですか？"),
        (), "sub"),
    Cause("意図しない定期契約", "契約・定期便", SALES, 2.0, 0.4, (
        "1回だけのつもりが定期便になっていた", "お試しで買ったら定期購入になっていた",
        "定期便だとは知らずに申し込んでいた", "初回限定価格と書いてあったのに自動で2回目が届いた",
        "定期の縛りがあるとは書いていなかった", "お試しのつもりが毎月届くようになった",
        "家族が知らないうちに定期便に申し込んでいた",
    ), ("定期便の契約をした覚えがありません。",), (), "sub"),
    Cause("電話対応", "接客・対応", SALES, 2.5, 0.3, (
        "電話に出た人の態度が悪かった", "オペレーターの言葉遣いが失礼だった", "話の途中で電話を切られた",
        "上から目線で説明された", "こちらの話をまったく聞いてもらえなかった", "担当者がため息をついていた",
        "面倒くさそうに対応された", "マニュアル通りの回答しかされなかった", "電話口で笑われた",
        "説明が二転三転した", "名前も名乗らずに一方的に話された", "保留のまま{minutes}も待たされた",
    ), ("対応が最悪でした。", "電話の対応がひどいです。", "電話の人、感じ悪すぎ。")),
    Cause("たらい回し", "接客・対応", SALES, 2.0, 0.3, (
        "電話をたらい回しにされた", "部署をたらい回しにされた", "何度も別の部署に回された",
        "担当が変わるたびに同じ説明をさせられた", "担当部署が違うと言われて回された",
        "あちこちに回されて結局解決しなかった", "その件は別の窓口でと言われ続けた",
        "三回も電話を転送された",
    ), ("たらい回しにされました。", "たらい回しはやめてください。")),
    Cause("折り返しなし", "接客・対応", SALES, 1.5, 0.3, (
        "折り返すと言われたのに連絡が来ない", "折り返しの電話が一度もない", "{days}待っても折り返しがない",
        "メールで{toiawase}したのに返信がない", "調査結果を連絡すると言われたきり音沙汰がない",
        "回答すると言われてから{days}経つが何の連絡もない", "チャットで{toiawase}したら放置された",
    ), ("折り返しがありません。", "まだ連絡がありません。", "返事まだですか。")),
    Cause("ログイン障害", "Webサイト・システム", IT, 3.0, 0.5, (
        "マイページに{login}{dekinai}", "パスワードを再設定しても{login}{dekinai}",
        "{login}しようとすると{error}になる", "{login}画面から先に進まない",
        "会員IDを入れても「該当なし」と出る", "認証コードのメールが届かない", "{login}してもすぐにログアウトされる",
        "アプリで{login}{dekinai}", "急に{login}できなくなった", "機種変更したら{login}{dekinai}",
    ), ("ログインできません。", "ログイン出来ません！", "ﾛｸﾞｲﾝできない。")),
    Cause("決済エラー", "Webサイト・システム", IT, 2.0, 0.5, (
        "カード決済で{error}が出る", "注文確定ボタンを押すと{error}になる", "決済画面で止まってしまう",
        "クーポンが適用されず{error}になる", "購入手続きの途中で画面が真っ白になった",
        "支払い方法を変更しようとすると{error}が出る", "{error}になったのに注文が確定していた",
        "「システムエラー」と表示されて注文{dekinai}",
    ), ("エラーで注文できません。", "決済ができません。")),
    Cause("アプリ不具合", "Webサイト・システム", IT, 2.0, 0.45, (
        "アプリが起動しない", "アプリがすぐ落ちる", "アプリを更新したら開けなくなった",
        "アプリの通知が止まらない", "アプリで注文履歴が表示されない", "ポイントがアプリに反映されていない",
        "スマホだと画面の表示が崩れている", "サイトが重くて注文{dekinai}", "注文確認のメールが届かない",
        "メールマガジンの配信停止が{dekinai}",
    ), ("アプリが使えません。", "サイトが重いです。")),
    Cause("アレルギー表示", "表示・説明", QA, 1.5, 0.5, (
        "アレルギー表示に{allergen}が書かれていない", "{allergen}が含まれているか表示で分からなかった",
        "{allergen}アレルギーなのに表示が分かりにくい", "原材料表示の文字が小さすぎて読めない",
        "アレルギー物質の記載が店頭のPOPと違っていた", "パッケージに{allergen}の記載がなかった",
        "子どもが{allergen}アレルギーで、表示を見て買ったのに不安になった",
    ), ("アレルギー表示が分かりにくいです。",)),
    Cause("賞味期限表示", "表示・説明", QA, 1.5, 0.35, (
        "賞味期限の印字がかすれて読めない", "賞味期限がどこに書いてあるのか分からない",
        "届いた時点で賞味期限が近すぎた", "賞味期限が{exp}になっていて短すぎる", "外箱と中の袋で賞味期限が違う",
        "賞味期限の表記が分かりにくい", "賞味期限の印字がずれて半分しか見えない",
    ), ("賞味期限が読めません。",)),
    Cause("説明不足", "表示・説明", SALES, 2.0, 0.2, (
        "説明が分かりにくい", "作り方の説明が分かりにくい", "飲み方の説明が書いていない",
        "保存方法がどこにも書いていない", "広告の写真と中身が違いすぎる", "Webの説明と内容量が違う",
        "成分の説明が専門用語ばかりで分からない", "効果があるような書き方をしている",
        "frozen|焼き方の説明が足りない", "パッケージの説明と実物が違う",
    ), ("説明が分かりにくいです。",)),
    Cause("体調不良", "健康被害・安全", QA, 1.5, 1.0, (
        "食べた後にお腹が痛くなった", "飲んだら腹痛と下痢が続いた", "食べてから吐き気がした",
        "家族全員がお腹をこわした", "口にした後、口の周りが赤くかゆくなった", "食べた後に湿疹が出た",
        "子どもが食べたあと嘔吐した", "体調を崩して病院に行った", "じんましんが出た", "腹痛で夜中に目が覚めた",
        "bottle,powder|飲んだ直後から気分が悪くなった",
    ), ("体調不良になりました。", "お腹を壊しました。")),
    Cause("破片・けが", "健康被害・安全", QA, 0.5, 1.0, (
        "食べたら硬いものがあって歯が欠けた", "口の中を切った", "jar|瓶の破片で指を切った",
        "異物で口の中をけがした", "硬い異物を噛んで歯が痛い", "bottle|キャップのバリで指を切った",
    ), ("けがをしました。",)),
    Cause("商品要望", "要望・提案", SALES, 4.0, 0.15, (
        "もっと小さいサイズがあると嬉しい", "減塩タイプを出してほしい", "販売終了した味を再販してほしい",
        "もう少し甘さ控えめにしてほしい", "大容量タイプも作ってほしい", "ノンカフェインのものがあれば買いたい",
        "個包装にしてほしい", "詰め替え用を出してほしい", "近くの店でも扱ってほしい",
        "ゴミが減るように包装を簡素にしてほしい", "季節限定の味をまた出してほしい",
        "{p}のお試しサイズを作ってほしい", "原材料を国産にこだわってほしい",
    ), mode="wish"),
    Cause("サービス要望", "要望・提案", SALES, 3.0, 0.15, (
        "配達の時間帯を指定できるようにしてほしい", "支払い方法にコンビニ払いを追加してほしい",
        "定期便の周期をもっと細かく選べるようにしてほしい", "電話の受付時間を延ばしてほしい",
        "置き配を選べるようにしてほしい", "ポイントの有効期限を延ばしてほしい",
        "LINEで{toiawase}できるようにしてほしい", "領収書をWebで発行できるようにしてほしい",
        "まとめて注文すると送料無料にしてほしい",
    ), mode="wish"),
    Cause("お褒め", "お褒め", DESK, 5.0, 0.03, (
        "とても美味しかった", "家族みんなで美味しくいただいている", "毎日飲んでいて調子がいい",
        "電話の方の対応がとても丁寧だった", "前回の{toiawase}の時に親切に対応してもらえた",
        "届くのが早くて助かった", "子どもが大好きで毎日食べている", "何度もリピートしている",
        "贈り物にしたらとても喜ばれた", "{p}が一番のお気に入りだ", "もう{years}年愛用している",
        "梱包が丁寧で感心した", "パッケージがかわいくて気に入っている", "チャットの方がすぐ解決してくれた",
    ), ("いつも美味しくいただいています。", "ありがとうございました！", "とても良い商品だと思います。",
        "対応してくださった方に感謝しています。", "{p}最高です！"), mode="praise"),
    Cause("店舗・在庫", PLAIN_INQUIRY, SALES, 2.5, 0.03, (), (
        "{p}はどこの店舗で買えますか。", "近くで{p}を扱っているお店を教えてください。", "{p}の在庫はありますか？",
        "{p}が店頭で見当たらないのですが、販売終了でしょうか。", "{area}で{p}を売っている店はありますか。",
        "通販の在庫切れはいつ解消されますか。", "{p}をまとめて{n}ケース注文したいのですが、在庫はありますか。",
        "{p}は取り扱い終了になったのでしょうか？", "{p}って{area}のスーパーにも置いてますか？",
        "{p}の再入荷の予定を教えてください。",
    ), mode="inquiry"),
    Cause("商品情報", PLAIN_INQUIRY, QA, 1.5, 0.03, (), (
        "{p}の原材料を教えてください。", "{p}は妊娠中でも口にして大丈夫ですか。", "{p}の保存方法を知りたいです。",
        "{p}にカフェインは入っていますか？", "開封後はどのくらい日持ちしますか。", "{p}の原料の産地を教えてください。",
        "子どもに食べさせても大丈夫でしょうか。", "{p}のカロリーを教えてください。",
        "{p}は冷凍保存できますか？",
    ), mode="inquiry"),
)
CAUSE_BY_NAME = {cause.name: cause for cause in CAUSES}

# Which theme a second topic tends to come from, given the first.
SECOND_THEMES = {
    "配送": ("容器・包装", "接客・対応", "請求・返金"),
    "容器・包装": ("配送", "品質・異物"),
    "品質・異物": ("健康被害・安全", "接客・対応", "表示・説明"),
    "味・風味": ("表示・説明", "要望・提案"),
    "請求・返金": ("契約・定期便", "Webサイト・システム", "接客・対応"),
    "契約・定期便": ("請求・返金", "Webサイト・システム", "接客・対応"),
    "Webサイト・システム": ("契約・定期便", "請求・返金"),
    "表示・説明": ("要望・提案",),
    "健康被害・安全": ("品質・異物",),
    "接客・対応": ("契約・定期便", "配送"),
}
SECOND_CAUSE = {  # the cause used when a theme is mentioned second
    "容器・包装": "梱包不良", "接客・対応": "折り返しなし", "請求・返金": "返金遅延", "配送": "配送遅延",
    "品質・異物": "異物混入", "健康被害・安全": "体調不良", "表示・説明": "説明不足", "要望・提案": "商品要望",
    "契約・定期便": "解約不可", "Webサイト・システム": "ログイン障害",
}

# ---------------------------------------------------------------- interchangeable parts

SLOTS: dict[str, tuple[str, ...]] = {
    "cap": ("キャップ",) * 8 + ("ｷｬｯﾌﾟ", "ボトルのキャップ"),
    "leak": ("液漏れして", "液もれして", "中身が漏れて", "中身がこぼれて", "漏れて"),
    "box": ("箱", "段ボール", "ダンボール", "外箱", "梱包の箱", "段ボール箱"),
    "todokanai": ("届かない", "届いていない", "届いてない", "来ない", "届かない", "届いていない"),
    "dekinai": ("できない", "出来ない", "できない"),
    "toiawase": ("問い合わせ", "問合せ", "お問い合わせ", "問い合せ", "問い合わせ"),
    "login": ("ログイン",) * 5 + ("ﾛｸﾞｲﾝ",),
    "error": ("エラー",) * 5 + ("ｴﾗｰ",),
    "item": ("髪の毛", "虫", "小さな虫", "黒い粒", "プラスチックの破片", "ビニール片", "金属片", "糸くず",
             "石のようなもの", "毛のようなもの", "紙片", "黒い異物", "白い塊", "小さな羽虫"),
    "allergen": ("小麦", "卵", "乳", "えび", "かに", "そば", "落花生", "ごま", "大豆", "くるみ"),
    "courier": ("ヤマト運輸", "佐川急便", "日本郵便", "ゆうパック", "西濃運輸", "ヤマトさん", "佐川さん"),
    "days": ("2日", "3日", "４日", "5日", "1週間", "一週間", "10日", "２週間", "2週間", "半月", "三日",
             "1週間〜10日", "１０日"),
    "minutes": ("10分", "15分", "２０分", "30分", "三十分"),
    "area": ("札幌", "仙台市", "名古屋", "福岡市内", "横浜の青葉区", "大阪の北区", "広島", "静岡県",
             "京都市", "那覇", "金沢"),
    "years": ("2", "3", "５", "10", "十", "4", "２"),
    "n": ("2", "3", "5", "２", "10"),
    "m": ("1", "2", "１"),
}

TIME_REFS = ("先日", "昨日", "今朝", "一昨日", "おととい", "先週", "{md}に", "この前", "", "", "{md}に")
PLACES = {
    "store": ("近所のスーパーで", "{store}で", "駅前のスーパーで", "ドラッグストアで", "コンビニで",
              "いつものお店で", "近くのお店で", "スーパーで"),
    "mail": ("通販で", "公式オンラインショップで", "ネットで", "御社の通販サイトで", "オンラインショップで",
             "Webで", "電話注文で", "ネット通販で"),
    "sub": ("定期便で",),
}
BUY_VERBS = {"store": ("買った", "購入した"), "mail": ("注文した", "購入した", "頼んだ"),
             "sub": ("届いた", "届いた", "送られてきた")}
BUY_VERBS_POLITE = {"store": ("買いました", "購入しました"), "mail": ("注文しました", "購入しました"),
                    "sub": ("届きました",)}
STORES = ("ふれあいマート{town}店", "スーパーみどり屋", "グリーンマート{town}店", "ハッピードラッグ", "まるよし{town}店",
          "フレッシュいちば", "サンライズストア")
TOWNS = ("桜ヶ丘", "緑町", "本町", "旭町", "若葉台", "青葉台", "栄町", "松が丘", "泉町", "花園", "日の出町", "東原")

OPENINGS_POLITE = (
    "いつもお世話になっております。", "お世話になります。", "初めて{toiawase}します。", "初めてご連絡いたします。",
    "いつも購入しています。", "いつも愛用しています。", "{years}年ほど定期便を利用している者です。",
    "突然のご連絡失礼いたします。", "こんにちは。", "失礼します。", "お忙しいところすみません。",
    "長年のファンです。", "お客様窓口の方へ。", "", "", "",
)
OPENINGS_CASUAL = ("", "", "", "すみません、", "あの、", "ちょっと聞きたいんだけど、", "いつも買ってるんだけど、",
                   "はじめまして。", "")
OPENINGS_OPERATOR = ("お客様より入電。", "入電。", "", "", "電話にて。", "顧客より電話。", "")
OPERATOR_PROFILES = ("70代の女性。", "80代男性、娘様が代理で説明。", "定期便を{years}年ご利用のお客様。", "初めてのお客様。",
                     "30代女性、お子様あり。", "ご年配の男性。", "店舗でのご購入が多いお客様。", "40代男性。")

# Ways to finish a problem clause, by register and mode; "…" marks that more follows.
CONNECTORS = {
    ("polite", "complaint"): ("のですが。", "んです。", "ので連絡しました。", "のでご連絡しました。",
                              "ので{toiawase}しました。", "のですが、どういうことでしょうか。",
                              "のですが、これは仕様ですか？", "んですけど。", "。", "のですが、ご確認ください。",
                              "ので、一度確認していただけますか。"),
    ("polite", "complaint…"): ("のですが、", "ので、", "んですが、"),
    ("casual", "complaint"): ("。", "んだけど。", "んですけど。", "！！", "んだが。", "んだけど…",
                              "ってどういうこと？", "。"),
    ("casual", "complaint…"): ("んだけど、", "から、", "。"),
    ("operator", "complaint"): ("とのこと。", "との申し出。", "との連絡。", "とお申し出あり。", "旨のご連絡。",
                                "とのこと。"),
    ("polite", "praise"): ("ので、お礼が言いたくてご連絡しました。", "んです。", "ので、ひと言お伝えしたくて。",
                           "です。ありがとうございます。", "ので感謝しています。"),
    ("casual", "praise"): ("！", "。ありがとう！", "んです〜", "。"),
    ("operator", "praise"): ("とのこと。お褒めの言葉。", "とのお声。", "とのこと。"),
    ("polite", "wish"): ("のですが、ご検討いただけませんか。", "と思います。", "です。",
                         "と思い、ご連絡しました。", "のですが、難しいでしょうか。"),
    ("casual", "wish"): ("！", "なー", "。お願いします", "です！"),
    ("operator", "wish"): ("とのご要望。", "との要望あり。", "とのご意見。"),
}
# "…です。" after a verb reads wrong; these connectors only follow adjectives.
ADJECTIVE_ONLY = {"です。ありがとうございます。", "です。", "です！"}

LINKERS = {"polite": ("それと、", "あと、", "それから、", "さらに、", "加えて、"),
           "casual": ("あと、", "それに", "ついでに言うと、"),
           "operator": ("加えて、", "併せて、", "他に、")}
SECOND_ENDS = {"polite": ("ことも気になります。", "のも困っています。", "点も確認してください。"),
               "casual": ("し。", "のも困る。"),
               "operator": ("との指摘も。", "点についても申し出あり。")}

EMOTIONS = {  # level -> register -> phrases
    1: {"polite": ("困っています。", "とても残念です。", "がっかりしました。", "少し不安です。", "楽しみにしていたのに残念です。",
                   "正直ショックでした。"),
        "casual": ("困ってる。", "残念。", "がっかり…", "ショック。", "えー…って感じ。"),
        "operator": ("お困りの様子。", "残念がっておられた。", "落ち着いたご様子。")},
    2: {"polite": ("何度も電話しているのにつながりません。", "至急対応してください。", "早急に対応をお願いします。",
                   "いい加減にしてください。", "どうなっているんですか。", "正直、腹が立っています。",
                   "ちゃんと確認しているんでしょうか。", "大至急お願いします！！"),
        "casual": ("どうなってんの？", "いい加減にして。", "マジで困る", "ありえないんだけど", "ほんと困るーー"),
        "operator": ("語気が強く、早急な対応を求められた。", "やや立腹。", "何度も電話したとご立腹。", "至急の対応を希望。")},
    3: {"polite": ("二度と買いません。", "もう買いません。", "最悪です。", "信じられません。", "本当に不愉快です。",
                   "こんな会社だと思いませんでした。"),
        "casual": ("二度と買わない。", "最悪。", "ありえない！！", "もう買わねーよ"),
        "operator": ("「二度と買わない」と強いお怒り。", "大変ご立腹。", "かなりご立腹の様子。")},
    4: {"polite": ("責任者を出してください。", "責任者を出せ。", "上の人と話をさせてください。", "社長に直接言います。",
                   "責任者から直接説明してください。"),
        "casual": ("責任者出せよ", "上の人出して。", "責任者を出せ！！"),
        "operator": ("責任者を出せと強く要求。", "「責任者を出せ」と繰り返される。", "上長対応を求められた。")},
}
THREATS = {  # (legal?) -> register -> phrases
    True: {"polite": ("弁護士に相談します。", "訴えます。", "出るところに出ます。", "法的措置も考えています。"),
           "casual": ("弁護士に相談するから", "訴えるぞ", "出るとこ出るからな"),
           "operator": ("弁護士に相談するとの発言あり。", "訴訟も辞さないとのこと。", "法的措置を取ると発言。")},
    False: {"polite": ("消費生活センターに連絡します。", "SNSに書きます。", "ネットに書き込みます。", "保健所に通報します。"),
            "casual": ("消費者センターに言うわ", "SNSで拡散するからね", "ネットに晒す"),
            "operator": ("消費生活センターへ連絡するとのこと。", "SNSに書き込むと発言。", "保健所に通報すると発言。")},
}
HARASSMENT = {"polite": ("土下座しろ。", "今すぐ家まで謝りに来い。"), "casual": ("土下座しろ", "家まで謝りに来いよ"),
              "operator": ("「土下座しろ」との発言あり。", "自宅まで謝罪に来るよう要求。")}

REQUESTS = {
    "品質・異物": ("交換してください。", "返金してください。", "原因を教えてください。", "原因を調べてください。",
              "同じロットの商品は大丈夫なのか教えてください。", "現物は取ってあります。", "回収してもらえますか。"),
    "味・風味": ("原因を教えてください。", "交換してほしいです。", "製法を変えたのか教えてください。", "元の味に戻してください。"),
    "容器・包装": ("交換してほしいです。", "交換をお願いします。", "返金してください。", "新しいものを送ってください。"),
    "配送": ("早く届けてください。", "いつ届くのか教えてください。", "再送をお願いします。", "正しい商品を送ってください。"),
    "請求・返金": ("返金してください。", "確認して返金をお願いします。", "どうなっているのか説明してください。"),
    "契約・定期便": ("すぐに解約してください。", "手続きをお願いします。", "次回分を止めてください。", "やり方を教えてください。"),
    "接客・対応": ("指導をお願いします。", "謝罪してほしいです。", "改善してください。", "きちんと対応してください。"),
    "Webサイト・システム": ("早く直してください。", "どうすればいいか教えてください。", "対応をお願いします。"),
    "表示・説明": ("表示を改善してください。", "分かりやすく書いてください。", "教えてください。"),
    "健康被害・安全": ("原因を調べてください。", "治療費はどうなりますか。", "至急連絡をください。", "説明してください。"),
}
REQUESTS_BY_CAUSE = {
    "配送遅延": ("早く届けてください。", "いつ届くのか教えてください。", "至急発送してください。"),
    "誤配送": ("正しい商品を送ってください。", "回収に来てください。", "交換をお願いします。"),
    "配送時破損": ("再送をお願いします。", "交換してください。", "新しいものを送ってください。"),
    "解約不可": ("すぐに解約してください。", "解約手続きをお願いします。"),
    "定期便変更": ("次回分を止めてください。", "やり方を教えてください。", "変更をお願いします。"),
    "意図しない定期契約": ("契約を取り消してください。", "返金してください。"),
}
REQUESTS_OPERATOR_BY_CAUSE = {
    "配送遅延": ("至急の配送を希望。", "到着日の連絡を希望。"), "誤配送": ("正しい商品の再送を希望。", "回収を希望。"),
    "配送時破損": ("再送希望。", "代品を希望。"), "解約不可": ("解約希望。", "即日の解約を希望。"),
    "定期便変更": ("変更手続きを希望。", "次回分の停止を希望。"), "意図しない定期契約": ("契約の取り消しを希望。", "返金希望。"),
}
REQUESTS_CASUAL = {
    "product": ("交換して。", "返金して", "どうにかして", "新しいの送って", ""),
    "delivery": ("早くして", "早く送って", "どうなってるか教えて", ""),
    "money": ("返金して", "説明して", "早く手続きして", ""),
    "staff": ("ちゃんとして", "謝ってほしい", "なんとかしてください", ""),
    "web": ("早く直して", "どうにかして", "なんとかしてください", ""),
}
REQUESTS_OPERATOR = {
    "品質・異物": ("交換を希望。", "原因の調査と回答を希望。", "返金希望。", "現品回収に同意。"),
    "味・風味": ("原因の説明を希望。", "交換希望。"), "容器・包装": ("交換を希望。", "代品送付を希望。"),
    "配送": ("至急の配送を希望。", "再送希望。", "到着日の連絡を希望。"), "請求・返金": ("返金希望。", "請求内容の説明を希望。"),
    "契約・定期便": ("解約希望。", "変更手続きを希望。"), "接客・対応": ("謝罪を希望。", "改善を要望。"),
    "Webサイト・システム": ("復旧の連絡を希望。", "手順の案内を希望。"), "表示・説明": ("表示改善を要望。", "説明を希望。"),
    "健康被害・安全": ("原因究明と連絡を強く希望。", "通院費の相談あり。"),
}
CLOSINGS_LETTER = ("よろしくお願いいたします。", "何卒よろしくお願い申し上げます。", "ご回答をお待ちしております。", "")
OPERATOR_NOTES = ("現品あり。", "写真あり。", "現品回収可。", "開封済み。", "未開封品も手元にあり。", "購入店不明。",
                  "レシートあり。", "ご高齢の方。", "日中は不在がちとのこと。", "夕方以降の連絡希望。", "家族が代理で連絡。")
OPERATOR_SITUATIONS = {
    "product": ("開封直後に気づいたとのこと。", "{md}に購入。", "お子様が口にされた。", "同じ商品をあと{n}本お持ち。",
                "冷蔵庫で保管していたとのこと。", "購入店：{store}。", "前回購入分は問題なかったとのこと。", "家族も同じものを口にした。"),
    "delivery": ("{md}に注文。", "不在票なし。", "配送業者には連絡済みとのこと。", "贈答用とのこと。", "宅配ボックスも確認済み。",
                 "{courier}の追跡では配達済みの表示。"),
    "money": ("カード会社にも確認済み。", "明細を確認して気づいたとのこと。", "{md}に手続きしたとのこと。", "マイページでは確認できず。"),
    "staff": ("前回の入電は{md}。", "待ち時間が長かったとのこと。", "以前の問い合わせ内容を再度説明された。"),
    "web": ("スマホから操作。", "パソコンでも同様とのこと。", "ブラウザを変えても同じとのこと。"),
}
CLOSINGS_POLITE = ("よろしくお願いします。", "よろしくお願いいたします。", "ご対応よろしくお願いします。", "以上です。", "", "", "")
STORIES = {
    "product": (
        "毎朝家族で口にしていて、今回もいつものように開けたところでした。", "高齢の母に送ったもので、母から電話があって気づきました。",
        "子どもが楽しみにしていたので本当に残念です。", "友人にも勧めていた商品なので、正直言葉がありません。",
        "写真も撮ってありますので、必要であればお送りします。", "現物は捨てずに冷蔵庫に保管してあります。",
        "ずっと信頼して買い続けてきただけに、今回のことは本当にショックです。",
        "念のため同じ時に買った他の商品も確認しましたが、そちらは大丈夫でした。",
        "開封したのは昨日の夜で、保存は説明書きのとおり冷暗所にしていました。", "小さい子どもがいるので、安全面がとても心配です。",
        "主人も同じものを口にしましたが、今のところ体調は問題ありません。", "健康のことを考えて選んでいた商品だったので残念です。",
        "mail:普段は近所のお店で買っていますが、今回は初めて通販を利用しました。",
    ),
    "delivery": (
        "その日は一日家にいましたが、不在票も入っていませんでした。", "贈り物として頼んだもので、先方にも迷惑をかけてしまいました。",
        "週末に家族が集まるので、それに合わせて注文していました。", "箱ごと写真を撮って保管しています。",
        "宅配ボックスも確認しましたが、入っていませんでした。", "配送業者に聞いたところ、販売元に確認してほしいと言われました。",
        "mail:普段は近所のお店で買っていますが、今回は初めて通販を利用しました。",
    ),
    "money": (
        "家計簿をつけていて気づきました。", "カード会社にも問い合わせましたが、お店に確認するよう言われました。",
        "年金暮らしなので、少額でも困ります。", "マイページも確認しましたが、どこを見ればいいのか分かりませんでした。",
        "今月は出費が多く、早めに対応していただけると助かります。", "以前にも一度同じような手続きをしたことがあります。",
    ),
    "staff": (
        "仕事の休憩時間にしか連絡できないので、早めに返事をください。", "高齢の父の代わりに連絡しています。",
        "前回の電話の内容がまったく引き継がれていませんでした。", "こちらの話を最後まで聞いてほしかったです。",
        "今まで気持ちよく利用してきただけに残念です。", "email:仕事が忙しく、平日はなかなか電話できないのでメールにしました。",
    ),
    "web": (
        "高齢の父の代わりに手続きをしようとしています。", "スマホの操作には慣れているほうですが、それでも分かりませんでした。",
        "パソコンからも試しましたが、同じでした。", "ブラウザを変えても同じでした。",
        "よくある質問のページも見ましたが、解決しませんでした。",
        "email:仕事が忙しく、平日はなかなか電話できないのでメールにしました。",
    ),
}
STORY_GROUP = {"品質・異物": "product", "味・風味": "product", "容器・包装": "product", "健康被害・安全": "product",
               "表示・説明": "product", "配送": "delivery", "請求・返金": "money", "契約・定期便": "money",
               "接客・対応": "staff", "Webサイト・システム": "web"}
CAUSE_STORY_GROUP = {"梱包不良": "delivery"}


def story_group(cause: Cause) -> str:
    return CAUSE_STORY_GROUP.get(cause.name) or STORY_GROUP[cause.theme]
REPEAT_CUES = {
    "polite": ("前回も同じことをお伝えしましたが、", "何度も連絡していますが、", "また同じことが起きています。",
               "これで{k}回目の連絡です。", "先週も{toiawase}した件です。", "前回も電話しましたが、まだ解決していません。"),
    "casual": ("また？", "前回も言ったけど、", "何度も言ってるんだけど、", "{k}回目なんだけど。"),
    "operator": ("前回に続き再度の入電。", "{k}回目の入電。", "同じ件で再度のご連絡。", "前回も同件でご連絡あり。"),
}
# Mentions that a naive keyword match would misread (praise, negation).
DECOYS = (  # (text, theme it mentions, primary themes it may appear with, requirement)
    ("商品自体は無事に届きました。", "配送", ("品質・異物", "味・風味", "請求・返金", "表示・説明"), "mail"),
    ("配送は早くて助かりました。", "配送", ("品質・異物", "味・風味", "表示・説明", "請求・返金"), "mail"),
    ("キャップは緩くなかったのですが、", "容器・包装", ("味・風味", "品質・異物"), "bottle"),
    ("箱も潰れていませんでしたが、", "容器・包装", ("品質・異物", "味・風味"), "mail"),
    ("異物などは特に入っていませんでした。", "品質・異物", ("味・風味", "健康被害・安全", "表示・説明"), ""),
    ("変なにおいはしませんでした。", "品質・異物", ("味・風味", "健康被害・安全"), ""),
    ("味には特に問題はありません。", "味・風味", ("容器・包装", "配送", "表示・説明", "品質・異物"), ""),
    ("請求のほうは問題なかったのですが、", "請求・返金", ("配送", "契約・定期便"), "mail"),
    ("対応してくれた方はとても丁寧でした。", "接客・対応", ("配送", "請求・返金", "契約・定期便", "Webサイト・システム"), ""),
    ("賞味期限は十分残っていました。", "表示・説明", ("品質・異物", "味・風味", "容器・包装"), ""),
    ("ログインは問題なくできるのですが、", "Webサイト・システム", ("契約・定期便", "請求・返金"), ""),
    ("返金はもう済んでいるのですが、", "請求・返金", ("接客・対応",), ""),
)
DECOYS_NEUTRAL = ("特に問題はありません。", "不具合があるわけではないのですが、", "これまで一度も不満はありません。",
                  "クレームではないのですが、")

SURNAMES = tuple(
    "佐藤 鈴木 高橋 田中 伊藤 渡辺 山本 中村 小林 加藤 吉田 山田 佐々木 山口 松本 井上 木村 林 斎藤 清水 山崎 森 池田 "
    "橋本 阿部 石川 前田 藤田 小川 岡田 後藤 長谷川 村上 近藤 石井 坂本 遠藤 青木 藤井 西村 福田 太田 三浦 藤原 岡本 "
    "松田 中川 中野 原田 小野 竹内 金子 和田 中山 石田 上田 森田 柴田 酒井 工藤 横山 宮崎 宮本 内田 高木 安藤 谷口 "
    "大野 丸山 今井 河野 藤本 村田 武田 上野 杉山 増田 平野 大塚 千葉 久保 松井 小島 岩崎 桜井 野口 松尾 野村 木下 "
    "菊地 佐野 大西 杉本 新井 浜田 菅原 市川 水野 小松 島田 古川 髙橋 齋藤 渡邊 五十嵐 望月 熊谷".split())
GIVEN_NAMES = tuple(
    "太郎 一郎 健 翔太 大輔 拓也 直樹 健太 誠 浩 隆 修 茂 博 和也 陽介 悠斗 蓮 湊 花子 陽子 恵子 由美 裕子 真由美 "
    "美咲 さくら 葵 結衣 陽菜 愛 久美子 幸子 智子 明美 舞 彩 優子 直美 京子 千尋 ひかり 恵美 勝 正樹 亮 美穂".split())
ROMAJI_SURNAMES = ("sato", "suzuki", "takahashi", "tanaka", "ito", "watanabe", "yamamoto", "nakamura", "kobayashi",
                   "kato", "yoshida", "yamada", "sasaki", "inoue", "kimura", "hayashi", "shimizu", "mori")
ROMAJI_GIVEN = ("taro", "hanako", "yuki", "ken", "mika", "sho", "aya", "hiro", "naoko", "kenta", "yui", "daisuke")
MAIL_DOMAINS = ("example.com", "example.ne.jp", "example.co.jp", "example.jp", "mail.example.org")
CITIES = (("東京都", "世田谷区"), ("東京都", "練馬区"), ("東京都", "杉並区"), ("神奈川県", "横浜市青葉区"),
          ("神奈川県", "川崎市中原区"), ("埼玉県", "さいたま市浦和区"), ("千葉県", "船橋市"), ("大阪府", "吹田市"),
          ("大阪府", "大阪市北区"), ("愛知県", "名古屋市千種区"), ("兵庫県", "神戸市灘区"), ("福岡県", "福岡市中央区"),
          ("北海道", "札幌市北区"), ("宮城県", "仙台市青葉区"), ("京都府", "京都市左京区"), ("広島県", "広島市中区"))
HYPHENS = ("-",) * 6 + ("‐", "−", "ー", "―", "－", "")
FULL_WIDTH_DIGITS = str.maketrans("0123456789-", "０１２３４５６７８９－")

# ---------------------------------------------------------------- small helpers


def pick(rng: random.Random, options: Sequence[str]) -> str:
    return options[rng.randrange(len(options))]


def full_width(text: str) -> str:
    return text.translate(FULL_WIDTH_DIGITS)


def maybe_full_width(text: str, rng: random.Random, chance: float = 0.12) -> str:
    """Customers typing on phones often end up with full-width digits."""
    return full_width(text) if rng.random() < chance else text


def lognormal_hours(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def fmt_time(moment: datetime | None) -> str:
    return moment.strftime(TIME_FORMAT) if moment else ""


def fake_name(rng: random.Random) -> str:
    surname, given = pick(rng, SURNAMES), pick(rng, GIVEN_NAMES)
    return surname + pick(rng, ("　", "　", "　", " ", "")) + given


def fake_phone(rng: random.Random, hyphen: str = "-") -> str:
    """A made-up Japanese number: mobile 0X0-XXXX-XXXX or landline 0X-XXXX-XXXX / 0XX-XXX-XXXX."""
    shape = rng.random()
    if shape < 0.6:
        parts = (pick(rng, ("090", "080", "070")), f"{rng.randrange(10000):04d}", f"{rng.randrange(10000):04d}")
    elif shape < 0.85:
        parts = (pick(rng, ("03", "06")), f"{rng.randrange(1000, 10000)}", f"{rng.randrange(10000):04d}")
    else:
        parts = (pick(rng, ("045", "052", "092", "011", "022")), f"{rng.randrange(100, 1000)}",
                 f"{rng.randrange(10000):04d}")
    return hyphen.join(parts)


def fake_email(rng: random.Random) -> str:
    surname, given = pick(rng, ROMAJI_SURNAMES), pick(rng, ROMAJI_GIVEN)
    local = pick(rng, (f"{given}.{surname}", f"{surname}{rng.randrange(10, 99)}",
                       f"{given}_{surname}{rng.randrange(70, 99)}", f"{surname}.{given[0]}"))
    at = "＠" if rng.random() < 0.05 else "@"
    return f"{local}{at}{pick(rng, MAIL_DOMAINS)}"


def fake_address(rng: random.Random) -> str:
    prefecture, city = CITIES[rng.randrange(len(CITIES))]
    block = (rng.randrange(1, 6), rng.randrange(1, 30), rng.randrange(1, 20))
    town = pick(rng, TOWNS)
    street = pick(rng, ("{0}丁目{1}番{2}号", "{0}-{1}-{2}", "{0}丁目{1}-{2}")).format(*block)
    if rng.random() < 0.3:
        street += f" {pick(rng, ('コーポ', 'ハイツ', 'メゾン'))}{pick(rng, TOWNS)}{rng.randrange(101, 506)}号室"
    text = pick(rng, ("", prefecture, prefecture)) + city + town + street
    return maybe_full_width(text, rng, 0.15)


def fake_postal(rng: random.Random) -> str:
    code = f"〒{rng.randrange(100, 1000)}-{rng.randrange(10000):04d}"
    return maybe_full_width(code, rng, 0.2)


# ---------------------------------------------------------------- the plan chosen from the seed

# cause -> (what was done, by whom); the spike's cause gets a lasting fix once the spike ends.
SPIKE_CANDIDATES = {
    "キャップ不良": ("キャップ締め付けトルクを再設定し、出荷前の抜き取り検査を追加", MFG),
    "異物混入": ("充填ラインのフィルターを交換し、金属検出機の感度を上げた", MFG),
    "梱包不良": ("出荷用の箱を強度の高いものに変更", LOGI),
    "異臭": ("保管倉庫の換気設備を改修し、資材の保管場所を分離", QA),
    "味の変化": ("原料ロットの受入検査に官能検査を追加", QA),
}
# Temporary fixes: they work while people remember them.
RETURNING_CANDIDATES = {
    "キャップ不良": ("キャップ締めの目視確認を臨時で強化", MFG),
    "梱包不良": ("出荷時の梱包チェックを臨時で追加", LOGI),
    "配送遅延": ("繁忙期の臨時便を手配し、出荷締め時刻を前倒し", LOGI),
    "誤配送": ("出荷前のダブルチェックを臨時で実施", LOGI),
    "二重請求": ("決済サーバーの設定を暫定変更", IT),
    "ログイン障害": ("セッション設定を暫定変更", IT),
}
EFFECTIVE_CANDIDATES = {
    "異物混入": ("製造ラインにX線異物検査機を導入", MFG),
    "カビ": ("脱酸素剤を変更し、倉庫の温度管理を強化", QA),
    "誤配送": ("出荷時のバーコード照合を導入", LOGI),
    "二重請求": ("決済処理の二重送信防止を実装", IT),
    "解約不可": ("マイページに解約手続きの画面を追加", SALES),
    "返金遅延": ("返金処理を週1回から毎営業日に変更", ACCT),
    "アレルギー表示": ("アレルギー表示のレイアウトを変更し、文字を大きくした", QA),
    "ログイン障害": ("認証基盤を更新し、パスワード再設定画面を改修", IT),
    "梱包不良": ("緩衝材を紙製エアクッションに変更", LOGI),
}
INEFFECTIVE_CANDIDATES = (
    ("接客・対応", "電話応対の研修を全員に実施", DESK),
    ("Webサイト・システム", "よくある質問のページを刷新", IT),
    ("味の変化", "製品パンフレットに味の説明を追加", SALES),
)
SLOW_CANDIDATES = (QA, LOGI, ACCT, IT, SALES)
REPEAT_CANDIDATES = ("解約不可", "返金遅延", "配送遅延", "引き落とし誤り")
RETURN_DROP, RETURN_RISE, EFFECTIVE_FACTOR, SPIKE_FIX_FACTOR = 0.22, 1.4, 0.3, 0.35


@dataclass(frozen=True)
class Countermeasure:
    day: date
    target: str        # a cause name or a theme name
    dept: str
    content: str
    kind: str          # returning / spike / effective / ineffective


@dataclass(frozen=True)
class Plan:
    """Everything planted, chosen from the seed before any case is drawn."""

    as_of: datetime
    spike_cause: str
    spike_product: str
    spike_start: date
    spike_days: int
    spike_multiplier: float
    returning_cause: str
    returns_from: date
    countermeasures: tuple[Countermeasure, ...]
    slow_dept: str
    repeat_cause: str
    repeat_start: date
    repeat_contacts: int
    n_unescalated: int
    n_stalled: int

    def countermeasure(self, kind: str) -> Countermeasure:
        return next(cm for cm in self.countermeasures if cm.kind == kind)


def random_day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def choose_plan(opts: SampleOptions, rng: random.Random) -> Plan:
    """Pick what to plant: which cause spikes, which fix wears off, which department is slow."""
    end = opts.end
    spike_cause = pick(rng, tuple(SPIKE_CANDIDATES))
    eligible = sorted((p for p in PRODUCTS if product_fits(CAUSE_BY_NAME[spike_cause], p)), key=lambda p: -p.weight)
    spike_product = pick(rng, [p.name for p in eligible[:3]])   # a big seller, so the surge shows
    spike_days = rng.randint(7, 14)
    spike_start = random_day(rng, end - timedelta(days=180), end - timedelta(days=spike_days + 20))
    returning = pick(rng, tuple(c for c in RETURNING_CANDIDATES if c != spike_cause))
    returning_day = random_day(rng, opts.start + timedelta(days=170), end - timedelta(days=230))
    drop_days = rng.randint(55, 70)
    countermeasures = [
        Countermeasure(returning_day, returning, RETURNING_CANDIDATES[returning][1],
                       RETURNING_CANDIDATES[returning][0], "returning"),
        Countermeasure(spike_start + timedelta(days=spike_days + rng.randint(1, 4)), spike_cause,
                       SPIKE_CANDIDATES[spike_cause][1], SPIKE_CANDIDATES[spike_cause][0], "spike"),
    ]
    countermeasures += other_countermeasures(opts, rng, {spike_cause, returning})
    repeat_cause = pick(rng, REPEAT_CANDIDATES)
    return Plan(
        as_of=datetime.combine(end, datetime.min.time()) + timedelta(hours=23, minutes=59),
        spike_cause=spike_cause, spike_product=spike_product, spike_start=spike_start, spike_days=spike_days,
        spike_multiplier=round(rng.uniform(3.5, 5.5), 2), returning_cause=returning,
        returns_from=returning_day + timedelta(days=drop_days),
        countermeasures=tuple(sorted(countermeasures, key=lambda cm: (cm.day, cm.target))),
        slow_dept=pick(rng, SLOW_CANDIDATES), repeat_cause=repeat_cause,
        repeat_start=random_day(rng, opts.start + timedelta(days=90), end - timedelta(days=60)),
        repeat_contacts=rng.randint(6, 8), n_unescalated=rng.randint(5, 10),
        n_stalled=max(8, round(opts.n_cases * 0.0012)),
    )


def other_countermeasures(opts: SampleOptions, rng: random.Random, taken: set[str]) -> list[Countermeasure]:
    """Fixes that worked (the rate stays low) and one or two that changed nothing."""
    first, last = opts.start + timedelta(days=120), opts.end - timedelta(days=150)
    free = [cause for cause in EFFECTIVE_CANDIDATES if cause not in taken]
    chosen = rng.sample(free, rng.randint(2, 3))
    result = [Countermeasure(random_day(rng, first, last), cause, EFFECTIVE_CANDIDATES[cause][1],
                             EFFECTIVE_CANDIDATES[cause][0], "effective") for cause in chosen]
    for target, content, dept in rng.sample(INEFFECTIVE_CANDIDATES, rng.randint(1, 2)):
        if target not in taken:
            result.append(Countermeasure(random_day(rng, first, last), target, dept, content, "ineffective"))
    return result


# ---------------------------------------------------------------- rates over time


def day_weights(opts: SampleOptions) -> np.ndarray:
    """Relative case volume per day: slow growth, quiet weekends, the New Year lull."""
    n_days = (opts.end - opts.start).days + 1
    weekday_factor = (1.25, 1.1, 1.05, 1.0, 1.0, 0.6, 0.45)
    weights = np.empty(n_days)
    for index in range(n_days):
        day = opts.start + timedelta(days=index)
        factor = (0.8 + 0.4 * index / n_days) * weekday_factor[day.weekday()]
        if (day.month, day.day) >= (12, 29) or (day.month == 1 and day.day <= 3):
            factor *= 0.35
        elif day.month == 1 and day.day <= 7:
            factor *= 1.4
        elif day.month == 8 and 13 <= day.day <= 16:
            factor *= 0.7
        weights[index] = factor
    return weights


SEASONAL = {"カビ": {6: 1.7, 7: 1.8, 8: 1.8, 9: 1.5}, "異臭": {7: 1.3, 8: 1.3},
            "配送遅延": {12: 1.6, 1: 1.2}, "お褒め": {12: 1.3}}


def cause_weight(cause: Cause, day: date, plan: Plan) -> float:
    """A cause's weight on a day: base x season x whatever countermeasures did to it."""
    weight = cause.weight * SEASONAL.get(cause.name, {}).get(day.month, 1.0)
    if cause.name == plan.returning_cause:
        weight = max(weight * 1.6, 6.0)
        cm_day = plan.countermeasure("returning").day
        if cm_day <= day < plan.returns_from:
            weight *= RETURN_DROP
        elif day >= plan.returns_from:
            weight *= RETURN_RISE
    for cm in plan.countermeasures:
        if day >= cm.day and cm.target in (cause.name, cause.theme):
            weight *= {"effective": EFFECTIVE_FACTOR, "spike": SPIKE_FIX_FACTOR}.get(cm.kind, 1.0)
    return weight


def product_fits(cause: Cause, product: Product) -> bool:
    if cause.kinds and product.kind not in cause.kinds:
        return False
    return cause.needs != "sub" or product.subscription


def product_weight(product: Product, month: int) -> float:
    return product.weight * (1.5 if month in product.peak_months else 1.0)


# ---------------------------------------------------------------- drafts


@dataclass
class Draft:
    """One case while it is being built (mutable on purpose: roles are added in passes)."""

    received_at: datetime
    cause: Cause
    product: Product
    channel: str
    route: str                       # store / mail / sub
    cause2: Cause | None = None
    emotion: int = 0                 # 0 calm .. 3 angry; 4 責任者, 5 threat, 6 harassment
    legal: bool = False              # the threat names lawyers or courts
    role: str = ""                   # spike / repeat / unescalated / stalled / pingpong
    repeat_index: int = 0
    customer_id: str = ""
    case_id: str = ""
    path: tuple[str, ...] = ()       # departments after the desk
    lot: str = ""

    @property
    def severe(self) -> bool:
        return self.emotion >= 4

    @property
    def themes(self) -> tuple[str, ...]:
        return (self.cause.theme,) + ((self.cause2.theme,) if self.cause2 else ())


def choose_route(cause: Cause, product: Product, rng: random.Random) -> str:
    """How it was bought; delivery and billing complaints need a mail order."""
    if cause.needs == "sub" or product.subscription and not product.in_stores:
        return "sub"
    mail_route = "sub" if product.subscription and rng.random() < 0.5 else "mail"
    if cause.needs == "mail" or not product.in_stores:
        return mail_route
    return "store" if rng.random() < 0.62 else mail_route


def choose_channel(day: date, rng: random.Random) -> str:
    names, weights = zip(*CHANNEL_WEIGHTS.items())
    channel = rng.choices(names, weights=weights)[0]
    while day.weekday() == 6 and channel in ("電話", "手紙"):  # the desk's phones are closed on Sundays
        channel = rng.choices(names, weights=weights)[0]
    return channel


HOUR_WEIGHTS = (1, .5, .3, .2, .2, .4, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 6, 6, 5, 3)


def received_time(day: date, channel: str, rng: random.Random) -> datetime:
    if channel == "電話":
        minute = rng.randrange(9 * 60, 18 * 60)
    elif channel == "手紙":
        minute = rng.randrange(10 * 60, 16 * 60)
    else:
        minute = rng.choices(range(24), weights=HOUR_WEIGHTS)[0] * 60 + rng.randrange(60)
    return datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)


def choose_emotion(cause: Cause, rng: random.Random) -> tuple[int, bool]:
    if cause.mode != "complaint":
        return 0, False
    level = rng.choices(range(7), weights=(44, 28, 17, 7.5, 2.0, 1.2, 0.3))[0]
    if cause.theme == "健康被害・安全" and level < 3 and rng.random() < 0.5:
        level += 1
    return level, level == 5 and rng.random() < 0.45


def second_cause(cause: Cause, product: Product, route: str, rng: random.Random) -> Cause | None:
    """About one case in four touches a second theme."""
    options = SECOND_THEMES.get(cause.theme)
    if not options or rng.random() > 0.27:
        return None
    candidate = CAUSE_BY_NAME[SECOND_CAUSE[pick(rng, options)]]
    if candidate.name == cause.name or not product_fits(candidate, product):
        return None
    if candidate.needs and route == "store" or candidate.needs == "sub" and route != "sub":
        return None
    return candidate


class CaseDrawer:
    """Draws the cause and product of a case on a given day, with precomputed weights."""

    def __init__(self, opts: SampleOptions, plan: Plan) -> None:
        n_days = (opts.end - opts.start).days + 1
        self.start, self.plan = opts.start, plan
        self.cause_cum = [list(np.cumsum([cause_weight(c, opts.start + timedelta(days=i), plan) for c in CAUSES]))
                          for i in range(n_days)]
        self.product_cum: dict[tuple[str, int], tuple[list[Product], list[float]]] = {}
        for cause in CAUSES:
            fitting = [p for p in PRODUCTS if product_fits(cause, p)]
            for month in range(1, 13):
                cum = list(np.cumsum([product_weight(p, month) for p in fitting]))
                self.product_cum[(cause.name, month)] = (fitting, cum)

    def draw(self, day: date, rng: random.Random, cause: Cause | None = None,
             product: Product | None = None) -> Draft:
        if cause is None:
            cause = rng.choices(CAUSES, cum_weights=self.cause_cum[(day - self.start).days])[0]
        if product is None:
            fitting, cum = self.product_cum[(cause.name, day.month)]
            product = rng.choices(fitting, cum_weights=cum)[0]
        channel = choose_channel(day, rng)
        route = choose_route(cause, product, rng)
        emotion, legal = choose_emotion(cause, rng)
        return Draft(received_time(day, channel, rng), cause, product, channel, route,
                     second_cause(cause, product, route, rng), emotion, legal)


def spike_extra(opts: SampleOptions, plan: Plan, n_base: int, weights: np.ndarray) -> tuple[int, float]:
    """Extra cases that lift the theme+product rate to `spike_multiplier` times normal; and that normal rate."""
    day, product = plan.spike_start, PRODUCT_BY_NAME[plan.spike_product]
    theme = CAUSE_BY_NAME[plan.spike_cause].theme
    total = sum(cause_weight(c, day, plan) for c in CAUSES)
    share = 0.0
    for cause in CAUSES:
        if cause.theme == theme and product_fits(cause, product):
            fitting = [p for p in PRODUCTS if product_fits(cause, p)]
            product_share = product_weight(product, day.month) / sum(product_weight(p, day.month) for p in fitting)
            share += cause_weight(cause, day, plan) / total * product_share
    per_day = n_base * float(weights.mean() / weights.sum()) * share
    extra = round(per_day * plan.spike_days * (plan.spike_multiplier - 1))
    return max(extra, 8), per_day


def draw_base(opts: SampleOptions, plan: Plan, drawer: CaseDrawer, n_base: int, weights: np.ndarray,
              rng: random.Random, nprng: np.random.Generator) -> list[Draft]:
    day_indexes = np.sort(nprng.choice(len(weights), size=n_base, p=weights / weights.sum()))
    return [drawer.draw(opts.start + timedelta(days=int(i)), rng) for i in day_indexes]


def draw_spike(plan: Plan, drawer: CaseDrawer, n_extra: int, rng: random.Random) -> list[Draft]:
    """The surge rises fast and fades: most extra cases come early in the window."""
    peak = max(1, plan.spike_days // 3)
    shape = [(i + 1) / peak if i < peak else (plan.spike_days - i) / (plan.spike_days - peak + 1)
             for i in range(plan.spike_days)]
    cause, product = CAUSE_BY_NAME[plan.spike_cause], PRODUCT_BY_NAME[plan.spike_product]
    made = plan.spike_start - timedelta(days=rng.randint(20, 45))
    # one bad production lot behind a quality spike; a packing problem has no lot to quote
    lot = f"L{made:%y%m}-{rng.randrange(100, 400)}" if story_group(cause) == "product" else ""
    drafts = []
    for _ in range(n_extra):
        offset = rng.choices(range(plan.spike_days), weights=shape)[0]
        draft = drawer.draw(plan.spike_start + timedelta(days=offset), rng, cause, product)
        draft.role, draft.lot = "spike", lot if lot and rng.random() < 0.6 else ""
        drafts.append(draft)
    return drafts


def draw_repeat(plan: Plan, drawer: CaseDrawer, rng: random.Random) -> list[Draft]:
    """One customer who keeps coming back about the same unresolved problem, angrier each time."""
    cause = CAUSE_BY_NAME[plan.repeat_cause]
    fitting = [p for p in PRODUCTS if product_fits(cause, p) and p.subscription]
    product = rng.choices(fitting, weights=[p.weight for p in fitting])[0]
    offsets = sorted([0] + rng.sample(range(2, 45), plan.repeat_contacts - 1))
    drafts = []
    for index, offset in enumerate(offsets):
        draft = drawer.draw(plan.repeat_start + timedelta(days=offset), rng, cause, product)
        draft.role, draft.repeat_index, draft.route = "repeat", index, "sub"
        draft.emotion, draft.legal = min(3, 1 + index // 2), False
        drafts.append(draft)
    return drafts


# ---------------------------------------------------------------- roles and routes

SECOND_HOPS = {  # first department -> (next department, chance, causes it applies to; empty = all)
    QA: ((MFG, 0.4, ()),), LOGI: ((SALES, 0.04, ()),), ACCT: ((IT, 0.25, ("二重請求", "引き落とし誤り")),),
    IT: ((ACCT, 0.25, ("決済エラー",)),), SALES: ((ACCT, 0.2, ("解約不可", "意図しない定期契約")),),
}
MAKING_THEMES = ("品質・異物", "味・風味", "容器・包装", "健康被害・安全")


def first_department(cause: Cause) -> str:
    return SALES if cause.dept == DESK else cause.dept


def plan_path(draft: Draft, rng: random.Random) -> tuple[str, ...]:
    """Departments the case visits after the desk; empty when the desk answers alone."""
    if draft.role == "unescalated":
        return ()
    if draft.role == "stalled":
        return (first_department(draft.cause),)
    must = draft.severe or draft.cause.theme == "健康被害・安全"
    if not must and rng.random() >= draft.cause.handoff:
        return ()
    first = first_department(draft.cause)
    if draft.legal or draft.emotion == 6:
        return (LEGAL,) if rng.random() < 0.5 else (first, LEGAL)
    for second, chance, causes in SECOND_HOPS.get(first, ()):
        fits = (not causes or draft.cause.name in causes) and (second != MFG or draft.cause.theme in MAKING_THEMES)
        if fits and rng.random() < chance:
            return (first, second)
    return (first,)


def pick_drafts(drafts: list[Draft], count: int, rng: random.Random,
                accept: Callable[[Draft], bool]) -> list[Draft]:
    candidates = [d for d in drafts if not d.role and accept(d)]
    return rng.sample(candidates, min(count, len(candidates)))


def assign_roles(drafts: list[Draft], plan: Plan, rng: random.Random) -> None:
    """Mark the severe cases left at the desk, the stalls at the slow department and the ping-pongs."""
    as_of = plan.as_of

    def recent(low: int, high: int) -> Callable[[Draft], bool]:
        return lambda d: timedelta(days=low) <= as_of - d.received_at <= timedelta(days=high)

    for draft in pick_drafts(drafts, plan.n_unescalated, rng, lambda d: d.cause.mode == "complaint"
                             and d.cause.theme != "健康被害・安全" and recent(4, 150)(d)):
        draft.role, draft.emotion, draft.legal = "unescalated", rng.choice((4, 4, 5, 5, 6)), False
        draft.legal = draft.emotion == 5 and rng.random() < 0.5
    for draft in pick_drafts(drafts, plan.n_stalled, rng, lambda d: first_department(d.cause) == plan.slow_dept
                             and d.cause.mode == "complaint" and recent(16, 150)(d)):
        draft.role, draft.emotion, draft.legal = "stalled", min(draft.emotion, 2), False
    for draft in drafts:
        draft.path = plan_path(draft, rng)
    n_pingpong = max(6, round(len(drafts) * 0.01))
    for draft in pick_drafts(drafts, n_pingpong, rng, lambda d: bool(d.path) and not d.severe):
        draft.role = "pingpong"


def assign_ids(drafts: list[Draft]) -> None:
    """C-<year>-<6 digits>, numbered per year in order of receipt, like most CRMs."""
    per_year: Counter[int] = Counter()
    for draft in drafts:
        year = draft.received_at.year
        per_year[year] += 1
        draft.case_id = f"C-{year}-{per_year[year]:06d}"


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str
    phone: str


def assign_customers(drafts: list[Draft], rng: random.Random) -> dict[str, Customer]:
    """Most people write once, some two or three times; the planted repeat customer far more."""
    customers: dict[str, Customer] = {}
    reusable: list[str] = []
    contacts: Counter[str] = Counter()

    def new_customer() -> str:
        customer_id = f"KC{len(customers) + 1:07d}"
        customers[customer_id] = Customer(customer_id, fake_name(rng), fake_phone(rng))
        return customer_id

    repeat_id = ""
    for draft in drafts:
        if draft.role == "repeat":
            repeat_id = repeat_id or new_customer()
            draft.customer_id = repeat_id
            continue
        if reusable and rng.random() < 0.12:
            draft.customer_id = reusable[rng.randrange(len(reusable))]
        else:
            draft.customer_id = new_customer()
            reusable.append(draft.customer_id)
        contacts[draft.customer_id] += 1
        if contacts[draft.customer_id] == 3:
            reusable.remove(draft.customer_id)
    return customers


# ---------------------------------------------------------------- texts

SLOT_PATTERN = re.compile(r"\{(\w+)\}")
REGISTERS = {"電話": (("operator", 75), ("polite", 20), ("casual", 5)), "メール": (("polite", 85), ("casual", 15)),
             "Webフォーム": (("polite", 62), ("casual", 38)), "チャット": (("casual", 55), ("polite", 45)),
             "SNS": (("casual", 88), ("polite", 12)), "手紙": (("polite", 1),)}
ORDER_THEMES = ("配送", "請求・返金", "契約・定期便")
LOT_THEMES = ("品質・異物", "味・風味", "容器・包装", "健康被害・安全", "表示・説明")
COMBINED_DETAILS = {"lot": ("ロット{lot}、賞味期限{exp}。",), "order": ("注文番号{order}、{amount}。",)}
DETAILS = {  # kind -> (first forms, second forms); two details take one of each
    "lot": (("ロット番号は{lot}です。", "ロットNo.{lot}です。", "（ロット：{lot}）", "製造番号{lot}。"),
            ("賞味期限は{exp}です。", "賞味期限：{exp}。", "期限は{exp}となっています。", "{exp}が賞味期限のものです。")),
    "order": (("注文番号は{order}です。", "注文番号：{order}。", "（注文No.{order}）", "{courier}の伝票番号は{tracking}です。"),
              ("金額は{amount}でした。", "お支払いは{amount}です。", "{amount}分の注文です。")),
}
OPERATOR_DETAILS = {"lot": ("ロット{lot}。", "賞味期限{exp}。", "ロット{lot}、期限{exp}。"),
                    "order": ("注文番号{order}。", "金額{amount}。", "注文番号{order}、{amount}。")}
PII_SENTENCES = {
    "phone": ("連絡先は{phone}です。", "折り返しは{phone}までお願いします。", "携帯：{phone}。", "日中は{phone}におります。",
              "{phone}に電話ください。"),
    "email": ("メールアドレスは{email}です。", "{email}まで返信ください。", "返信先：{email}。"),
    "address": ("住所は{postal}　{address}です。", "送り先：{postal} {address}", "{address}に住んでいます。",
                "{postal}{address}宛てに送ってください。"),
    "name": ("担当の{surname}さんに伝えてあります。", "前回は{surname}さんという方が対応してくれました。", "注文は{fullname}名義です。",
             "{fullname}と申します。", "母（{fullname}）の代理で連絡しています。", "主人の{fullname}名義で登録しています。",
             "{surname}様宛ての荷物と一緒に入っていました。"),
}
PII_OPERATOR = {"phone": ("連絡先{phone}。", "折り返し先：{phone}。"), "email": ("メール{email}へ回答希望。",),
                "address": ("送付先{postal} {address}。",), "name": ("ご本人（{fullname}様）より。", "前回対応の{surname}さんを指名。")}
SEASON_WORDS = ("厳寒", "余寒", "早春", "陽春", "新緑", "初夏", "盛夏", "晩夏", "初秋", "仲秋", "晩秋", "師走")


def fill(template: str, rng: random.Random, ctx: TextContext) -> str:
    """Fill {slots}: per-text values from ctx first, else a fresh pick from SLOTS."""
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        return ctx[key] if key in ctx.makers else pick(rng, SLOTS[key])
    return SLOT_PATTERN.sub(replace, SLOT_PATTERN.sub(replace, template))


def usable(options: Sequence[str], kind: str) -> list[str]:
    """Options that fit the product kind ("bottle,jar|..." applies only to bottles and jars)."""
    result = []
    for option in options:
        kinds, bar, text = option.rpartition("|")
        if not bar or kind in kinds.split(","):
            result.append(text)
    return result


def format_amount(value: int, rng: random.Random) -> str:
    text = pick(rng, (f"{value:,}円", f"{value:,}円", f"¥{value:,}", f"{value}円"))
    return maybe_full_width(text, rng, 0.1).replace("，", ",") if "," in text else maybe_full_width(text, rng, 0.1)


def format_expiry(day: date, rng: random.Random) -> str:
    return pick(rng, (f"{day:%Y.%m.%d}", f"{day:%Y/%m/%d}", f"{day:%y.%m.%d}", f"{day.year}年{day.month}月{day.day}日",
                      f"{day:%Y.%m.%d}"))


class TextContext(dict):
    """Per-text slot values, each made on first use and then kept, so a text stays consistent."""

    def __init__(self, makers: dict[str, Callable[[], str]]) -> None:
        super().__init__()
        self.makers = makers

    def __missing__(self, key: str) -> str:
        value = self[key] = self.makers[key]()
        return value


def text_context(draft: Draft, rng: random.Random) -> TextContext:
    """The product as the customer calls it, dates, and numbers that look like data (lots, orders, amounts)."""
    received = draft.received_at.date()
    bought = received - timedelta(days=rng.randint(1, 12))

    def lot() -> str:
        made = received - timedelta(days=rng.randint(20, 200))
        return draft.lot or f"L{made:%y%m}-{rng.randrange(1, 1000):03d}"

    def amount() -> str:
        quantity = 24 if draft.product.kind == "bottle" and rng.random() < 0.4 else rng.randint(1, 3)
        return format_amount(draft.product.price * quantity + pick(rng, (0, 0, 550, 880)), rng)

    def month_day() -> str:
        japanese, slashed = f"{bought.month}月{bought.day}日", f"{bought.month}/{bought.day}"
        return maybe_full_width(pick(rng, (japanese, slashed, japanese)), rng)

    return TextContext({
        "p": lambda: pick(rng, draft.product.aliases), "md": month_day, "lot": lot, "amount": amount,
        "store": lambda: pick(rng, STORES).replace("{town}", pick(rng, TOWNS)),
        "exp": lambda: format_expiry(received + timedelta(days=rng.randint(20, 330)), rng),
        "order": lambda: f"A-{bought:%Y%m%d}-{rng.randrange(1, 10000):04d}",
        "tracking": lambda: str(rng.randrange(2 * 10**11, 10**12)),
        "k": lambda: pick(rng, (str(draft.repeat_index + 1), full_width(str(draft.repeat_index + 1)))),
        "phone": lambda: pii_phone(rng), "email": lambda: fake_email(rng), "postal": lambda: fake_postal(rng),
        "address": lambda: fake_address(rng), "surname": lambda: pick(rng, SURNAMES),
        "fullname": lambda: fake_name(rng).replace(" ", ""),
    })


def pii_phone(rng: random.Random) -> str:
    phone = fake_phone(rng, pick(rng, HYPHENS))
    return full_width(phone) if rng.random() < 0.18 else phone


def choose_register(channel: str, rng: random.Random) -> str:
    names, weights = zip(*REGISTERS[channel])
    return rng.choices(names, weights=weights)[0]


DESIGN_QUESTION_THEMES = ("味・風味", "品質・異物", "Webサイト・システム", "表示・説明", "請求・返金")


def connector(register: str, mode: str, clause: str, rng: random.Random, theme: str = "") -> str:
    options = CONNECTORS[(register, mode)]
    if theme not in DESIGN_QUESTION_THEMES:
        options = tuple(o for o in options if "仕様" not in o)
    if mode in ("praise", "wish") and not (clause.endswith("い") or clause.endswith("しかった")):
        options = tuple(o for o in options if o not in ADJECTIVE_ONLY) or options
    return pick(rng, options)


NO_PRODUCT_LEADS = {  # theme -> register -> leads
    "接客・対応": {"polite": ("", "", "{md}に{toiawase}した件です。", "先日お電話した者です。", "先日の対応についてです。"),
                "operator": ("", "", "前回の対応について。", "{md}の入電の件。"), "casual": ("",)},
    "Webサイト・システム": {"polite": ("", "", "公式サイトについてです。", "アプリの件です。", "マイページについて{toiawase}します。"),
                         "operator": ("", "", "公式サイトの件。", "アプリについて。", "マイページの件。"), "casual": ("",)},
}


def lead(draft: Draft, register: str, rng: random.Random, after_comma: bool = False) -> str:
    """How the customer introduces the product ("先日スーパーで買った緑茶ですが、")."""
    route, theme = draft.route, draft.cause.theme
    arrived = draft.cause.name != "配送遅延"
    if theme in NO_PRODUCT_LEADS:
        return pick(rng, NO_PRODUCT_LEADS[theme][register])
    if after_comma:
        return ""
    when = pick(rng, ("{md}に", "先週", "先月", "", "{days}前に") if theme in ORDER_THEMES or route != "store"
                else TIME_REFS)
    verbs = BUY_VERBS[route] if arrived else ("申し込んだ", "頼んでいる") if route == "sub" else ("注文した", "頼んだ")
    bought = when + pick(rng, PLACES[route]) + pick(rng, verbs)
    if register == "operator":
        via = {"store": "店舗購入の", "mail": "通販購入の", "sub": "定期便の"}[route]
        return pick(rng, ("{p}について。", via + "{p}。", "{p}の件。", "", via + "{p}について、", ""))
    if register == "casual":
        return pick(rng, (bought + "{p}、", "{p}、", "{p}なんだけど、", "", "", "{p}の件で。"))
    if theme in ORDER_THEMES and rng.random() < 0.5:
        return pick(rng, ("", "{p}の件です。", "{p}について{toiawase}します。"))
    polite_verbs = BUY_VERBS_POLITE[route] if arrived or route != "sub" else ("申し込んでいます",)
    polite_bought = when + pick(rng, PLACES[route]) + "{p}を" + pick(rng, polite_verbs) + "。"
    if route == "sub":
        polite_bought = when + ("定期便で届いた{p}の件です。" if arrived else "定期便の{p}の件です。")
    return pick(rng, (bought + "{p}ですが、", bought + "{p}の件です。", polite_bought, "{p}について{toiawase}します。",
                      "", bought + "{p}なのですが、"))


def problem(draft: Draft, register: str, rng: random.Random, request: str) -> tuple[str, bool]:
    """The main complaint, ending with a connector; returns (text, whether `request` was folded in)."""
    cause, mode = draft.cause, draft.cause.mode
    sentences, clauses = usable(cause.sentences, draft.product.kind), usable(cause.clauses, draft.product.kind)
    if sentences and (not clauses or rng.random() < 0.22):
        sentence = pick(rng, sentences)
        if register == "operator":
            return "「" + sentence.rstrip("。") + "」" + pick(rng, ("とのこと。", "とのお電話。", "との申し出。")), False
        return sentence, False
    clause = pick(rng, clauses)
    if request and register == "polite" and mode == "complaint" and rng.random() < 0.35 and \
            request.endswith(("ください。", "ほしいです。", "お願いします。", "もらえますか。")):
        return clause + connector(register, "complaint…", clause, rng) + request, True
    return clause + connector(register, mode, clause, rng, cause.theme), False


def emotion_sentences(draft: Draft, register: str, rng: random.Random) -> list[str]:
    level = draft.emotion
    if level == 0:
        return []
    if level <= 4:
        return [pick(rng, EMOTIONS[level][register])]
    lead_in = [pick(rng, EMOTIONS[rng.choice((2, 3))][register])] if rng.random() < 0.6 else []
    if level == 5:
        return lead_in + [pick(rng, THREATS[draft.legal][register])]
    return lead_in + [pick(rng, HARASSMENT[register])]


def request_sentence(draft: Draft, register: str, rng: random.Random) -> str:
    theme = draft.cause.theme
    if draft.cause.mode != "complaint" or rng.random() < 0.28:
        return ""
    name = draft.cause.name
    if register == "operator":
        return pick(rng, REQUESTS_OPERATOR_BY_CAUSE.get(name) or REQUESTS_OPERATOR[theme])
    if register == "casual":
        return pick(rng, REQUESTS_CASUAL[story_group(draft.cause)])
    return pick(rng, REQUESTS_BY_CAUSE.get(name) or REQUESTS[theme])


def secondary_sentence(draft: Draft, register: str, rng: random.Random) -> str:
    second = draft.cause2
    clauses = usable(second.clauses, draft.product.kind) if second else []
    if not clauses:
        return ""
    ends = {"polite": ("と思います。",), "casual": ("なー",), "operator": ("とのご要望も。",)} \
        if second.mode == "wish" else SECOND_ENDS
    return pick(rng, LINKERS[register]) + pick(rng, clauses) + pick(rng, ends[register])


def detail_sentence(draft: Draft, register: str, rng: random.Random) -> str:
    theme = draft.cause.theme
    kind = "lot" if theme in LOT_THEMES and draft.cause.name != "梱包不良" else \
        "order" if theme in ORDER_THEMES or draft.cause.name in ("梱包不良", "決済エラー") else ""
    chance = 0.85 if draft.lot else 0.55 if kind else 0.0
    if not kind or rng.random() >= chance or draft.cause.mode != "complaint":
        return ""
    if register == "operator":
        return pick(rng, OPERATOR_DETAILS[kind])
    first, second = DETAILS[kind]
    if theme != "配送":
        first = tuple(form for form in first if "{tracking}" not in form)
    both = rng.random() < 0.3
    text = pick(rng, first) + pick(rng, second) if both else pick(rng, first + second + COMBINED_DETAILS[kind])
    return maybe_full_width(text, rng, 0.08)


def decoy_sentence(draft: Draft, rng: random.Random) -> str:
    """A mention that says the opposite of a complaint (無事に届きました, キャップは緩くなかった)."""
    if draft.cause.mode != "complaint":
        return pick(rng, DECOYS_NEUTRAL)
    fitting = [text for text, mentions, primaries, needs in DECOYS
               if draft.cause.theme in primaries and mentions not in draft.themes
               and (needs != "mail" or draft.route != "store")
               and (needs != "bottle" or draft.product.kind == "bottle")]
    return pick(rng, fitting) if fitting else ""


def story_sentences(draft: Draft, rng: random.Random, count: int) -> list[str]:
    """Background people add to longer messages, matching what the message is about."""
    fitting = []
    for story in STORIES[story_group(draft.cause)]:
        need, colon, text = story.partition(":") if story.startswith(("mail:", "email:")) else ("", "", story)
        if need == "mail" and draft.route == "store" or need == "email" and draft.channel != "メール":
            continue
        fitting.append(text)
    return rng.sample(fitting, min(count, len(fitting)))


@dataclass(frozen=True)
class Composed:
    text: str
    pii: tuple[str, ...]      # kinds of personal data written into the text
    decoy: bool               # holds a positive or negated mention (無事に届きました …)


def opening(draft: Draft, register: str, rng: random.Random) -> str:
    options = {"polite": OPENINGS_POLITE, "casual": OPENINGS_CASUAL, "operator": OPENINGS_OPERATOR}[register]
    if draft.channel in ("チャット", "SNS"):
        options = options[-6:]   # chats rarely start with a greeting
    text = pick(rng, options)
    if register == "operator" and rng.random() < 0.3:
        text += pick(rng, OPERATOR_PROFILES)
    if draft.repeat_index:
        text += pick(rng, REPEAT_CUES[register])
    return text


CASUAL_QUESTIONS = (("ありますか？", "ある？"), ("ありますか。", "ある？"), ("ますか？", "る？"), ("ますか。", "る？"),
                    ("でしょうか？", "？"), ("でしょうか。", "？"), ("ですか？", "？"), ("ですか。", "？"),
                    ("ください。", "ほしい。"), ("知りたいです。", "知りたい。"))


def inquiry_parts(draft: Draft, register: str, rng: random.Random, decoy: str, opening_text: str) -> list[str]:
    question = pick(rng, draft.cause.sentences)
    if register == "operator":
        question = "「" + question.rstrip("。？?") + "」との" + pick(rng, ("問い合わせ。", "お問い合わせ。", "問合せ。"))
    elif register == "casual":
        for polite, plain in CASUAL_QUESTIONS:
            question = question.replace(polite, plain)
    return [decoy, question]


def complaint_parts(draft: Draft, register: str, rng: random.Random, decoy: str, opening_text: str) -> list[str]:
    """Lead, problem, details, a second topic, feelings and a request, in the order people write them."""
    request = request_sentence(draft, register, rng)
    text, merged = problem(draft, register, rng, request)
    lead_text = lead(draft, register, rng, opening_text.endswith("、"))
    before, after = "", ""
    if decoy.endswith("、"):
        lead_text = lead_text if lead_text.endswith("。") else ""
        text = decoy + text
    elif decoy:
        before, after = (decoy, "") if rng.random() < 0.5 else ("", decoy)
    short = draft.channel in ("チャット", "SNS") and register == "casual" and rng.random() < 0.6
    if short:
        return [lead_text + text, after] + emotion_sentences(draft, register, rng)[-1:]   # keep the strongest
    parts = [before, lead_text + text, after, detail_sentence(draft, register, rng),
             secondary_sentence(draft, register, rng)]
    story_chance = {"メール": 0.6, "手紙": 0.95, "Webフォーム": 0.35}.get(draft.channel, 0.0)
    if register == "polite" and draft.cause.mode == "complaint" and rng.random() < story_chance:
        long_message = draft.channel == "手紙" or rng.random() < 0.12
        parts += story_sentences(draft, rng, rng.randint(3, 6) if long_message else rng.randint(1, 2))
    elif register == "operator" and draft.cause.mode == "complaint":
        group = story_group(draft.cause)
        parts += [pick(rng, OPERATOR_SITUATIONS[group]) if rng.random() < 0.55 else "",
                  pick(rng, OPERATOR_NOTES) if group == "product" and rng.random() < 0.5 else ""]
    parts += emotion_sentences(draft, register, rng)
    parts.append("" if merged else request)
    return parts


def pii_parts(draft: Draft, register: str, rng: random.Random) -> tuple[list[str], tuple[str, ...]]:
    """Personal data people put in their messages, so masking has something to find."""
    if draft.channel == "手紙" and rng.random() < 0.4:
        return ["{postal} {address}", "{fullname}"], ("address", "name")
    if rng.random() >= 0.045:
        return [], ()
    kinds = rng.sample(("phone", "phone", "email", "address", "name"), rng.choice((1, 1, 1, 2)))
    kinds = list(dict.fromkeys(kinds))
    table = PII_OPERATOR if register == "operator" else PII_SENTENCES
    return [pick(rng, table[kind]) for kind in kinds], tuple(kinds)


CASUAL_ENDS = ("。", "！", "？", "…", "ー", "〜", "、", "?", "!", "w")


def join_parts(parts: list[str], sender: list[str], draft: Draft, register: str, rng: random.Random) -> str:
    """Sentences into one message; `sender` (personal data) goes where people put it."""
    parts = [part for part in parts if part]
    if draft.channel == "手紙":
        month = draft.received_at.month
        head = f"拝啓　{SEASON_WORDS[month - 1]}の候、貴社ますますご清栄のこととお慶び申し上げます。"
        return "\n".join(([head] if rng.random() < 0.7 else []) + parts + ["敬具"] + sender)
    parts += sender
    if register == "polite" and draft.channel in ("メール", "Webフォーム") and len(parts) > 3 and rng.random() < 0.35:
        return parts[0] + "\n" + "".join(parts[1:-1]) + "\n" + parts[-1]
    if register == "casual":
        parts = [part if part.endswith(CASUAL_ENDS) else part + pick(rng, ("。", "。", "！", "…")) for part in parts]
        return pick(rng, (" ", "", "", "", "", "\n")).join(parts).strip()
    return "".join(parts)


def compose(draft: Draft, rng: random.Random) -> Composed:
    """Write one customer's message from interchangeable parts."""
    register = choose_register(draft.channel, rng)
    decoy = decoy_sentence(draft, rng) if rng.random() < 0.07 else ""
    if register == "operator" and decoy.endswith("、"):
        decoy = ""
    body = inquiry_parts if draft.cause.mode == "inquiry" else complaint_parts
    opening_text = opening(draft, register, rng)
    parts = [opening_text] + body(draft, register, rng, decoy, opening_text)
    pii, kinds = pii_parts(draft, register, rng)
    closing = pick(rng, CLOSINGS_LETTER if draft.channel == "手紙" else CLOSINGS_POLITE) if register == "polite" else ""
    ctx = text_context(draft, rng)
    if draft.channel == "手紙":
        parts, pii = parts + [closing], [fill(part, rng, ctx) for part in pii]
    else:
        parts, pii = parts + pii + [closing], []
    filled = [fill(part, rng, ctx) for part in parts]
    return Composed(join_parts(filled, pii, draft, register, rng), kinds, bool(decoy))


# ---------------------------------------------------------------- hand-offs

DEPT_MEDIAN_HOURS = {DESK: 2.5, QA: 36, MFG: 44, LOGI: 26, ACCT: 30, IT: 28, SALES: 30, LEGAL: 48}
SLOW_FACTOR = 5.0   # nights and weekends pad every hold, so 5x in working time shows as ~4x in events.csv
HANDOFF_MEMOS = {
    QA: ("現品調査を依頼", "品質調査依頼", "原因調査を依頼", "ロット確認を依頼", ""),
    MFG: ("製造記録の確認を依頼", "製造ラインの確認依頼", "工程の点検を依頼"),
    LOGI: ("配送状況の確認依頼", "再送手配を依頼", "配送業者への調査依頼", ""),
    SALES: ("契約内容の確認依頼", "ご意見共有", "解約処理を依頼", "対応方針の確認", ""),
    ACCT: ("返金処理を依頼", "請求内容の確認依頼", "入金状況の確認", ""),
    IT: ("システム調査を依頼", "ログ確認依頼", "不具合調査依頼"),
    LEGAL: ("法的措置の言及あり、対応を相談", "法的リスクの確認を依頼"),
}
ESCALATION_MEMOS = ("強いお怒りのため至急対応を依頼", "責任者対応を求められている", "至急", "SNS投稿の可能性あり", "")
HEALTH_MEMOS = ("健康被害の申告あり。至急", "健康被害の申告", "通院ありとのこと。至急確認を")
RETURN_MEMOS = ("当部署の管轄外のため差戻し", "情報不足のため差戻し", "担当部署が異なるため差戻し", "お客様への再確認をお願いします")
RETURN_MEMOS_BY_DEPT = {QA: ("ロット番号未確認のため差戻し",), MFG: ("ロット番号未確認のため差戻し",),
                        LOGI: ("注文番号が不明のため差戻し",), ACCT: ("注文番号が不明のため差戻し",)}
RESEND_MEMOS = ("再依頼", "情報を追記して再依頼", "確認のうえ再度依頼", "")
ANSWER_MEMOS = {QA: ("調査結果を回答", "調査の結果、工程に異常なし"), MFG: ("製造記録に異常なし", "ライン点検結果を共有"),
                LOGI: ("配送業者確認済み、再送手配", "誤出荷を確認"), ACCT: ("返金処理完了", "請求を取消済み"),
                IT: ("不具合修正済み", "原因を特定し対応済み"), SALES: ("解約処理完了", "対応方針を回答"),
                LEGAL: ("対応方針を回答", "書面回答の文案を共有")}
DONE_MEMOS = ("お客様へ回答し完了", "ご納得いただき完了", "", "", "", "", "", "")
DONE_MEMOS_BY_GROUP = {"product": ("代品発送にて完了",), "delivery": ("再送にて完了",), "money": ("返金にて完了",),
                       "staff": (), "web": ("復旧を確認し完了",)}


@dataclass(frozen=True)
class Event:
    at: datetime
    source: str        # 移管元部署 (empty for the receipt)
    target: str        # 移管先部署: who holds the case afterwards
    action: str
    memo: str


def work_time(moment: datetime, rng: random.Random, saturday: bool = False) -> datetime:
    """Push a moment into office hours: nobody moves a case at 3 a.m. or on Sunday."""
    while True:
        closed = moment.weekday() == 6 or (moment.weekday() == 5 and not saturday)
        if closed or moment.hour >= 18:
            morning = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time())
            moment = morning + timedelta(hours=9, minutes=rng.randrange(90))
        elif moment.hour < 9:
            midnight = datetime.combine(moment.date(), datetime.min.time())
            moment = midnight + timedelta(hours=9, minutes=rng.randrange(90))
        else:
            return moment.replace(second=0, microsecond=0)


class Clock:
    """Moves one case forward in time, each holder taking its own department's time."""

    def __init__(self, start: datetime, slow_dept: str, rng: random.Random) -> None:
        self.now, self.slow_dept, self.rng = start, slow_dept, rng
        others = [hours for dept, hours in DEPT_MEDIAN_HOURS.items() if dept not in (DESK, slow_dept)]
        self.slow_median = SLOW_FACTOR * sum(others) / len(others)

    def hold(self, dept: str, scale: float = 1.0) -> datetime:
        median = self.slow_median if dept == self.slow_dept else DEPT_MEDIAN_HOURS[dept]
        sigma = 0.9 if dept == DESK else 0.75
        return self.advance(lognormal_hours(self.rng, median * scale, sigma), dept == DESK)

    def advance(self, hours: float, saturday: bool) -> datetime:
        moment = work_time(self.now + timedelta(hours=hours), self.rng, saturday)
        self.now = max(moment, self.now + timedelta(minutes=1))
        return self.now


def build_events(draft: Draft, plan: Plan, rng: random.Random) -> list[Event]:
    """The case's hand-offs, bounces, answer and close; the case starts at the desk at 受付日時."""
    clock = Clock(draft.received_at, plan.slow_dept, rng)
    events: list[Event] = []   # the receipt itself is 受付日時 in cases.csv
    if not draft.path:
        events += desk_only_close(draft, clock, rng)
        return [event for event in events if event.at <= plan.as_of]
    holders = (DESK,) + draft.path
    bounce_at = rng.randrange(len(draft.path)) if draft.role == "pingpong" else -1
    for index, dept in enumerate(draft.path):
        giver = holders[index]
        events.append(handoff_event(draft, clock, giver, dept, index, rng))
        if index == bounce_at:
            for _ in range(rng.choice((1, 1, 2))):
                memos = RETURN_MEMOS + RETURN_MEMOS_BY_DEPT.get(dept, ())
                events.append(Event(clock.hold(dept, 0.6), dept, giver, "差戻し", pick(rng, memos)))
                events.append(Event(clock.hold(giver, 0.8), giver, dept, "移管", pick(rng, RESEND_MEMOS)))
    if draft.role != "stalled":
        events += answer_and_close(draft, clock, rng)
    return [event for event in events if event.at <= plan.as_of]


def desk_only_close(draft: Draft, clock: Clock, rng: random.Random) -> list[Event]:
    if draft.role == "unescalated":
        if rng.random() < 0.5:
            return []   # still sitting at the desk
        at = clock.advance(rng.uniform(3, 12) * 24, True)
        return [Event(at, DESK, DESK, "完了", pick(rng, ("", "ご納得いただけず終話", "お詫びし終話")))]
    if draft.channel == "電話" and rng.random() < 0.55:
        at = clock.advance(rng.uniform(5, 40) / 60, True)   # settled during the call
    elif rng.random() < 0.15:
        at = clock.advance(rng.uniform(2, 12) * 24, True)   # waiting for the customer's reply
    else:
        at = clock.hold(DESK, 2.4)
    return [Event(at, DESK, DESK, "完了", done_memo(draft, rng))]


def handoff_event(draft: Draft, clock: Clock, giver: str, dept: str, index: int, rng: random.Random) -> Event:
    urgent = draft.severe or draft.cause.theme == "健康被害・安全"
    if index == 0 and urgent:
        at = clock.advance(rng.uniform(0.2, 2.0), True)   # severe cases go up within hours
        memo = pick(rng, HEALTH_MEMOS if draft.cause.theme == "健康被害・安全" else ESCALATION_MEMOS)
        return Event(at, giver, dept, "エスカレーション", memo)
    at = clock.hold(giver)
    action = "エスカレーション" if dept == LEGAL else "移管"
    return Event(at, giver, dept, action, pick(rng, HANDOFF_MEMOS[dept]))


def done_memo(draft: Draft, rng: random.Random) -> str:
    group = story_group(draft.cause) if draft.cause.theme in STORY_GROUP else "staff"
    return pick(rng, DONE_MEMOS + DONE_MEMOS_BY_GROUP[group])


def answer_and_close(draft: Draft, clock: Clock, rng: random.Random) -> list[Event]:
    """Either the department answers back to the desk, which closes, or it closes the case itself."""
    last = draft.path[-1]
    answered = clock.hold(last)
    if last == LEGAL or rng.random() < 0.6:
        waiting = rng.random() < 0.2   # the customer has to send the product back, or call back
        closed = clock.advance(rng.uniform(1, 12) * 24, True) if waiting else clock.hold(DESK, 1.2)
        return [Event(answered, last, DESK, "回答", pick(rng, ANSWER_MEMOS[last])),
                Event(closed, DESK, DESK, "完了", done_memo(draft, rng))]
    return [Event(answered, last, last, "完了", pick(rng, ANSWER_MEMOS[last]))]


# ---------------------------------------------------------------- the case row

DESK_ACTIONS = {
    "品質・異物": ("お詫びし、代品を発送。", "お詫びの上、返金対応。", "現品の返送を依頼し、代品発送。", "お詫びし同等品を送付。"),
    "味・風味": ("製造時期による風味の差をご説明しお詫び。", "代品を送付。", "ご意見として承り品質保証部へ共有。"),
    "容器・包装": ("お詫びし代品発送。", "破損分の代品を手配。", "お詫びの上、返金手続き。"),
    "配送": ("配送状況を確認し、到着予定をご案内。", "再送手配済み。", "配送業者に確認し、本日中の配達をご案内。"),
    "請求・返金": ("請求内容を確認し、返金手続きをご案内。", "明細の見方をご説明し解決。", "返金予定日をご案内。"),
    "契約・定期便": ("解約手続きを受付。", "スキップ手続きを代行。", "マイページでの変更方法をご案内。", "次回分の停止を受付。"),
    "接客・対応": ("不快な思いをさせたことをお詫び。", "ご意見として承り、指導する旨お伝えした。"),
    "Webサイト・システム": ("ログイン手順とパスワード再設定をご案内し解決。", "別のブラウザでの操作をご案内。",
                       "キャッシュ削除の手順をご案内。"),
    "表示・説明": ("原材料・アレルギー情報をご案内。", "賞味期限の見方をご説明。", "使い方をご説明。"),
    "健康被害・安全": ("お見舞いを申し上げ、状況を伺った。",),
    "要望・提案": ("ご意見として承り、関係部署へ共有。", "ご要望として記録。", "貴重なご意見として承った。"),
    "お褒め": ("お礼をお伝えし、社内で共有。", "お礼を申し上げた。", "担当者へ共有。"),
    PLAIN_INQUIRY: ("取扱店舗をご案内。", "在庫状況を確認しご案内。", "商品情報をご案内。", "よくある質問のページをご案内。"),
}
DEPT_RESULTS = {
    QA: ("調査結果をご報告し、お詫び。", "調査報告書を送付。", "調査の結果をご説明し、お詫び。"),
    MFG: ("製造ラインの点検結果をご報告。", "製造記録を確認し、結果をご報告。"),
    LOGI: ("配送業者の調査結果をご報告。", "代品を再送。"),
    ACCT: ("返金処理完了をご連絡。", "請求内容を確認し、ご説明。", "返金日をご連絡。"),
    IT: ("不具合修正済みをご案内。", "アカウントを復旧しご連絡。"),
    SALES: ("手続き完了をご連絡。", "営業部より回答。", "ご意見を商品企画へ共有。"),
    LEGAL: ("法務部と協議の上、書面で回答。", "法務部同席のもと回答。"),
}
CAUSE_RESULTS = {  # (department that answered, cause) -> what it found
    (QA, "異物混入"): ("工程での混入は確認されず、その旨ご報告。", "混入経路を調査し、結果をご報告。"),
    (MFG, "異物混入"): ("製造ラインを点検し、混入経路をご報告。",),
    (QA, "アレルギー表示"): ("表示内容を確認し、正しい情報をご案内。",),
    (LOGI, "配送遅延"): ("配送業者に確認し、到着日をご連絡。", "輸送中の遅れを確認し、お詫び。"),
    (LOGI, "誤配送"): ("誤出荷を確認し、正しい商品を再送。", "配送業者の誤配を確認し、回収と再送を手配。"),
    (LOGI, "配送時破損"): ("破損分を再送。", "配送業者に事故報告を依頼し、代品を再送。"),
    (ACCT, "二重請求"): ("二重分を取消済み。", "重複分の返金完了をご連絡。"),
    (ACCT, "引き落とし誤り"): ("差額を返金。", "誤って引き落とした分を返金。"),
    (IT, "二重請求"): ("決済処理の不具合を特定し修正。",), (IT, "引き落とし誤り"): ("請求データの誤りを修正。",),
    (LOGI, "梱包不良"): ("代品を再送し、梱包方法を見直す旨回答。", "破損分を再送。"),
}
DESK_ACTIONS_BY_CAUSE = {
    "誤配送": ("お詫びし、正しい商品を再送。", "誤配送分の回収を手配。"),
    "配送時破損": ("お詫びし、代品を再送。", "破損分の代品を手配。"),
    "配送遅延": ("配送状況を確認し、到着予定をご案内。", "配送業者に確認し、本日中の配達をご案内。"),
    "解約不可": ("解約手続きを受付。", "解約方法をご案内。"),
    "定期便変更": ("スキップ手続きを代行。", "マイページでの変更方法をご案内。", "お届け周期の変更を受付。"),
    "電話対応": ("不快な思いをさせたことをお詫び。", "ご意見として承り、指導する旨お伝えした。"),
    "決済エラー": ("別のお支払い方法をご案内。", "時間をおいての再操作をご案内。"),
    "アプリ不具合": ("アプリの再インストールをご案内。", "最新版への更新をご案内。", "ブラウザからの注文をご案内。"),
    "意図しない定期契約": ("定期便の解約を受付。", "契約内容をご説明し、次回から停止。"),
}
OPEN_NOTES = ("{dept}にて調査中。", "{dept}の回答待ち。", "{dept}へ依頼済み、結果待ち。", "お客様へ折り返し予定。")
HOLD_NOTES = ("お客様と連絡がつかず保留。", "留守電に伝言済み。折り返し待ち。", "現品の返送待ち。")
UNESCALATED_NOTES = ("お詫びを繰り返したがご納得いただけず。", "上長不在のため後日連絡と伝え終話。", "ご意見として承った。",
                     "対応検討中。", "再度お電話予定。")


def owner(events: list[Event]) -> str:
    """Who holds the case now: the last event's 移管先, or the desk before any event."""
    return events[-1].target if events else DESK


def case_status(draft: Draft, events: list[Event], plan: Plan, rng: random.Random) -> tuple[str, datetime | None]:
    if events and events[-1].action == "完了":
        return "完了", events[-1].at
    if not events and plan.as_of - draft.received_at < timedelta(days=2):
        return "受付", None
    hold_chance = 0.45 if draft.role == "stalled" else 0.15
    return ("保留" if rng.random() < hold_chance else "対応中"), None


def category(draft: Draft, rng: random.Random) -> str:
    """The desk's own coarse label, with the inconsistency real desks have."""
    mode = draft.cause.mode
    if mode in ("praise", "wish", "inquiry"):
        return {"praise": "お褒め", "wish": "要望", "inquiry": "問い合わせ"}[mode]
    if rng.random() < 0.03:
        return pick(rng, ("要望", "問い合わせ"))
    calm_share = 0.4 if draft.emotion == 0 else 0.05
    return "問い合わせ" if rng.random() < calm_share else "苦情"


def priority(draft: Draft, rng: random.Random) -> str:
    if draft.severe or draft.cause.theme == "健康被害・安全":
        level = "高"
    elif draft.emotion >= 2 or draft.cause.theme in ("品質・異物", "容器・包装"):
        level = "中"
    else:
        level = "低"
    return pick(rng, ("高", "中", "低")) if rng.random() < 0.05 else level


def response(draft: Draft, status: str, events: list[Event], rng: random.Random) -> str:
    """What the desk wrote it did (対応内容)."""
    holder = owner(events)
    handed = [e.target for e in events if e.action in ("移管", "エスカレーション")]
    if draft.role == "unescalated":
        text = pick(rng, UNESCALATED_NOTES)
    elif status == "保留":
        text = pick(rng, HOLD_NOTES)
    elif status != "完了":
        text = pick(rng, OPEN_NOTES).format(dept=holder) if holder != DESK else pick(rng, ("内容確認中。", "折り返し予定。", ""))
    elif handed:
        result = CAUSE_RESULTS.get((handed[-1], draft.cause.name)) or DEPT_RESULTS[handed[-1]]
        text = handed[0] + "へ" + pick(rng, HANDOFF_MEMOS[handed[0]][:2]) + "。" + pick(rng, result)
    else:
        text = pick(rng, DESK_ACTIONS_BY_CAUSE.get(draft.cause.name) or DESK_ACTIONS[draft.cause.theme])
    if rng.random() < 0.05:
        text += f"（対応者：{pick(rng, SURNAMES)}）"
    elif rng.random() < 0.015:
        text += f"お客様携帯{fake_phone(rng)}へ折り返し。"
    return text


def contact_columns(customer: Customer, channel: str, rng: random.Random) -> tuple[str, str]:
    """Name and phone as the desk recorded them; SNS and web contacts often leave them blank."""
    name_chance, phone_chance = {"電話": (0.97, 0.95), "SNS": (0.3, 0.05), "手紙": (1.0, 0.3)}.get(channel, (0.95, 0.6))
    name = customer.name if rng.random() < name_chance else ""
    phone = customer.phone if rng.random() < phone_chance else ""
    if phone and rng.random() < 0.08:
        phone = phone.replace("-", "")
    return name, phone


def case_row(draft: Draft, composed: Composed, events: list[Event], customer: Customer, plan: Plan,
             rng: random.Random) -> list[str]:
    status, closed_at = case_status(draft, events, plan, rng)
    name, phone = contact_columns(customer, draft.channel, rng)
    product = "" if draft.cause.theme in ("接客・対応", "Webサイト・システム") and rng.random() < 0.4 else draft.product.name
    return [draft.case_id, fmt_time(draft.received_at), draft.channel, draft.customer_id, name, phone, product,
            category(draft, rng), owner(events), status, priority(draft, rng), fmt_time(closed_at),
            composed.text, response(draft, status, events, rng)]


def event_rows(draft: Draft, events: list[Event]) -> list[list[str]]:
    return [[draft.case_id, fmt_time(e.at), e.source, e.target, e.action, e.memo] for e in events]


# ---------------------------------------------------------------- manifest


def iso(day: date) -> str:
    return day.isoformat()


def countermeasure_entry(cm: Countermeasure) -> dict:
    factor = {"effective": EFFECTIVE_FACTOR, "spike": SPIKE_FIX_FACTOR}.get(cm.kind, 1.0)
    return {"date": iso(cm.day), "target": cm.target, "target_kind": "theme" if cm.target in THEMES else "cause",
            "department": cm.dept, "content": cm.content, "rate_factor": factor}


def spike_entry(plan: Plan, drafts: list[Draft], normal_per_day: float) -> dict:
    cause = CAUSE_BY_NAME[plan.spike_cause]
    ids = [d.case_id for d in drafts if d.role == "spike"]
    lots = Counter(d.lot for d in drafts if d.role == "spike" and d.lot)
    return {"theme": cause.theme, "product": plan.spike_product, "cause": cause.name, "start": iso(plan.spike_start),
            "end": iso(plan.spike_start + timedelta(days=plan.spike_days - 1)), "extra_cases": len(ids),
            "multiplier": plan.spike_multiplier, "normal_daily_rate": round(normal_per_day, 3),
            "lot": lots.most_common(1)[0][0] if lots else "", "case_ids": ids}


def returning_entry(plan: Plan, drafts: list[Draft]) -> dict:
    mine = [d for d in drafts if d.cause.name == plan.returning_cause]
    monthly = Counter(f"{d.received_at:%Y-%m}" for d in mine)
    return {"cause": plan.returning_cause, "theme": CAUSE_BY_NAME[plan.returning_cause].theme,
            "countermeasure_date": iso(plan.countermeasure("returning").day), "returns_from": iso(plan.returns_from),
            "drop_factor": RETURN_DROP, "return_factor": RETURN_RISE, "monthly_counts": dict(sorted(monthly.items())),
            "case_ids": [d.case_id for d in mine]}


def median_holds(drafts: list[Draft], histories: list[list[Event]]) -> dict[str, float]:
    """Median hours each department held a case before acting, measured the way an analysis of events.csv would."""
    held: dict[str, list[float]] = {dept: [] for dept in DEPARTMENTS}
    for draft, events in zip(drafts, histories):
        arrived = {DESK: draft.received_at}
        for event in events:
            held[event.source].append((event.at - arrived[event.source]).total_seconds() / 3600)
            if event.target != event.source:
                arrived[event.target] = event.at
    return {dept: round(float(np.median(hours)), 1) for dept, hours in held.items() if hours}


def theme_counts(drafts: list[Draft]) -> dict[str, int]:
    counts = Counter(theme for d in drafts for theme in d.themes)
    return {theme: counts[theme] for theme in THEMES}


def build_manifest(opts: SampleOptions, plan: Plan, drafts: list[Draft], composed: list[Composed],
                   histories: list[list[Event]], normal_per_day: float) -> dict:
    """Ground truth of what was planted, for tests and for checking the analyses."""
    repeat = [d for d in drafts if d.role == "repeat"]
    bounced = [d.case_id for d, h in zip(drafts, histories) if any(e.action == "差戻し" for e in h)]
    stalled = [d.case_id for d, h in zip(drafts, histories) if d.role == "stalled" and h and h[-1].action != "完了"]
    pii = Counter(kind for c in composed for kind in c.pii)
    return {
        "generator": "devtools.sample", "seed": opts.seed, "n_cases": len(drafts),
        "start": iso(opts.start), "end": iso(opts.end), "as_of": plan.as_of.isoformat(timespec="minutes"),
        "company": COMPANY, "receiving_desk": DESK, "departments": list(DEPARTMENTS),
        "channels": list(CHANNEL_WEIGHTS), "products": [p.name for p in PRODUCTS], "themes": list(THEMES),
        "theme_counts": theme_counts(drafts), "plain_inquiries": sum(d.cause.theme == PLAIN_INQUIRY for d in drafts),
        "cause_counts": dict(sorted(Counter(d.cause.name for d in drafts).items(), key=lambda kv: -kv[1])),
        "spike": spike_entry(plan, drafts, normal_per_day),
        "returning_cause": returning_entry(plan, drafts),
        "effective_countermeasures": [countermeasure_entry(cm) for cm in plan.countermeasures
                                      if cm.kind in ("effective", "spike")],
        "ineffective_countermeasures": [countermeasure_entry(cm) for cm in plan.countermeasures
                                        if cm.kind == "ineffective"],
        "slow_department": plan.slow_dept,
        "slow_department_detail": {"hold_factor": SLOW_FACTOR, "median_hold_hours": median_holds(drafts, histories),
                                   "stalled_case_ids": stalled},
        "repeat_customer": {"customer_id": repeat[0].customer_id, "contacts": len(repeat),
                            "theme": repeat[0].cause.theme, "cause": repeat[0].cause.name,
                            "case_ids": [d.case_id for d in repeat]},
        "unescalated_severe": {"case_ids": [d.case_id for d in drafts if d.role == "unescalated"]},
        "ping_pong": {"case_ids": bounced},
        "severe_cases": sum(d.severe for d in drafts),
        "pii": {"counts": dict(sorted(pii.items())),
                "case_ids": [d.case_id for d, c in zip(drafts, composed) if c.pii]},
        "decoy_texts": sum(c.decoy for c in composed),
    }


# ---------------------------------------------------------------- writing


def write_csv(path: Path, header: Sequence[str], rows: list[list[str]]) -> None:
    """UTF-8 with BOM and CRLF, like an export Excel opens cleanly; newlines inside texts stay quoted."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)


def check_options(opts: SampleOptions) -> None:
    if opts.n_cases < 1000:
        raise ValueError(f"--cases {opts.n_cases} is too few to plant every pattern — use 1000 or more "
                         "— check with: python -m devtools.sample --cases 3000 --out /tmp/sample")
    if opts.months < 10:
        raise ValueError(f"--months {opts.months} is too short for a countermeasure to wear off — use 10 or more "
                         "— check with: python -m devtools.sample --months 19 --out /tmp/sample")


def draw_drafts(opts: SampleOptions, plan: Plan, rng: random.Random,
                nprng: np.random.Generator) -> tuple[list[Draft], float]:
    """All cases in order of receipt, with roles and ids; also the spike's normal daily rate."""
    weights = day_weights(opts)
    drawer = CaseDrawer(opts, plan)
    n_extra, normal_per_day = spike_extra(opts, plan, opts.n_cases, weights)
    n_base = opts.n_cases - n_extra - plan.repeat_contacts
    drafts = draw_base(opts, plan, drawer, n_base, weights, rng, nprng)
    drafts += draw_spike(plan, drawer, n_extra, rng) + draw_repeat(plan, drawer, rng)
    drafts.sort(key=lambda d: d.received_at)
    assign_roles(drafts, plan, rng)
    assign_ids(drafts)
    return drafts, normal_per_day


RESPONSE_PII = re.compile(r"対応者：|お客様携帯")


def generate(out_dir: Path, seed: int = 7, n_cases: int = 24000, start: date = date(2024, 6, 1),
             months: int = 19) -> dict:
    """Write cases.csv, events.csv, countermeasures.csv and manifest.json into out_dir; return the manifest.

    >>> manifest = generate(Path("/tmp/sample"), seed=3, n_cases=3000)  # doctest: +SKIP
    """
    opts = SampleOptions(seed, n_cases, start, months)
    check_options(opts)
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    plan = choose_plan(opts, rng)
    drafts, normal_per_day = draw_drafts(opts, plan, rng, nprng)
    customers = assign_customers(drafts, rng)
    composed = [compose(draft, rng) for draft in drafts]
    histories = [build_events(draft, plan, rng) for draft in drafts]
    case_rows = [case_row(d, c, h, customers[d.customer_id], plan, rng)
                 for d, c, h in zip(drafts, composed, histories)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "cases.csv", CASE_COLUMNS, case_rows)
    write_csv(out_dir / "events.csv", EVENT_COLUMNS,
              [row for draft, history in zip(drafts, histories) for row in event_rows(draft, history)])
    write_csv(out_dir / "countermeasures.csv", COUNTERMEASURE_COLUMNS,
              [[f"{cm.day:%Y/%m/%d}", cm.target, cm.dept, cm.content] for cm in plan.countermeasures])
    manifest = build_manifest(opts, plan, drafts, composed, histories, normal_per_day)
    # 対応内容 sometimes names the staff member or a customer's mobile: masking must cover it too
    manifest["pii"]["response_case_ids"] = [row[0] for row in case_rows if RESPONSE_PII.search(row[-1])]
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.sample", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/sample"), help="directory to write into")
    parser.add_argument("--seed", type=int, default=7, help="same seed, byte-identical files")
    parser.add_argument("--cases", type=int, default=24000, help="number of cases")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2024, 6, 1), help="first day, YYYY-MM-DD")
    parser.add_argument("--months", type=int, default=19, help="length of the period in months")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        manifest = generate(args.out, args.seed, args.cases, args.start, args.months)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)   # diagnostics go to stderr, never into piped data
        return 2
    spike = manifest["spike"]
    print(f"wrote {manifest['n_cases']} cases {manifest['start']}..{manifest['end']} to {args.out} "
          f"in {time.perf_counter() - began:.1f}s", file=sys.stderr)
    print(f"  spike: {spike['theme']} / {spike['product']} {spike['start']}..{spike['end']} (+{spike['extra_cases']})"
          f"  returning: {manifest['returning_cause']['cause']}  slow: {manifest['slow_department']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
