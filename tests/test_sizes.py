"""No product module over `MAX_MODULE_LINES` lines and no function over `MAX_FUNCTION_LINES`
(`bench/sizes.py` prints the sizes): a room a newcomer can read, a function one screen long.
Split in the same change that grows something past them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sizes import (
    MAX_FUNCTION_LINES,
    MAX_MODULE_LINES,
    PRODUCT,
    ROOT,
    functions,
    module_lines,
    modules,
)


def test_no_product_module_is_over_the_limit() -> None:
    found = modules()
    # the product, not an empty glob
    assert len(found) > 50 and PRODUCT / "service" / "app.py" in found
    over = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in found
        if (lines := module_lines(path)) > MAX_MODULE_LINES
    ]
    assert not over, f"over {MAX_MODULE_LINES} lines: {over}"


def test_no_product_function_is_over_the_limit() -> None:
    over = [
        f"{f.path.relative_to(ROOT)}:{f.line} {f.name}: {f.lines} lines"
        for path in modules()
        for f in functions(path)
        if f.lines > MAX_FUNCTION_LINES
    ]
    assert not over, f"over {MAX_FUNCTION_LINES} lines: {over}"


SAMPLE = """\
import functools


@functools.cache
@staticmethod
def decorated(x):
    return x


class Outer:
    async def method(self):
        def inner():
            return 1

        return inner()
"""


def test_a_function_is_measured_from_its_first_decorator_to_its_end(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(SAMPLE)
    measured = {f.name: (f.line, f.lines) for f in functions(sample)}
    assert measured == {
        "decorated": (4, 4),
        "Outer.method": (11, 5),
        "Outer.method.inner": (12, 2),
    }
    assert module_lines(sample) == SAMPLE.count("\n") == 15


@pytest.mark.parametrize("extra", [MAX_FUNCTION_LINES - 1, MAX_FUNCTION_LINES])
def test_the_limit_is_counted_on_the_def_line_and_the_body(tmp_path: Path, extra: int) -> None:
    """A `def` plus `extra` body lines is `extra + 1` lines long."""
    sample = tmp_path / "long.py"
    sample.write_text("def long():\n" + "    x = 1\n" * extra)
    [f] = functions(sample)
    assert f.lines == extra + 1
