"""`eon-bot` command line: run, demo, simulate, status."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eon-bot", description="Tells a Slack channel what happens in EON Tuner runs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="the service: poll watched projects, answer /eon")
    commands.add_parser("demo", help="a whole simulated run, messages shown here; no credentials")

    simulate = commands.add_parser("simulate", help="serve the tuner simulator over HTTP")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8765)
    simulate.add_argument("--api-key", default=None, help="the x-api-key to require (any if unset)")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")

    status = commands.add_parser("status", help="print the /eon status summary of a project")
    status.add_argument("project_id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    quiet = args.command in ("status", "demo")  # their output is the point; logs only on trouble
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "apscheduler"):  # a line or two per poll otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "simulate":
        from bot.sandbox.simulator.server import serve

        return asyncio.run(
            serve(args.host, args.port, api_key=args.api_key, seed=args.seed, speed=args.speed)
        )
    if args.command == "status":
        from bot.status_cmd import status

        return asyncio.run(status(args.project_id))
    if args.command == "demo":
        from bot.sandbox.demo import demo

        return asyncio.run(demo())
    from bot.app import run
    from bot.errors import ConfigError
    from bot.settings import Settings

    try:
        return asyncio.run(run(Settings()))
    except ConfigError as error:
        print(f"eon-bot: {error}", file=sys.stderr)
        return 2
