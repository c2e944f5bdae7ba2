"""One error family: every refusal carries a Japanese message for the UI and an English one for the CLI.

Faults of the store itself (a full disk, a read-only or missing folder, a damaged file, a lock held too
long) are StoreBusy and StoreFault; store_fault() turns what DuckDB or the OS raised into one of them,
so no page and no command shows a raw traceback for them. README "Faults and guarantees" lists them.
"""
from __future__ import annotations

import errno
from pathlib import Path


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


class StoreFault(KakehashiError):
    """The store itself cannot be used as it is: made by a newer release, damaged, on a full disk or
    a read-only folder, its folder missing, or its upgrade failed. `code` says which (FAULT_STATUS)."""


def busy(store: Path, waited: float | None = None) -> StoreBusy:
    """The lock was not released in time (a load or analysis holds the store for writing)."""
    waited_ja = f"{waited:.0f} 秒待ちましたが、" if waited and waited >= 1 else ""
    waited_en = f" for {waited:.0f} s" if waited and waited >= 1 else ""
    return StoreBusy("busy", f"データを更新中です。{waited_ja}別の取り込みか分析が終わりませんでした。",
                     f"The store {store} stayed locked by another process{waited_en} (a load or analysis is running).",
                     "しばらくしてから再度お試しください。データは変更していません。",
                     "Wait for it to finish and run the command again; check with `ps aux | grep pipelines`. "
                     "Nothing was written.")


def disk_full(store: Path | None, detail: str = "") -> StoreFault:
    where = f" ({detail})" if detail else ""
    return StoreFault("disk_full", "ディスクの空き容量が足りないため、書き込めませんでした。データは変更されていません。",
                      f"The disk is full{where}: nothing was written"
                      + (f" to {store}" if store else "") + ".",
                      "不要なファイルを削除して空き容量を作ってから、もう一度お試しください。",
                      "Free some space on the disk that holds the store and the temp folder, then run the command "
                      "again; check with `df -h " + (str(store.parent) if store else "/tmp") + "`.")


def read_only(store: Path, detail: str = "") -> StoreFault:
    where = f" ({detail})" if detail else ""
    return StoreFault("read_only", f"データファイルの場所（{store.parent}）に書き込めません（読み取り専用か、権限がありません）。",
                      f"Cannot write the store {store}: its folder or file is read-only or not ours{where}.",
                      "書き込みできる場所を KAKEHASHI_DB で指定するか、フォルダの権限を管理者に確認してください。"
                      "データは変更していません。",
                      f"Make {store.parent} writable, or pass a writable --db PATH; check with `ls -ld {store.parent} "
                      f"{store}`. Nothing was written.")


def missing_directory(store: Path) -> StoreFault:
    return StoreFault("missing_directory", f"データファイルのフォルダ（{store.parent}）が見つかりません。",
                      f"The folder of the store, {store.parent}, does not exist (a drive not mounted, or a typo).",
                      "KAKEHASHI_DB の指定（ドライブの接続やフォルダ名）を確認してください。",
                      f"Check the path (or that its drive is mounted) and pass --db PATH; create the folder with "
                      f"`mkdir -p {store.parent}` if a new store is meant.")


def corrupt(store: Path, detail: str = "") -> StoreFault:
    where = f" ({detail})" if detail else ""
    return StoreFault("store_corrupt", f"データファイル（{store.name}）が壊れているため、読み書きできません。データは変更していません。",
                      f"The store {store} is damaged (a truncated copy or overwritten bytes){where}; nothing was written.",
                      "バックアップ（.bak）から戻すか、元のファイルから取り込み直してください。管理者に連絡してください。",
                      f"Restore it from a backup (e.g. {store.name}.v<N>.bak) or point --db at a new file and load the "
                      "exports again; check with `python -m pipelines check --db " + str(store) + "`.")


# How a fault is written in import_batches.status (and the journal): lock timeouts and store faults are failures.
FAULT_STATUS = {"busy": "failed", "disk_full": "failed", "read_only": "failed", "missing_directory": "failed",
                "store_corrupt": "failed"}

_DISK_FULL = ("No space left on device", "Disk quota exceeded", "File too large", "disk is full")
_READ_ONLY = ("Read-only file system", "Permission denied", "Operation not permitted")
_CORRUPT = ("Corrupt database file", "does not match stored checksum", "Could not read enough bytes",
            "not a valid DuckDB database file", "database file is corrupt", "is not a DuckDB database",
            "Failed to deserialize", "Serialization Error", "INTERNAL Error: Failed to load")


def store_fault(exc: BaseException, store: Path | str | None = None) -> KakehashiError | None:
    """What a raw error of DuckDB or the OS means for the store, as a message; None for anything
    else (a bug, a bad input). KakehashiErrors are returned as they are.

    DuckDB's exceptions carry no errno, only text: the words above are DuckDB's own (2.0)."""
    if isinstance(exc, KakehashiError):
        return exc
    path = Path(store) if store is not None else None
    text = str(exc)
    number = getattr(exc, "errno", None)
    first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    if number in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or any(w in text for w in _DISK_FULL):
        return disk_full(path, first)
    if path is None:
        return None
    if number in (errno.EROFS, errno.EACCES, errno.EPERM) or any(w in text for w in _READ_ONLY):
        return read_only(path, first)
    if any(w in text for w in _CORRUPT):
        return corrupt(path, first)
    return None


def _masked(detail: str) -> str:
    """An error's text may quote a cell of the file ('山田太郎'), and the message is stored: its quoted
    values and phone numbers, e-mails … go through the masker; if the masker itself fails (memory),
    the quoted values are dropped."""
    try:
        # Local import: the masker loads the tokenizer's module, which every importer of errors need not pay for.
        from pipelines.nlp.pii import mask_quoted
        return mask_quoted(detail)
    except Exception:  # noqa: BLE001 - a failure message must still be made
        import re  # local: only this fallback needs it
        return re.sub(r"'[^']*'|\"[^\"]*\"|「[^」]*」", "'…'", detail)


class LoadFailed(KakehashiError):
    """A load stopped by something other than its input (a bug, the disk, memory): rolled back, so
    the store is as it was; recorded in import_batches with this message."""

    def __init__(self, file_name: str, cause: BaseException, line: int | None = None) -> None:
        detail = _masked(f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else '—'}")
        where_ja = f"（{line:,} 行目付近）" if line else ""
        where_en = f" near line {line:,}" if line else ""
        self.file_name = file_name
        self.line = line
        self.detail = detail
        full = store_fault(cause)
        if full is not None and full.code == "disk_full":
            # Not unexpected, and the user can fix it: say so rather than "report it".
            super().__init__(
                "disk_full", f"ディスクの空き容量が足りないため、「{file_name}」の取り込みを取り消しました。"
                "データは変更されていません。",
                f"{file_name}: the disk filled up during the load, which was rolled back; the store is unchanged.",
                full.hint_ja, full.hint_en)
            return
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
