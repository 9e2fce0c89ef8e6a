"""The buttons that act on a run, and the thread's lines that tell what was done (pure).

Each button carries a `confirm` dialog in plain words, and a value naming the project, the
run and (for "use") the trial, which the click handler checks against the store before
anything reaches Edge Impulse. Which message shows which button is `event_buttons` and
`card_buttons`, one place: the card shows "Stop" while its run's job runs (an edit after the
run ends drops it); the time-limit notice and the end message show "Extend" when Edge Impulse
says `canExtendSearch`; the end message shows "Use" for its best trial, `/eon top` for each row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.models.blocks import ButtonElement, ConfirmObject, PlainTextObject

from bot import fmt
from bot.core.events import Event, EventKind
from bot.core.summary import RunSummary
from bot.settings import is_user_id
from bot.slack.render.blocks import LIMITS, clip, safe


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One button: what it says, its confirm dialog ({project}, {trial} filled in) and style."""

    action_id: str
    label: str
    title: str
    question: str
    confirm: str
    style: str | None = None


ACTION_SPECS: Final[dict[str, ActionSpec]] = {
    "stop": ActionSpec(
        "eon_stop_run", "⏹ Stop the run", "Stop this run?",
        "Stop the EON Tuner run in project {project}? Trials still running are lost, and the "
        "run cannot be resumed.",
        "Stop the run", "danger",
    ),
    "extend": ActionSpec(
        "eon_extend_search", "⏩ Extend the search", "Extend the search?",
        "Extend the EON Tuner search in project {project}? A new run starts from this one's "
        "results and trains more candidates, using more compute time.",
        "Extend it", "primary",
    ),
    "use": ActionSpec(
        "eon_use_trial", "✅ Use this trial", "Use this trial?",
        "Make trial {trial} the impulse of project {project}? It replaces the project's "
        "current impulse (its blocks and model).",
        "Use it",
    ),
}  # fmt: skip
ACTION_IDS: Final = {spec.action_id: action for action, spec in ACTION_SPECS.items()}
MAX_VALUE: Final = 2000  # Slack's limit on a button's value
CONFIRM_TEXT: Final = 300


def action_button(
    action: str, project_id: str, run_id: str, trial_id: str = "", trial_name: str | None = None,
    *, label: str | None = None,
) -> ButtonElement | None:  # fmt: skip
    """The button of `action`, or None when its value would not fit Slack's limit."""
    spec = ACTION_SPECS[action]
    value = json.dumps({"p": project_id, "r": run_id, "t": trial_id}, separators=(",", ":"))
    if len(value) > MAX_VALUE:
        return None
    trial = fmt.one_line(trial_name or trial_id, 60)
    question = spec.question.format(project=fmt.one_line(project_id, 20), trial=f"“{trial}”")
    return ButtonElement(
        text=clip(label or spec.label, LIMITS.button_text),
        action_id=spec.action_id,
        value=value,
        style=spec.style,
        confirm=ConfirmObject(
            title=PlainTextObject(text=spec.title),
            text=PlainTextObject(text=clip(question, CONFIRM_TEXT)),
            confirm=PlainTextObject(text=spec.confirm),
            deny=PlainTextObject(text="Cancel"),
        ),
    )


def parse_value(value: object) -> tuple[str, str, str] | None:
    """(project, run, trial) from a button's value, or None for one this bot did not make."""
    try:
        found = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    project, run, trial = found.get("p"), found.get("r"), found.get("t", "")
    if not isinstance(project, str) or not isinstance(run, str) or not isinstance(trial, str):
        return None
    return (project, run, trial) if project and run else None


def card_buttons(summary: RunSummary) -> list[ButtonElement]:
    """ "Stop the run" while the run's job runs."""
    if summary.run_id is None or summary.finished or summary.running is not True:
        return []
    stop = action_button("stop", summary.project_id, summary.run_id)
    return [stop] if stop else []


def event_buttons(event: Event) -> list[ButtonElement]:
    """Extend on the time limit and the end (when Edge Impulse offers it), use on the end's best
    trial."""
    if event.run_id is None:
        return []
    p = event.payload
    wanted: list[ButtonElement | None] = []
    extendable = p.get("can_extend_search") is True and p.get("extended") is not True
    if extendable and event.kind in (EventKind.TIME_LIMIT_EXCEEDED, EventKind.JOB_FINISHED):
        wanted.append(action_button("extend", event.project_id, event.run_id))
    best = p.get("best_trial_id")
    if event.kind is EventKind.JOB_FINISHED and isinstance(best, str) and best:
        name = p.get("best_trial_name")
        trial_name = name if isinstance(name, str) else None
        wanted.append(action_button("use", event.project_id, event.run_id, best, trial_name))
    return [button for button in wanted if button is not None]


@dataclass(frozen=True, slots=True)
class Stop:
    """Who stopped a run from Slack, as the actions table records it; `confirmed`: Edge Impulse
    said it did (else the call's outcome is awaited or unknown, and only the asking is told)."""

    user_id: str
    confirmed: bool

    def told(self, end: Event) -> Event:
        """The run's end with who stopped it in its payload (`stopped_by`, or `stop_asked_by`
        while Edge Impulse's answer is not known); `outcome` keeps its two values."""
        key = "stopped_by" if self.confirmed else "stop_asked_by"
        return end.model_copy(update={"payload": {**end.payload, key: self.user_id}})

    def words(self) -> str:
        """How `/eon status` words the end: "stopped by @U" (mrkdwn)."""
        who = mention(self.user_id)
        return f"stopped by {who}" if self.confirmed else f"ended after {who} asked to stop it"

    def state(self) -> str:
        """The finished card's state line."""
        who = mention(self.user_id)
        return (
            f"⏹ *Stopped* by {who}" if self.confirmed else f"⏹ *Ended* after {who} asked to stop it"
        )


def stopped_words(p: dict[str, Any]) -> str | None:
    """How an end's payload says the run was stopped from Slack ("was stopped by @U"), if so."""
    if p.get("stopped_by"):
        return f"was stopped by {mention(p['stopped_by'])}"
    if p.get("stop_asked_by"):
        return f"ended after {mention(p['stop_asked_by'])} asked to stop it"
    return None


def offers(event: Event, action: str) -> bool:
    """Whether the event's message shows the button of `action` (its words then point to it)."""
    action_id = ACTION_SPECS[action].action_id
    return any(button.action_id == action_id for button in event_buttons(event))


def mention(user_id: object) -> str:
    """A user mention for ids shaped like Slack's, else escaped text."""
    if isinstance(user_id, str) and is_user_id(user_id):
        return f"<@{user_id}>"
    return safe(str(user_id or "someone"), 40)


_DONE: Final = {
    "stop": "⏹ {user} stopped the run",
    "extend": "⏩ {user} extended the search (job {job}); the new run gets its own card",
    "use": "✅ {user} used trial *{trial}* as the impulse (job {job}); the outcome follows here",
}
_ASKED: Final = {
    "stop": "stop the run",
    "extend": "extend the search",
    "use": "use trial *{trial}* as the impulse",
}


def action_line(event: Event) -> str:
    """The audit line (`eon_action_taken`) or the outcome (`eon_action_outcome`) of an action."""
    p: dict[str, Any] = event.payload
    action = str(p.get("action"))
    words = {
        "user": mention(p.get("user_id")),
        "job": safe(str(p.get("job_id") or "?"), 30),
        "trial": safe(p.get("trial_name") or p.get("trial_id") or "?"),
    }
    if event.kind is EventKind.ACTION_OUTCOME:
        return _outcome_line(action, p, words)
    if p.get("outcome") == "unknown":
        asked = _ASKED.get(action, "act").format(**words)
        why = safe(str(p.get("detail") or "no answer"), 200)
        return (
            f"⚠ {words['user']} asked to {asked}, but eon-bot does not know whether Edge "
            f"Impulse did it ({why}). Check the project in Studio, and act there if it was not "
            "done: the button will not try again."
        )
    return _DONE.get(action, "{user} acted on the run").format(**words)


def _outcome_line(action: str, p: dict[str, Any], words: dict[str, str]) -> str:
    ok = p.get("outcome") == "completed"
    if action == "use":
        if not ok:
            return f"💥 Using trial *{words['trial']}* as the impulse failed (job {words['job']})."
        link = p.get("link")
        where = f": <{link}|Open in Studio>" if _linkable(link) else ""
        return f"✅ Trial *{words['trial']}* is now the project's impulse{where}"
    name = p.get("extension")
    search = safe(name) if isinstance(name, str) and name else "The extended search"
    if p.get("outcome") == "stopped":
        return f"⏹ {search} was stopped; its card says how far it got."
    if ok:
        return f"🏁 {search} has ended; its card has the results."
    return f"💥 {search} failed; its card says what Edge Impulse reported."


def _linkable(link: object) -> bool:
    return (
        isinstance(link, str)
        and link.startswith("https://")
        and len(link) <= LIMITS.button_url
        and not set("<>| ") & set(link)
    )
