"""One table of exit statuses for every command (`bot.cli.EXIT_CODES`), the README's the same.

Here: the table against the README, each error kind's status, an argument mistake for every
command, and the commands cheap to run in-process. Elsewhere, on the real processes: Ctrl-C is
130 for `run` (tests/e2e/test_startup.py, test_socket_mode.py), `try` (tests/e2e/test_try.py)
and `demo`; a taken port and a refused token 2, an unreachable database 3
(tests/e2e/test_startup.py, test_health_first.py); `status` 3 when Edge Impulse cannot be
reached and 2 for a refused key (tests/core/test_status_text.py); `check` 1
(tests/test_check.py).
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from pathlib import Path

import pytest

from bot.cli import EXIT_CODES, exit_code_of, main
from bot.errors import (
    ConfigError,
    DatabaseUnreachable,
    EonBotError,
    InvalidProjectId,
    MissingApiKey,
    TunerAuthError,
    TunerBadResponse,
    TunerNotFound,
    TunerUnavailable,
)
from bot.store import Store
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["run", "check", "status", "demo", "try", "simulate", "manifest"]
HANG_GUARD_S = 60.0


def test_the_readme_shows_the_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("Every command exits with one of:", 1)[1].split("\n\n", 2)[1]
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", table, re.MULTILINE))
    assert sorted(map(int, rows)) == sorted(EXIT_CODES)
    for code, meaning in EXIT_CODES.items():
        assert rows[str(code)] == meaning, code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("PORT …"), 2),
        (MissingApiKey("4"), 2),
        (InvalidProjectId("x"), 2),
        (TunerAuthError("4", 401), 2),  # a refused key: the person's to fix
        (TunerNotFound("4"), 2),
        (DatabaseUnreachable("no connection"), 3),
        (TunerUnavailable("4", "connection refused"), 3),
        (TunerBadResponse("4", "not JSON"), 3),
        (EonBotError("anything else"), 2),
    ],
)
def test_each_error_kind_has_its_status(error: EonBotError, code: int) -> None:
    assert exit_code_of(error) == code


@pytest.mark.parametrize("command", COMMANDS)
def test_an_argument_mistake_is_2_for_every_command(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--no-such-option"])
    assert done.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("command", ["demo", "try"])
def test_a_keep_folder_that_is_a_file_is_2(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "a-file"
    file.write_text("")
    assert main([command, "--keep", str(file)]) == 2
    assert "--keep" in capsys.readouterr().err


def test_manifest_is_0() -> None:
    assert main(["manifest"]) == 0


async def test_an_unreachable_database_is_database_unreachable() -> None:
    """No connection (a closed port) is exit 3, where a refused login would be 2."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(DatabaseUnreachable) as raised:
        await Store.open(url)
    assert exit_code_of(raised.value) == 3 and "DATABASE_URL" in str(raised.value)


async def test_simulate_names_a_taken_port_2_and_ends_130_on_ctrl_c() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "simulate", "--port", str(port)),
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
    assert process.returncode == 2, err.decode()
    assert f"127.0.0.1:{port}" in err.decode() and "Traceback" not in err.decode()

    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "simulate", "--port", str(port)),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(HANG_GUARD_S):
            while b"EON Tuner simulator at" not in await process.stderr.readline():
                pass
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 130, err.decode()
