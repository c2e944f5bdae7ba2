"""Everything that computes, importable and testable without Streamlit, in one-way layers.

Bottom-up: nlp (Japanese text, no I/O) ← store (settings, errors, DuckDB, filters, definitions)
← rules (theme language, causes, severity) ← analysis (worker pool, tokenizing, tagging) ←
ingest | detect (loading exports | alerts) ← reports (what the pages read) ← jobs (writes started
from the UI) ← __main__ (the CLI). pyproject.toml's import-linter contracts keep the direction.
"""
