"""The files a sandbox's channel receives (the runs' charts), written into a folder as they
arrive and shown by their path, so `eon-bot try` says `[file: /tmp/…/eon-tuner-1-….png]`
where a person can open it, not only the title Slack would show."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from bot.sandbox.fakeslack import FakeSlack, Message
from bot.sandbox.fakeslack.wire import JSONDict


class SavingFiles:
    """Wraps the terminal printer (`on_message`): a message's files are saved into `folder`
    and the message shown with each file's path as its title. `slack` is set once the
    stand-in runs (the callback is given to it before)."""

    def __init__(self, show: Callable[[Message, str], None], folder: Path) -> None:
        self.show = show
        self.folder = folder
        self.slack: FakeSlack | None = None

    def __call__(self, message: Message, action: str) -> None:
        if message.files and self.slack is not None:
            files = tuple(self._saved(self.slack, shared) for shared in message.files)
            message = dataclasses.replace(message, files=files)
        self.show(message, action)

    def _saved(self, slack: FakeSlack, shared: JSONDict) -> JSONDict:
        data = slack.file(str(shared["id"])).data
        if data is None:
            return shared
        path = self.folder / Path(str(shared["name"])).name
        path.write_bytes(data)
        return {**shared, "title": str(path.resolve())}
