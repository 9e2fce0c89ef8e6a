"""`/eon key PROJECT_ID [remove]` and its form: the modal's submission is checked with Edge
Impulse and answered in the modal itself (`response_action: errors` under the key's input) or
stored, sealed, before Slack's 3 s are up; the channel then hears that the project has a key,
never the key. The Home tab's "Add/replace key" buttons open the same form.

The key is a `SecretStr` from the moment it is read off the submission: it is never logged, put
in an exception, or sent anywhere but to Edge Impulse (the check) and the store (sealed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from pydantic import SecretStr
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.project_ids import canonical_project_id
from bot.key_shape import clean_key, key_problem
from bot.keys import SECRET_KEY_HOWTO
from bot.slack.key_admins import key_refusal
from bot.slack.listeners.deps import Deps
from bot.slack.listeners.eon_parse import Key
from bot.slack.render.key_form import (
    KEY_ACTION,
    KEY_BLOCK,
    KEY_FORM_CALLBACK,
    OPEN_KEY_FORM_ACTION,
    FormContext,
    key_form,
)

log = logging.getLogger(__name__)

ANSWER_WITHIN_S: Final = 2.5  # the form's answer, stored key and all, inside Slack's 3 s
NO_SECRET_KEY = (
    "⚠ Edge Impulse keys cannot be stored: SECRET_KEY is not set. An operator must "
    f"{SECRET_KEY_HOWTO}."
)


async def key_command(
    command: Key,
    *,
    channel_id: str,
    user_id: str,
    trigger_id: str,
    slack: AsyncWebClient,
    deps: Deps,
) -> str:
    """The acknowledgement of `/eon key`: "" once the form is open (Slack shows the form),
    else one line. All of it within Slack's 3 s: the trigger id is good for that long only."""
    if deps.keys is None or deps.keys.box is None:
        return NO_SECRET_KEY
    refusal = await key_refusal(slack, deps.settings, user_id)
    if refusal is not None:
        return refusal
    pid = command.project_id
    if command.remove:
        return await _remove(pid, user_id, deps)
    return await open_form(slack, trigger_id, FormContext(pid, channel_id or None), deps)


async def _remove(pid: str, user_id: str, deps: Deps) -> str:
    """Forget the workspace's key of the project, and say what reads the project now: with
    another workspace's key the polls go on, but this workspace's channels hear nothing of it."""
    assert deps.keys is not None
    if not await deps.keys.remove(deps.team, pid):
        return f"Project {pid} has no stored key; `/eon key {pid}` adds one."
    log.info("project %s: stored Edge Impulse key removed by %s", pid, user_id)
    then = {
        "environment": f"its polls now use EI_API_KEY_{pid}",
        "default": "its polls now use the default EI_API_KEY",
    }.get(deps.keys.source(deps.team, pid))
    if then is None and deps.keys.readers(pid) is not None:  # another workspace's key reads
        watching = [s.channel_id for s in await deps.store.subscriptions(deps.team, project_id=pid)]
        where = ", ".join(f"<#{c}>" for c in watching[:5]) + (" …" if len(watching) > 5 else "")
        then = (
            f"this workspace has no key for it now, so {where or 'its channels'} "
            f"{'hear' if len(watching) != 1 else 'hears'} nothing of it until an admin adds one "
            f"with `/eon key {pid}`"
        )
    then = then or "it has no key now, so its polls will fail until one is added"
    return f"🗑 The stored Edge Impulse key of project {pid} is forgotten; {then}."


async def open_form(
    slack: AsyncWebClient, trigger_id: str, context: FormContext, deps: Deps
) -> str:
    """`views.open` with the form; "" once open, else one line saying what Slack answered."""
    replacing = deps.keys is not None and deps.keys.row(deps.team, context.project_id) is not None
    try:
        await slack.views_open(trigger_id=trigger_id, view=key_form(context, replacing=replacing))
    except Exception as error:  # SlackApiError (e.g. expired_trigger_id), a timeout
        code = str(error.response.get("error")) if isinstance(error, SlackApiError) else None
        log.warning(
            "views.open for project %s failed: %s", context.project_id, code or type(error).__name__
        )
        return f"⚠ Slack did not open the key form ({code or 'no answer'}). Try the command again."
    return ""


def _submitted_key(view: dict[str, Any]) -> SecretStr:
    """The pasted key, trimmed of what pasting adds at its ends (`bot.key_shape.clean_key`)."""
    values = view.get("state", {}).get("values", {})
    text = values.get(KEY_BLOCK, {}).get(KEY_ACTION, {}).get("value") or ""
    return SecretStr(clean_key(str(text)))


async def submit(body: dict[str, Any], slack: AsyncWebClient, deps: Deps) -> dict[str, str] | None:
    """The form's errors by block (the modal stays open), or None: stored, and the modal closes.

    In this order, so that nothing reaches Edge Impulse that should not: who submits (asked
    again: it may have changed since the form opened), then the key's shape
    (`bot.key_shape`), then Edge Impulse's word on it, within what is left of Slack's 3 s."""
    started = asyncio.get_running_loop().time()
    view = body.get("view") or {}
    user_id = str((body.get("user") or {}).get("id") or "")
    context = FormContext.load(str(view.get("private_metadata") or ""))
    key = _submitted_key(view)
    if context is None:
        return {KEY_BLOCK: "This form is out of date; run /eon key PROJECT_ID again."}
    if deps.keys is None or deps.keys.box is None or deps.check_key is None:
        return {KEY_BLOCK: NO_SECRET_KEY.removeprefix("⚠ ")}
    refusal = await key_refusal(slack, deps.settings, user_id)
    if refusal is not None:
        return {KEY_BLOCK: refusal}
    problem = key_problem(key.get_secret_value())
    if problem is not None:
        log.info("project %s: key refused in the form by its shape", context.project_id)
        return {KEY_BLOCK: problem}
    left = ANSWER_WITHIN_S - (asyncio.get_running_loop().time() - started)
    try:
        async with asyncio.timeout(max(left, 0.1)):
            verdict = await deps.check_key(context.project_id, key)
    except TimeoutError:
        return {
            KEY_BLOCK: "Edge Impulse did not answer in time, so the key was not stored. Try again."
        }
    if not verdict.accepted:
        log.info("project %s: key refused in the form (%s)", context.project_id, verdict.said)
        return {KEY_BLOCK: verdict.said}
    await deps.keys.add(deps.team, context.project_id, key, role=verdict.role, user=user_id)
    log.info(
        "project %s: Edge Impulse key stored by %s (role %s)",
        context.project_id,
        user_id,
        verdict.role,
    )
    return None


async def tell(slack: AsyncWebClient, context: FormContext, user_id: str, deps: Deps) -> None:
    """After a key is stored: the channel hears it (from Home: the channels watching the
    project), and a watched project is polled at once with it."""
    try:
        await _tell(slack, context, user_id, deps)
    except Exception:
        log.exception("telling project %s's new key failed", context.project_id)


async def _tell(slack: AsyncWebClient, context: FormContext, user_id: str, deps: Deps) -> None:
    pid = context.project_id
    row = deps.keys.row(deps.team, pid) if deps.keys is not None else None
    role = f" (role {row.role})" if row is not None and row.role else ""
    text = f"🔑 Project {pid} now has an Edge Impulse key{role}, added by <@{user_id}>."
    watching = await deps.store.subscriptions(deps.team, project_id=pid)
    channels = [context.channel_id] if context.channel_id else [s.channel_id for s in watching]
    for channel in dict.fromkeys(channels):
        try:
            await slack.chat_postMessage(channel=channel, text=text)
        except Exception as error:
            log.warning(
                "could not tell %s about project %s's key: %s", channel, pid, type(error).__name__
            )
    if watching:
        await deps.start_watching(pid)


def register(app: AsyncApp, deps: Deps) -> None:
    pending: set[asyncio.Task[None]] = set()

    @app.view(KEY_FORM_CALLBACK)
    async def on_submit(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        here = deps.of(context)
        try:
            errors = await submit(body, client, here)
        except Exception:
            log.exception("the key form's submission failed")
            errors = {
                KEY_BLOCK: "eon-bot hit an internal error (it is logged); nothing was stored."
            }
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        form = FormContext.load(str(body["view"]["private_metadata"]))
        if form is not None:
            user_id = str(body["user"]["id"])
            task = asyncio.create_task(tell(client, form, user_id, here))
            pending.add(task)
            task.add_done_callback(pending.discard)

    @app.action(OPEN_KEY_FORM_ACTION)
    async def on_open(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        """A Home tab button: the same form, after the same admin rule."""
        here = deps.of(context)
        user_id = str((body.get("user") or {}).get("id") or "")
        pid = canonical_project_id(str(((body.get("actions") or [{}])[0]).get("value") or ""))
        said: str | None
        if pid is None:
            said = "not a project id"
        elif deps.keys is None or deps.keys.box is None:
            said = NO_SECRET_KEY
        else:
            said = await key_refusal(client, deps.settings, user_id)
        if said is None and pid is not None:
            said = (
                await open_form(client, str(body.get("trigger_id") or ""), FormContext(pid), here)
                or None
            )
        await ack()
        if said:
            log.info("Home key button for project %s by %s: %s", pid, user_id, said)
