"""tests.ports: the ports servers of the e2e tests bind, apart per xdist worker and outside the
kernel's ephemeral range (from which any outgoing connection may take a port at any moment)."""

from __future__ import annotations

import socket

import pytest

from tests import ports


def test_workers_draw_from_disjoint_slices_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    slices = []
    for worker in ("gw0", "gw1", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        slices.append(set(ports.worker_slice()))
    assert all(len(one) > 1000 for one in slices)
    assert not (slices[0] & slices[1]) and not (slices[1] & slices[2])
    assert not (slices[0] & slices[2])
    assert max(max(one) for one in slices) < ports._ephemeral_start()


def test_a_port_is_given_once_and_only_while_nothing_holds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = ports.worker_slice()
    few = range(own.start, own.start + 200)  # 100 draws from 200: a repeat if one were allowed
    monkeypatch.setattr(ports, "worker_slice", lambda: few)
    given = [ports.free_port() for _ in range(100)]
    assert len(set(given)) == len(given)
    assert all(port in few for port in given)
    with socket.socket() as held:
        held.bind(("", given[0]))  # still free: the probe let it go
        held.listen()
        ports._given.discard(given[0])
        assert not ports._bindable(given[0])
