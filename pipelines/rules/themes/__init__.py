"""Theme tagging: KH Coder-style coding rules, parsed once, evaluated over each case's stored terms.

The modules import one way, each only from those above it:
  syntax   the language's definitions, syntax tree and Theme; a tree written back as text
  parser   lexer and parser, their RuleError messages, and the rules file's text format
  matcher  RuleSet compiled over stored terms, Prefilter, preview and evaluation
  files    the rules file on disk: its path, load_rules (compiled once per text), save_rules
  packs    industry packs: sub-themes and vocabulary applied to the default rules, the store's choice
Other code imports the names below from `pipelines.rules.themes`; the language is in docs/themes.md.
"""
from pipelines.rules.themes.files import DEFAULT_RULES, load_rules, rules_path, save_rules
from pipelines.rules.themes.matcher import Prefilter, RuleSet, docs_from_rows, evaluate, loads_rules, prefilter, preview
from pipelines.rules.themes.packs import Pack, available_packs, pack_by_id, rules_with_pack, stored_pack
from pipelines.rules.themes.parser import RuleError, make_theme, parse_expression
from pipelines.rules.themes.syntax import Theme

__all__ = [
           "DEFAULT_RULES",
           "Pack",
           "Prefilter",
           "RuleError",
           "RuleSet",
           "Theme",
           "available_packs",
           "docs_from_rows",
           "evaluate",
           "load_rules",
           "loads_rules",
           "make_theme",
           "pack_by_id",
           "parse_expression",
           "prefilter",
           "preview",
           "rules_path",
           "rules_with_pack",
           "save_rules",
           "stored_pack",
]
