"""`eon-bot` command line: run, check, status, demo, try, simulate, manifest.

This is where every command meets the person at the terminal, so the mistakes a person makes
end here as one line on stderr starting `eon-bot: `, never a traceback, with an exit status
from one table for every command (`EXIT_CODES`; the README shows it). An unexpected error
inside `run` still shows its traceback (exit 1, Python's own): that is a bug to report.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

from bot import logs
from bot.errors import (
    DatabaseUnreachable,
    EonBotError,
    NotEdgeImpulse,
    TunerApiError,
    TunerAuthError,
    TunerNotFound,
)

OK, PROBLEMS, BAD_SETUP, UNREACHABLE, INTERRUPTED, BROKEN_PIPE = 0, 1, 2, 3, 130, 141
# Every command's exit statuses, one table (the README's "Every command exits with one of").
EXIT_CODES: dict[int, str] = {
    OK: "done (for `check`: every check passed)",
    PROBLEMS: "`check` found a problem (each ✗ line says how to fix it); for any command, "
    "an error nothing expected (a bug to report)",
    BAD_SETUP: "a mistake to fix in the settings or the arguments: a bad or missing value, "
    "a token or key refused, a taken port",
    UNREACHABLE: "a dependency could not be reached: the database, Edge Impulse (`status`)",
    INTERRUPTED: "stopped with Ctrl-C",
    BROKEN_PIPE: "what it printed went to a program that stopped reading it (such as `head`)",
}
# Which error ends a command with which status: the first row the error is an instance of.
# What Edge Impulse refuses is the person's to fix (a wrong key, a project the key cannot see,
# an EI_API_URL that is not the API), as a bad setting is; its silence is a dependency's.
ERROR_EXITS: tuple[tuple[type[EonBotError], int], ...] = (
    (DatabaseUnreachable, UNREACHABLE),
    (TunerAuthError, BAD_SETUP),
    (TunerNotFound, BAD_SETUP),
    (NotEdgeImpulse, BAD_SETUP),
    (TunerApiError, UNREACHABLE),
    (EonBotError, BAD_SETUP),
)


def exit_code_of(error: EonBotError) -> int:
    return next(code for kind, code in ERROR_EXITS if isinstance(error, kind))


# What each variable means, for the --help pages; defaults come from `Settings` itself.
_VARIABLES = {
    "SLACK_BOT_TOKEN": "bot token xoxb-…: one workspace (required, unless the next two)",
    "SLACK_CLIENT_ID": "many workspaces, each installing at /slack/install: the app's Client ID",
    "SLACK_CLIENT_SECRET": "…and Client Secret (with SECRET_KEY; never beside SLACK_BOT_TOKEN)",
    "SLACK_SIGNING_SECRET": "verifies Slack's requests in HTTP mode",
    "SLACK_APP_TOKEN": "xapp-…; when set, Socket Mode instead of HTTP",
    "SLACK_API_URL": "Slack Web API base URL",
    "EI_API_URL": "Edge Impulse API base URL",
    "EI_API_KEY": "default Edge Impulse API key",
    "EI_API_KEY_<id>": "one project's key, preferred over EI_API_KEY",
    "EI_MAX_RESPONSE_MB": "Edge Impulse answers over this are refused with an error",
    "DATABASE_URL": "sqlite:///path.db or postgresql://…",
    "POLL_INTERVAL": "seconds between polls of one project",
    "IDLE_FULL_READ": "seconds between whole reads of an idle project's state (0: every poll)",
    "OUTAGE_NOTICE_AFTER": "seconds of failed polls before one notice",
    "STALL_AFTER": "seconds a running job may show no progress before one stall notice",
    "PORT": "HTTP port for /slack/events, /healthz and /metrics",
    "ADMIN_USER_IDS": "comma-separated Slack user ids allowed to watch/unwatch",
    "RETENTION_DAYS": "sent notifications and ended runs older than this are pruned",
    "SECRET_KEY": "a long random string; encrypts the Edge Impulse keys added with /eon key",
    "SECRET_KEY_PREVIOUS": "the secret SECRET_KEY replaces, while stored keys are re-sealed",
    "DIGEST_TZ": "the time zone of /eon digest HH:MM (an IANA name)",
    "LOG_LEVEL": "DEBUG, INFO, WARNING, ERROR or CRITICAL",
    "LOG_FORMAT": "text, or json: one JSON object per line",
}
_RUN_READS = list(_VARIABLES)
_NOT_CHECKED = {"POLL_INTERVAL", "IDLE_FULL_READ", "ADMIN_USER_IDS", "RETENTION_DAYS"}
_NOT_CHECKED |= {"DIGEST_TZ", "LOG_LEVEL", "LOG_FORMAT"}
_CHECK_READS = [name for name in _VARIABLES if name not in _NOT_CHECKED]
_STATUS_READS = ["EI_API_URL", "EI_API_KEY", "EI_API_KEY_<id>", "EI_MAX_RESPONSE_MB"]


class _Parser(argparse.ArgumentParser):
    """Argument mistakes as one line naming the fix, not argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_SETUP, f"{self.prog}: {message} (see {self.prog} --help)\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option; descriptions and epilogs keep their line breaks."""


def _environment(names: Sequence[str]) -> str:
    from bot.settings import Settings

    rows = []
    for name in names:
        field = Settings.model_fields.get(name.lower())
        default = field.default if field is not None else None
        shown = f" (default: {default})" if default not in (None, frozenset()) else ""
        rows.append(f"  {name:<22}{_VARIABLES[name]}{shown}")
    return "environment variables (also read from ./.env):\n" + "\n".join(rows)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a whole number 0-65535, not {text!r}")
    return int(text)


def _version() -> str:
    try:
        return version("eon-bot")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eon-bot",
        description="Tells a Slack channel what happens in Edge Impulse EON Tuner runs.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"eon-bot {_version()}")
    command = functools.partial(
        _command, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    )
    command(
        "run",
        "the service: poll watched projects, post to Slack, answer /eon",
        "The service. Checks the bot token with Slack, then polls every watched project, posts\n"
        "what happens to Slack and answers /eon: on POST /slack/events (HTTP mode) or over\n"
        "Socket Mode when SLACK_APP_TOKEN is set. GET /healthz answers for health checks.\n"
        "SIGTERM or Ctrl-C stops it within 10 s.",
        _RUN_READS,
    )
    check = command(
        "check",
        "diagnose the set-up: ✓/✗ per check, with the fix",
        "Checks the settings, the Slack tokens and their scopes, the database, and each watched\n"
        "or named project, as `run` would use them. Exit 0 only if every check passes.",
        _CHECK_READS,
    )
    check.add_argument("project_ids", nargs="*", metavar="PROJECT_ID", help="projects to fetch")
    status = command(
        "status",
        "print the /eon status summary of a project",
        "Fetches a project's EON Tuner state once and prints what /eon status would say.",
        _STATUS_READS,
    )
    status.add_argument("project_id", metavar="PROJECT_ID", help="the number in the Studio URL")
    _demo_options(
        command(
            "demo",
            "a whole simulated run, messages shown here; no credentials",
            "Runs a simulated EON Tuner run through the real pipeline against a local Slack\n"
            "stand-in and prints the channel as Slack would show it. Ends by itself (~40 s).\n"
            "The runs' charts are kept in a new folder (printed) after its temporary folder goes.",
        )
    )
    _try_options(
        command(
            "try",
            "the service to play with: type /eon commands, press buttons, cause a stall",
            "Starts the tuner simulator, a local Slack stand-in and the bot (as `run` builds\n"
            "it), shows the channel here, and reads what you type: /eon commands (sent signed,\n"
            "as Slack sends them), buttons and press N (a button keeps its number), submit\n"
            "TEXT (a form), home (the App Home tab), stall [SECONDS], help, quit. Ctrl-C ends\n"
            "it (exit 130); the runs' charts are written to a folder it names.",
        )
    )
    simulate = command(
        "simulate",
        "serve the tuner simulator over HTTP",
        "Serves simulated EON Tuner states at http://HOST:PORT/v1, for EI_API_URL.",
    )
    _simulate_options(simulate)
    _manifest_options(
        command(
            "manifest",
            "print the Slack app manifest (or the example .env)",
            "Prints a file shipped with eon-bot: the Slack app manifest to create the app from\n"
            "(api.slack.com/apps → Create New App → From a manifest), or the example .env.",
        )
    )
    return parser


def _command(
    commands: Any, name: str, summary: str, description: str, reads: Sequence[str] = ()
) -> _Parser:
    """A subcommand whose help ends with the environment variables it reads."""
    epilog = _environment(reads) if reads else "reads no environment variables"
    sub: _Parser = commands.add_parser(
        name, help=summary, description=description, epilog=epilog, formatter_class=_Help
    )
    return sub


def _manifest_options(manifest: argparse.ArgumentParser) -> None:
    which = manifest.add_mutually_exclusive_group()
    which.add_argument("--socket-mode", action="store_true", help="the Socket Mode manifest")
    which.add_argument("--env-example", action="store_true", help="the example .env file")


def _demo_options(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        default=None,
        help="work in DIR and keep it (the charts and the database) instead of a temporary "
        "folder; a previous demo's database there starts afresh",
    )


def _try_options(sandbox: argparse.ArgumentParser) -> None:
    """`eon-bot try`'s options: where it works, how long a run takes, when a stall is told."""
    sandbox.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        default=None,
        help="work in DIR and keep its database instead of a temporary folder",
    )
    sandbox.add_argument(
        "--minutes", type=_positive, default=5.0, help="how long a simulated run takes"
    )
    sandbox.add_argument(
        "--stall-after",
        type=_positive,
        default=20.0,
        metavar="SECONDS",
        help="the bot's STALL_AFTER: seconds without progress before a stall notice",
    )


def _simulate_options(simulate: argparse.ArgumentParser) -> None:
    """`eon-bot simulate`'s options: where it listens, which runs, how fast, a stall."""
    simulate.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    simulate.add_argument("--port", type=_port, default=8765, help="port (0: any free one)")
    simulate.add_argument("--api-key", default=None, help="the x-api-key to require (any if unset)")
    simulate.add_argument("--seed", type=int, default=1, help="which simulated runs")
    simulate.add_argument(
        "--speed", type=_positive, default=1.0, help="simulated seconds per real second"
    )
    simulate.add_argument(
        "--stall-at",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="hold the runs this many real seconds after they start (for --stall-for), to see "
        "a stall notice",
    )
    simulate.add_argument(
        "--stall-for",
        type=_positive,
        default=60.0,
        metavar="SECONDS",
        help="how many real seconds the hold of --stall-at lasts (above STALL_AFTER to see one)",
    )
    side = "every project also runs an unrelated job (no tuner run), listed by /jobs"
    simulate.add_argument("--side-job", action="store_true", help=side)


def _run(args: argparse.Namespace) -> int:
    from bot.service.runner import run
    from bot.settings import load_settings

    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    return asyncio.run(run(settings))


def _check(args: argparse.Namespace) -> int:
    from bot.cli.check import check

    return asyncio.run(check(args.project_ids))


def _status(args: argparse.Namespace) -> int:
    from bot.cli.status import status

    return asyncio.run(status(args.project_id))


def _demo(args: argparse.Namespace) -> int:
    from bot.sandbox.demo import demo

    return asyncio.run(demo(keep=args.keep))


def _try(args: argparse.Namespace) -> int:
    from bot.sandbox.playground import playground

    return asyncio.run(
        playground(keep=args.keep, minutes=args.minutes, stall_after=args.stall_after)
    )


def _simulate(args: argparse.Namespace) -> int:
    from bot.sandbox.simulator.server import Stall, serve

    stall = Stall(args.stall_at, args.stall_for) if args.stall_at is not None else None
    return asyncio.run(
        serve(
            args.host,
            args.port,
            api_key=args.api_key,
            seed=args.seed,
            speed=args.speed,
            stall=stall,
            side_job=args.side_job,
        )
    )


def _manifest(args: argparse.Namespace) -> int:
    from bot import config

    name = config.HTTP_MANIFEST
    if args.socket_mode:
        name = config.SOCKET_MODE_MANIFEST
    elif args.env_example:
        name = config.ENV_EXAMPLE
    sys.stdout.write(config.read(name))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _run,
    "check": _check,
    "status": _status,
    "demo": _demo,
    "try": _try,
    "simulate": _simulate,
    "manifest": _manifest,
}


class SkippedRuns(logging.Filter):
    """Drops APScheduler's line for each poll skipped because the previous one is still under
    way: when the process falls behind, that is every project at every interval. The poller
    says it once a minute instead (`Poller._turn`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    verbose = args.command in ("run", "simulate")  # the others' output is the point
    # `run` sets LOG_LEVEL and LOG_FORMAT once its settings are read.
    logs.configure(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("slack_bolt.AsyncApp").addFilter(logs.TokenTwice())
    logging.getLogger("apscheduler.scheduler").addFilter(SkippedRuns())
    try:
        code = _COMMANDS[args.command](args)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at exit
        return code
    except EonBotError as error:
        print(f"eon-bot: {error}", file=sys.stderr)
        return exit_code_of(error)
    except KeyboardInterrupt:
        print("eon-bot: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader left (`| head`): nothing more to say, and nothing may be said at exit
        # either, so stdout goes to /dev/null (as Python's documentation on SIGPIPE advises).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE
