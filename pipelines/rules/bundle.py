"""The analysis rules as one bundle: themes, causes and severity, loaded together, with one hash.

A case's stored analysis carries the bundle's hash; when any of the three rules files (or the
tokenizer dictionary they depend on) changes, the hash changes and analyze() re-tags every case.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipelines.rules.causes import CauseRules, load_cause_rules
from pipelines.rules.severity import SeverityRules, load_severity_rules
from pipelines.rules.themes import RuleSet
from pipelines.rules.themes import load_rules as load_theme_rules


@dataclass(frozen=True)
class RuleBundle:
    """What the analysis applies to each case."""

    themes: RuleSet
    causes: CauseRules
    severity: SeverityRules

    def hash(self) -> str:
        """Changes when any of the three rule sets does (each hash covers its file and the dictionary)."""
        parts = [self.themes.hash(), self.causes.hash(), self.severity.hash()]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def load_bundle() -> RuleBundle:
    """The rules in data/rules (or $KAKEHASHI_RULES_DIR); raises KakehashiError, with line and
    column, when a file does not parse."""
    return RuleBundle(load_theme_rules(), load_cause_rules(), load_severity_rules())
