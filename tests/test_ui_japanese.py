"""ui.japanese: the words ui/japanese.css draws instead of Streamlit's fixed English. The browser
test (tests/test_browser.py) checks what a user sees; this checks the CSS gets every word it uses."""
from __future__ import annotations

import re

from ui.japanese import CSS, words_css


def test_every_word_the_css_uses_is_defined():
    css = words_css(200)
    used = set(re.findall(r"var\((--kk-[\w-]+)\)", CSS.read_text(encoding="utf-8")))
    defined = set(re.findall(r"(--kk-[\w-]+):", css))
    assert used and used <= defined, used - defined


def test_the_size_limit_follows_the_server_setting():
    assert "1 ファイル 2,000MB まで" in words_css(2000)
    assert "1 ファイル 200MB まで" in words_css(200)

