"""Socket Mode on the real `eon-bot run` process, against a local server that speaks Slack's
Socket Mode envelopes (`bot.sandbox.socketmode`) and FakeSlack's `apps.connections.open`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.sandbox.socketmode import Ack, SocketModeServer
from tests.e2e.harness import (
    ACK_LIMIT_S,
    CHANNEL,
    STOP_LIMIT_S,
    USER,
    BotProcess,
    Stack,
    e2e_stack,
    explain,
)

pytestmark = pytest.mark.e2e

APP_TOKEN = "xapp-1-e2e-app-level-token"


@dataclass
class SocketStack:
    stack: Stack
    server: SocketModeServer

    @property
    def bot(self) -> BotProcess:
        return self.stack.bot

    async def command(self, text: str) -> Ack:
        ack = await self.server.slash_command(
            text, channel_id=CHANNEL, user_id=USER, response_url=self.stack.slack.response_url()
        )
        assert ack.seconds < ACK_LIMIT_S, f"/eon {text} acked in {ack.seconds:.2f}s"
        assert (ack.payload or {}).get("response_type") == "ephemeral", ack
        return ack


@contextlib.asynccontextmanager
async def socket_stack(tmp_path: Path, *, app_token: str = APP_TOKEN) -> AsyncIterator[SocketStack]:
    """A bot process in Socket Mode: SLACK_APP_TOKEN set and no signing secret, which Socket
    Mode does not use."""
    async with (
        e2e_stack(tmp_path, extra_env={"SLACK_APP_TOKEN": app_token}) as stack,
        SocketModeServer() as server,
    ):
        stack.slack.enable_socket_mode(APP_TOKEN, server.open_url)
        del stack.bot.env["SLACK_SIGNING_SECRET"]
        yield SocketStack(stack, server)


async def test_commands_answered_through_the_socket_across_disconnects_and_drops(
    tmp_path: Path,
) -> None:
    async with socket_stack(tmp_path) as sock:
        with explain(sock.bot):
            await sock.bot.start()  # /healthz answers 200 in Socket Mode too
            await sock.server.wait_for_hellos(1)
            assert "/eon watch PROJECT_ID" in (await sock.command("help")).text
            assert "Watching project 1" in (await sock.command("watch 1")).text
            await sock.stack.slack.wait_for(lambda fake: fake.top_level(CHANNEL), timeout=15.0)

            await sock.server.disconnect("refresh_requested")
            await sock.server.wait_for_hellos(2)
            assert "project *1*" in (await sock.command("list")).text

            await sock.server.drop()  # no close frame: found by the client's ping
            await sock.server.wait_for_hellos(3, within=20.0)
            assert "/eon watch PROJECT_ID" in (await sock.command("help")).text
            async with httpx.AsyncClient(timeout=5.0) as http:
                assert (await http.get(sock.bot.health_url)).status_code == 200
                metrics = await http.get(f"{sock.bot.base_url}/metrics")  # served here too
                assert metrics.status_code == 200
                assert 'eonbot_leases_held{kind="poll"} 1.0' in metrics.text, metrics.text
            stopped = await sock.bot.terminate()
            assert stopped.returncode == 0 and stopped.seconds < STOP_LIMIT_S, stopped
        assert "Traceback" not in sock.bot.log_text()


async def _connecting(sock: SocketStack) -> None:
    sock.server.hold_handshakes = True
    await sock.bot.start()
    await sock.server.wait_for_held()


async def _connected(sock: SocketStack) -> None:
    await sock.bot.start()
    await sock.server.wait_for_hellos(1)


async def _retrying(sock: SocketStack) -> None:
    sock.stack.slack.fail_next("apps.connections.open", status=500, times=1000)
    await sock.bot.start()
    await sock.stack.slack.wait_for(
        lambda fake: fake.calls_to("apps.connections.open"), timeout=15.0
    )
    await asyncio.sleep(0.5)  # inside the wait before the next attempt


STATES: dict[str, Callable[[SocketStack], Awaitable[None]]] = {
    "connecting": _connecting,
    "connected": _connected,
    "retrying": _retrying,
}


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("state", list(STATES))
async def test_a_signal_ends_it_in_time_in_every_state(
    tmp_path: Path, state: str, signal_name: str
) -> None:
    async with socket_stack(tmp_path) as sock:
        with explain(sock.bot):
            await STATES[state](sock)
            if signal_name == "SIGTERM":
                stopped = await sock.bot.terminate()
            else:
                stopped = await sock.bot.interrupt()
            assert stopped.seconds < STOP_LIMIT_S, f"{state}: {stopped}"
            expected = 0 if signal_name == "SIGTERM" else 130  # the exit codes' table: Ctrl-C
            assert stopped.returncode == expected, f"{state}: {stopped}"
        assert "Traceback" not in sock.bot.log_text()


async def test_a_refused_app_token_stops_it_with_one_line(tmp_path: Path) -> None:
    async with socket_stack(tmp_path, app_token="xapp-1-revoked-token") as sock:
        with explain(sock.bot):
            await sock.bot.start(wait=False)
            stopped = await sock.bot.reap(within=20.0)
        assert stopped.returncode not in (0, None), stopped
        log = sock.bot.log_text()
        naming = [line for line in log.splitlines() if "SLACK_APP_TOKEN" in line]
        assert len(naming) == 1 and "invalid_auth" in naming[0], log
        assert "Traceback" not in log
        assert "xapp-1-revoked-token" not in log
        assert sock.server.hellos == 0
