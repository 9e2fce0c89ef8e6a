"""`eon-bot status`: the lines of a summary (pure, from hand-made states) and the command
against `httpx.MockTransport` (exit codes, one-line errors, no key in any output)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.cli.status import status
from bot.core.status_text import state_words, status_lines
from bot.core.summarize import summarize_run
from bot.core.summary import Counts, RunSummary, TrialSummary, Workers
from bot.settings import Settings
from bot.tuner.models import OptimizeStateResponse
from tests.factories import trial

NOW = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
KEY = "ei_SECRET-7c1d0e5fa9"


def stamped(doc: dict[str, Any], when: str) -> dict[str, Any]:
    return doc | {"lastCompletedTraining": when}


CONFIG = {
    "name": "Keyword run 3",
    "targetDevice": {"name": "cortex-m4f-80mhz", "ram": 65_536, "rom": 262_144},
    "targetLatency": 100,
    "tuningMaxTrials": 8,
    "maxTotalTrainingTime": 7200,
}


def state_doc(**fields: Any) -> dict[str, Any]:
    """A running run of 8 planned trials on a Cortex-M4F with 64 KB RAM, 256 KB ROM."""
    return {
        "success": True,
        "tunerJobId": 501,
        "tunerCoordinatorJobId": 500,
        "tunerJobIsRunning": True,
        "canExtendSearch": False,
        "totalTrainingTimeExceeded": False,
        "config": CONFIG,
        "status": {
            "status": "running",
            "numPendingTrials": 3,
            "numRunningTrials": 2,
            "numCompletedTrials": 2,
            "numFailedTrials": 1,
            "numReadyWorkers": 0,
            "numBusyWorkers": 2,
            "numPendingWorkers": 1,
        },
        "trials": [
            stamped(
                trial("t1", "completed", accuracy=0.913, latency=12, ram=38_400, rom=120_000),
                "2024-05-01T11:48:00Z",
            ),
            stamped(
                trial("t2", "completed", accuracy=0.87, latency=4.2, ram=20_000, rom=90_000),
                "2024-05-01T12:10:00Z",
            ),
            trial("t3", "failed", retries=2),
            trial("t4", "running"),
            trial("t5", "running"),
            trial("t6", "pending"),
            trial("t7", "pending"),
            trial("t8", "pending"),
        ],
        "workers": [],
    } | fields


def summary_of(doc: dict[str, Any]) -> RunSummary:
    return summarize_run("4242", OptimizeStateResponse.model_validate(doc), now=NOW)


# --- status_lines -----------------------------------------------------------------------------


def test_a_running_run() -> None:
    text = "\n".join(status_lines(summary_of(state_doc())))
    assert 'EON Tuner run "Keyword run 3" · project 4242' in text
    assert "Run 500 · tuner job 501" in text
    assert "State: running" in text
    assert "▓▓▓░░░░░░░ 37%  (3 of 8 trials)" in text
    assert "Trials: 2 completed, 1 failed, 2 running, 3 pending" in text
    assert "Workers: 2 busy, 0 ready, 1 starting" in text
    assert "Target: cortex-m4f-80mhz, int8, latency ≤ 100 ms" in text
    assert 'Best: "trial-t1" · accuracy 91.3%, latency 12 ms, RAM 37.5 KB, ROM 117.2 KB' in text
    assert "⚠" not in text
    assert "Pareto front (accuracy vs latency): 2 trials" in text
    # 11:48 to 12:10: the document's own span; each trial shows one stamp, so no training yet
    assert "Training time (all workers): 0s of 2h 00m · wall time 22m 00s" in text
    assert "Studio: https://studio.edgeimpulse.com/studio/4242/tuner/500" in text


def test_a_finished_run() -> None:
    doc = state_doc(
        tunerJobIsRunning=False,
        status={"status": "completed"},
        config=CONFIG | {"tuningMaxTrials": 2},
        trials=[
            trial("t1", "completed", accuracy=0.95, latency=0.8, ram=900, rom=2_000_000),
            trial("t2", "completed", accuracy=0.91, latency=8, ram=1200, rom=30_000),
        ],
    )
    lines = status_lines(summary_of(doc))
    text = "\n".join(lines)
    assert "State: finished" in lines
    assert "▓▓▓▓▓▓▓▓▓▓ 100%  (2 of 2 trials)" in text
    # t1 is more accurate but does not fit in ROM: the best that fits wins, no warning.
    assert 'Best: "trial-t2" · accuracy 91.0%, latency 8.0 ms, RAM 1.2 KB, ROM 29.3 KB' in text
    assert "⚠" not in text


def test_a_failed_run_shows_the_job_error_on_one_line() -> None:
    doc = state_doc(tunerJobIsRunning=False, jobError="Worker crashed\nout of memory")
    summary = summary_of(doc)
    assert state_words(summary) == "failed: Worker crashed out of memory"
    assert "State: failed: Worker crashed out of memory" in status_lines(summary)


def test_a_project_that_never_ran_has_no_run_not_an_end() -> None:
    """Edge Impulse's documented example response of a project whose tuner never ran."""
    doc = {
        "success": True,
        "trials": [],
        "tunerJobIsRunning": False,
        "status": {"status": "creating", "numCompletedTrials": 0},
    }
    lines = status_lines(summary_of(doc))
    assert lines[0] == "EON Tuner run · project 4242"
    assert "Run: none found yet" in lines
    assert "State: no EON Tuner run yet" in lines
    assert not summary_of(doc).finished
    assert "Progress: ░░░░░░░░░░ 0%  (no trials yet)" in lines
    assert "Best: no completed trial yet" in lines
    assert "Pareto front (accuracy vs latency): none yet" in lines
    assert "Training time (all workers): — · wall time —" in lines
    # No run to link to: the project's EON Tuner page, where one is started.
    assert "Studio: https://studio.edgeimpulse.com/studio/4242/tuner" in lines


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"tunerJobIsRunning": False}, "no EON Tuner run yet"),
        ({}, "no EON Tuner run yet"),
        ({"status": {"status": "creating"}}, "no EON Tuner run yet"),
        ({"status": {"status": "creating"}, "tunerJobIsRunning": True}, "spinning up"),
        (
            {"tunerJobId": 3, "status": {"status": "creating"}, "tunerJobIsRunning": False},
            "spinning up",
        ),
        ({"tunerJobId": 3, "status": {"status": "ready"}}, "spinning up"),
        (
            {"tunerJobId": 3, "status": {"status": "running"}, "tunerJobIsRunning": False},
            "finished",
        ),
        ({"activeTunerJobId": 3, "tunerJobIsRunning": False}, "finished"),
        ({"activeTunerJobId": 3, "tunerJobIsRunning": True}, "running"),
        (
            {"status": {"status": "creating"}, "tunerJobIsRunning": False, "jobError": "x"},
            "failed: x",
        ),
        ({"status": {"status": "running"}, "tunerJobIsRunning": True}, "running"),
        ({"tunerJobId": 3, "tunerJobIsRunning": True}, "running"),
        ({"tunerJobId": 3, "status": {"status": "paused"}}, "paused"),
        ({"tunerJobId": 3, "status": {"status": "completed"}}, "finished"),
        ({"tunerJobId": 3, "tunerJobIsRunning": False, "jobError": "OOM"}, "failed: OOM"),
        ({"tunerJobId": 3}, "unknown"),
    ],
)
def test_state_words(fields: dict[str, Any], words: str) -> None:
    assert state_words(summary_of({"success": True, "trials": []} | fields)) == words


def test_a_run_over_its_limits() -> None:
    doc = state_doc(
        totalTrainingTimeExceeded=True,
        canExtendSearch=True,
        trials=[
            stamped(
                trial("big", "completed", accuracy=0.97, latency=180, ram=90_000, rom=100),
                "2024-05-01T10:00:00Z",
            ),
            stamped(trial("late", "failed"), "2024-05-01T13:00:00Z"),
        ],
    )
    text = "\n".join(status_lines(summary_of(doc)))
    assert 'Best: "trial-big" · accuracy 97.0%' in text
    assert (
        "⚠ over the targets (no trial fits them yet): latency above 100 ms; "
        "RAM above what cortex-m4f-80mhz has" in text
    )
    assert "ROM above" not in text
    assert (
        "Training time (all workers): 0s of 2h 00m · wall time 3h 00m · limit reached, "
        "the search can be extended in Studio" in text
    )


def spanning(doc: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    """A trial whose input block started at `start` and whose training ended at `end`."""
    block = {"id": 1, "type": "input", "retries": 0, "status": "completed", "blockId": 1}
    return doc | {"blocks": [block | {"lastActive": start}], "lastCompletedTraining": end}


def test_time_used_is_the_training_time_the_limit_counts_and_the_wall_time_apart() -> None:
    """Three workers for 40 minutes: 2h of training against the 2h limit, 40m of wall time."""
    doc = state_doc(
        totalTrainingTimeExceeded=True,
        trials=[
            spanning(trial(name, "completed"), "2024-05-01T10:00:00Z", "2024-05-01T10:40:00Z")
            for name in ("a", "b", "c")
        ]
        + [spanning(trial("d", "failed"), "2024-05-01T10:05:00Z", "2024-05-01T10:05:59Z")],
    )
    summary = summary_of(doc)
    assert (summary.training_s, summary.elapsed_s) == (7200, 2400)
    assert (
        "Training time (all workers): 2h 00m of 2h 00m · wall time 40m 00s · limit reached"
        in status_lines(summary)
    )


def test_untrusted_names_cannot_break_lines() -> None:
    doc = state_doc(
        config={"name": "evil\n\x1b[2Jrun"},
        trials=[trial("t1", "completed", accuracy=0.5, name="a\nb\x1b]0;x\x07")],
    )
    lines = status_lines(summary_of(doc))
    assert all("\n" not in line and "\x1b" not in line for line in lines)


SUMMARIES = st.builds(
    RunSummary,
    project_id=st.text(max_size=10),
    run_id=st.none() | st.text(max_size=10),
    tuner_job_id=st.none() | st.text(max_size=10),
    continuation_job_id=st.none() | st.text(max_size=10),
    name=st.none() | st.text(max_size=20),
    status=st.none() | st.sampled_from(["creating", "ready", "running", "completed", "new"]),
    running=st.none() | st.booleans(),
    finished=st.booleans(),
    outcome=st.none() | st.sampled_from(["completed", "failed"]),
    job_error=st.none() | st.text(max_size=20),
    counts=st.builds(
        Counts,
        pending=st.integers(),
        running=st.integers(),
        completed=st.integers(),
        failed=st.integers(),
    ),
    planned_trials=st.none() | st.integers(),
    workers=st.builds(Workers, ready=st.integers(), busy=st.integers(), pending=st.integers()),
    best=st.none() | st.builds(TrialSummary, accuracy=st.none() | st.floats()),
    pareto=st.lists(st.builds(TrialSummary), max_size=3),
    precision=st.text(max_size=8),
    target_device=st.none() | st.text(max_size=10),
    target_latency_ms=st.none() | st.floats(),
    elapsed_s=st.none() | st.floats(),
    max_total_training_time_s=st.none() | st.floats(),
    time_limit_exceeded=st.booleans(),
    can_extend_search=st.none() | st.booleans(),
)


@given(SUMMARIES)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_status_lines_never_crash(summary: RunSummary) -> None:
    lines = status_lines(summary)
    assert lines and all(isinstance(line, str) and "\n" not in line for line in lines)


# --- the command ------------------------------------------------------------------------------


def run_settings(**fields: Any) -> Settings:
    """Settings as given here only (no environment, no `.env`), a fake Edge Impulse URL."""
    return Settings.given(**({"ei_api_url": "https://ei.test/v1"} | fields))


async def run(
    project_id: str, handler: Any, settings: Settings
) -> tuple[int, str, str, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        response: httpx.Response = handler(request)
        return response

    out, err = io.StringIO(), io.StringIO()
    code = await status(
        project_id,
        settings=settings,
        transport=httpx.MockTransport(recording),
        out=out,
        err=err,
        now=lambda: NOW,
    )
    return code, out.getvalue(), err.getvalue(), requests


def answer(request: httpx.Request) -> httpx.Response:
    if request.headers.get("x-api-key") != KEY:
        return httpx.Response(401, json={"success": False, "error": "Invalid API key"})
    return httpx.Response(200, content=json.dumps(state_doc()).encode())


async def test_status_prints_the_summary() -> None:
    code, out, err, requests = await run(
        "4242", answer, run_settings(project_keys={"4242": SecretStr(KEY)})
    )
    assert (code, err) == (0, "")
    assert [str(r.url) for r in requests] == [
        "https://ei.test/v1/api/4242/optimize/state",
        "https://ei.test/v1/api/4242",  # its name; this answer gives none: "project 4242"
    ]
    assert 'Best: "trial-t1" · accuracy 91.3%, latency 12 ms, RAM 37.5 KB' in out
    assert "Studio: https://studio.edgeimpulse.com/studio/4242/tuner/500" in out


async def test_a_refused_key_is_one_line_exit_2_and_never_shown() -> None:
    """A refused key is the person's to fix, as a bad setting is: exit 2, as the README says."""
    wrong = "ei_SECRET-wrong-0000"
    code, out, err, _ = await run(
        "4242",
        lambda r: httpx.Response(401, json={"success": False, "error": f"bad key {wrong}"}),
        run_settings(ei_api_key=SecretStr(wrong)),
    )
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("eon-bot: project 4242: ")
    assert "refused the API key (HTTP 401)" in err
    assert "SECRET" not in err


async def test_a_short_placeholder_key_does_not_garble_the_message() -> None:
    code, _, err, _ = await run("4242", answer, run_settings(ei_api_key=SecretStr("wrong")))
    assert code == 2
    assert "the key may be wrong, revoked" in err


async def test_a_missing_key_is_exit_2_naming_the_settings() -> None:
    code, out, err, requests = await run("4242", answer, run_settings())
    assert (code, out, requests) == (2, "", [])
    assert err.count("\n") == 1
    assert err.startswith("eon-bot: no Edge Impulse API key for project 4242")
    assert "EI_API_KEY_4242" in err and "EI_API_KEY " in err


async def test_a_key_stored_with_eon_key_is_used_first(tmp_path: Path) -> None:
    from bot.keys import KeyRing
    from bot.store import Store

    database = f"sqlite:///{tmp_path / 'bot.db'}"
    secret = SecretStr("z" * 40)
    store = await Store.open(database)
    try:
        ring = KeyRing(run_settings(secret_key=secret), store)
        await ring.add("", "4242", SecretStr(KEY), role="admin", user="U1")
    finally:
        await store.close()
    wrong = SecretStr("ei_env_key_refused_0")
    given = {"database_url": database, "project_keys": {"4242": wrong}}
    code, out, err, _ = await run("4242", answer, run_settings(secret_key=secret, **given))
    assert (code, err) == (0, "") and "project 4242" in out
    # Under another SECRET_KEY: one line, and the environment's key does not stand in.
    other = SecretStr("y" * 40)
    code, _, err, requests = await run("4242", answer, run_settings(secret_key=other, **given))
    assert (code, requests) == (2, [])
    assert err.count("\n") == 1 and "cannot be decrypted" in err and "/eon key 4242" in err
    # No SECRET_KEY at all: the stored key is told as sealed, not as no key at all.
    code, _, err, requests = await run("4242", answer, run_settings(**given))
    assert (code, requests) == (2, [])
    assert "cannot be decrypted: SECRET_KEY is not set" in err, err
    assert "no Edge Impulse API key" not in err


def test_status_creates_no_database_for_stored_keys(tmp_path: Path) -> None:
    import asyncio

    from bot.cli.status import _stored_keys

    database = f"sqlite:///{tmp_path / 'none.db'}"
    settings = run_settings(secret_key=SecretStr("z" * 40), database_url=database)
    assert asyncio.run(_stored_keys(settings)) is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("project_id", ["abc", "0", "-3", "12/../13", ""])
async def test_a_bad_project_id_is_exit_2_before_any_request(project_id: str) -> None:
    code, out, err, requests = await run(
        project_id, answer, run_settings(ei_api_key=SecretStr(KEY))
    )
    assert (code, out, requests) == (2, "", [])
    assert err.startswith("eon-bot: not a project id") and err.count("\n") == 1


async def test_a_bad_body_is_exit_3_with_one_line() -> None:
    """Edge Impulse did not answer as it should: a dependency, not the person's settings."""
    code, _, err, _ = await run(
        "4242",
        lambda r: httpx.Response(200, content=b'{"success": true, "trials": [{'),
        run_settings(ei_api_key=SecretStr(KEY)),
    )
    assert code == 3 and err.count("\n") == 1 and "not valid JSON" in err


async def test_a_bad_api_url_is_exit_2() -> None:
    settings = run_settings(ei_api_url="nope", ei_api_key=SecretStr(KEY))
    code, _, err, requests = await run("4242", answer, settings)
    assert code == 2 and requests == [] and "EI_API_URL" in err


async def test_settings_problems_are_exit_2_without_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # The one place the environment is the input under test: Settings() loads it by design.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POLL_INTERVAL", "ei_SECRET-looks-like-a-key")
    err = io.StringIO()
    code = await status("4242", err=err, out=io.StringIO())
    assert code == 2
    assert err.getvalue().startswith("eon-bot: invalid settings: POLL_INTERVAL")
    assert "SECRET" not in err.getvalue()


async def test_an_unexpected_error_is_one_line_without_the_key() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"kaput {request.headers['x-api-key']}\nsecond line")

    code, _, err, _ = await run("4242", boom, run_settings(ei_api_key=SecretStr(KEY)))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("eon-bot: unexpected error (RuntimeError)")
    assert "SECRET" not in err


# --- over real HTTP, against the simulator, with the default client ---------------------------


async def test_status_against_the_simulator_over_loopback() -> None:
    from bot.sandbox.simulator.server import SimulatorServer

    async with SimulatorServer(api_key=KEY) as sim:
        sim.controller.set_time("3", 3000)  # part-way: some trials completed
        settings = run_settings(ei_api_url=sim.url, ei_api_key=SecretStr(KEY))
        out, err = io.StringIO(), io.StringIO()
        code = await status("3", settings=settings, out=out, err=err, now=lambda: NOW)
        assert (code, err.getvalue()) == (0, "")
        text = out.getvalue()
        # The project by its name, as Slack shows it.
        assert "· Machine vibration anomalies (project 3)" in text.splitlines()[0]
        assert "Best: " in text and "accuracy " in text
        assert "Studio: https://studio.edgeimpulse.com/studio/3/tuner/" in text

        wrong = run_settings(ei_api_url=sim.url, ei_api_key=SecretStr("ei_SECRET-nope"))
        err = io.StringIO()
        code = await status("3", settings=wrong, out=io.StringIO(), err=err)
        assert code == 2 and err.getvalue().count("\n") == 1
        assert "HTTP 401" in err.getvalue() and "SECRET" not in err.getvalue()


async def test_an_unreachable_api_is_exit_3_its_cause_whole() -> None:
    """A closed port: the URL and aiohttp's whole reason, not cut mid-address; exit 3, a
    dependency that cannot be reached (`bot.cli.EXIT_CODES`)."""
    from tests.ports import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = run_settings(ei_api_url=url, ei_api_key=SecretStr(KEY))
    err = io.StringIO()
    code = await status("3", settings=settings, out=io.StringIO(), err=err)
    said = err.getvalue()
    assert code == 3 and said.count("\n") == 1, said
    assert "connection failed: ConnectError: Cannot connect to host 127.0.0.1" in said
    assert "…" not in said and said.rstrip().endswith(f"at {url}; 3 attempts).")
