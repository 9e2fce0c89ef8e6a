"""Start-up as a person meets it, on the real process: every configuration or start-up mistake
ends in at most three lines that name the variable or the cause, with no traceback; the bot
token is checked with Slack before the bot says it is listening."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.sandbox.simulator.server import SimulatorServer
from tests.e2e.harness import (
    EI_KEY,
    START_TIMEOUT_S,
    STOP_LIMIT_S,
    as_in_a_terminal,
    e2e_stack,
    explain,
    free_port,
)

pytestmark = pytest.mark.e2e


@dataclass(frozen=True, slots=True)
class Exited:
    code: int | None
    out: str
    err: str
    seconds: float


async def _eon_bot(
    *args: str, env: Mapping[str, str], cwd: Path, within: float = 30.0, stdout: int | None = None
) -> Exited:
    loop = asyncio.get_running_loop()
    started = loop.time()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if stdout is None else stdout,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"eon-bot {' '.join(args)} still running after {within:g}s") from None
    return Exited(process.returncode, (out or b"").decode(), err.decode(), loop.time() - started)


def assert_short(exited: Exited, *names: str, code: int = 2) -> None:
    """At most three lines on stderr, naming each of `names`, no traceback, and the exit
    status of the table (`bot.cli.EXIT_CODES`: 2 a setting to fix, 3 a dependency)."""
    lines = exited.err.strip().splitlines()
    assert exited.code == code, exited
    assert 1 <= len(lines) <= 3, exited.err
    assert "Traceback" not in exited.err, exited.err
    for name in names:
        assert name in exited.err, exited.err


async def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, extra_env={"POLL_INTERVAL": "abc"}) as stack:
        exited = await _eon_bot("run", env=stack.bot.env, cwd=tmp_path)
        assert_short(exited, "POLL_INTERVAL must be a number above 0 (got 'abc')")


async def test_every_missing_slack_setting_is_named_at_once(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path) as stack:
        env = {k: v for k, v in stack.bot.env.items() if not k.startswith("SLACK_")}
        exited = await _eon_bot("run", env=env, cwd=tmp_path)
    assert_short(exited, "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    assert exited.err.index("SLACK_BOT_TOKEN") < exited.err.index("SLACK_SIGNING_SECRET")


async def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with e2e_stack(tmp_path, extra_env={"PORT": str(port)}) as stack:
            exited = await _eon_bot("run", env=stack.bot.env, cwd=tmp_path)
    assert_short(exited, f"PORT={port}", "in use")


async def test_an_unreachable_database_is_named(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async with e2e_stack(tmp_path, extra_env={"DATABASE_URL": url}) as stack:
        exited = await _eon_bot("run", env=stack.bot.env, cwd=tmp_path)
    assert_short(exited, "DATABASE_URL", "127.0.0.1", code=3)


async def test_a_refused_bot_token_ends_it_before_listening(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path, extra_env={"SLACK_BOT_TOKEN": "xoxb-your-bot-token"}) as stack:
        exited = await _eon_bot("run", env=stack.bot.env, cwd=tmp_path, within=20.0)
    assert exited.seconds < 20
    assert "listening" not in exited.err
    last = exited.err.strip().splitlines()[-1]
    assert "SLACK_BOT_TOKEN" in last and "invalid_auth" in last
    assert "Traceback" not in exited.err and "xoxb-your-bot-token" not in exited.err
    assert exited.code == 2, exited


async def test_slack_not_answering_auth_test_is_waited_for(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path) as stack:
        stack.slack.fail_next("auth.test", status=503, times=2)
        with explain(stack.bot):
            await stack.bot.start()  # healthy once auth.test succeeds
            assert [c.status for c in stack.slack.calls_to("auth.test")][:3] == [503, 503, 200]
            assert (await stack.bot.terminate()).returncode == 0
        log = stack.bot.log_text()
        # One condition: one line when Slack fails, one when it answers, not one per try.
        assert log.count("Slack is down: auth.test") == 1 and "Traceback" not in log
        assert log.count("Slack is back after") == 1
        assert log.index("Slack is down") < log.index("Slack is back") < log.index("listening")


async def test_ctrl_c_during_the_demo(tmp_path: Path) -> None:
    """Ctrl-C once the run is under way (its card shown): one line, exit 130. The demo starts
    as from a terminal, SIGINT not ignored (see `as_in_a_terminal`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EI_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "demo",
        cwd=tmp_path,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=as_in_a_terminal,
    )
    assert process.stdout is not None and process.stderr is not None
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(START_TIMEOUT_S * 2):
            while not any(line.startswith("┌─".encode()) for line in seen):  # the run's card
                line = await process.stdout.readline()
                assert line, f"the demo ended before its card: {b''.join(seen)!r}"
                seen.append(line)
    except TimeoutError:
        process.kill()
        raise AssertionError(f"no card within {START_TIMEOUT_S * 2:g}s: {seen!r}") from None
    assert seen[0].startswith(b"eon-bot demo")
    process.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(process.communicate(), STOP_LIMIT_S * 3)
    assert process.returncode == 130, err
    assert_short(Exited(process.returncode, "", err.decode(), 0), "interrupted", code=130)


async def test_a_closed_pipe_ends_status_quietly(tmp_path: Path) -> None:
    """`eon-bot status 1 | head -3` once `head` has gone: the pipe has no reader."""
    async with SimulatorServer(api_key=EI_KEY) as simulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EI_"))} | {
            "EI_API_URL": simulator.url,
            "EI_API_KEY": EI_KEY,
        }
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            exited = await _eon_bot("status", "1", env=env, cwd=tmp_path, stdout=write_end)
        finally:
            os.close(write_end)
    assert exited.code == 141, exited
    assert exited.err == "", exited.err


async def test_status_against_no_edge_impulse_api_names_the_url(tmp_path: Path) -> None:
    async with SimulatorServer(api_key=EI_KEY) as simulator:
        root = simulator.url.removesuffix("/v1")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EI_"))} | {
            "EI_API_URL": root,
            "EI_API_KEY": EI_KEY,
        }
        exited = await _eon_bot("status", "1", env=env, cwd=tmp_path)
    assert_short(exited, f"EI_API_URL {root} does not answer like the Edge Impulse API")


async def test_check_reads_dot_env_in_the_working_folder(tmp_path: Path) -> None:
    async with e2e_stack(tmp_path) as stack:
        env = dict(stack.bot.env)
        dotenv = {k: env.pop(k) for k in list(env) if k.startswith(("SLACK_", "EI_", "DATA"))}
        (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
        good = await _eon_bot("check", "1", env=env, cwd=tmp_path)
        assert good.code == 0, good.out + good.err
        assert f"environment and {tmp_path / '.env'}" in good.out
        assert good.out.count("✓") == 8 and "✗" not in good.out, (
            good.out
        )  # … SECRET_KEY, EI_API_KEY

        stack.slack.set_token("xoxb-rotated")  # the .env's token is now refused
        bad = await _eon_bot("check", "1", env=env, cwd=tmp_path)
        assert bad.code == 1
        assert "✗ SLACK_BOT_TOKEN   Slack refused SLACK_BOT_TOKEN (invalid_auth)" in bad.out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_ends_it_while_it_waits_for_slack(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Slack not answering auth.test: the bot waits to start, and still stops when told."""
    async with e2e_stack(tmp_path) as stack:
        stack.slack.fail_next("auth.test", status=503, times=1000)
        with explain(stack.bot):
            await stack.bot.start(wait=False)
            await stack.slack.wait_for(lambda f: f.calls_to("auth.test"), timeout=30.0)
            await asyncio.sleep(0.3)  # inside the wait before asking again
            if signum == signal.SIGTERM:
                stopped = await stack.bot.terminate()
            else:
                stopped = await stack.bot.interrupt()
        expected = 130 if signum == signal.SIGINT else 0  # Ctrl-C, as the exit codes say
        assert stopped.returncode == expected and stopped.seconds < 10, stopped
        assert "Traceback" not in stack.bot.log_text()
