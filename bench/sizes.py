"""How big the product's rooms are: each module's lines (as `wc -l` counts them) and the longest
functions, with the limits `tests/test_sizes.py` holds them to.

    python bench/sizes.py [--top 15] [--all]

A function's lines run from its first decorator (or its `def`) to its last line, nested
functions included; a class's methods are counted one by one (`tests/sizes.py`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.sizes`

from tests.sizes import (  # noqa: E402
    MAX_FUNCTION_LINES,
    MAX_MODULE_LINES,
    ROOT,
    functions,
    module_lines,
    modules,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=15, help="longest functions shown (15)")
    parser.add_argument("--all", action="store_true", help="every module, not only the largest")
    args = parser.parse_args(argv)
    sizes = sorted(((module_lines(p), p) for p in modules()), reverse=True)
    shown = sizes if args.all else sizes[: args.top]
    print(f"modules under bot/ ({len(sizes)}; limit {MAX_MODULE_LINES} lines), largest first:")
    for lines, path in shown:
        flag = "  OVER" if lines > MAX_MODULE_LINES else ""
        print(f"{lines:8d} {path.relative_to(ROOT)}{flag}")
    print(f"{sum(n for n, _ in sizes):8d} total")
    found = sorted((f for p in modules() for f in functions(p)), key=lambda f: -f.lines)
    print(f"\nlongest functions (limit {MAX_FUNCTION_LINES} lines):")
    for f in found[: args.top]:
        flag = "  OVER" if f.lines > MAX_FUNCTION_LINES else ""
        print(f"{f.lines:8d} {f.path.relative_to(ROOT)}:{f.line} {f.name}{flag}")
    over = sum(n > MAX_MODULE_LINES for n, _ in sizes) + sum(
        f.lines > MAX_FUNCTION_LINES for f in found
    )
    print(f"\n{over} over the limits")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
