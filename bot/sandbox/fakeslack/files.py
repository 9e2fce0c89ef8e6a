"""Slack's file upload flow, the one `files_upload_v2` speaks:

1. `files.getUploadURLExternal` (`filename`, `length`) answers an `upload_url` and a `file_id`;
2. the bytes are POSTed to that URL (no token: the URL is the credential, as on
   files.slack.com), answered 200;
3. `files.completeUploadExternal` (`files` as JSON `[{id, title}]`, and `channel_id`, optional
   `thread_ts` and `initial_comment`) shares them: one message with the files, in the thread
   when `thread_ts` names a message, posted by the bot.

Slack's checks are kept: a missing or non-numeric `length` is `invalid_arguments`, completing a
file never uploaded (or uploaded with another length) is `file_not_found` /
`file_upload_size_mismatch`, and a file is shared at most once (`file_already_completed`).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

from aiohttp import web

from bot.sandbox.fakeslack.faults import Faults
from bot.sandbox.fakeslack.methods import WebApiMethods
from bot.sandbox.fakeslack.records import Message
from bot.sandbox.fakeslack.wire import ApiError, JSONDict, opt_str


class FilesError(Exception):
    """A Slack error name for the fake to answer with."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(slots=True)
class StoredFile:
    id: str
    name: str
    length: int
    alt_txt: str | None
    title: str | None = None
    data: bytes | None = None
    shared: bool = False

    def as_json(self) -> JSONDict:
        """The file object Slack puts in messages and answers (the fields bots read)."""
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": "image/png"
            if self.name.lower().endswith(".png")
            else "application/octet-stream",
            "size": len(self.data or b""),
            "alt_txt": self.alt_txt,
        }


class Files:
    """Uploaded files by id; `FakeSlack` routes the three steps here."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._ids = itertools.count(1)

    def get(self, file_id: str) -> StoredFile:
        return self._files[file_id]

    def get_upload_url(self, args: JSONDict, base_url: str) -> JSONDict:
        filename = args.get("filename")
        length = args.get("length")
        if not isinstance(filename, str) or not filename:
            raise FilesError("invalid_arguments")
        try:
            size = int(str(length))
        except ValueError:
            raise FilesError("invalid_arguments") from None
        if size <= 0:
            raise FilesError("invalid_arguments")
        alt = args.get("alt_txt")
        file_id = f"F0EON{next(self._ids):06d}"
        self._files[file_id] = StoredFile(
            file_id, filename, size, alt if isinstance(alt, str) else None
        )
        return {"ok": True, "upload_url": f"{base_url}/upload/{file_id}", "file_id": file_id}

    def receive(self, file_id: str, data: bytes) -> bool:
        """Step 2; False for an id never handed out (answered 404)."""
        stored = self._files.get(file_id)
        if stored is None:
            return False
        stored.data = data
        return True

    def complete(self, args: JSONDict) -> list[StoredFile]:
        """Step 3's checks; returns the files to share (the caller posts the message)."""
        raw = args.get("files")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise FilesError("invalid_arguments") from None
        if not isinstance(items, list) or not items:
            raise FilesError("invalid_arguments")
        found: list[StoredFile] = []
        for item in items:
            stored = self._files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if stored is None or stored.data is None:
                raise FilesError("file_not_found")
            if len(stored.data) != stored.length:
                raise FilesError("file_upload_size_mismatch")
            if stored.shared:
                raise FilesError("file_already_completed")
            title = item.get("title")
            stored.title = title if isinstance(title, str) and title else stored.name
            found.append(stored)
        for stored in found:
            stored.shared = True
        return found


class FileMethods(WebApiMethods, Faults):
    """The flow's Web API side: step 1 and 3 as methods, step 2 as its own route."""

    _files: Files

    def file(self, file_id: str) -> StoredFile:
        """An uploaded file, with its bytes; `KeyError` if no upload URL was handed out for it."""
        return self._files.get(file_id)

    def _get_upload_url(self, args: JSONDict) -> JSONDict:
        try:
            return self._files.get_upload_url(args, self.url)
        except FilesError as error:
            raise ApiError(error.error) from None

    def _complete_upload(self, args: JSONDict) -> JSONDict:
        try:
            shared = self._files.complete(args)
        except FilesError as error:
            raise ApiError(error.error) from None
        channel = opt_str(args, "channel_id")
        if channel:
            msg = Message(
                channel=channel,
                ts=self._next_ts(),
                text=opt_str(args, "initial_comment") or "",
                thread_ts=self._thread_parent(channel, opt_str(args, "thread_ts")),
                files=tuple(stored.as_json() for stored in shared),
            )
            self._messages.setdefault(channel, {})[msg.ts] = msg
            self._emit(msg, "post")
        return {"ok": True, "files": [{"id": s.id, "title": s.title} for s in shared]}

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        """Step 2: the bytes, POSTed to the URL step 1 handed out (`fail_next("upload")`)."""
        file_id = request.match_info["file_id"]
        args: JSONDict = {"file_id": file_id}
        fault = self._take_fault("upload", None)
        if fault is not None and fault.fails:
            return self._fault_response(request, "upload", args, "bytes", fault)
        data = await request.read()
        if not self._files.receive(file_id, data):
            self._record("upload", args, 404, "file_not_found", "bytes")
            return web.Response(status=404, text="Not Found")
        self._record("upload", args | {"length": len(data)}, 200, None, "bytes")
        return web.Response(text=f"OK - {len(data)}")
