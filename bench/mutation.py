"""Mutation testing (mutmut 3) of the modules where a wrong line costs a team most: acting on a
run, the keys, request verification and who may act, the handover, delivery's exactly-once
poster and the diff. A suite is measured by the bugs it catches, not by the lines it runs.

    python bench/mutation.py                      # every module, in the order of MODULES
    python bench/mutation.py actions handover     # some of them
    python bench/mutation.py --list               # the modules, their files and their tests
    python bench/mutation.py --survivors diff     # also each unexplained survivor's diff
    python bench/mutation.py --jobs 2             # mutants at once (default 1: a shared machine)
    python bench/mutation.py --again handover     # keep the killed, run the others again
    python bench/mutation.py verification --file web.py  # one file of a module (+ --again)
    python bench/mutation.py actions --function RunActions.claim  # one function's mutants
    python bench/mutation.py --report --survivors diff   # the last verdicts, nothing run

Each module is mutated alone, in a scratch copy of the tree (`.mutation/<module>/`, ignored by
git), and each of its mutants runs against only the tests listed for it in MODULES, which
mutmut narrows further to the tests that reach the mutated function: a module takes minutes,
not the suite's time per mutant. Each run starts afresh; `--again` keeps the verdicts of the
mutants killed last time (a test added kills more, it never revives one) and runs the others
again with the tests' reach measured anew: the loop of reading a survivor and writing its
test. The files to mutate are `[tool.mutmut] only_mutate` in
pyproject.toml (what a plain `mutmut run` at the root does, all at once); this script fails
when the two lists differ. PostgreSQL is left out (`TEST_POSTGRES_URL` unset) but for the
actions store, whose queries differ by dialect: the other modules' store runs on SQLite, and
the run stays short. Runs under `nice`.

Printed per module: mutants, killed, timeout (counted as caught: the mutant hangs a test),
survived, of which reached by no listed test, of which known to be equivalent (EQUIVALENT,
each with why), and the score, (killed + timeout) / mutants. The target is 90 % a module,
and every survivor either killed by a test or listed in EQUIVALENT. docs/mutation.md keeps
the scores and how to read a survivor (`mutmut show NAME` in the module's copy).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
TARGET = 0.90


@dataclass(frozen=True)
class Module:
    files: tuple[str, ...]  # what is mutated
    tests: tuple[str, ...]  # what its mutants run against (no e2e: those run the installed code)
    postgres: bool = False  # its tests' PostgreSQL variants too (where TEST_POSTGRES_URL is set)


# Ordered by what a bug costs: acting twice on a run, a key, a forged request first.
MODULES: dict[str, Module] = {
    "actions": Module(
        ("bot/slack/actions.py",),
        ("tests/slack/test_run_actions.py", "tests/slack/test_action_sweep.py"),
    ),
    "actions-store": Module(
        ("bot/store/actions.py",),
        ("tests/store/test_actions.py", "tests/slack/test_run_actions.py"),
        postgres=True,  # its claims' queries differ by dialect (stale_actions' gone())
    ),
    "keys": Module(
        ("bot/keys/box.py", "bot/keys/ring.py"),
        # not tests/slack/test_eon_key.py: its forms wait on users.info within the product's
        # 1 s, which a loaded machine misses (a false kill); key-form runs it
        ("tests/keys/test_keys.py", "tests/keys/test_rotation.py"),
    ),
    "key-form": Module(("bot/slack/listeners/eon_key.py",), ("tests/slack/test_eon_key.py",)),
    "handover": Module(
        ("bot/core/handover.py",),
        ("tests/core/test_handover.py", "tests/test_extended_run.py", "tests/test_poll_cost.py"),
    ),
    "poster": Module(
        ("bot/slack/delivery/poster.py",),
        (
            "tests/slack/test_poster.py",
            "tests/slack/test_poster_rows.py",
            "tests/slack/test_delivery.py",
            "tests/slack/test_charts.py",
        ),
    ),
    "verification": Module(
        (
            "bot/slack/inbound.py",
            "bot/slack/web.py",
            "bot/slack/auth.py",
            "bot/slack/key_admins.py",
            "bot/slack/listeners/run_buttons.py",
        ),
        # not tests/slack/test_eon_key.py nor tests/test_app.py: real servers within the
        # product's time limits, which a loaded machine misses (false kills); test_web,
        # test_key_admins and test_auth test the same below the servers
        (
            "tests/slack/test_inbound.py",
            "tests/slack/test_web.py",
            "tests/slack/test_key_admins.py",
            "tests/slack/test_auth.py",
            "tests/slack/test_auth_start.py",
            "tests/slack/test_click_ack.py",
            "tests/slack/test_commands.py",
            "tests/slack/test_run_actions.py",
            "tests/test_check.py",
        ),
    ),
    "diff": Module(
        ("bot/core/diff.py",),
        # not test_diff_property.py: 40 s of hypothesis for each mutant it does not kill
        ("tests/core/test_diff.py", "tests/core/test_handover.py", "tests/core/test_increment.py"),
    ),
}

ASCII = "codec names are case-insensitive: 'ASCII' is 'ascii'"
PROTOCOL = "a default in a Protocol's stub: never run, the store's own default is the one used"
ANY_MODE = "routing gives an unknown mode every event (bot.core.routing.receives), as 'all' does"
CACHE = "a miss of KeyRing.refresh's cache of opened keys: opened again, the same key"
NO_PERCENT = "the line names project ids (digits) only: without '%s' it logs the same text"
FINISHED_HAS_OUTCOME = (
    "the end is told only when is_finished(state), and a summary of a finished state always has "
    "an outcome (summarize: 'failed' or 'completed'), so the default is never reached"
)
CUT_HOLDS_KNOWN = (
    "cut holds every known stopped trial (diff starts it from them), so when it is no larger "
    "than known it adds nothing, and known + () is known"
)
NO_CUT_NO_CHANGE = (
    "with_stops without cut trials returns the summary as it is: a summary as made counts no "
    "stopped trial (only with_stops sets that count), and cut is empty on a new run"
)
SAME_LENGTH = "found is made from prev.run_trials, so the two always have the same length"
SAME_RUN = (
    "a stop or extend is claimed only when why_stale found the snapshot's run to be the "
    "click's (snapshot.run_id is run_job_id of the same two ids), so the click's run id, the "
    "job id and their fallback are one id"
)
JSON_TYPES = "a parsed body holds JSON's types only, each named in _JSON_NAMES: no default"
SHAPE_KINDS = "every kind SHAPE names is a mapping, a list or a type in _JSON_NAMES: no default"
BODY_IS_DICT = (
    "read() gives shape_problem only an object, where the problem is always a field's, never "
    "'the body'"
)
UTF8 = "codec names are case-insensitive: 'UTF-8' is 'utf-8'"
HEADER_CASE = "HTTP header names are case-insensitive (aiohttp's CIMultiDict)"
NULL_HOLDER = "SQL: NULL != owner is NULL, not true, so a claim without a holder is left out anyway"
UNTHREADED = "a DM is posted with thread_ts None, and `broadcast` is sent only with a thread_ts"
PAUSE_ONLY = (
    "only whether the verdict is a Pause is read; attempts is None only for an unknown outcome, "
    "which never pauses, and max_wait_s bounds a Wait alone"
)
A_RUNS_BELL = (
    "a DM row is a run's end queued for a bell on that run (bells.ring_due): its run id is "
    "always set, and its bell (hence bell_channel) exists while the row is read (outbox)"
)
PAGE_SIZE = "the page size: the same message is found, in more or fewer pages"
CARD_ROW_ALONE = (
    "differs only for a run-started row left attempting while its run has a card here; a row "
    "is attempting only once posted with no card, and the channel's rows go one at a time, "
    "so no other row of the run can have made the card meanwhile"
)

# Survivors that no test can kill: the mutant behaves as the original for every input. Keyed by
# module, then (function, the mutated line as `mutmut show` prints it, stripped): why.
EQUIVALENT: dict[str, dict[tuple[str, str], str]] = {
    "keys": {
        (
            "KeyBox.seal",
            "return self._fernets(project_id).encrypt(key.get_secret_value().encode())"
            '.decode("ASCII")',
        ): ASCII,
        (
            "KeyBox.open",
            'return SecretStr(self._fernets(project_id).decrypt(sealed.encode("ASCII")).decode())',
        ): ASCII,
        (
            "KeyBox.reseal",
            'self._fernet(project_id, self._secret).decrypt(sealed.encode("ASCII"))',
        ): ASCII,
        (
            "KeyBox.reseal",
            'return self._fernets(project_id).rotate(sealed.encode("ASCII")).decode("ascii")',
        ): ASCII,
        (
            "KeyBox.reseal",
            'return self._fernets(project_id).rotate(sealed.encode("ascii")).decode("ASCII")',
        ): ASCII,
        # KeyRing.refresh keeps what it opened while the stored text is the same: these only
        # miss that cache, and opening again gives the same key.
        ("KeyRing.refresh", "kept = None"): CACHE,
        ("KeyRing.refresh", "kept = self._opened.get(None)"): CACHE,
        (
            "KeyRing.refresh",
            "if kept is not None and kept[1] == row.sealed "
            "and row.project_id not in self._previous:",
        ): CACHE,
        ("KeyRing.refresh", "sealed = None"): CACHE,
        ("KeyRing.refresh", "log.info(resealed_line(resealed))"): NO_PERCENT,
        ("KeyRing.refresh", "log.error(line)"): NO_PERCENT,
        ("KeyRing._open", "raise Unreadable(None)"): "refresh catches it and names the row itself",
    },
    "verification": {
        ("_kind", "return _JSON_NAMES.get(type(value), None)"): JSON_TYPES,
        ("_kind", "return _JSON_NAMES.get(type(value), )"): JSON_TYPES,
        ("_kind", 'return _JSON_NAMES.get(type(value), "A VALUE")'): JSON_TYPES,
        (
            "_kind_name",
            'return "an object" if isinstance(kind, Mapping) else _JSON_NAMES.get(kind, None)',
        ): SHAPE_KINDS,
        (
            "_kind_name",
            'return "an object" if isinstance(kind, Mapping) else _JSON_NAMES.get(kind, )',
        ): SHAPE_KINDS,
        (
            "_kind_name",
            'return "an object" if isinstance(kind, Mapping) else '
            '_JSON_NAMES.get(kind, "XXa valueXX")',
        ): SHAPE_KINDS,
        (
            "_kind_name",
            'return "an object" if isinstance(kind, Mapping) else _JSON_NAMES.get(kind, "A VALUE")',
        ): SHAPE_KINDS,
        (
            "_problem",
            "elif isinstance(value, kind) and not (kind is int or isinstance(value, bool)):",
        ): "SHAPE names no int or bool kind, so the guard against a bool passing for an int is "
        "never reached, with `and` or `or`",
        (
            "_problem",
            "return f\"{where or 'XXthe bodyXX'} is {_kind(value)}, not {said}\"",
        ): BODY_IS_DICT,
        (
            "_problem",
            "return f\"{where or 'THE BODY'} is {_kind(value)}, not {said}\"",
        ): BODY_IS_DICT,
        ("shape_problem", "problem = _problem(body, (SHAPE,), None)"): (
            "where is only read as true or false (`_at`, `where or ...`): None is as empty as ''"
        ),
        (
            "events_handler",
            'body = read(raw, request.headers.get("content-type", "").split(";")[0] or None)',
        ): HEADER_CASE,
        (
            "events_handler",
            'body = read(raw, request.headers.get("CONTENT-TYPE", "").split(";")[0] or None)',
        ): HEADER_CASE,
        (
            "events_handler",
            'body = read(raw, request.headers.get("Content-Type", "XXXX").split(";")[0] or None)',
        ): "without a Content-Type, None and 'XXXX' are alike not 'application/json': bolt's "
        "parse_body reads the body by its first character either way",
        ("events_handler", 'text = raw.decode("UTF-8")  # read() above decoded it once already'): (
            UTF8
        ),
        ("metrics_answer", 'response.headers["content-type"] = CONTENT_TYPE'): HEADER_CASE,
        ("metrics_answer", 'response.headers["CONTENT-TYPE"] = CONTENT_TYPE'): HEADER_CASE,
        (
            "auth_test",
            'header = response.headers.get("x-oauth-scopes") '
            "if (response.headers) or True else None",
        ): "slack_sdk's answers always carry a headers mapping; an empty one gives no scopes "
        "either way",
        ("verify", 'valid = verifier.is_valid(raw.decode("UTF-8"), stamp, signature)'): UTF8,
        ("read", 'text = raw.decode("UTF-8")'): UTF8,
        ("verify", "valid = None"): "None is as false as False where it is read (`if not valid`)",
        ("take", 'user_id = str((body.get("user") or {}).get("id") or "XXXX")'): (
            "a click without a user is '' or 'XXXX': neither is in ADMIN_USER_IDS (Settings takes "
            "only U…/W… ids), and read_click refuses a click without a user either way"
        ),
    },
    "actions": {
        (
            "RunActions.claim",
            "else run_job_id(snapshot.coordinator_job_id, snapshot.tuner_job_id) and click.run_id,",
        ): SAME_RUN,
        (
            "RunActions.claim",
            "else run_job_id(snapshot.coordinator_job_id, None) or click.run_id,",
        ): SAME_RUN,
        ("RunActions._follow", "assert record.id is not None or record.job_id is not None"): (
            "followed_actions reads stored rows (an id each) that started a job (a job id each): "
            "the assert holds with `or` as with `and`"
        ),
        (
            "ActionStore.claim_action",
            "self, wanted: ActionRecord, *, claim_s: float = 61.0, owner: str | None = None",
        ): PROTOCOL,
    },
    "key-form": {
        (
            "submit",
            'user_id = str((body.get("user") or {}).get("id") or "XXXX")',
        ): "a submission without a user is refused either way: no admin is named '' or 'XXXX', "
        "and users.info knows neither",
        (
            "submit",
            'context = FormContext.load(str(view.get("private_metadata") or "XXXX"))',
        ): "FormContext.load reads '' and 'XXXX' alike: neither is JSON, both None",
        (
            "submit",
            "async with asyncio.timeout(max(left, 1.1)):",
        ): "left is never under 1.1 s: the form has 2.5 s, and before the check only the admin "
        "check waits, bounded by ADMIN_CHECK_TIMEOUT_S (1 s)",
        (
            "_tell",
            "row = deps.keys.row(pid) if (deps.keys is not None) or True else None",
        ): "tell runs only after a key was stored, which needs deps.keys",
    },
    "poster": {
        (
            "PosterStore.mark_attempting",
            "self, row_id: int, *, owner: str | None = None, claim_s: float = 61.0",
        ): PROTOCOL,
        (
            "Poster._deliver_dm",
            "ts = await self._post(row, message, slack, thread_ts=None, broadcast=None, "
            "channel=dm)",
        ): UNTHREADED,
        (
            "Poster._deliver_dm",
            "ts = await self._post(row, message, slack, thread_ts=None, broadcast=True, "
            "channel=dm)",
        ): UNTHREADED,
        (
            "Poster._deliver_dm",
            "verdict = judge(failed.error, failed.attempts or 2, max_wait_s=1.0)",
        ): PAUSE_ONLY,
        (
            "Poster._deliver_dm",
            "verdict = judge(failed.error, failed.attempts or 1, max_wait_s=2.0)",
        ): PAUSE_ONLY,
        (
            "Poster._open_dm",
            'self._dms[(row.team_id, user)] = str((response.get("channel") or {}).get("id") '
            'or "XXXX")',
        ): "Slack's conversations.open always names the channel when ok; without one, any "
        'made-up id is refused at the post (channel_not_found) as "" is',
        (
            "Poster._look_up",
            "in_thread = card is not None or row.event.kind is not EventKind.RUN_STARTED",
        ): CARD_ROW_ALONE,
        ("Poster._look_up", "if in_thread or card is not None:"): CARD_ROW_ALONE,
        ("Poster._look_up", "limit=201,"): PAGE_SIZE,
        (
            "Poster._look_up",
            'cursor: str | None = ""',
        ): "an empty cursor is Slack's first page, as none is",
        (
            "Poster._told",
            "stop = await stop_of(self._store, row.project_id, row.run_id) "
            "if (row.run_id) or True else None",
        ): A_RUNS_BELL,
        (
            "Poster._thread_link",
            "card = await self._store.card(channel, row.project_id, row.run_id) "
            "if (channel) or True else None",
        ): A_RUNS_BELL,
    },
    "actions-store": {
        ("Actions.claim_action", "inserted = await conn.execute(insert.returning(None))"): (
            "RETURNING NULL gives a row for an inserted row and none on a conflict, as "
            "RETURNING id does; only whether a row comes back is read"
        ),
        (
            "Actions.move_action",
            'await self._polls.enqueue(conn, [(event, [(channel, "XXallXX")]) '
            "for event in events], now)",
        ): ANY_MODE,
        (
            "Actions.move_action",
            'await self._polls.enqueue(conn, [(event, [(channel, "ALL")]) '
            "for event in events], now)",
        ): ANY_MODE,
        (
            "Actions.stale_actions",
            "gone = and_(holder != owner, self._backend.gone(holder))",
        ): NULL_HOLDER,
    },
    "diff": {
        (
            "_unseen_end",
            "old, carried, marks, state, baseline=None, cut_ids=set(prev.stopped_trials)",
        ): "None is as false as False where report_trials reads it (`if baseline`)",
        ("_finished_event", 'outcome=summary.outcome or "XXcompletedXX",'): FINISHED_HAS_OUTCOME,
        ("_finished_event", 'outcome=summary.outcome or "COMPLETED",'): FINISHED_HAS_OUTCOME,
        (
            "_in_order",
            "return known + tuple(sorted(cut.difference(known))) "
            "if (len(cut) > len(known)) or True else known",
        ): CUT_HOLDS_KNOWN,
        (
            "_in_order",
            "return known + tuple(sorted(cut.difference(known))) "
            "if len(cut) >= len(known) else known",
        ): CUT_HOLDS_KNOWN,
        ("_run_trials", "return known + added if (added) or True else known"): (
            "known + () is known"
        ),
        (
            "_this_run",
            "if cut or (not new_run or prev.summary is not None and prev.summary.counts.stopped):",
        ): NO_CUT_NO_CHANGE,
        (
            "_this_run",
            "if cut or (new_run and prev.summary is not None and prev.summary.counts.stopped):",
        ): NO_CUT_NO_CHANGE,
        ("_this_run", "own = max(1.0, summary.training_s - inherited)"): (
            "own is then cut to whole minutes (`own // 60`): 0 s and 1 s are both 0 min"
        ),
        (
            "_this_run",
            'return summary.model_copy(update={"training_s": float(int(own / 60) * 60)}), '
            "inherited",
        ): "own >= 0 (max with 0.0), where int() of own / 60 truncates as // floors",
        ("unseen_figures", "seen = sum(1 for t, m in zip(prev.run_trials, found, strict=None)"): (
            SAME_LENGTH
        ),
        ("unseen_figures", "seen = sum(1 for t, m in zip(prev.run_trials, found, )"): SAME_LENGTH,
        ("unseen_figures", "seen = sum(1 for t, m in zip(prev.run_trials, found, strict=False)"): (
            SAME_LENGTH
        ),
    },
    "handover": {
        (
            "to_close",
            "if mine not in ids or now not in ids or ids.index(now) <= ids.index(mine):",
        ): "the indexes are equal only when the current run is the snapshot's; then the slice "
        "between them is empty either way",
    },
}


@dataclass
class Tally:
    module: str
    seconds: float = 0.0
    statuses: dict[str, str] = field(default_factory=dict)  # mutant name: mutmut's status
    equivalent: dict[str, str] = field(default_factory=dict)  # survivor: why it is equivalent

    def count(self, *statuses: str) -> int:
        return sum(1 for s in self.statuses.values() if s in statuses)

    @property
    def score(self) -> float:
        total = len(self.statuses) - self.count("skipped")
        return (self.count("killed", "timeout") / total) if total else 1.0

    def survivors(self) -> list[str]:
        return sorted(
            (n for n, s in self.statuses.items() if s not in ("killed", "timeout", "skipped")),
            key=_natural,
        )


def _natural(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def check_config() -> list[str]:
    """The files pyproject's [tool.mutmut] mutates, which MODULES must name exactly."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    listed = sorted(config["only_mutate"])
    named = sorted(f for m in MODULES.values() for f in m.files)
    if listed != named:
        raise SystemExit(
            f"pyproject's [tool.mutmut] only_mutate {listed} and bench/mutation.py's MODULES "
            f"{named} differ: keep them the same"
        )
    return listed


def prepare(
    name: str,
    module: Module,
    *,
    again: bool,
    files: tuple[str, ...],
    functions: tuple[str, ...] = (),
    part: bool = False,
) -> Path:
    """The module's scratch copy: the tree as it is now, and a [tool.mutmut] of its own. The
    verdicts of the module's other files than `files` (or functions than `functions`) are
    kept (a run split by part)."""
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    if again:
        forget_all_but_killed(work / "mutants", files, functions)
    elif not part:
        shutil.rmtree(work / "mutants", ignore_errors=True)
    else:
        (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    for folder in ("bot", "tests"):
        shutil.rmtree(work / folder, ignore_errors=True)
        shutil.copytree(ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    pyproject = re.sub(  # the root's [tool.mutmut] table out, up to the next table
        r"\n\[tool\.mutmut\]\n.*?(?=\n\[|\Z)", "", (ROOT / "pyproject.toml").read_text(), flags=re.S
    )
    own = {
        "source_paths": ["bot"],
        "only_mutate": list(module.files),
        "pytest_add_cli_args_test_selection": list(module.tests),
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "-m", "not e2e"],
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in own.items()]
    (work / "pyproject.toml").write_text(pyproject + "\n[tool.mutmut]\n" + "\n".join(lines) + "\n")
    return work


def forget_all_but_killed(
    mutants: Path, files: tuple[str, ...], functions: tuple[str, ...] = ()
) -> None:
    """Every verdict but `killed` of `files` (of their `functions` if any) to be tried again,
    and which test reaches what measured anew (mutmut keeps both, and would not notice a test
    that was added)."""
    from mutmut.stats import status_by_exit_code  # here: mutmut reads its config on import

    (mutants / "mutmut-stats.json").unlink(missing_ok=True)
    for meta in (mutants / f"{file}.meta" for file in files):
        if not meta.exists():
            continue
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        data["exit_code_by_key"] = {
            key: code
            if status_by_exit_code[code] == "killed"
            or (functions and function_of(key) not in functions)
            else None
            for key, code in codes.items()
        }
        meta.write_text(json.dumps(data, indent=4))


def to_try(
    work: Path, files: tuple[str, ...], functions: tuple[str, ...], *, again: bool
) -> list[str]:
    """The mutant names given to `mutmut run` for a part of a module (`files`, and of them
    `functions` if any): the part's every mutant (patterns), or with `--again` its undecided
    ones by name (mutmut runs every mutant it is given by name, killed or not)."""
    names: list[str] = []
    for file in files:
        meta = work / "mutants" / f"{file}.meta"
        if again and meta.exists():
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            names += [
                key
                for key, code in codes.items()
                if code is None and (not functions or function_of(key) in functions)
            ]
        else:
            dotted = file.removesuffix(".py").replace("/", ".")
            mangled = [
                "x" + ("ǁ" + f.replace(".", "ǁ") if "." in f else "_" + f) for f in functions
            ]
            names += [f"{dotted}.{m}__mutmut_*" for m in mangled] or [f"{dotted}.*"]
    return names


def function_of(mutant: str) -> str:
    """The function a mutant name is of: `verify`, `RunActions.claim`."""
    mangled = mutant.rsplit(".", 1)[-1].split("__mutmut_")[0]  # x_f, or xǁClassǁmethod
    return mangled.removeprefix("x_").removeprefix("xǁ").replace("ǁ", ".")


def chosen_files(module: Module, wanted: list[str]) -> tuple[str, ...]:
    """The module's files `--file` names (by path, file name or stem); all of them if none."""
    if not wanted:
        return module.files
    named = tuple(f for f in module.files if {f, Path(f).name, Path(f).stem} & set(wanted))
    if not named:
        raise SystemExit(f"--file {' '.join(wanted)}: none of {', '.join(module.files)}")
    return named


def run(
    name: str,
    module: Module,
    jobs: int,
    *,
    again: bool,
    files: tuple[str, ...] | None = None,
    functions: tuple[str, ...] = (),
) -> Tally:
    """The module's mutants run (or, given `files` or `functions`, that part of them: the
    verdicts of the rest are kept)."""
    part = files not in (None, module.files) or bool(functions)
    files = files or module.files
    work = prepare(name, module, again=again, files=files, functions=functions, part=part)
    names = to_try(work, files, functions, again=again) if part else []
    if part and not names:  # all killed already: nothing to run
        return judged(Tally(name), work, module)
    dropped = ("CI",) if module.postgres else ("TEST_POSTGRES_URL", "CI")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    started = time.monotonic()
    with (work / "mutmut.log").open("w") as log:
        done = subprocess.run(
            [
                "nice",
                "-n",
                "10",
                sys.executable,
                "-m",
                "mutmut",
                "run",
                "--max-children",
                str(jobs),
                *names,
            ],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    tally = Tally(name, seconds=time.monotonic() - started)
    if done.returncode != 0:
        print(f"{name}: mutmut failed (exit {done.returncode}); see {work / 'mutmut.log'}")
    return judged(tally, work, module)


def judged(tally: Tally, work: Path, module: Module) -> Tally:
    """The tally of the verdicts in the module's copy, its survivors known to be equivalent
    named as such."""
    tally.statuses = statuses(work, module)
    known = EQUIVALENT.get(tally.module, {})
    for survivor in tally.survivors() if known else []:
        if tally.statuses[survivor] == "not checked":  # not run yet: nothing to explain
            continue
        key = mutated_line(work, survivor)
        if key in known:
            tally.equivalent[survivor] = known[key]
    return tally


def statuses(work: Path, module: Module) -> dict[str, str]:
    """Each mutant's status from mutmut's own results (the `.meta` files beside the mutants)."""
    from mutmut.stats import status_by_exit_code  # here: mutmut reads its config on import

    found: dict[str, str] = {}
    for file in module.files:
        meta = work / "mutants" / f"{file}.meta"
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found.update({key: status_by_exit_code[code] for key, code in codes.items()})
    return found


def show(work: Path, mutant: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", "show", mutant],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    ).stdout


def mutated_line(work: Path, mutant: str) -> tuple[str, str]:
    """(function, the mutant's changed line): how EQUIVALENT names a survivor, stable while
    mutmut's numbering moves with the code."""
    function = function_of(mutant)
    added = [
        line[1:].strip()
        for line in show(work, mutant).splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return function, " / ".join(added)


def report(tallies: list[Tally], *, survivors: bool) -> None:
    head = f"{'module':<14}{'mutants':>8}{'killed':>8}{'timeout':>8}{'survived':>9}"
    print(f"{head}{'no test':>8}{'equiv.':>7}{'score':>7}{'time':>7}")
    for t in tallies:
        lived = len(t.survivors())
        print(
            f"{t.module:<14}{len(t.statuses):>8}{t.count('killed'):>8}{t.count('timeout'):>8}"
            f"{lived:>9}{t.count('no tests'):>8}{len(t.equivalent):>7}{t.score:>7.1%}"
            f"{t.seconds:>6.0f}s"
        )
    for t in tallies:
        for survivor, why in sorted(t.equivalent.items()):
            print(f"  {t.module}: {survivor} is equivalent: {why}")
        unexplained = [
            s for s in t.survivors() if s not in t.equivalent and t.statuses[s] != "not checked"
        ]
        if unexplained:
            names = ", ".join(s.rsplit(".", 1)[-1] for s in unexplained)
            print(f"  {t.module}: {len(unexplained)} unexplained: {names}")
        if t.count("not checked"):
            print(f"  {t.module}: {t.count('not checked')} of the survived not run yet")
        if survivors:
            for survivor in unexplained:
                print(show(WORK / t.module, survivor))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"default: all ({', '.join(MODULES)})")
    parser.add_argument("--jobs", type=int, default=1, help="mutants at once (1)")
    parser.add_argument("--list", action="store_true", help="the modules and their tests")
    parser.add_argument("--survivors", action="store_true", help="each survivor's diff")
    parser.add_argument("--again", action="store_true", help="keep the killed from last time")
    parser.add_argument(
        "--file",
        action="append",
        default=[],
        help="run only this file of the module (path, name or stem; repeatable); "
        "the verdicts of its other files are kept",
    )
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        help="run only this function's mutants (`verify`, `RunActions.claim`; repeatable)",
    )
    parser.add_argument(
        "--report", action="store_true", help="run nothing: the verdicts of the last runs"
    )
    args = parser.parse_args(argv)
    check_config()
    chosen = args.modules or list(MODULES)
    unknown = [name for name in chosen if name not in MODULES]
    if unknown:
        parser.error(f"no such module: {', '.join(unknown)} (one of {', '.join(MODULES)})")
    if args.list:
        for name in chosen:
            print(f"{name}: {', '.join(MODULES[name].files)}\n    {' '.join(MODULES[name].tests)}")
        return 0
    if (args.file or args.function) and len(chosen) != 1:
        parser.error("--file and --function take one module")
    tallies = []
    for name in chosen:
        module = MODULES[name]
        if args.report:
            tallies.append(judged(Tally(name), WORK / name, module))
        else:
            files, functions = chosen_files(module, args.file), tuple(args.function)
            tallies.append(
                run(name, module, args.jobs, again=args.again, files=files, functions=functions)
            )
        report(tallies[-1:], survivors=False)
    if len(tallies) > 1:
        print()
        report(tallies, survivors=args.survivors)
    elif args.survivors:
        report(tallies, survivors=True)
    return 0 if all(t.score >= TARGET for t in tallies) else 1


if __name__ == "__main__":
    sys.exit(main())
