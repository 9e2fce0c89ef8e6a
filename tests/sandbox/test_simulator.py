"""The EON Tuner simulator: its documents against the seed schema and the bot's models, the
timeline a user of Edge Impulse would recognise, and the HTTP server with its faults."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.core.diff import diff
from bot.core.events import EventKind, Snapshot
from bot.core.summarize import summarize_run
from bot.sandbox.simulator.server import SIM_KEY, Fault, SimulatorServer, make_app
from bot.sandbox.simulator.simulation import Simulation
from bot.tuner.models import OptimizeStateResponse
from tests.ports import free_port
from tests.schema import seed_validator

Doc = dict[str, Any]
POLL = 5  # seconds between looks, as the official SDK polls


@cache
def sim(project: str = "1", seed: int = 1, **options: Any) -> Simulation:
    return Simulation(project, seed=seed, **options)


@cache
def changes(project: str = "1", seed: int = 1, **options: Any) -> tuple[tuple[float, Doc], ...]:
    """The document at every status change and a second after it: every distinct status of
    every trial and of the job, with far fewer documents than polling."""
    s = sim(project, seed, **options)
    moments = sorted({m + d for m in s.milestones() for d in (0, 1)})
    return tuple((t, s.document(t)) for t in moments)


def by_id(doc: Doc) -> dict[str, Doc]:
    return {trial["id"]: trial for trial in doc["trials"]}


def interesting_times(s: Simulation) -> list[float]:
    """Spin-up, the first round, around every status change (thinned out), the time limit,
    the extension and the end."""
    marks = s.milestones()
    picked = {0.0, 30.0, *marks[:: max(1, len(marks) // 8)], s.duration, s.duration + 600}
    for run in s.runs:
        picked |= {run.start + 1, run.ready, run.ready + 3, run.first_start + 40, run.end - 1}
        if run.time_limit_at is not None:
            picked |= {run.time_limit_at - 1, run.time_limit_at, run.time_limit_at + 30}
    picked |= {m + 1 for m in list(picked)}
    return sorted(picked)


VARIANTS = [
    pytest.param("1", 1, {}, id="default"),
    pytest.param("2", 7, {}, id="seed7"),
    pytest.param("31337", 3, {"extend": False}, id="no-extension"),
    pytest.param("5", 2, {"job_error": True}, id="job-error"),
    pytest.param("6", 4, {"job_error": True, "extend": False}, id="job-error-first-run"),
    pytest.param("8", 5, {"trials": 40}, id="40-trials"),
]


# -- the documents: schema, models ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("project", "seed", "options"), VARIANTS)
def test_documents_validate_against_the_seed_schema_and_parse(
    project: str, seed: int, options: dict[str, Any]
) -> None:
    s = sim(project, seed, **options)
    relaxed, strict = seed_validator(), seed_validator(strict=True)
    for i, t in enumerate(interesting_times(s)):
        raw = s.document_bytes(t)
        doc = json.loads(raw)
        problems = [e.message for e in relaxed.iter_errors(doc)]
        if i % 3 == 0 or t >= s.duration:  # the strict check is slower; a sample will do
            problems += [e.message for e in strict.iter_errors(doc)]
        assert problems == [], f"t={t}: {problems[:3]}"
        state = OptimizeStateResponse.model_validate_json(raw)
        assert state.success and len(state.trials) == len(doc["trials"])


def test_strict_validation_would_catch_a_misspelt_key() -> None:
    doc = sim().document(sim().duration)
    doc["trials"][0]["metrics"]["test"]["int8"]["acuracy"] = 0.9
    assert list(seed_validator(strict=True).iter_errors(doc))
    assert not list(seed_validator().iter_errors(doc))  # the schema itself allows it


def test_timestamps_are_utc_iso_and_never_in_the_future_of_the_document() -> None:
    s = sim()
    for t, doc in changes():
        now = s.epoch.timestamp() + t
        for trial in doc["trials"]:
            stamps = [trial.get("lastCompletedEpoch"), trial.get("lastCompletedTraining")]
            stamps += [block.get("lastActive") for block in trial["blocks"]]
            for stamp in filter(None, stamps):
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
                parsed = datetime.fromisoformat(stamp)
                assert parsed.tzinfo == UTC and parsed.timestamp() <= now


def test_completed_trials_carry_their_numbers_where_the_bot_reads_them() -> None:
    s = sim()
    doc = s.document(s.duration)
    target = doc["config"]["targetDevice"]
    completed = [t for t in doc["trials"] if t["status"] == "completed"]
    assert len(completed) >= 15
    over_latency = over_memory = 0
    for trial in completed:
        for precision in ("int8", "float32"):
            metrics = trial["metrics"]["test"][precision]
            learn = trial["impulse"]["learnBlocks"][0]["metrics"]["test"][precision]
            assert metrics["type"] == precision and learn["accuracy"] == metrics["accuracy"]
            mcus = {entry["mcu"]: entry for entry in metrics["onDevicePerformance"]}
            assert (
                mcus[target["name"]]["latency"] == trial["devicePerformance"][precision]["latency"]
            )
            assert sum(entry["isDefault"] for entry in metrics["onDevicePerformance"]) == 1
            assert len(metrics["confusionMatrix"]) == len(metrics["confusionMatrix"][0]) >= 3
        int8 = trial["devicePerformance"]["int8"]
        accuracy = trial["metrics"]["test"]["int8"]["accuracy"]
        assert 0.60 <= accuracy <= 0.97
        assert 2 <= int8["latency"] <= 400
        assert 8 * 1024 <= int8["eon"]["ramRequired"] <= 300 * 1024
        assert 30 * 1024 <= int8["eon"]["romRequired"] <= 1200 * 1024
        matrix = trial["metrics"]["test"]["int8"]["confusionMatrix"]
        implied = sum(matrix[i][i] for i in range(len(matrix))) / sum(map(sum, matrix))
        assert implied == pytest.approx(accuracy, abs=0.01)
        over_latency += int8["latency"] > doc["config"]["targetLatency"]
        over_memory += (
            int8["eon"]["ramRequired"] > target["ram"] or int8["eon"]["romRequired"] > target["rom"]
        )
    assert 1 <= over_latency < len(completed) / 2
    assert 1 <= over_memory < len(completed) / 2
    summary = summarize_run("1", OptimizeStateResponse.model_validate(doc))
    assert summary.best is not None and summary.best.fits
    assert all(t.accuracy and t.latency_ms and t.ram_bytes and t.rom_bytes for t in summary.top)


def test_trial_names_are_realistic_varied_and_ids_unique() -> None:
    s = sim(trials=200)
    names = [t["name"] for t in s.document(s.duration)["trials"]]
    ids = [t["id"] for t in s.document(s.duration)["trials"]]
    assert len(set(ids)) == len(ids) == 200
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9.]+)+", name) for name in names)
    assert len(set(names)) > 60
    kinds = {sim(str(project)).document(0)["projectDataType"] for project in range(1, 13)}
    assert len(kinds) >= 2 and kinds <= {"audio", "motion", "image"}


# -- the timeline ----------------------------------------------------------------------------


def test_spin_up_shows_a_creating_job_with_pending_workers_and_no_trials() -> None:
    s = sim()
    for t in (0, 30, 59):
        doc = s.document(t)
        assert doc["status"]["status"] == "creating" and doc["trials"] == []
        assert doc["tunerJobIsRunning"] is True
        assert isinstance(doc["tunerJobId"], int) and isinstance(doc["tunerCoordinatorJobId"], int)
        assert [w["status"] for w in doc["workers"]] == ["pending"] * doc["config"]["tuningWorkers"]
        assert doc["status"]["numPendingWorkers"] == doc["config"]["tuningWorkers"] == 3
    first_round = s.document(s.runs[0].ready)
    assert first_round["status"]["status"] == "ready"
    assert len(first_round["trials"]) == first_round["config"]["initialTrials"]
    assert {t["status"] for t in first_round["trials"]} == {"pending"}
    assert s.document(s.runs[0].first_start)["status"]["status"] == "running"


def test_a_default_run_lasts_one_to_two_hours() -> None:
    for seed in range(1, 6):
        assert 3600 <= sim(str(seed), seed).duration <= 2 * 3600


@pytest.mark.parametrize(("project", "seed", "options"), VARIANTS)
def test_counts_and_workers_always_agree_with_the_trials(
    project: str, seed: int, options: dict[str, Any]
) -> None:
    for t, doc in changes(project, seed, **options):
        tally = Counter(trial["status"] for trial in doc["trials"])
        status = doc["status"]
        assert (
            status["numPendingTrials"],
            status["numRunningTrials"],
            status["numCompletedTrials"],
            status["numFailedTrials"],
        ) == (tally["pending"], tally["running"], tally["completed"], tally["failed"]), t
        workers = {w["workerId"]: w["status"] for w in doc["workers"]}
        assert len(workers) == len(doc["workers"])
        assert (
            Counter(workers.values())
            == Counter(
                ready=status["numReadyWorkers"],
                busy=status["numBusyWorkers"],
                pending=status["numPendingWorkers"],
            )
            - Counter()
        )
        running = [trial["workerId"] for trial in doc["trials"] if trial["status"] == "running"]
        assert len(set(running)) == len(running)
        assert set(running) == {w for w, state in workers.items() if state == "busy"}, t
        if doc["tunerJobIsRunning"]:
            assert len(workers) == doc["config"]["tuningWorkers"]
        else:
            assert status["status"] == "completed" and not running and tally["pending"] == 0


@pytest.mark.parametrize(("project", "seed", "options"), VARIANTS)
def test_trials_only_move_forward(project: str, seed: int, options: dict[str, Any]) -> None:
    """Completed stays completed and unchanged; retries never go down; a trial only leaves
    the list if it was pending when the coordinator stopped (time limit or crash)."""
    s = sim(project, seed, **options)
    stops = {r.time_limit_at for r in s.runs} | {r.crashed_at for r in s.runs}
    seen: dict[str, Doc] = {}
    for t, doc in changes(project, seed, **options):
        now = by_id(doc)
        for trial_id, before in seen.items():
            after = now.get(trial_id)
            if after is None:
                assert before["status"] == "pending" and t in stops, t
                continue
            assert after["retries"] >= before["retries"]
            if before["status"] == "completed":
                assert after == before
        seen = {**{k: v for k, v in seen.items() if k in now}, **now}


def _steps(project: str = "1", seed: int = 1, **options: Any) -> dict[str, list[str]]:
    """Each trial's distinct (status, retries) steps."""
    steps: dict[str, list[str]] = {}
    for _, doc in changes(project, seed, **options):
        for trial in doc["trials"]:
            step = f"{trial['status']}:{trial['retries']}"
            history = steps.setdefault(trial["id"], [])
            if not history or history[-1] != step:
                history.append(step)
    return steps


@pytest.mark.parametrize("seed", range(1, 9))
def test_default_runs_fail_once_then_complete_and_fail_twice(seed: int) -> None:
    steps = _steps(str(seed), seed)
    recovered = [h for h in steps.values() if h[-3:] == ["failed:0", "running:1", "completed:1"]]
    doomed = [h for h in steps.values() if h[-3:] == ["failed:0", "running:1", "failed:1"]]
    assert recovered and doomed, steps
    for history in steps.values():
        assert history[0] == "pending:0"
        assert "pending:1" not in history  # a retry goes straight back to running


def test_about_one_trial_in_eight_fails() -> None:
    shares = []
    for seed in range(1, 21):
        s = sim(str(seed), seed)
        final = s.document(s.duration)["trials"]
        failed = {tid for tid in (t["id"] for t in final) if any(a.failed for a in s.attempts(tid))}
        shares.append(len(failed) / len(final))
    assert 0.09 <= sum(shares) / len(shares) <= 0.18
    big = sim("9", 9, trials=400)
    final = big.document(big.duration)["trials"]
    share = sum(any(a.failed for a in big.attempts(t["id"])) for t in final) / len(final)
    assert 0.08 <= share <= 0.18


def test_a_failure_stays_visible_long_enough_for_a_5s_poller() -> None:
    s = sim()
    retried = 0
    for trial in s.document(s.duration)["trials"]:
        attempts = s.attempts(trial["id"])
        for failed, retry in zip(attempts, attempts[1:], strict=False):
            assert failed.failed and retry.start - failed.end >= 25
            retried += 1
            for t in (failed.end, failed.end + 5, retry.start - 1):
                shown = by_id(s.document(t))[trial["id"]]
                assert (shown["status"], shown["retries"]) == ("failed", 0), t
            assert by_id(s.document(retry.start))[trial["id"]]["retries"] == 1
    assert retried >= 2


def test_the_first_run_hits_its_time_limit_then_ends() -> None:
    s = sim()
    first = s.runs[0]
    assert first.time_limit_at is not None and first.ready < first.time_limit_at < first.end
    before, at = s.document(first.time_limit_at - 1), s.document(first.time_limit_at)
    assert before["totalTrainingTimeExceeded"] is False and before["canExtendSearch"] is False
    assert at["totalTrainingTimeExceeded"] is True and at["canExtendSearch"] is True
    assert at["tunerJobIsRunning"] is True and at["status"]["numPendingTrials"] == 0
    assert before["config"]["maxTotalTrainingTime"] > 0
    running_at_limit = {t["id"] for t in at["trials"] if t["status"] == "running"}
    started_later = {
        trial["id"]
        for t in range(first.time_limit_at, first.end, POLL)
        for trial in s.document(t)["trials"]
        if trial["status"] == "running"
    }
    assert started_later <= running_at_limit  # nothing new starts once over the limit
    ended = s.document(first.end)
    assert ended["tunerJobIsRunning"] is False and ended["status"]["status"] == "completed"
    assert ended["canExtendSearch"] is True and ended["workers"] == []
    assert len(ended["trials"]) < ended["config"]["tuningMaxTrials"]
    assert s.document(first.end + 60) == ended  # the pause before the extension


def test_the_extended_search_is_a_new_run_that_keeps_the_earlier_trials() -> None:
    s = sim()
    first, second = s.runs
    old = s.document(first.end)
    new = s.document(second.start + 1)
    assert new["tunerJobId"] not in (old["tunerJobId"], old["tunerCoordinatorJobId"])
    assert new["tunerCoordinatorJobId"] not in (old["tunerJobId"], old["tunerCoordinatorJobId"])
    assert new["continuationJobId"] == old["tunerCoordinatorJobId"]
    assert "continuationJobId" not in old
    assert new["totalTrainingTimeExceeded"] is False and new["canExtendSearch"] is False
    assert new["tunerJobIsRunning"] is True and new["status"]["status"] == "creating"
    assert new["trials"] == old["trials"]
    final = s.document(s.duration)
    assert final["trials"][: len(old["trials"])] == old["trials"]
    added = final["trials"][len(old["trials"]) :]
    assert added and {t["id"] for t in added}.isdisjoint(by_id(old))
    assert min(t["optimizationRound"] for t in added) > max(
        t["optimizationRound"] for t in old["trials"]
    )
    assert len(final["trials"]) == final["config"]["tuningMaxTrials"] == 24
    assert final["tunerJobIsRunning"] is False and final["status"]["status"] == "completed"
    assert final["canExtendSearch"] is False and "jobError" not in final
    assert {t["status"] for t in final["trials"]} <= {"completed", "failed"}


def test_the_final_document_never_changes_again() -> None:
    s = sim()
    final = s.document_bytes(s.duration)
    assert s.document_bytes(s.duration - 1) != final
    for t in (s.duration + 0.5, s.duration + 5, s.duration + 86_400):
        assert s.document_bytes(t) == final
    assert s.document_bytes(s.duration) is final  # cached, the benchmark serves it often


def test_job_error_ends_the_last_run_with_a_readable_error() -> None:
    for options in ({"job_error": True}, {"job_error": True, "extend": False}):
        s = sim("5", 2, **options)
        final = s.document(s.duration)
        assert final["tunerJobIsRunning"] is False and final["status"]["status"] == "completed"
        assert "exit code" in final["jobError"] and len(final["jobError"]) > 40
        assert final["canExtendSearch"] is False
        assert {t["status"] for t in final["trials"]} <= {"completed", "failed"}
        assert "jobError" not in s.document(s.runs[-1].end - 1)
        summary = summarize_run("5", OptimizeStateResponse.model_validate(final))
        assert summary.finished and summary.outcome == "failed"
    assert len(sim("5", 2, job_error=True).runs) == 2
    assert "jobError" not in sim("5", 2).document(sim("5", 2).duration)


def test_without_extension_the_run_stays_stopped_at_its_limit() -> None:
    s = sim("31337", 3, extend=False)
    assert len(s.runs) == 1 and s.duration == s.runs[0].end
    final = s.document(s.duration + 3600)
    assert final["totalTrainingTimeExceeded"] is True and final["canExtendSearch"] is True
    assert len(final["trials"]) < final["config"]["tuningMaxTrials"]


def test_same_arguments_same_bytes_in_any_order_and_projects_differ() -> None:
    a, b = Simulation("77", seed=3), Simulation("77", seed=3)
    times = [0, 61, 500, 1500, 2500, 4000, a.duration]
    assert b.document_bytes(a.duration)  # b renders (and caches) the end first
    assert [a.document_bytes(t) for t in times] == [b.document_bytes(t) for t in times]
    other_project, other_seed = Simulation("78", seed=3), Simulation("77", seed=4)
    ids = {t["id"] for t in a.document(a.duration)["trials"]}
    for other in (other_project, other_seed):
        final = other.document(other.duration)
        assert ids.isdisjoint(t["id"] for t in final["trials"])
        assert other.runs[0].coordinator_job_id != a.runs[0].coordinator_job_id


def test_documents_are_fresh_objects() -> None:
    s = sim()
    doc = s.document(s.duration)
    doc["trials"].clear()
    doc["config"]["targetLatency"] = 1
    again = s.document(s.duration)
    assert again["trials"] and again["config"]["targetLatency"] == 100


@pytest.mark.parametrize("trials", [50, 500, 2000])
def test_large_searches_are_cheap_to_serve(trials: int) -> None:
    s = Simulation("4242", trials=trials)
    final = s.document_bytes(s.duration)
    doc = json.loads(final)
    assert len(doc["trials"]) == trials and doc["config"]["tuningMaxTrials"] == trials
    assert len(doc["workers"]) == 0 and doc["config"]["tuningWorkers"] >= 3
    assert 3600 <= s.duration <= 4 * 3600
    mid = s.document(s.runs[0].time_limit_at or s.duration / 2)
    assert mid["status"]["numRunningTrials"] <= mid["config"]["tuningWorkers"]


def test_too_few_trials_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Simulation("1", trials=1)


@pytest.mark.slow
def test_the_bots_diff_reports_every_step_of_a_simulated_run() -> None:
    """End to end through the pure pipeline: a 5 s poller reports each completion once, each
    failure, the time limit, both runs starting (the first is the baseline) and ending."""
    s = sim()
    snapshot: Snapshot | None = None
    kinds: Counter[str] = Counter()
    completed: Counter[str] = Counter()
    for t in range(0, int(s.duration) + 3 * POLL, POLL):
        state = OptimizeStateResponse.model_validate_json(s.document_bytes(t))
        events, snapshot = diff(snapshot, state, project_id="1")
        for event in events:
            kinds[event.kind] += 1
            if event.kind == EventKind.TRIAL_COMPLETED:
                completed[event.trial_id or ""] += 1
    final = s.document(s.duration)["trials"]
    failed_attempts = sum(a.failed for t in final for a in s.attempts(t["id"]))
    assert kinds[EventKind.RUN_STARTED] == 2
    assert kinds[EventKind.TRIAL_FAILED] == failed_attempts
    assert kinds[EventKind.TIME_LIMIT_EXCEEDED] == 1
    assert kinds[EventKind.JOB_FINISHED] == 2
    assert set(completed.values()) == {1}
    assert len(completed) == sum(t["status"] == "completed" for t in final)


# -- the HTTP server -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


STATE = "/v1/api/{}/optimize/state"
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client() -> Any:
    app = make_app(api_key="s3cret-key", speed=10.0, clock=Clock())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


KEY = {"x-api-key": "s3cret-key"}


async def test_serves_each_project_its_document_on_its_own_clock(client: Client) -> None:
    controller = client.app[SIM_KEY]
    clock = controller.clock
    assert isinstance(clock, Clock)
    response = await client.get(STATE.format(1), headers=KEY)
    assert response.status == 200 and response.content_type == "application/json"
    doc = await response.json()
    assert doc["success"] is True and doc["status"]["status"] == "creating"
    clock.now += 7  # 70 simulated seconds at speed 10
    first = await (await client.get(STATE.format(1), headers=KEY)).read()
    assert first == controller.simulation(1).document_bytes(70)
    fresh = await (await client.get(STATE.format(2), headers=KEY)).json()
    assert fresh["trials"] == []  # project 2's clock starts at its own first request
    assert fresh["tunerJobId"] != doc["tunerJobId"]
    assert controller.requests(1) == 2 and controller.requests("0002") == 1


async def test_set_time_freezes_a_project_where_a_test_wants_it(client: Client) -> None:
    controller = client.app[SIM_KEY]
    s = controller.simulation(3)
    limit = s.runs[0].time_limit_at
    assert limit is not None
    controller.set_time(3, limit)
    body = await (await client.get(STATE.format(3), headers=KEY)).read()
    assert body == s.document_bytes(limit)
    assert isinstance(controller.clock, Clock)
    controller.clock.now += 100
    assert await (await client.get(STATE.format(3), headers=KEY)).read() == body
    controller.set_time(3, s.duration, frozen=False)
    state = OptimizeStateResponse.model_validate_json(
        await (await client.get(STATE.format("003"), headers=KEY)).read()
    )
    assert state.status is not None and state.status.status == "completed"


async def test_configure_gives_one_project_other_run_options(client: Client) -> None:
    controller = client.app[SIM_KEY]
    s = controller.configure(4, job_error=True, extend=False, trials=12)
    controller.set_time(4, s.duration)
    doc = await (await client.get(STATE.format(4), headers=KEY)).json()
    assert doc["jobError"] and doc["config"]["tuningMaxTrials"] == 12


async def test_live_timestamps_start_at_the_first_request() -> None:
    app = make_app(live_timestamps=True, clock=Clock())
    async with TestClient(TestServer(app)) as live:
        app[SIM_KEY].set_time(11, 600)
        doc = await (await live.get(STATE.format(11))).json()
    stamps = [b["lastActive"] for t in doc["trials"] for b in t["blocks"] if "lastActive" in b]
    earliest = min(datetime.fromisoformat(stamp) for stamp in stamps)
    # Simulated second 0 is when the project was first asked for; trials start ~60 s later.
    assert 55 <= (earliest - datetime.now(UTC)).total_seconds() <= 70


@pytest.mark.parametrize("given", [None, "", "wrong-key", "S3CRET-KEY", "s3cret-ke"])
async def test_a_missing_or_wrong_key_is_refused_without_echoing_it(
    client: Client, given: str | None
) -> None:
    headers = {} if given is None else {"x-api-key": given}
    response = await client.get(STATE.format(1), headers=headers)
    assert response.status == 401
    body = await response.text()
    assert json.loads(body)["success"] is False and json.loads(body)["error"]
    assert "s3cret" not in body.lower() and (not given or given not in body)
    assert client.app[SIM_KEY].requests(1) == 0


@pytest.mark.parametrize(
    "path",
    [
        STATE.format("abc"),
        STATE.format("0"),
        STATE.format("-3"),
        STATE.format("1.5"),
        STATE.format("%D9%A1"),  # an Arabic-Indic digit one: numeric to Python, not to EI
        "/v1/api/1/optimize/nope",
        "/v1/api/1/optimize",
    ],
)
async def test_bad_project_ids_and_unknown_routes_are_json_404s(client: Client, path: str) -> None:
    response = await client.get(path, headers=KEY)
    assert response.status == 404
    body = await response.json()
    assert body["success"] is False and body["error"]


@pytest.mark.parametrize("path", ["/", "/api/1/optimize/state"])
async def test_outside_v1_is_a_web_page_as_on_studio(client: Client, path: str) -> None:
    response = await client.get(path, headers=KEY)
    assert response.status == 404
    assert response.content_type == "text/html"
    assert (await response.text()).startswith("<!doctype html>")


async def test_other_methods_get_a_json_error(client: Client) -> None:
    response = await client.post(STATE.format(1), headers=KEY)
    assert response.status == 405 and (await response.json())["success"] is False


async def test_injected_faults_are_served_in_order_then_documents(client: Client) -> None:
    controller = client.app[SIM_KEY]
    controller.inject(
        5,
        Fault.error(503, "Service unavailable"),
        Fault.error(429, "Too many requests", retry_after=2),
        Fault.unsuccessful("Project is being migrated"),
        Fault.raw(b"<html>bad gateway</html>", status=502),
        Fault.raw(b'{"success": tr', content_type="application/json"),
    )
    controller.inject(6, Fault.error(500))
    assert controller.pending_faults(5) == 5
    seen = []
    for _ in range(6):
        response = await client.get(STATE.format(5), headers=KEY)
        seen.append((response.status, response.headers.get("Retry-After"), await response.read()))
    assert [status for status, _, _ in seen] == [503, 429, 200, 502, 200, 200]
    assert seen[1][1] == "2"
    assert json.loads(seen[2][2]) == {"success": False, "error": "Project is being migrated"}
    assert seen[3][2] == b"<html>bad gateway</html>" and seen[4][2] == b'{"success": tr'
    assert json.loads(seen[5][2])["success"] is True
    assert controller.pending_faults(5) == 0 and controller.pending_faults(6) == 1
    assert controller.requests(5) == 6


async def test_a_real_server_drops_and_delays_then_recovers() -> None:
    async with SimulatorServer(api_key="k3y", speed=60.0) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.url) and server.port > 0
        server.controller.inject(9, Fault.dropped(), Fault.slow(0.5))
        url = f"{server.url}/api/9/optimize/state"
        async with httpx.AsyncClient(headers={"x-api-key": "k3y"}) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(url)
            with pytest.raises(httpx.ReadTimeout):
                await http.get(url, timeout=0.2)
            response = await http.get(url)
            assert response.status_code == 200 and response.json()["success"] is True
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)


async def test_eon_bot_simulate_serves_until_sigterm() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "bot", "simulate", "--port", str(port)],
        *["--api-key", "cli-secret-key", "--speed", "30"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        async with httpx.AsyncClient(headers={"x-api-key": "cli-secret-key"}) as http:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60.0  # against a hang: a start takes seconds when busy
            while True:
                try:
                    response = await http.get(f"http://127.0.0.1:{port}/v1/api/1/optimize/state")
                    break
                except httpx.ConnectError:
                    if loop.time() > deadline:
                        pytest.fail("eon-bot simulate did not come up within 60 s")
                    await asyncio.sleep(0.1)
        assert response.status_code == 200 and response.json()["success"] is True
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    text = output.decode()
    assert f"http://127.0.0.1:{port}/v1" in text and "cli-secret-key" not in text


@pytest.mark.parametrize("seed", range(1, 6))
def test_no_milestone_after_the_end_even_when_the_job_crashes(seed: int) -> None:
    simulation = Simulation("1", seed=seed, trials=24, job_error=True)
    assert max(simulation.milestones()) <= simulation.duration


def test_a_stall_holds_the_clock_then_lets_it_run_on() -> None:
    from bot.sandbox.simulator.server import SimController, Stall

    wall = [100.0]
    controller = SimController(speed=10.0, clock=lambda: wall[0], stall=Stall(5.0, 30.0))
    seen = []
    for at in (100.0, 104.0, 105.0, 120.0, 135.0, 136.0):
        wall[0] = at
        seen.append(controller.now("1"))
    # 10x: 5 s of wall time in (second 50), held 30 s of wall time, then runs on
    assert seen == [0.0, 40.0, 50.0, 50.0, 50.0, 60.0]
    document = controller.simulation("1").document_bytes
    assert document(seen[2]) == document(seen[4])  # nothing moves while it is held
