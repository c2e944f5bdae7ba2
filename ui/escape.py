"""User-supplied values (file names, URL parameters, theme and cause names, values from exports)
shown inside Streamlit elements that render Markdown: st.markdown, st.caption, st.info/warning/
error/success, labels of buttons, expanders and page links.

Streamlit renders Markdown there, plus its own directives (:red[…], :material/…:), links, HTML-like
tags and $…$ as LaTeX. md() writes every ASCII punctuation mark as a numeric character reference,
which the Markdown parser shows as the character and never reads as syntax, and breaks the
patterns GitHub-flavoured Markdown turns into links by itself (http://…, www., a@b) with an
invisible zero-width space. The text reads exactly as typed. tests/test_auth_pages.py checks it on
the pages, tests/test_browser.py in a real browser.
"""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")
_AUTOLINK = re.compile(r"(?i)(://|www\.|@)")


def md(value: object) -> str:
    """`value` as literal text inside a Markdown-rendering element, e.g. st.caption(f"原因「{md(cause)}」")."""
    text = _AUTOLINK.sub(lambda match: match.group(1)[:1] + "\u200b" + match.group(1)[1:], str(value))
    return _PUNCTUATION.sub(lambda match: f"&#{ord(match.group())};", text)
