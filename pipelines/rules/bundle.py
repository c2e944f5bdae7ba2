"""The analysis rules as one bundle: themes, causes and severity, loaded together, with one hash.

A case's stored analysis carries the bundle's hash; when any of the three rules files (or the
tokenizer dictionary they depend on) changes, the hash changes and analyze() re-tags every case.
The themes are the default taxonomy with the store's industry pack applied (rules.themes.packs), so
choosing another pack changes the hash too.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipelines.rules.causes import CauseRules, load_cause_rules
from pipelines.rules.severity import SeverityRules, load_severity_rules
from pipelines.rules.themes import RuleSet
from pipelines.rules.themes.packs import PACK_META_KEY, rules_with_pack
from pipelines.store import db


@dataclass(frozen=True)
class RuleBundle:
    """What the analysis applies to each case."""

    themes: RuleSet
    causes: CauseRules
    severity: SeverityRules
    pack: str = ""                 # the industry pack applied to the themes ("" = the default taxonomy alone)

    def hash(self) -> str:
        """Changes when any of the three rule sets does (each hash covers its file and the dictionary)."""
        parts = [self.themes.hash(), self.causes.hash(), self.severity.hash()]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


_STORED = object()


def load_bundle(store=None, pack: str | None | object = _STORED) -> RuleBundle:
    """The rules in data/rules (or $KAKEHASHI_RULES_DIR), with the industry pack `pack` (by default the
    one stored in `store`, see packs.stored_pack) and the store's product and department names guarded
    (RuleSet.with_names); raises KakehashiError, with line and column, when a
    file does not parse or the pack does not exist."""
    stored, names = store_settings(store)
    chosen = stored if pack is _STORED else pack
    themes = rules_with_pack(chosen or None).with_names(names)
    return RuleBundle(themes, load_cause_rules(), load_severity_rules(), chosen or "")


def store_settings(store=None) -> tuple[str | None, list[str]]:
    """What of a store the theme rules depend on: its chosen pack (packs.stored_pack) and the names
    its cases carry in their product and department columns (never evidence: themes.guards)."""
    # As long as a writer may hold the store: this runs before a load or analyze() takes the lock.
    with db.reader(store, wait_seconds=120.0) as con:
        names = con.execute("SELECT DISTINCT name FROM (SELECT product AS name FROM cases UNION ALL "
                            "SELECT department FROM cases) WHERE name IS NOT NULL").fetchall()
        return db.meta(con, PACK_META_KEY), [name for (name,) in names]
