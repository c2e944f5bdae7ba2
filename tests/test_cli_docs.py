"""Every CLI command and option is documented in README.md (or the doc it links), so a new one
cannot ship silently."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pipelines.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = "".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
INTERNAL = {"job"}   # run by the dashboard's background loads, not by people


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: p for name, p in sub.choices.items() if name not in INTERNAL}


@pytest.mark.parametrize("name", sorted(_commands()))
def test_command_and_its_options_are_documented(name):
    assert f"python -m pipelines {name}" in DOCS, f"`python -m pipelines {name}` is not in README.md or docs/"
    for action in _commands()[name]._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert option in DOCS, f"{name} {option} is not documented"
