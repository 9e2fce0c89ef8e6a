"""Harness for end-to-end tests: the real `eon-bot run` process, the tuner simulator and
FakeSlack, with what a run owes the channel computed from the simulation itself.

Why a real process: the unit tests call `build()` in-process, so they cannot catch what only
`eon-bot run` does (reading the environment, signal handling, exiting 0, a restart reading the
database a previous process wrote). The simulator and FakeSlack run in the test's own event
loop, so the test can freeze simulated time and read what Slack shows without any sleeps.

The pieces, each usable alone (fault tests build on them):

- `bot_environment(...)`: the process environment: the test's settings and nothing inherited
  (no `SLACK_*`, `EI_API_KEY*` or other setting of the developer's shell leaks in).
- `BotProcess`: start / `wait_healthy` / `terminate` (SIGTERM) / `kill` (SIGKILL) / `close`,
  `kill_now` + `reap` (SIGKILL from a FakeSlack hook, at an exact point of a request),
  each start's stdout and stderr in files under the work folder (`logs()` shows their tails),
  signed slash commands (`command`) and raw posts to `/slack/events` (`post_events`).
- `explain(*bots)`: a failing assertion or timeout inside it carries the bots' logs.
- `advance(controller, project_id, t)`: freeze a project's simulated clock at `t` and return
  once the bot has polled that moment and stored what it saw.
- `owed_notifications(simulation)`: every notification the channel is owed when the bot sees
  every state of the run, derived from the simulation's documents and attempts.
- `notification_problems` / `assert_notifications`: FakeSlack's channel against that list:
  each exactly once, its metadata, text, thread, broadcast flag, order, and the run cards.
- `Stack` / `e2e_stack(tmp_path)`: all of the above wired together for one test.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import struct
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import httpx

from bot.sandbox.fakeslack import FakeSlack, Message
from bot.sandbox.simulator.server import SimController, SimulatorServer
from bot.sandbox.simulator.simulation import Simulation
from bot.sandbox.slashcmd import send_slash_command
from bot.settings import Settings
from tests.ports import free_port

TOKEN: Final = "xoxb-e2e-bot-token"
SIGNING_SECRET: Final = "e2e-signing-secret"
EI_KEY: Final = "ei_e2e_api_key_0123456789"
PROJECT_ID: Final = "1"
CHANNEL: Final = "C0EONE2E"
USER: Final = "U0EONE2E"

ACK_LIMIT_S: Final = 3.0  # Slack shows the user an error past this
STOP_LIMIT_S: Final = 10.0  # what a platform gives a service between SIGTERM and SIGKILL
START_TIMEOUT_S: Final = 30.0  # imports and the database, on a loaded CI machine
POLL_INTERVAL_S: Final = 0.1
GRACE_POLLS: Final = (
    10  # `Stack.grace`: 1 s at POLL_INTERVAL_S on an idle machine, longer on a busy one
)
LOG_TAIL_LINES: Final = 25
NOTABLE_LINES: Final = 200

RUN_STARTED: Final = "eon_run_started"
TRIAL_COMPLETED: Final = "eon_trial_completed"
TRIAL_FAILED: Final = "eon_trial_failed"
TIME_LIMIT: Final = "eon_time_limit_exceeded"
JOB_FINISHED: Final = "eon_job_finished"
RUN_CHART: Final = "eon_run_chart"

# --- the process ------------------------------------------------------------------------------

_SETTING_NAMES: Final = frozenset(name.upper() for name in Settings.model_fields)


def _is_bot_setting(name: str) -> bool:
    """Names pydantic-settings would read (case-insensitively), plus anything Slack-ish."""
    upper = name.upper()
    return upper in _SETTING_NAMES or upper.startswith(("SLACK_", "EI_API_KEY"))


def as_in_a_terminal() -> None:
    """A child's `preexec_fn`: SIGINT at its default, as in a terminal. A suite started in the
    background by a shell (`pytest &`) passes SIGINT down ignored, and Python then keeps
    ignoring it: Ctrl-C tests would wait for a process that never sees it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def bot_environment(
    *,
    slack_api_url: str,
    ei_api_url: str,
    database_url: str,
    port: int | None = None,
    poll_interval: float = POLL_INTERVAL_S,
    outage_notice_after: float = 300.0,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of `eon-bot run` for a test: the test's settings and no others, so a
    developer's own `SLACK_APP_TOKEN` or `EI_API_KEY_<id>` cannot change what is tested."""
    env = {name: value for name, value in os.environ.items() if not _is_bot_setting(name)}
    env.update(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api_url,
        EI_API_URL=ei_api_url,
        EI_API_KEY=EI_KEY,
        DATABASE_URL=database_url,
        POLL_INTERVAL=f"{poll_interval:g}",
        OUTAGE_NOTICE_AFTER=f"{outage_notice_after:g}",
        PORT=str(free_port() if port is None else port),
        PYTHONUNBUFFERED="1",  # logs reach the files as they happen, also before a SIGKILL
        PYTHONFAULTHANDLER="1",  # a hung process shows its threads' stacks on SIGABRT
        # Every poll reads the state, so `advance` (which counts state reads) paces a test
        # after a run ends too; the idle tier's tests set it (tests/e2e/test_idle_tier.py).
        IDLE_FULL_READ="0",
    )
    env.update(extra or {})
    return env


@dataclass(frozen=True, slots=True)
class Stopped:
    """How a stop went: the exit code (negative: killed by that signal) and how long it took."""

    returncode: int | None
    seconds: float


@dataclass(frozen=True, slots=True)
class CommandReply:
    """Slack's view of a slash command: the HTTP answer to its POST and how long it took."""

    status: int
    body: dict[str, Any]
    seconds: float

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    @property
    def response_type(self) -> str | None:
        value = self.body.get("response_type")
        return None if value is None else str(value)


class BotProcess:
    """`python -m bot run` as the platform runs it (its own process, cwd `workdir`, so no stray
    `.env` is read), restartable on the same environment and database."""

    def __init__(self, workdir: Path, env: Mapping[str, str], *, name: str = "bot") -> None:
        self.workdir = workdir
        self.env = dict(env)
        self.name = name
        self.starts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._log_files: list[Path] = []

    @property
    def port(self) -> int:
        return int(self.env["PORT"])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/slack/events"

    @property
    def health_url(self) -> str:
        return f"{self.base_url}/healthz"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _open_logs(self) -> tuple[IO[bytes], IO[bytes]]:
        """Fresh files per start (`bot-2.stderr.log` is the second start's), so a restart's
        output is never mixed with, or overwrites, the first process's."""
        stem = f"{self.name}-{self.starts}"
        out, err = self.workdir / f"{stem}.stdout.log", self.workdir / f"{stem}.stderr.log"
        self._log_files += [out, err]
        return out.open("wb"), err.open("wb")

    async def start(self, *, wait: bool = True, within: float = START_TIMEOUT_S) -> None:
        """Start the process; with `wait`, return once `/healthz` answers 200."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.starts += 1
        stdout, stderr = self._open_logs()
        with stdout, stderr:  # the child has its own copies of the descriptors
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=self.workdir,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                preexec_fn=as_in_a_terminal,
            )
        if wait:
            await self.wait_healthy(within=within)

    async def wait_healthy(self, *, within: float = START_TIMEOUT_S) -> None:
        """Until `GET /healthz` is 200 with `{"ok": true}`; fails at once if the process dies.
        Each request may take what is left of `within`: a process slowed by a loaded machine
        (its event loop sharing the GIL with a chart being drawn) answers late, but answers;
        with a fixed 2 s per request, every try timed out for 30 s under -n 2 at a load of 14."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        last = "no answer"
        async with httpx.AsyncClient() as http:
            while True:
                if not self.running:
                    code = self._process.returncode if self._process else None
                    raise AssertionError(f"{self.name} exited ({code}) before it was healthy")
                try:
                    left = max(deadline - loop.time(), 0.5)
                    response = await http.get(self.health_url, timeout=left)
                except httpx.HTTPError as error:
                    last = f"{type(error).__name__}: {error}"
                else:
                    last = f"{response.status_code} {response.text[:200]}"
                    if response.status_code == 200 and response.json().get("ok") is True:
                        return
                if loop.time() > deadline:
                    raise AssertionError(
                        f"{self.name}: /healthz not 200 within {within:g}s (last: {last})"
                    )
                await asyncio.sleep(0.05)

    async def terminate(self, *, within: float = STOP_LIMIT_S) -> Stopped:
        """SIGTERM, as a platform stops a service; SIGKILL if it is still up after `within`
        seconds (then `seconds` >= within, and the caller's assertion on it fails)."""
        return await self._signal(signal.SIGTERM, within)

    async def interrupt(self, *, within: float = STOP_LIMIT_S) -> Stopped:
        """SIGINT, as Ctrl-C in a terminal."""
        return await self._signal(signal.SIGINT, within)

    async def kill(self) -> Stopped:
        """SIGKILL: a crash, an OOM kill or a host going away; nothing runs in the bot after it."""
        return await self._signal(signal.SIGKILL, STOP_LIMIT_S)

    def kill_now(self) -> None:
        """SIGKILL from synchronous code, such as a FakeSlack `on_message` hook, so the kill lands
        at an exact point of a request (Slack has acted, its answer not yet sent); `reap()` then
        collects the exit. Does nothing if the process is not running."""
        if self.running and self._process is not None:
            self._process.send_signal(signal.SIGKILL)

    async def reap(self, *, within: float = STOP_LIMIT_S) -> Stopped:
        """Wait for a process already signalled (`kill_now`) or exiting by itself to be gone."""
        process = self._process
        if process is None:
            raise RuntimeError(f"{self.name} was never started")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(process.wait(), within)
        return Stopped(process.returncode, loop.time() - started)

    async def _signal(self, signum: signal.Signals, within: float) -> Stopped:
        process = self._process
        if process is None or process.returncode is not None:
            raise RuntimeError(f"{self.name} is not running")
        loop = asyncio.get_running_loop()
        started = loop.time()
        process.send_signal(signum)
        try:
            await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            seconds = loop.time() - started
            # Stuck: SIGABRT makes faulthandler (PYTHONFAULTHANDLER) write every thread's
            # stack to stderr, so the logs show where; SIGKILL if even that does not end it.
            process.send_signal(signal.SIGABRT)
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except TimeoutError:
                process.kill()
                await process.wait()
            return Stopped(process.returncode, seconds)
        return Stopped(process.returncode, loop.time() - started)

    async def close(self) -> None:
        """For teardown: never leave a process behind, whatever the test did."""
        if self.running:
            await self.kill()

    def logs(self, tail: int = LOG_TAIL_LINES) -> str:
        """For failure messages: per start and stream, the lines that are not routine INFO
        (warnings, errors, tracebacks, faulthandler dumps; every poll logs two INFO lines,
        which would bury them), then the last `tail` lines whatever they are."""
        parts: list[str] = []
        for path in self._log_files:
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            if not lines:
                continue
            notable = [line for line in lines[:-tail] if " INFO " not in line]
            if len(notable) > NOTABLE_LINES:
                skipped = len(notable) - NOTABLE_LINES
                notable = [f"…({skipped} earlier lines)…", *notable[-NOTABLE_LINES:]]
            shown = "\n".join([*notable, f"… last {tail} lines:", *lines[-tail:]])
            parts.append(f"--- {path.name} ({len(lines)} lines) ---\n{shown}")
        return "\n".join(parts) or f"({self.name} wrote no output)"

    def log_text(self) -> str:
        """Everything every start wrote, for assertions on the logs themselves."""
        return "".join(p.read_text(errors="replace") for p in self._log_files if p.exists())

    async def command(
        self,
        http: httpx.AsyncClient,
        text: str,
        *,
        response_url: str,
        channel_id: str = CHANNEL,
        user_id: str = USER,
        trigger_id: str | None = None,
        team_id: str | None = None,
    ) -> CommandReply:
        """`/eon <text>` as Slack sends it (signed, form-encoded), timed end to end; from
        workspace `team_id` (many-workspace mode), else slash_body's default."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await send_slash_command(
            http,
            self.events_url,
            SIGNING_SECRET,
            text,
            channel_id=channel_id,
            user_id=user_id,
            response_url=response_url,
            trigger_id=trigger_id,
            team_id=team_id,
        )
        seconds = loop.time() - started
        body: dict[str, Any] = {}
        if response.content:
            with contextlib.suppress(ValueError):
                parsed = response.json()
                body = parsed if isinstance(parsed, dict) else {"value": parsed}
        return CommandReply(response.status_code, body, seconds)

    async def post_events(
        self, http: httpx.AsyncClient, body: str, headers: Mapping[str, str]
    ) -> httpx.Response:
        """A raw POST to `/slack/events` (forged or malformed requests)."""
        return await http.post(self.events_url, content=body, headers=dict(headers))


@contextlib.contextmanager
def explain(*bots: BotProcess) -> Iterator[None]:
    """Attach the bots' logs to an assertion or timeout raised inside: the process's own
    account is what tells a bot bug from a harness bug."""
    try:
        yield
    except (AssertionError, TimeoutError) as error:
        logs = "\n".join(bot.logs() for bot in bots)
        raise AssertionError(f"{error}\n\n==== eon-bot output ====\n{logs}") from error


def assert_ack(reply: CommandReply, *texts: str) -> None:
    """Answered inside Slack's 3 s window, only to the person who asked, saying `texts`."""
    assert reply.status == 200, f"/eon answered HTTP {reply.status}: {reply.body}"
    assert reply.seconds < ACK_LIMIT_S, f"/eon took {reply.seconds:.2f}s (Slack allows 3 s)"
    assert reply.response_type == "ephemeral", f"not ephemeral: {reply.body}"
    for text in texts:
        assert text in reply.text, f"{text!r} not in the answer {reply.text!r}"


# --- driving the simulated run ----------------------------------------------------------------


async def advance(
    controller: SimController,
    project_id: str,
    t: float,
    *,
    polls: int = 2,
    within: float = 10.0,
) -> None:
    """Freeze the project at simulated second `t`; return after `polls` more requests.

    The simulator renders a document in the same loop step it counts the request, so the
    first request after `set_time` already sees `t`; the bot's poll job never overlaps itself
    (max_instances=1), so a second request means the first one's result is stored. Other
    requests (`/eon watch` checking the project) can make this return early: wait for
    something visible after those.
    """
    before = controller.requests(project_id)
    controller.set_time(project_id, t)
    await polled(
        controller, project_id, before + polls, within=within, why=f"the clock moved to t={t:g}"
    )


async def polled(
    controller: SimController, project_id: str, requests: int, *, within: float, why: str
) -> None:
    """Until the simulator has counted `requests` requests for the project in all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    before = controller.requests(project_id)
    while controller.requests(project_id) < requests:
        if loop.time() > deadline:
            got = controller.requests(project_id) - before
            wanted = requests - before
            raise TimeoutError(
                f"the bot polled project {project_id} {got} time(s) in {within:g}s "
                f"after {why} (wanted {wanted})"
            )
        await asyncio.sleep(0.005)


# --- what a run owes the channel --------------------------------------------------------------

Identity = tuple[str, str, str | None, int | None]


@dataclass(frozen=True, slots=True)
class Owed:
    """One notification the channel must get exactly once.

    `payload` holds the `event_payload` values it must carry (others may be there too);
    `text_has` what its text must say when posted; `at` the simulated second it happened,
    which orders the channel. For a run's `eon_run_started` (its card), `card_has` is what
    the card must show once the run is over.
    """

    event_type: str
    tuner_job_id: str
    at: int
    trial_id: str | None = None
    retries: int | None = None  # failures only: a retried trial can fail more than once
    payload: Mapping[str, Any] = field(default_factory=dict)
    text_has: tuple[str, ...] = ()
    threaded: bool = True
    broadcast: bool = False
    card_has: tuple[str, ...] = ()

    @property
    def identity(self) -> Identity:
        return (self.event_type, self.tuner_job_id, self.trial_id, self.retries)

    def describe(self) -> str:
        trial = f" trial {self.trial_id}" if self.trial_id else ""
        again = f" (retries {self.retries})" if self.retries is not None else ""
        return f"{self.event_type} of job {self.tuner_job_id}{trial}{again} at t={self.at}"


CHART_FILE = re.compile(r"eon-tuner-(\w+)-(\w+)-[0-9a-f]{16}\.png")


def identity_of(message: Message) -> Identity | None:
    """What a posted notification is about, read from its metadata only; a chart (a file,
    which carries no metadata) from its file's name."""
    for file in message.files:
        match = CHART_FILE.fullmatch(str(file.get("name")))
        if match:
            return (RUN_CHART, match.group(2), None, None)
    if not message.metadata:
        return None
    kind = str(message.metadata.get("event_type"))
    payload = message.metadata.get("event_payload") or {}
    trial = payload.get("trial_id")
    retries = payload.get("retries") if kind == TRIAL_FAILED else None
    return (
        kind,
        str(payload.get("tuner_job_id")),
        None if trial is None else str(trial),
        retries if isinstance(retries, int) else None,
    )


def _dig(value: Any, *path: str | int) -> Any:
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and len(value) > step else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


def headline_numbers(trial: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's accuracy, latency, RAM and ROM where `shared/design.md` says they are,
    written independently of `bot.core.summary` so the two can disagree."""
    precision = config.get("optimizationPrecision") or "int8"
    accuracy = _dig(trial, "metrics", "test", precision, "accuracy")
    if accuracy is None:
        first_learn_block = _dig(trial, "impulse", "learnBlocks", 0)
        accuracy = _dig(first_learn_block, "metrics", "test", precision, "accuracy")
    perf = _dig(trial, "devicePerformance", precision)
    if not isinstance(perf, dict):
        entries = _dig(trial, "metrics", "test", precision, "onDevicePerformance") or []
        device = _dig(config, "targetDevice", "name")
        perf = next((e for e in entries if e.get("mcu") == device), None) or next(
            (e for e in entries if e.get("isDefault")), {}
        )
    ram = _dig(perf, "eon", "ramRequired")
    rom = _dig(perf, "eon", "romRequired")
    numbers = {
        "accuracy": accuracy,
        "latency_ms": perf.get("latency"),
        "ram_bytes": ram if ram is not None else _dig(perf, "tflite", "ramRequired"),
        "rom_bytes": rom if rom is not None else _dig(perf, "tflite", "romRequired"),
    }
    return {key: value for key, value in numbers.items() if value is not None}


def best_trial(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The highest-accuracy completed trial that fits the latency target and the device's
    RAM and ROM (ties: lower latency); the best overall if none fits."""
    config = document.get("config") or {}
    target_latency = config.get("targetLatency")
    device = config.get("targetDevice") or {}
    scored: list[tuple[float, float, int, dict[str, Any], bool]] = []
    for index, trial in enumerate(document.get("trials") or []):
        if trial.get("status") != "completed":
            continue
        numbers = headline_numbers(trial, config)
        if numbers.get("accuracy") is None:
            continue
        latency = numbers.get("latency_ms")
        ram, rom = numbers.get("ram_bytes"), numbers.get("rom_bytes")
        fits = not (
            (target_latency and latency is not None and latency > target_latency)
            or (device.get("ram") and ram is not None and ram > device["ram"])
            or (device.get("rom") and rom is not None and rom > device["rom"])
        )
        rank_latency = math.inf if latency is None else float(latency)
        scored.append((-float(numbers["accuracy"]), rank_latency, index, trial, fits))
    scored.sort(key=lambda item: item[:3])
    chosen = next((item for item in scored if item[4]), scored[0] if scored else None)
    return chosen[3] if chosen else None


def _standing(trial: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[bool, float, float]:
    """What makes one trial better than another: fitting, then accuracy, then speed."""
    numbers = headline_numbers(trial, config)
    latency = numbers.get("latency_ms")
    ram, rom = numbers.get("ram_bytes"), numbers.get("rom_bytes")
    device = config.get("targetDevice") or {}
    fits = not (
        (config.get("targetLatency") and latency is not None and latency > config["targetLatency"])
        or (device.get("ram") and ram is not None and ram > device["ram"])
        or (device.get("rom") and rom is not None and rom > device["rom"])
    )
    speed = -math.inf if latency is None else -float(latency)
    return fits, float(numbers.get("accuracy", -1.0)), speed


def new_bests(simulation: Simulation) -> set[tuple[str, str]]:
    """(tuner job, trial id) of each completion that beats every trial of its run completed
    before it (the first counts; an exact tie keeps the earlier), from the documents alone.
    Trials an extended search lists again from the earlier run count as before it."""
    found: set[tuple[str, str]] = set()
    for run in simulation.runs:
        end = simulation.document(run.end)
        config = end["config"]
        listed = {trial["id"]: trial for trial in end["trials"]}
        order = {trial_id: index for index, trial_id in enumerate(listed)}
        earlier = [
            _standing(trial, config)
            for trial_id, trial in listed.items()
            if trial_id not in run.trial_ids and trial.get("status") == "completed"
        ]
        best = max(earlier, default=None)
        completions = sorted(
            (attempt.end, order.get(trial_id, 0), trial_id)
            for trial_id in run.trial_ids
            for attempt in simulation.attempts(trial_id)
            if not attempt.failed
        )
        for _, _, trial_id in completions:
            standing = _standing(listed[trial_id], config)
            if best is None or standing > best:
                found.add((str(run.tuner_job_id), trial_id))
                best = standing
    return found


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def percent(fraction: float) -> str:
    """Accuracy as the contract shows it: "NN.N%"."""
    return f"{fraction * 100:.1f}%"


def owed_notifications(simulation: Simulation) -> list[Owed]:
    """Everything a channel watching the project from second 0 is owed, if the bot sees every
    state (`advance` through `simulation.milestones()`): per run its card, one completion per
    trial that completes, one failure per failed attempt, the time limit where it binds and
    the job's end. Ordered by the simulated second each happens at."""
    project = simulation.project_id
    final = simulation.document(simulation.duration)
    trials = {trial["id"]: trial for trial in final["trials"]}
    bests = new_bests(simulation)
    owed: list[Owed] = []
    for run in simulation.runs:
        job = str(run.tuner_job_id)
        base = {"project_id": project, "tuner_job_id": job}
        end = simulation.document(run.end)
        status = end["status"]
        done = status["numCompletedTrials"] + status["numFailedTrials"]
        listed = sum(status[f"num{kind}Trials"] for kind in ("Pending", "Running"))
        planned = max(end["config"]["tuningMaxTrials"], done + listed)
        owed.append(
            Owed(
                RUN_STARTED,
                job,
                run.start,
                payload=base,
                text_has=(f"project {project}",),
                threaded=False,
                card_has=("Finished", f"{done} of {planned} trials"),
            )
        )
        for trial_id in run.trial_ids:
            trial = trials[trial_id]
            name = str(trial.get("name") or trial_id)
            named = {**base, "trial_id": trial_id, "trial_name": name}
            for index, attempt in enumerate(simulation.attempts(trial_id)):
                if attempt.failed:
                    owed.append(
                        Owed(
                            TRIAL_FAILED,
                            job,
                            attempt.end,
                            trial_id,
                            retries=index,
                            payload={**named, "retries": index},
                            text_has=(slack_escape(name), "failed"),
                        )
                    )
                    continue
                numbers = headline_numbers(trial, final["config"])
                owed.append(
                    Owed(
                        TRIAL_COMPLETED,
                        job,
                        attempt.end,
                        trial_id,
                        payload={**named, **numbers, "is_best": (job, trial_id) in bests or None},
                        text_has=(slack_escape(name), percent(numbers["accuracy"]))
                        + (("🏆 new best",) if (job, trial_id) in bests else ()),
                    )
                )
        if run.time_limit_at is not None:
            at_limit = simulation.document(run.time_limit_at)
            owed.append(
                Owed(
                    TIME_LIMIT,
                    job,
                    run.time_limit_at,
                    payload={**base, "can_extend_search": at_limit["canExtendSearch"]},
                    text_has=("time limit",),
                    broadcast=True,
                )
            )
        best = best_trial(end)
        outcome = "failed" if end.get("jobError") else "completed"
        finished: dict[str, Any] = {
            **base,
            "outcome": outcome,
            "completed_trials": status["numCompletedTrials"],
            "failed_trials": status["numFailedTrials"],
        }
        text_has = ["failed" if outcome == "failed" else "finished"]
        if best is not None:
            finished["best_trial_id"] = best["id"]
            text_has.append(slack_escape(str(best.get("name") or best["id"])))
        owed.append(
            Owed(
                JOB_FINISHED,
                job,
                run.end,
                payload=finished,
                text_has=tuple(text_has),
                broadcast=True,
            )
        )
        if status["numCompletedTrials"] + status["numFailedTrials"]:
            owed.append(Owed(RUN_CHART, job, run.end, text_has=("📈",)))  # a file: no metadata
    owed.sort(key=lambda item: item.at)  # stable: same-second events keep the run's order
    identities = Counter(item.identity for item in owed)
    duplicated = [identity for identity, count in identities.items() if count > 1]
    if duplicated:
        raise ValueError(f"harness bug: owed identities repeat: {duplicated}")
    return owed


def step_with_news(times: Sequence[float], owed: Sequence[Owed], start: int) -> int:
    """The first index from `start` whose moment owes the channel something: a stop or a
    fault there lands while that step's notifications are being stored or posted."""
    moments = {item.at for item in owed}
    return next(i for i in range(start, len(times)) if times[i] in moments)


# --- checking what Slack shows ----------------------------------------------------------------


def _posted(message: Message) -> Message:
    """The message as first posted (FakeSlack keeps earlier versions in `edits`)."""
    return message.edits[0] if message.edits else message


def _short(message: Message) -> str:
    return f"ts {message.ts} {message.text[:120]!r}"


def delivered_all(fake: FakeSlack, channel: str, owed: Sequence[Owed]) -> bool:
    """Every owed notification posted and every card in its final state (the wait condition;
    `notification_problems` then says whether it all happened exactly right)."""
    seen = {identity_of(m): m for m in fake.messages(channel)}
    for item in owed:
        message = seen.get(item.identity)
        if message is None:
            return False
        if any(text not in message.text for text in item.card_has):
            return False
    return True


def notification_problems(
    fake: FakeSlack, channel: str, owed: Sequence[Owed], unordered: Collection[Identity] = ()
) -> list[str]:
    """Everything wrong with the channel, measured against `owed` (empty: all is right).
    `unordered`: notifications whose moment the bot could not know (a failure retried while
    it could not look), left out of the order check."""
    problems: list[str] = []
    messages = fake.messages(channel)
    seen: dict[Identity, list[Message]] = {}
    for message in messages:
        identity = identity_of(message)
        if identity is None:
            problems.append(f"a message without metadata: {_short(message)}")
            continue
        seen.setdefault(identity, []).append(message)

    expected = {item.identity: item for item in owed}
    for item in owed:
        count = len(seen.get(item.identity, []))
        if count != 1:
            problems.append(f"{item.describe()}: posted {count} times, owed exactly once")
    for identity, found in seen.items():
        if identity not in expected:
            problems.append(f"not owed, posted {len(found)}x: {identity} {_short(found[0])}")

    cards: dict[str, Message] = {}
    for item in owed:
        found = seen.get(item.identity, [])
        if item.event_type == RUN_STARTED and found:
            cards[item.tuner_job_id] = found[0]
    runs = [item.tuner_job_id for item in owed if item.event_type == RUN_STARTED]
    top = [message.ts for message in fake.top_level(channel)]
    want_top = [cards[job].ts for job in runs if job in cards]
    if top != want_top:
        problems.append(f"top-level messages {top}, wanted one card per run: {want_top}")

    keys: Counter[str] = Counter()
    for item in owed:
        found = seen.get(item.identity, [])
        if len(found) != 1:
            continue
        message = found[0]
        payload = (message.metadata or {}).get("event_payload") or {}
        for name, value in item.payload.items():
            got = payload.get(name)
            if got != value or isinstance(got, bool) != isinstance(value, bool):
                problems.append(
                    f"{item.describe()}: event_payload[{name!r}] is {got!r}, owed {value!r}"
                )
        key = payload.get("event_key")
        if item.event_type == RUN_CHART:
            problems += _chart_problems(item, message, fake)
        elif not isinstance(key, str) or not key:
            problems.append(f"{item.describe()}: event_key missing from its metadata")
        else:
            keys[key] += 1
        posted = _posted(message)
        for text in item.text_has:
            if text not in posted.text:
                problems.append(f"{item.describe()}: text lacks {text!r}: {posted.text[:300]!r}")
        card = cards.get(item.tuner_job_id)
        if not item.threaded:
            if message.thread_ts is not None:
                problems.append(f"{item.describe()}: in a thread, owed top level")
        elif card is None or message.thread_ts != card.ts:
            problems.append(
                f"{item.describe()}: thread_ts {message.thread_ts}, owed its run's card "
                f"{card.ts if card else '(no card)'}"
            )
        elif message.reply_broadcast != item.broadcast:
            problems.append(
                f"{item.describe()}: reply_broadcast {message.reply_broadcast}, "
                f"owed {item.broadcast}"
            )
        if item.card_has:
            first = message.edits[0].text if message.edits else message.text
            if message.edit_count == 0 and not all(text in first for text in item.card_has):
                # A card posted late may show the end already; otherwise it must have moved.
                problems.append(f"{item.describe()}: the card was never edited")
            for text in item.card_has:
                if text not in message.text:
                    problems.append(
                        f"{item.describe()}: the card lacks {text!r} at the end: "
                        f"{message.text[:400]!r}"
                    )
    repeated = sorted(key for key, count in keys.items() if count > 1)
    if repeated:
        problems.append(f"event_key shared by several messages: {repeated}")

    when = {identity: item.at for identity, item in expected.items()}
    order = [
        (when[i], m.ts) for m in messages if (i := identity_of(m)) in when and i not in unordered
    ]
    for (before, ts_before), (after, ts_after) in zip(order, order[1:], strict=False):
        if after < before:
            problems.append(
                f"out of order: {ts_after} (t={after}) posted after {ts_before} (t={before})"
            )
    return problems


def _chart_problems(item: Owed, message: Message, fake: FakeSlack) -> list[str]:
    """A run's chart is a real PNG of at least 800 × 500 pixels (read from its IHDR chunk)."""
    (file,) = message.files
    data = fake.file(str(file["id"])).data or b""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return [f"{item.describe()}: not a PNG ({data[:16]!r})"]
    width, height = struct.unpack(">II", data[16:24])
    if width < 800 or height < 500:
        return [f"{item.describe()}: {width} × {height} px, smaller than 800 × 500"]
    return []


def assert_notifications(
    fake: FakeSlack, channel: str, owed: Sequence[Owed], unordered: Collection[Identity] = ()
) -> None:
    """`notification_problems` as one assertion listing every problem at once."""
    problems = notification_problems(fake, channel, owed, unordered)
    counts = Counter(item.event_type for item in owed)
    assert not problems, (
        f"{len(problems)} problem(s) in {channel} (owed: {dict(counts)}, "
        f"posted: {len(fake.messages(channel))}):\n" + "\n".join(f"- {p}" for p in problems)
    )


# --- all of it, for one test ------------------------------------------------------------------


@dataclass
class Stack:
    """A simulator, a FakeSlack and a (not yet started) bot process wired to both."""

    simulator: SimulatorServer
    slack: FakeSlack
    http: httpx.AsyncClient
    bot: BotProcess
    project_id: str = PROJECT_ID
    channel: str = CHANNEL

    @property
    def controller(self) -> SimController:
        return self.simulator.controller

    @property
    def simulation(self) -> Simulation:
        return self.controller.simulation(self.project_id)

    async def command(self, text: str, *, channel_id: str | None = None) -> CommandReply:
        """`/eon <text>` in `channel_id` (the stack's channel), with a fresh response_url."""
        return await self.bot.command(
            self.http,
            text,
            response_url=self.slack.response_url(),
            channel_id=channel_id or self.channel,
        )

    async def advance(self, t: float, *, polls: int = 2, within: float = 10.0) -> None:
        await advance(self.controller, self.project_id, t, polls=polls, within=within)

    async def grace(self, polls: int = GRACE_POLLS, *, within: float = 60.0) -> None:
        """Time for something wrong (a second post, a late notice) to show up before a final
        check: `polls` more polls of the project, the clock where it is. Counted in polls, not
        seconds, so a busy machine gets a longer window, not a shorter one."""
        controller = self.controller
        requests = controller.requests(self.project_id) + polls
        await polled(controller, self.project_id, requests, within=within, why="the grace began")

    async def watch(self, channel_id: str | None = None) -> None:
        """`/eon watch` in `channel_id` (the stack's channel), then wait for the run card
        there: the bot's first poll for it is stored by then, so the watch's own check of the
        project no longer muddles `advance` (nor the next channel's watch)."""
        channel = channel_id or self.channel
        reply = await self.command(f"watch {self.project_id}", channel_id=channel)
        assert_ack(reply, f"Watching project {self.project_id}")
        await self.slack.wait_for(lambda fake: fake.top_level(channel), timeout=15.0)


@contextlib.asynccontextmanager
async def e2e_stack(
    tmp_path: Path,
    *,
    trials: int = 24,
    poll_interval: float = POLL_INTERVAL_S,
    outage_notice_after: float = 300.0,
    extra_env: Mapping[str, str] | None = None,
    on_slack_message: Callable[[Message, str], None] | None = None,
    database_url: str | None = None,
) -> AsyncIterator[Stack]:
    """The simulator (key required, clock frozen at 0 for `PROJECT_ID`) and FakeSlack in this
    loop, and a bot process configured for both with its database under `tmp_path`. The bot
    is killed on the way out if the test left it running. `on_slack_message` is FakeSlack's
    `on_message`: called as each post or edit is stored, before its answer goes out.
    `database_url`: another database than a SQLite file under `tmp_path` (PostgreSQL)."""
    async with (
        # Ports of the worker's own (tests.ports): a server stopped for an outage comes back
        # on its port, which no connection may have taken from the kernel's range meanwhile.
        SimulatorServer(api_key=EI_KEY, trials=trials, port=free_port()) as simulator,
        FakeSlack(token=TOKEN, on_message=on_slack_message, port=free_port()) as slack,
        httpx.AsyncClient(timeout=10.0) as http,
    ):
        simulator.controller.set_time(PROJECT_ID, 0)
        env = bot_environment(
            slack_api_url=slack.api_url,
            ei_api_url=simulator.url,
            database_url=database_url or f"sqlite:///{tmp_path / 'bot.db'}",
            poll_interval=poll_interval,
            outage_notice_after=outage_notice_after,
            extra=extra_env,
        )
        bot = BotProcess(tmp_path, env)
        try:
            yield Stack(simulator=simulator, slack=slack, http=http, bot=bot)
        finally:
            await bot.close()
