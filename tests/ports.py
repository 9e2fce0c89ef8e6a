"""Ports for servers a test starts on a port of its choosing (the bot's `PORT`, `eon-bot
simulate --port`, a sandbox server that must come back on the same port after an outage).

A port the kernel hands out for `bind(("", 0))` comes from its ephemeral range, which every
outgoing connection draws from too: between the probe that found it free and the bind that
uses it, a connection (of this test, of another xdist worker, of another suite) may take it,
and the bind fails with "address in use". So ports come from below that range, where the
kernel hands out nothing by itself, and each xdist worker (`PYTEST_XDIST_WORKER`) draws from
its own slice of it, so two workers of one run never pick the same one; within the slice the
pick is random (another suite on the machine works through its slices too), and a port is
handed out once per process and only when a probe can bind it.
"""

from __future__ import annotations

import os
import random
import socket
from typing import Final

LOWEST: Final = 20000
EPHEMERAL_FROM: Final = 32768  # Linux's default net.ipv4.ip_local_port_range starts here
ATTEMPTS: Final = 200

_given: set[int] = set()
_pick = random.Random()  # its own: hypothesis seeds the global one the same in every run


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as lines:
            return int(lines.read().split()[0])
    except (OSError, ValueError, IndexError):
        return EPHEMERAL_FROM


def worker_slice() -> range:
    """This xdist worker's own ports (the whole span outside xdist)."""
    top = max(_ephemeral_start(), LOWEST + 1000)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    index = int(worker) if worker.isdigit() else 0
    size = (top - LOWEST) // count
    start = LOWEST + (index % count) * size
    return range(start, start + size)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("", port))  # every interface: the bot binds 0.0.0.0
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port no server holds right now, from this worker's slice, never given out before."""
    ports = worker_slice()
    for _ in range(ATTEMPTS):
        port = _pick.choice(ports)
        if port not in _given and _bindable(port):
            _given.add(port)
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1} after {ATTEMPTS} tries")
