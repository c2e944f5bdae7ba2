"""The code's shape, checked: import direction (import-linter contracts in pyproject.toml), no
module reaching into another's private names, and a stated reason for every function-local import.

These keep the layers readable top to bottom; README's "Architecture" section draws them.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipelines", "devtools", "ui", "pages")


def _sources() -> list[Path]:
    files = [path for folder in PACKAGES if (ROOT / folder).is_dir() for path in (ROOT / folder).rglob("*.py")]
    return sorted(files + [ROOT / "app.py"])


def _project_module(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_import_contracts_hold():
    """Layers, no circles, no Streamlit in pipelines: `lint-imports` reads the contracts in pyproject.toml."""
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _private_uses(path: Path) -> list[str]:
    """`from x import _y` and `x._y` where x is another project module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()   # local names bound to project modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and _project_module(node.module):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import {alias.name}")
                if _is_module(f"{node.module}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _project_module(alias.name):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules \
                and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    """A `_name` is private to its module: a name another module needs is public and documented."""
    found = [use for path in _sources() for use in _private_uses(path)]
    assert not found, "\n".join(found)


def _unexplained_local_imports(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    tree = ast.parse("\n".join(lines))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            # A comment on the import, or just above the run of imports it belongs to, says why.
            top = node.lineno - 1
            while top > 0 and (lines[top - 1].strip().startswith(("import ", "from ")) or not lines[top - 1].strip()):
                top -= 1
            explained = lines[top - 1].strip().startswith("#") or \
                any("#" in lines[i] for i in range(top, node.end_lineno))
            if not explained:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return found


def test_every_function_local_import_says_why():
    found = [use for path in _sources() for use in _unexplained_local_imports(path)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("package", ["pipelines", "devtools"])
def test_every_package_says_what_it_holds(package):
    for init in (ROOT / package).rglob("__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{init} has no docstring"
