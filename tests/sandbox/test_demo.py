"""`eon-bot demo` ends with the runs' charts written where they outlive it, their paths
printed; run twice in one `--keep` folder, it shows the whole run both times."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bot.sandbox.demo import demo


def _charts(printed: str) -> list[Path]:
    return [Path(p) for p in re.findall(r"^chart: (.+)$", printed, flags=re.M)]


async def _demo(keep: Path | None) -> str:
    out = io.StringIO()
    assert await demo(out=out, run_seconds=6.0, keep=keep) == 0
    return out.getvalue()


@pytest.mark.slow
async def test_the_demo_writes_and_names_each_runs_chart_in_keep_twice(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    first = await _demo(kept)
    paths = _charts(first)
    assert len(paths) == 2, first[-2000:]  # the simulated project has two runs
    for path in paths:
        assert path.parent == kept.resolve()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] >= 800 and image.size[1] >= 500
    assert "📈 The EON Tuner run in Keyword spotting (project 1) in one picture" in first
    assert (kept / "eon-bot.db").exists()
    assert "> click ✅ Use this trial" in first  # the demo presses one button
    assert "used trial" in first and "is now the project's impulse" in first

    second = await _demo(kept)
    assert "starts afresh" in second
    assert "already watches" not in second
    for shown in ("┌─", "    ↳ ✅", "📈"):  # cards, trial lines, charts: the whole run again
        assert second.count(shown) == first.count(shown) > 0, (shown, second[-2000:])
    assert _charts(second) == paths


@pytest.mark.slow
async def test_without_keep_the_charts_outlive_the_demo(tmp_path: Path) -> None:
    printed = await _demo(None)
    paths = _charts(printed)
    assert len(paths) == 2, printed[-2000:]
    try:
        assert all(path.is_file() for path in paths)
        assert not (paths[0].parent / "eon-bot.db").exists()  # the work folder went
    finally:
        shutil.rmtree(paths[0].parent)
