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


class LoadFailed(KakehashiError):
    """A load stopped by something other than its input (a bug, the disk, memory): rolled back, so
    the store is as it was; recorded in import_batches with this message."""

    def __init__(self, file_name: str, cause: BaseException, line: int | None = None) -> None:
        detail = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else '—'}"
        where_ja = f"（{line:,} 行目付近）" if line else ""
        where_en = f" near line {line:,}" if line else ""
        super().__init__(
            "load_failed",
            f"「{file_name}」{where_ja}の読み込み中に予期しないエラーが起きたため、取り込みを取り消しました。"
            "データは変更されていません。",
            f"{file_name}{where_en}: the load stopped on an unexpected error and was rolled back; "
            "the store is unchanged.",
            f"もう一度取り込んでください。繰り返し起きる場合は、ファイルとこのメッセージ（{detail}）を管理者に"
            "伝えてください（日本語で構いません）。",
            f"Load the file again; if it fails again, report this message and the file ({detail}); issues may "
            "be written in Japanese. The attempt is listed as failed in the import history (取り込み履歴).")
        self.file_name = file_name
        self.line = line
        self.detail = detail
