"""The garbage collector's settings, in one place: what `eon-bot run` takes out of its rounds,
and when it is paused. Both are about the event loop standing still while a full collection
walks every tracked object; the benches that justify them are named with each.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

# Below this a read allocates too little for a mid-read collection to matter, and pausing the
# collector only defers (and bunches) its work: with many small reads it cost more than it
# saved (`bench/scale.py`, the poll gap and CPU at many projects).
PAUSE_BYTES = 1024 * 1024


def freeze() -> None:
    """Take what the process holds now out of the collector's rounds: once started
    (`bot.service.app.settle`), and again when the first chart has loaded matplotlib
    (`bot.slack.plot.load_matplotlib`). Its modules, settings and the projects it polls stay
    until it exits, and a full collection walking them all held the event loop still, every
    few seconds, at many projects (`bench/scale.py`: `/eon status ID` p99). `gc.freeze()`
    moves them to a generation no collection walks; what the process makes afterwards is
    collected as before.
    An object frozen here and dropped later is still freed by its reference count; only cyclic
    garbage would stay, and of that kind there is at most what was under way at each of these
    two moments (a few tasks)."""
    gc.collect()
    gc.freeze()


@contextmanager
def _paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def paused_for(size: int) -> AbstractContextManager[None]:
    """No cyclic collection while a document of `size` bytes is read (in the reader thread):
    validating a large state allocates many objects, none in a cycle, and a collection in the
    middle walks the whole heap (every project's models) again and again, several times the
    cost of the read itself (`bench/parse_diff.py`, the 2,000-trial rows). Small reads are
    left alone (`PAUSE_BYTES`)."""
    return _paused() if size >= PAUSE_BYTES else nullcontext()
