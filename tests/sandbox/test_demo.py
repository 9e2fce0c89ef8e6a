"""`eon-bot demo` ends with the runs' charts written into its folder, their paths printed."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from bot.sandbox.demo import demo


async def test_the_demo_writes_and_names_each_runs_chart(tmp_path: Path) -> None:
    out = io.StringIO()
    assert await demo(out=out, run_seconds=6.0, keep=tmp_path / "kept") == 0
    printed = out.getvalue()
    paths = [Path(p) for p in re.findall(r"^chart: (.+)$", printed, flags=re.M)]
    assert len(paths) == 2, printed[-2000:]  # the simulated project has two runs
    for path in paths:
        assert path.parent == (tmp_path / "kept").resolve()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] >= 800 and image.size[1] >= 500
    assert "📈 The EON Tuner run in project 1 in one picture" in printed
    assert (tmp_path / "kept" / "eon-bot.db").exists()
