"""The theme rules file on disk: where it is, reading it (compiled once per text), writing it atomically."""
from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

from pipelines.rules.rulesfile import decode_rules_text
from pipelines.rules.themes.matcher import RuleSet, dumps_rules, loads_rules
from pipelines.rules.themes.parser import RuleError
from pipelines.store.settings import RULES_DIR, rules_dir

DEFAULT_RULES = RULES_DIR / "themes.txt"


def rules_path() -> Path:
    """The rules file the dashboard and `analyze` use: themes.txt in settings.rules_dir()
    ($KAKEHASHI_RULES_DIR, else data/rules)."""
    return rules_dir() / "themes.txt"


def load_rules(path: str | os.PathLike | None = None) -> RuleSet:
    """The rules file at `path` (default: rules_path()), parsed and compiled."""
    path = Path(path) if path else rules_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RuleError(f"テーマ辞書 {path} が見つかりません。", f"Theme rules file {path} not found.",
                        origin=str(path)) from None
    return _loads_cached(decode_rules_text(data), path.name)


@lru_cache(maxsize=4)
def _loads_cached(text: str, origin: str) -> RuleSet:
    """A load and the analyze() after it read the same file: compile it once (RuleSet is frozen)."""
    return loads_rules(text, origin=origin)


def save_rules(rules: RuleSet, path: str | os.PathLike | None = None) -> Path:
    """Write the rules file atomically (UTF-8, LF), so a crash never leaves half a file."""
    path = Path(path) if path else rules_path()
    text = dumps_rules(rules)
    loads_rules(text, origin=path.name)   # refuse to write what could not be read back
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
