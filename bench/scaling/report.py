"""What `bench/scale.py` prints: one configuration's figures with their targets, or two side
by side (`--compare-workspaces`) with the ratios issue 33 sets a target for."""

from __future__ import annotations

import argparse
import statistics

TARGETS = {
    "bot CPU (% of a core)": "< 50",
    "RSS (MB, max in window)": "< 250",
    "poll gap p99 (s)": "<= interval + 1",
    "projects not polled in window": "0",
    "/eon status ID ack p99 (ms)": "<= 100",
    "/eon status ID acks >= 3 s": "0",
    "channel /eon status p99 (ms)": "<= 300",
    "completions not posted": "0",
    "completion -> post p99 (s)": "<= interval + 2.5",
    "posts out of outbox order": "0",
}
# Issue 33: spread over many workspaces, CPU and memory within 10 % of one workspace.
RATIOS = ("bot CPU (s in window)", "RSS (MB, max in window)", "RSS (MB, median in window)")
RATIO_TARGET = 1.10
HIDDEN = ("window start", "window end")


def header(args: argparse.Namespace, where: str) -> str:
    return (
        f"\n{args.n} projects ({args.running} running, {args.trials} trials each), {args.db}, "
        f"POLL_INTERVAL={args.interval:g}, IDLE_FULL_READ={args.idle_full_read:g}, "
        f"{args.duration:g} s window, {args.repeat} run(s); {where}"
    )


def table(args: argparse.Namespace, results: list[dict[str, float]]) -> None:
    """Each figure's min and median over the runs, and its target."""
    print(f"  {'figure':34} {'min':>9} {'median':>9}  target")
    for name in results[0]:
        if name in HIDDEN:
            continue
        values = [r[name] for r in results]
        target = TARGETS.get(name, "").replace("interval", f"{args.interval:g}")
        print(f"  {name:34} {min(values):9.1f} {statistics.median(values):9.1f}  {target}")


def side_by_side(
    args: argparse.Namespace, sides: list[int], results: dict[int, list[dict[str, float]]]
) -> None:
    """Each figure's min / median on both sides; then the ratios (second side over first) of
    the bot's CPU seconds in the window and its RSS, against the 10 % target."""
    a, b = sides
    print(f"  {'figure':34} {f'{a} ws: min':>11} {'median':>9} {f'{b} ws: min':>11} {'median':>9}")
    for name in results[a][0]:
        if name in HIDDEN:
            continue
        cells = []
        for side in sides:
            values = [r[name] for r in results[side]]
            cells += [f"{min(values):11.1f}", f"{statistics.median(values):9.1f}"]
        print(f"  {name:34} {' '.join(cells)}")
    print(f"\n  ratio {b}/{a} {'':22} {'of medians':>11} {'of mins':>9}  runs paired  target")
    for name in RATIOS:
        one, many = ([r[name] for r in results[side]] for side in sides)
        of_medians = statistics.median(many) / statistics.median(one)
        paired = " ".join(f"{y / x:.3f}" for x, y in zip(one, many, strict=True))
        verdict = "PASS" if of_medians <= RATIO_TARGET else "FAIL"
        print(
            f"  {name:34} {of_medians:11.3f} {min(many) / min(one):9.3f}  {paired}"
            f"  <= {RATIO_TARGET:.2f} (median): {verdict}"
        )
