"""The run in one picture: `ChartData` in, PNG bytes out (pure: no I/O, no global state).

matplotlib draws on its Agg canvas with a `Figure` of its own (never `pyplot`, whose global
figure registry is neither thread- nor task-safe), imported on first use so the service starts
without paying for it. Trial names are untrusted: mathtext is off (`$…$` stays literal) and
each name is one clipped line.

What it shows: each completed trial's accuracy against its latency (else its RAM, else its
place in the run), coloured by RAM; the accuracy/latency Pareto front; the target latency; the
best trial labelled; trials over a target ringed in red; failed trials as red crosses along
the bottom.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from bot import collector, fmt
from bot.core.chart import ChartData
from bot.core.ranking import pareto_front
from bot.core.run_name import project_label, says_eon_tuner
from bot.core.summary import TrialSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.0, 100  # 1000 × 600 px: readable at Slack's preview size
NAME_CHARS: Final = 40
MARGINS: Final = {"left": 0.075, "right": 0.98, "top": 0.88, "bottom": 0.2}
X_LABELS: Final = {
    "latency": "latency (ms)",
    "ram": "RAM (KB)",
    "order": "trial, in the order the run listed it",
}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _x(trial: TrialSummary, axis: str, order: dict[str, int]) -> float | None:
    if axis == "latency":
        return _finite(trial.latency_ms)
    if axis == "ram":
        ram = _finite(trial.ram_bytes)
        return None if ram is None else ram / 1024
    return float(order[trial.id])


def _points(
    trials: Sequence[TrialSummary], axis: str, order: dict[str, int]
) -> list[tuple[float, float, TrialSummary]]:
    found = []
    for trial in trials:
        x, accuracy = _x(trial, axis, order), _finite(trial.quality)
        if x is not None and accuracy is not None:
            found.append((x, accuracy * 100, trial))
    return found


def load_matplotlib() -> None:
    """Import what drawing needs, once, at the first chart: half a second of CPU and some
    100,000 objects, which a process that never draws (a replica between runs, a short-lived
    one) does not pay. The modules stay for the process's life, so they are taken out of the
    collector's rounds as soon as they are in (`collector.freeze`, as `eon-bot run` does with
    what it holds at start: `bot.service.app.settle`)."""
    if "matplotlib.figure" in sys.modules:
        return
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401

    collector.freeze()


def render_chart(data: ChartData) -> bytes:
    """The chart as PNG bytes, WIDTH_IN × HEIGHT_IN inches at DPI (1000 × 600 px)."""
    load_matplotlib()  # heavy: only when a chart is drawn, unless loaded already
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"text.parse_math": False, "font.size": 11}):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
        FigureCanvasAgg(figure)
        # Fixed margins (room for the two-line title, the axis labels and the legend below):
        # `tight_layout` would measure every text first, a large share of the drawing's cost.
        # Set before drawing, so the best's label is placed on the axes as they will be.
        figure.subplots_adjust(**MARGINS)
        ax = figure.add_subplot()
        _draw(ax, data)
        buffer = io.BytesIO()
        # zlib level 3, not 6: less of the drawing's time for a slightly larger file.
        figure.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 3})
    return buffer.getvalue()


def _draw(ax: Axes, data: ChartData) -> None:
    axis = data.x_axis
    order = {trial.id: index for index, trial in enumerate(data.trials, start=1)}
    points = _points(data.completed, axis, order)
    run = fmt.one_line(data.title or f"run {data.run_id or '?'}", NAME_CHARS)
    prefix = "" if says_eon_tuner(run) else "EON Tuner · "  # not "EON Tuner · EON Tuner run 4"
    ax.set_title(
        f"{prefix}{run} · {project_label(data.project_id, data.project_name)}\n"
        f"{len(data.completed)} completed · {len(data.failed)} failed{_limits_text(data)}",
        loc="left",
        # At a fixed height: matplotlib would otherwise measure the axis's tick labels to see
        # whether the title must rise above them (none are at the top), for nothing.
        y=1.0,
    )
    log = data.log_latency
    if log:  # one slow trial would otherwise squash the rest against the left edge
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(X_LABELS[axis] + (", log scale" if log else ""))
    ax.set_ylabel(f"{data.y_label} (%)")
    ax.grid(True, alpha=0.3)
    if not points:
        ax.text(
            0.5, 0.5, "No completed trial with an accuracy yet", ha="center", transform=ax.transAxes
        )
    else:
        _draw_points(ax, points, axis, data.ram_limit_bytes)
    _draw_failed(ax, data, axis, order)
    if axis == "latency" and data.target_latency_ms:
        ax.axvline(
            data.target_latency_ms,
            color="tab:red",
            linestyle="--",
            linewidth=1.2,
            label=f"target {fmt.latency(data.target_latency_ms)}",
        )
    if axis == "ram" and data.ram_limit_bytes:
        ax.axvline(
            data.ram_limit_bytes / 1024,
            color="tab:purple",
            linestyle=":",
            linewidth=1.2,
            label=f"device RAM {fmt.size(data.ram_limit_bytes)}",
        )
    best = data.best
    for x, y, trial in points:
        if best is not None and trial.id == best.id:
            _label_best(ax, x, y, trial, [(px, py) for px, py, t in points if t.id != trial.id])
    if ax.get_legend_handles_labels()[0]:
        # Below the axes, so it never hides a trial.
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=9, frameon=False
        )


def _limits_text(data: ChartData) -> str:
    """ " · device RAM 256 KB, ROM 1 MB": the limits a trial must fit, beside the counts."""
    limits = [
        f"{name} {fmt.size(value)}"
        for name, value in (("RAM", data.ram_limit_bytes), ("ROM", data.rom_limit_bytes))
        if value
    ]
    return f" · device {', '.join(limits)}" if limits else ""


def _draw_points(
    ax: Axes,
    points: list[tuple[float, float, TrialSummary]],
    axis: str,
    ram_limit: int | None = None,
) -> None:
    xs = [x for x, _, _ in points]
    ys = [y for _, y, _ in points]
    rams = [_finite(t.ram_bytes) for _, _, t in points]
    from matplotlib import colormaps

    colour_by_ram = axis != "ram" and any(r is not None for r in rams)
    if colour_by_ram:
        known = [r for r in rams if r is not None]
        low, high = min(known) / 1024, max(known) / 1024
        shade = [r / 1024 if r is not None else math.nan for r in rams]
        dots = ax.scatter(
            xs,
            ys,
            c=shade,
            cmap=colormaps["viridis"].with_extremes(bad="lightgrey"),
            vmin=low,
            vmax=max(high, low + 1e-9),
            s=60,
            edgecolors="black",
            linewidths=0.4,
            zorder=3,
            plotnonfinite=True,
            label="completed trial",
        )
        bar = ax.figure.colorbar(dots, ax=ax, label="RAM (KB)", pad=0.01)
        if ram_limit and low <= ram_limit / 1024 <= high:  # the device's RAM on the scale
            bar.ax.axhline(ram_limit / 1024, color="tab:red", linewidth=2)
    else:
        ax.scatter(
            xs,
            ys,
            s=60,
            color="tab:blue",
            edgecolors="black",
            linewidths=0.4,
            zorder=3,
            label="completed trial",
        )
    over = [(x, y) for x, y, t in points if not t.fits]
    if over:
        ax.scatter(
            [x for x, _ in over],
            [y for _, y in over],
            s=160,
            facecolors="none",
            edgecolors="tab:red",
            linewidths=1.3,
            zorder=4,
            label="over a target",
        )
    if axis == "latency":
        on_front = {t.id for t in pareto_front(t for _, _, t in points)}
        front = sorted((x, y) for x, y, t in points if t.id in on_front)
        ax.plot(
            [x for x, _ in front],
            [y for _, y in front],
            color="tab:orange",
            linewidth=1.8,
            drawstyle="steps-post",
            marker="D",
            markersize=4,
            zorder=2,
            label="Pareto front",
        )


def _draw_failed(ax: Axes, data: ChartData, axis: str, order: dict[str, int]) -> None:
    failed = data.failed
    if not failed:
        return
    placed = [x for t in failed if (x := _x(t, axis, order)) is not None]
    label = f"failed trial ({len(failed)})"
    transform = ax.get_xaxis_transform()  # x in data, y in axes: a rug along the bottom
    if placed:
        ax.scatter(
            placed,
            [0.03] * len(placed),
            marker="x",
            s=60,
            color="tab:red",
            transform=transform,
            zorder=4,
            label=label,
            clip_on=False,
        )
    else:
        ax.plot([], [], "x", color="tab:red", label=f"{label}: no figures to place")


def _label_best(
    ax: Axes, x: float, y: float, trial: TrialSummary, others: list[tuple[float, float]]
) -> None:
    ax.scatter(
        [x],
        [y],
        marker="*",
        s=320,
        color="gold",
        edgecolors="black",
        linewidths=0.8,
        zorder=5,
        label="best",
    )
    name = fmt.one_line(trial.name, NAME_CHARS)
    text = f"best: {name}\n{fmt.percent(trial.quality)} · {fmt.latency(trial.latency_ms)}"
    offset, align = _label_place(ax, (x, y), others, len(max(text.splitlines(), key=len)))
    ax.annotate(
        text,
        (x, y),
        xytext=offset,
        textcoords="offset points",
        ha=align,
        va="bottom",
        multialignment="left",
        fontsize=9,
        bbox={"boxstyle": "round", "facecolor": "lightyellow", "alpha": 0.9},
        arrowprops={"arrowstyle": "-", "color": "grey"},
        zorder=6,
    )


# Where the best's label may go, in points from the star (text's lower-left corner for "left",
# lower-right for "right"), in order of preference: below right first, as before.
_PLACES: tuple[tuple[tuple[float, float], str], ...] = (
    ((12, -28), "left"),
    ((12, 14), "left"),
    ((-12, -28), "right"),
    ((-12, 14), "right"),
)


def _label_place(
    ax: Axes, at: tuple[float, float], others: list[tuple[float, float]], chars: int
) -> tuple[tuple[float, float], str]:
    """The first place whose box (estimated from the text's size, in pixels) covers the
    fewest other trials, so the label never hides a point when a free place exists."""
    ax.autoscale_view()
    scale = ax.figure.dpi / 72  # points to pixels
    width, height = (chars * 5.6 + 10) * scale, 34 * scale  # 9 pt text, two lines, padding
    star = ax.transData.transform(at)
    shown = [ax.transData.transform(point) for point in others]
    margin = 6 * scale  # a dot's radius: a box that touches a dot hides it

    frame = ax.bbox  # the axes in pixels: a label outside would cover the title or ticks

    def covered(place: tuple[tuple[float, float], str]) -> int:
        (dx, dy), align = place
        left = star[0] + dx * scale - (width if align == "right" else 0)
        bottom = star[1] + dy * scale
        outside = (
            left < frame.x0
            or left + width > frame.x1
            or bottom < frame.y0
            or bottom + height > frame.y1
        )
        hidden = sum(
            left - margin <= px <= left + width + margin
            and bottom - margin <= py <= bottom + height + margin
            for px, py in shown
        )
        return int(hidden) + (len(shown) + 1 if outside else 0)

    return min(_PLACES, key=covered)
