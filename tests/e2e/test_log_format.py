"""`LOG_FORMAT=json` and `LOG_LEVEL` on the real `eon-bot run`: every line it writes is one JSON
object with the fields log shippers index, a line about a project names it in `project`, and
`LOG_LEVEL=WARNING` leaves out the INFO lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.sandbox.simulator.server import Fault

from .harness import e2e_stack, explain

pytestmark = pytest.mark.e2e

FIELDS = {"time", "level", "logger", "message", "project", "channel"}


async def test_json_lines_on_the_real_process(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, trials=8, extra_env={"LOG_FORMAT": "json"}) as stack:
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            stack.controller.inject(stack.project_id, *[Fault.error(404)] * 3)  # a refusal
            await stack.advance(100.0, polls=3)
            await stack.bot.terminate()
        lines = stack.bot.log_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # each line is one JSON object
    assert len(parsed) >= 3
    assert all(set(line) >= FIELDS for line in parsed), parsed
    started = [p for p in parsed if p["message"].startswith("eon-bot listening on port")]
    assert started and started[0]["level"] == "INFO" and started[0]["logger"] == "bot.service.app"
    down = [p for p in parsed if "Edge Impulse for project 1 is down" in p["message"]]
    assert down and down[0]["project"] == "1" and down[0]["level"] == "WARNING", parsed


async def test_log_level_warning_leaves_out_info(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, trials=8, extra_env={"LOG_LEVEL": "warning"}) as stack:
        with explain(stack.bot):
            await stack.bot.start()
            await stack.watch()
            stack.controller.inject(stack.project_id, *[Fault.error(404)] * 3)
            await stack.advance(100.0, polls=3)
            await stack.bot.terminate()
        text = stack.bot.log_text()
    assert " INFO " not in text and "eon-bot listening" not in text
    assert "WARNING bot.service.poller: Edge Impulse for project 1 is down" in text, text
