"""One error family: every refusal carries a Japanese message for the UI and an English one for the CLI."""
from __future__ import annotations


class KakehashiError(Exception):
    """A problem with the user's input: what happened — how to fix — how to check."""

    exit_code = 2

    def __init__(self, code: str, ja: str, en: str, hint_ja: str = "", hint_en: str = "") -> None:
        super().__init__(en)
        self.code = code
        self.ja = ja
        self.en = en
        self.hint_ja = hint_ja
        self.hint_en = hint_en

    def message_ja(self) -> str:
        return f"{self.ja}\n{self.hint_ja}".strip()

    def message_en(self) -> str:
        return f"{self.en}\n{self.hint_en}".strip()


class RefusedFile(KakehashiError):
    """The file cannot be loaded at all (empty, binary, not a table, missing a required column)."""


class StoreBusy(KakehashiError):
    """Another process holds the store for writing and did not release it in time."""

    exit_code = 3


class StoreFault(KakehashiError):
    """The store itself cannot be used as it is: made by a newer release, unreadable, or its upgrade failed."""
