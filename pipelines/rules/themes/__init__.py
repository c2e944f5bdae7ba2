"""Theme tagging: the rule language for themes, its rules file and the matcher over stored terms.

Importers use the names below from `pipelines.rules.themes`; the modules behind them are internal.
"""
from pipelines.rules.themes.matcher import (DEFAULT_RULES, Prefilter, RuleError, RuleSet, Theme, docs_from_rows,
                                            evaluate, load_rules, loads_rules, make_theme, parse_expression,
                                            prefilter, preview, rules_path, save_rules)

__all__ = ["DEFAULT_RULES", "Prefilter", "RuleError", "RuleSet", "Theme", "docs_from_rows", "evaluate", "load_rules",
           "loads_rules", "make_theme", "parse_expression", "prefilter", "preview", "rules_path", "save_rules"]
