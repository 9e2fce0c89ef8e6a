"""Every error eon-bot raises on purpose, so callers can catch by meaning.

    EonBotError
    ├── ConfigError                    settings missing or malformed
    │   ├── MissingApiKey(project_id)  no stored key, and neither EI_API_KEY_<id> nor EI_API_KEY
    │   ├── BadApiKey(project_id)      the key has not a key's shape (bot.key_shape): never sent
    │   ├── StoredKeyUnreadable        a key added with /eon key cannot be decrypted (SECRET_KEY)
    │   ├── DatabaseUnreachable        DATABASE_URL's database gave no connection (down, or the
    │   │                              host or port wrong); a refused login is a plain ConfigError
    │   └── SlackTokenRefused(setting) Slack refuses SLACK_BOT_TOKEN or SLACK_APP_TOKEN itself
    │       ├── BotTokenRefused
    │       └── AppTokenRefused
    ├── InvalidProjectId (ValueError)  not a positive whole number; raised before any request
    ├── TunerApiError(project_id)      the Edge Impulse tuner state could not be had
    │   ├── TunerAuthError             401/403: the API key is wrong, revoked or lacks access
    │   │   └── TunerWriteRefused      401/403 to a call that acts (stop, extend, use a trial)
    │   ├── TunerNotFound              404: no such project (or not visible to this key)
    │   ├── TunerUnavailable           connection refused, timeout, 5xx, 429 after retries
    │   └── TunerBadResponse           not JSON, not the expected shape, or an unexpected status
    │       ├── TunerReportedError     `success: false`: Edge Impulse's own error, quoted
    │       └── NotEdgeImpulse         an HTML page or a bare 404: EI_API_URL is not the API
    └── SlackError(code)               Slack did not do what was asked; `code` is Slack's error name
        ├── SlackOutcomeUnknown        5xx, timeout, dropped connection: it may have been done
        ├── SlackRetryLater            `ratelimited` (honouring Retry-After) or another refusal
        ├── SlackChannelUnusable       not_in_channel, channel_not_found, is_archived
        ├── SlackAuthError             the bot token is refused (invalid_auth, token_revoked, …)
        └── SlackUnrenderable          invalid_blocks, msg_too_long, invalid_metadata_format

`MissingApiKey` is a `ConfigError`, not a `TunerApiError`: no request was made, and the fix is a
setting, so a poller must not count it as an Edge Impulse outage. `InvalidProjectId` is also a
`ValueError` so that parsers (argparse types, pydantic validators) turn it into their own
"invalid value" answer.

`SlackError.from_answer` sorts Slack's answers into that tree, so delivery decides by type: an
unknown outcome is looked up before posting again (never posted twice), an unusable channel is
paused alone, a refused token stops all delivery keeping the outbox, an unrenderable message is
sent again as text only, and anything else waits and tries again.

Messages are built here, with what a user needs to act, on one line, and never contain an API
key: callers pass only ids, HTTP statuses and reasons they have already shortened and redacted.
"""

from __future__ import annotations


class EonBotError(Exception):
    """Base of every error eon-bot raises on purpose."""


class ConfigError(EonBotError):
    """A setting is missing or malformed."""


class MissingApiKey(ConfigError):
    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        super().__init__(
            f"no Edge Impulse API key for project {project_id}: set EI_API_KEY_{project_id} "
            "(this project's key) or EI_API_KEY (the default), in the environment or .env, "
            f"or add one from Slack with /eon key {project_id}"
        )


class BadApiKey(ConfigError):
    """The project's key cannot be one (a line break, a non-ASCII letter, 100 KB): it is not
    put in a header. `problem` is `bot.key_shape.key_problem`'s line, which names no
    character of the key."""

    def __init__(self, project_id: str, problem: str) -> None:
        self.project_id = project_id
        self.problem = problem
        super().__init__(
            f"the Edge Impulse API key for project {project_id} is not usable, so nothing was "
            f"sent: {problem} Fix EI_API_KEY_{project_id} or EI_API_KEY, or add the key again "
            f"with /eon key {project_id}"
        )


class StoredKeyUnreadable(ConfigError):
    """The project's key was stored under another `SECRET_KEY` (or none is set now): it is not
    used, and no other key stands in for it (that would hide the problem)."""

    def __init__(self, project_id: str, *, secret_key_set: bool) -> None:
        self.project_id = project_id
        why = (
            "it was stored under another SECRET_KEY" if secret_key_set else "SECRET_KEY is not set"
        )
        super().__init__(
            f"the Edge Impulse key stored for project {project_id} cannot be decrypted: {why}. "
            f"Set SECRET_KEY back to the one it was stored with, or add the key again with "
            f"/eon key {project_id}"
        )


class DatabaseUnreachable(ConfigError):
    """No connection to the database: it may be down (try again later) or the address wrong;
    `eon-bot` exits 3 for it, a dependency it cannot reach (`bot.cli.EXIT_CODES`)."""


class SlackTokenRefused(ConfigError):
    """Slack refuses the token itself: asking again will not help; the fix is the setting."""

    def __init__(self, setting: str, error: str, fix: str) -> None:
        self.setting = setting
        self.error = error
        super().__init__(f"Slack refused {setting} ({error}): {fix}")


class BotTokenRefused(SlackTokenRefused):
    def __init__(self, error: str) -> None:
        super().__init__(
            "SLACK_BOT_TOKEN",
            error,
            "use the Bot User OAuth Token (xoxb-…) from OAuth & Permissions, after installing "
            "the app to the workspace",
        )


class AppTokenRefused(SlackTokenRefused):
    def __init__(self, error: str) -> None:
        super().__init__(
            "SLACK_APP_TOKEN",
            error,
            "use the app-level token (xapp-…) with the connections:write scope, from Basic "
            "Information → App-Level Tokens",
        )


class InvalidProjectId(EonBotError, ValueError):
    def __init__(self, shown: str) -> None:
        """`shown` is the offending text already made safe to print (see `tuner_client`)."""
        self.shown = shown
        super().__init__(
            f"not a project id: {shown}. Edge Impulse project ids are positive whole numbers, "
            "as in studio.edgeimpulse.com/studio/12345"
        )


class TunerApiError(EonBotError):
    def __init__(self, project_id: str, detail: str, status: int | None = None) -> None:
        self.project_id = project_id
        self.detail = detail
        self.status = status
        super().__init__(f"project {project_id}: {detail}")


class TunerAuthError(TunerApiError):
    def __init__(self, project_id: str, status: int) -> None:
        super().__init__(
            project_id,
            f"Edge Impulse refused the API key (HTTP {status}). Check EI_API_KEY_{project_id} "
            "or EI_API_KEY: the key may be wrong, revoked, or for another project; an admin "
            f"can add this project's own key with /eon key {project_id}.",
            status,
        )


class TunerWriteRefused(TunerAuthError):
    """Edge Impulse refused a call that changes the project: typically a read-only key."""

    def __init__(self, project_id: str, status: int) -> None:
        TunerApiError.__init__(
            self,
            project_id,
            f"Edge Impulse refused the API key for this action (HTTP {status}): acting on a run "
            f"needs a key with the admin role, not a read-only one. Add one with "
            f"`/eon key {project_id}` or set EI_API_KEY_{project_id}.",
            status,
        )


class TunerNotFound(TunerApiError):
    def __init__(self, project_id: str) -> None:
        super().__init__(
            project_id,
            "Edge Impulse has no such project (HTTP 404). Check the project id in the "
            "Studio URL (studio.edgeimpulse.com/studio/<id>) and that the key belongs to it.",
            404,
        )


class TunerUnavailable(TunerApiError):
    """Transient by nature; whoever catches it decides whether to try again later."""

    def __init__(self, project_id: str, reason: str, status: int | None = None) -> None:
        self.reason = reason
        super().__init__(project_id, f"Edge Impulse could not be reached ({reason}).", status)


class TunerBadResponse(TunerApiError):
    def __init__(self, project_id: str, reason: str, status: int | None = None) -> None:
        self.reason = reason
        super().__init__(project_id, f"Edge Impulse's answer was not understood: {reason}", status)


class TunerReportedError(TunerBadResponse):
    """`success: false`: a bad answer whose reason Edge Impulse gave itself."""

    def __init__(self, project_id: str, error: str, status: int | None = 200) -> None:
        TunerApiError.__init__(self, project_id, f"Edge Impulse reported an error: {error}", status)
        self.reason = error


class NotEdgeImpulse(TunerBadResponse):
    """Whatever answered is not Edge Impulse's API (a web page, a bare 404 on a path without
    `/v1`): the fix is EI_API_URL, so the message says so, with the URL, rather than "no such
    project"."""

    def __init__(self, project_id: str, base_url: str, what: str, status: int | None) -> None:
        TunerApiError.__init__(
            self,
            project_id,
            f"EI_API_URL {base_url} does not answer like the Edge Impulse API ({what}); it "
            "should be the API's base URL, such as https://studio.edgeimpulse.com/v1",
            status,
        )
        self.reason = what


class SlackError(EonBotError):
    """Slack did not do what was asked. `code` is Slack's error name (or the transport
    failure's); the subclasses say what delivery does about it."""

    CODES: frozenset[str] = frozenset()
    """The Slack error names that mean this subclass."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        super().__init__(f"Slack answered {code}" + (f": {detail}" if detail else ""))

    @staticmethod
    def from_answer(
        code: str, *, status: int | None = None, retry_after: float | None = None
    ) -> SlackError:
        """The error an answer amounts to: by HTTP status first (a 5xx may have been done),
        then by Slack's error name; anything not known is worth asking again later."""
        if status is not None and status >= 500:
            return SlackOutcomeUnknown(code)
        for kind in (SlackChannelUnusable, SlackAuthError, SlackUnrenderable):
            if code in kind.CODES:
                return kind(code)
        return SlackRetryLater(code, retry_after)


class SlackOutcomeUnknown(SlackError):
    """No clear answer (5xx, timeout, dropped connection): the message may be posted, so it is
    looked up by its metadata before it is posted again."""

    def __init__(self, code: str) -> None:
        super().__init__(code, "the outcome is unknown; it is looked up before trying again")


class SlackRetryLater(SlackError):
    def __init__(self, code: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        wait = f"in {retry_after:g} s, as Slack asked" if retry_after is not None else "later"
        super().__init__(code, f"trying again {wait}")


class SlackChannelUnusable(SlackError):
    CODES = frozenset({"not_in_channel", "channel_not_found", "is_archived"})

    def __init__(self, code: str) -> None:
        super().__init__(
            code,
            "delivery to that channel is paused until the bot is invited, the channel is "
            "unarchived, or someone types `/eon watch` there",
        )


class SlackAuthError(SlackError):
    CODES = frozenset(
        {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
    )

    def __init__(self, code: str) -> None:
        super().__init__(
            code,
            "Slack rejected the bot token: delivery stopped, the outbox is kept. "
            "Check SLACK_BOT_TOKEN and restart.",
        )


class SlackUnrenderable(SlackError):
    CODES = frozenset({"invalid_blocks", "msg_too_long", "invalid_metadata_format"})

    def __init__(self, code: str) -> None:
        super().__init__(code, "the message as rendered was refused; it is sent as text only")
