"""How big the product's rooms are, measured one way for the size test (`test_sizes.py`) and
the script that prints the evidence (`bench/sizes.py`): a module's lines as `wc -l` counts
them; a function's from its first decorator (or its `def`) to its last line, nested functions
included, each method of a class on its own."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "bot"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 70


@dataclass(frozen=True, slots=True)
class Function:
    path: Path
    name: str  # qualified: Class.method, outer.inner
    line: int
    lines: int


def modules(root: Path = PRODUCT) -> list[Path]:
    return sorted(root.rglob("*.py"))


def module_lines(path: Path) -> int:
    """What `wc -l` prints: the newlines in the file."""
    return path.read_bytes().count(b"\n")


def functions(path: Path) -> Iterator[Function]:
    """Every function and method in the module, nested ones too, each with its own length."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def walk(node: ast.AST, prefix: str) -> Iterator[Function]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                last = child.end_lineno or child.lineno
                name = prefix + child.name
                yield Function(path, name, first, last - first + 1)
                yield from walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")
