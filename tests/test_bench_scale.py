"""`bench/scale.py`'s set-up, without running it: its flags, and the layout of channels over
workspaces both sides of `--compare-workspaces` share (the bench itself takes minutes)."""

from __future__ import annotations

import pytest

from bench.scale import parse
from bench.scaling.layout import CLIENT_ID, Layout


def test_without_workspaces_the_bot_runs_in_single_mode_with_its_token() -> None:
    args = parse(["--n", "40"])
    assert (args.workspaces, args.compare_workspaces, args.running) == (None, None, 4)
    layout = Layout.of(20, args.workspaces)
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "PORT": "1"}
    assert not layout.many and layout.environment(env) == env
    assert layout.team("C0SCALE03") is None


def test_workspaces_own_the_channels_round_robin_and_no_bot_token_is_given() -> None:
    layout = Layout.of(40, parse(["--workspaces", "20"]).workspaces)
    assert len(layout.teams) == 20 and len(set(layout.teams)) == 20
    owners = [layout.team(layout.channel(i)) for i in range(100)]
    assert owners[:3] == ["T0SCALE00", "T0SCALE01", "T0SCALE02"]
    assert owners[20] == "T0SCALE00" and layout.channel(40) == "C0SCALE00"
    assert [owners.count(t) for t in layout.teams] == [5] * 20
    env = layout.environment({"SLACK_BOT_TOKEN": "xoxb-1", "PORT": "1"})
    assert "SLACK_BOT_TOKEN" not in env and env["SLACK_CLIENT_ID"] == CLIENT_ID
    assert len(env["SECRET_KEY"]) >= 32 and env["PORT"] == "1"


def test_compare_takes_two_counts_and_not_beside_workspaces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse(["--compare-workspaces", "1,50"]).compare_workspaces == [1, 50]
    for wrong in (["--compare-workspaces", "50"], ["--compare-workspaces", "0,5"]):
        with pytest.raises(SystemExit):
            parse(wrong)
    with pytest.raises(SystemExit):
        parse(["--workspaces", "5", "--compare-workspaces", "1,50"])
    assert "not allowed with argument" in capsys.readouterr().err
