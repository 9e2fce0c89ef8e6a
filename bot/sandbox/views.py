"""`eon-bot try`'s views: a form the bot opens (`/eon key 1`'s), shown in the terminal and
sent with `submit TEXT`, and the App Home tab as the bot publishes it (`home`).

Both go through the running app as Slack's own requests do: a signed `view_submission`, and a
signed `app_home_opened` event whose `views.publish` the Slack stand-in records. The sandbox's
simulator issues each project a key of its own (`project_key`), as Edge Impulse does, so the
form can be tried with a key Edge Impulse accepts and one it refuses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from bot.sandbox.fakeslack import FakeSlack, blocks_to_lines
from bot.sandbox.fakeslack.blockkit import obj_text
from bot.sandbox.fakeslack.views import submission
from bot.sandbox.simulator.keys import PROJECT_KEYS
from bot.sandbox.simulator.server import SimulatorServer
from bot.sandbox.simulator.server import project_key as canonical_project
from bot.sandbox.slashcmd import event_body, payload_body, signed_headers
from bot.sandbox.stack import CHANNEL, USER, Stack
from bot.sandbox.terminal import TerminalPrinter

HOME_WAIT_S = 10.0  # the Home tab is built from the store alone; this is a hang guard


def project_key(project_id: str) -> str:
    """The sandbox's key for a simulated project: the same in every session, so it can be
    typed again, and a key of that project only."""
    digest = hashlib.sha256(f"eon-bot try {project_id}".encode()).hexdigest()[:32]
    return f"ei_try_{project_id}_{digest}"


def issue_key(simulator: SimulatorServer, text: str) -> str | None:
    """For `/eon key N`: project N's key at the simulator, issued if it is not yet."""
    words = text.split()
    if len(words) < 2 or words[0].lower() != "key":
        return None
    project = canonical_project(words[1])
    if project is None:
        return None
    key = project_key(project)
    keys = simulator.app[PROJECT_KEYS]
    if keys.owner(key) is None:
        keys.add(key, project, role="admin")
    return key


@dataclass(slots=True)
class Views:
    """Forms and the Home tab, for one sandbox session."""

    stack: Stack
    printer: TerminalPrinter
    forms_seen: int = 0
    hint: str | None = None  # the key the simulator holds for the form's project

    def show_new_forms(self) -> None:
        """Print each form opened since the last look, with how to send it."""
        opened = self.stack.slack.views_opened
        for view in opened[self.forms_seen :]:
            self.printer.say("\n".join(_form_lines(view, self.hint)))
        self.forms_seen = len(opened)

    async def submit(self, args: list[str]) -> None:
        opened = self.stack.slack.views_opened
        if not opened:
            self.printer.say("  no form is open (/eon key PROJECT_ID opens one)")
            return
        view = opened[-1]
        field = _first_input(view)
        if field is None or not args:
            self.printer.say("  submit TEXT: what to type into the open form")
            return
        body = payload_body(submission(view, USER, {field[0]: {field[1]: " ".join(args)}}))
        reply = await self.stack.http.post(
            self.stack.events_url, content=body, headers=signed_headers(self.stack.secret, body)
        )
        answer: dict[str, Any] = reply.json() if reply.content else {}
        errors = answer.get("errors") if answer.get("response_action") == "errors" else None
        if reply.status_code != 200:
            self.printer.say(f"  the bot answered {reply.status_code}: {reply.text[:200]}")
        elif isinstance(errors, dict):
            for message in errors.values():
                self.printer.say(f"  the form stays open: {message}")
        else:
            self.printer.say("  the form closed")

    async def home(self, _: list[str]) -> None:
        slack = self.stack.slack
        before = slack.home_of(USER)
        event = {"type": "app_home_opened", "user": USER, "channel": "D0EONHOME", "tab": "home"}
        body = event_body(event)
        headers = signed_headers(self.stack.secret, body, content_type="application/json")
        await self.stack.http.post(self.stack.events_url, content=body, headers=headers)

        def published(fake: FakeSlack) -> dict[str, Any]:
            view = fake.home_of(USER)
            return view if view is not None and view != before else {}

        try:
            view = await slack.wait_for(published, timeout=HOME_WAIT_S)
        except TimeoutError:
            self.printer.say(f"  the bot published no Home tab within {HOME_WAIT_S:g} s")
            return
        named = self.printer.channel_name(CHANNEL)  # as Slack shows <#C…>: by its name
        lines = [line.replace(f"#{CHANNEL}", named) for line in blocks_to_lines(view["blocks"])]
        self.printer.say("┌─ Home tab ".ljust(48, "─"))
        self.printer.say("\n".join(f"│ {line}" for line in lines) + "\n└─")


def _first_input(view: dict[str, Any]) -> tuple[str, str] | None:
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            return str(block.get("block_id", "")), str(block["element"].get("action_id", ""))
    return None


def _form_lines(view: dict[str, Any], hint: str | None) -> list[str]:
    title = obj_text(view.get("title"))
    lines = [f"┌─ form: {title} ".ljust(48, "─")]
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            lines.append(f"│ {obj_text(block.get('label'))}: [ type: submit TEXT ]")
            if block.get("hint"):
                lines.append(f"│   {obj_text(block.get('hint'))}")
        else:
            lines += [f"│ {line}" for line in blocks_to_lines([block])]
    submit = obj_text(view.get("submit")) or "Submit"
    lines.append(f"│ [{submit}]")
    lines.append("└─")
    if hint:
        lines.append(f"  (the simulator's key for this project: submit {hint})")
    return lines
