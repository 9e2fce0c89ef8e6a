"""How the process logs: `LOG_LEVEL` and `LOG_FORMAT` (`text`, or `json` for log shippers).

A JSON line is one object: `time` (ISO 8601, UTC), `level`, `logger`, `message`, `project`
and `channel` (null unless the line is about one: the code passes them as
`extra={"project": …, "channel": …}`), and `traceback` when the line carries one.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Final, Literal

LogFormat = Literal["text", "json"]
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that write a line or two per poll at INFO; the bot's own lines say what matters.
NOISY: Final = ("httpx", "apscheduler")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, whatever the message holds (newlines are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "project": _str_or_none(getattr(record, "project", None)),
            "channel": _str_or_none(getattr(record, "channel", None)),
        }
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


class TokenTwice(logging.Filter):
    """bolt warns at every start that the SLACK_BOT_TOKEN it read is unused since a `client` was
    given: that client has the same token (`edges.slack_client`), so the warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def configure(level: str | int, fmt: LogFormat = "text") -> None:
    """Replace the root logger's handlers with one to stderr in `fmt`, at `level`; libraries
    that log every poll stay at WARNING unless `level` is DEBUG."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quiet = logging.DEBUG if logging.getLogger().level <= logging.DEBUG else logging.WARNING
    for name in NOISY:
        logging.getLogger(name).setLevel(quiet)
