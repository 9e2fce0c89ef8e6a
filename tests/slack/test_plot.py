"""The run's chart: a real PNG of the stated size, whatever the run's figures look like."""

from __future__ import annotations

import io
import struct

import matplotlib
import pytest
from matplotlib.axes import Axes
from PIL import Image

from bot.core.chart import ChartData
from bot.core.summary import TrialSummary
from bot.slack.plot import render_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, read as the PNG specification lays it out."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def done(trial_id: str, accuracy: float | None, latency: float | None = None, **more: object):
    fields = {"name": f"trial {trial_id}", **more}
    return TrialSummary(
        id=trial_id,
        status="completed",
        accuracy=accuracy,
        latency_ms=latency,
        **fields,  # type: ignore[arg-type]
    )


def failed(trial_id: str) -> TrialSummary:
    return TrialSummary(id=trial_id, name=f"trial {trial_id}", status="failed")


RUNS = {
    "latency": [
        done("a", 0.8, 10, ram_bytes=20_000),
        done("b", 0.9, 50, ram_bytes=90_000),
        done("c", 0.95, 150, ram_bytes=200_000, over_latency=True),
        failed("d"),
    ],
    "ram": [done("a", 0.8, ram_bytes=20_000), done("b", 0.9, ram_bytes=90_000)],
    "order": [done("a", 0.8), done("b", 0.9), failed("c")],
}


@pytest.mark.parametrize("axis", RUNS)
def test_the_axis_follows_the_figures_the_run_has(axis: str) -> None:
    data = ChartData(project_id="1", target_latency_ms=100, trials=RUNS[axis])
    assert data.x_axis == axis
    png = render_chart(data)
    width, height = png_size(png)
    assert width >= 800 and height >= 500
    image = Image.open(io.BytesIO(png))
    image.verify()  # Pillow, an independent decoder, accepts the whole file
    assert image.format == "PNG" and image.size == (width, height)


def test_best_pareto_and_failed_as_the_run_tells() -> None:
    data = ChartData(project_id="1", target_latency_ms=100, trials=RUNS["latency"])
    assert data.best is not None and data.best.id == "b"  # c scores higher but is over the target
    assert [t.id for t in data.pareto] == ["a", "b", "c"]
    assert [t.id for t in data.failed] == ["d"]
    assert [t.id for t in data.top(2)] == ["b", "a"]  # the one ranking: c is over the target


def test_the_chart_shows_what_it_is_given() -> None:
    """More trials paint more of the picture: the image is drawn from the data."""
    few = render_chart(ChartData(project_id="1", trials=RUNS["latency"][:1]))
    many = render_chart(ChartData(project_id="1", target_latency_ms=100, trials=RUNS["latency"]))
    assert Image.open(io.BytesIO(few)).tobytes() != Image.open(io.BytesIO(many)).tobytes()


@pytest.mark.parametrize(
    "trials",
    [
        [],
        [failed("x")],
        [done("$a$", 0.5, 1.0, name="$\\frac{1}{0}$ <!channel> " + "x" * 500)],
        [done("n", float("nan"), float("inf"))],
    ],
    ids=["no trials", "only failures", "hostile name", "non-finite figures"],
)
def test_odd_runs_still_draw(trials: list[TrialSummary]) -> None:
    assert png_size(render_chart(ChartData(project_id="1", trials=trials))) == (1000, 600)


def test_a_run_scored_by_map_is_drawn_by_its_score() -> None:
    trials = [
        TrialSummary(id=i, name=i, status="completed", score=s, score_name="mAP", latency_ms=10.0)
        for i, s in (("a", 0.4), ("b", 0.6))
    ]
    data = ChartData(project_id="1", trials=trials)
    assert [t.id for t in data.completed] == ["a", "b"] and data.y_label == "mAP"
    assert data.best is not None and data.best.id == "b"
    assert png_size(render_chart(data)) == (1000, 600)


def _drawn(data: ChartData) -> Axes:
    """The chart's axes, drawn as `render_chart` draws them (margins first)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bot.slack import plot

    with matplotlib.rc_context({"text.parse_math": False, "font.size": 11}):
        figure = Figure(figsize=(plot.WIDTH_IN, plot.HEIGHT_IN), dpi=plot.DPI)
        FigureCanvasAgg(figure)
        figure.subplots_adjust(**plot.MARGINS)
        ax = figure.add_subplot()
        plot._draw(ax, data)
        figure.canvas.draw()
    return ax


def test_the_title_says_the_runs_one_name_once_and_the_devices_limits() -> None:
    data = ChartData(
        project_id="1",
        title="EON Tuner run 4 (extended search)",
        ram_limit_bytes=256 * 1024,
        rom_limit_bytes=1024 * 1024,
        trials=RUNS["latency"],
    )
    title = _drawn(data).get_title(loc="left")
    assert title.startswith("EON Tuner run 4 (extended search) · project 1\n"), title
    assert title.count("EON Tuner") == 1
    assert "device RAM 256.0 KB, ROM 1.0 MB" in title


@pytest.mark.parametrize(
    ("latencies", "log"),
    [([10, 20, 30, 40], False), ([10, 20, 30, 400], True), ([10, 400], False)],
    ids=["spread evenly", "one slow outlier", "too few to tell"],
)
def test_one_slow_outlier_puts_latency_on_a_log_axis(latencies: list[float], log: bool) -> None:
    data = ChartData(
        project_id="1", trials=[done(str(i), 0.8, ms) for i, ms in enumerate(latencies)]
    )
    assert data.log_latency is log
    ax = _drawn(data)
    assert ax.get_xscale() == ("log" if log else "linear")
    assert ("log scale" in ax.get_xlabel()) is log


def test_the_best_label_covers_no_other_trial() -> None:
    """A crowd just below and right of the best, where its label used to go."""
    crowd = [done(f"c{i}", 0.928 - i * 0.0004, 48 + i * 5) for i in range(6)]
    floor = [done("low", 0.80, 20)]  # the y-axis's span, so the crowd sits just below the best
    best = done("best", 0.93, 40)
    ax = _drawn(ChartData(project_id="1", target_latency_ms=100, trials=[best, *crowd, *floor]))
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    [label] = [t for t in ax.texts if t.get_text().startswith("best: ")]
    box = label.get_bbox_patch().get_window_extent(renderer)  # type: ignore[union-attr]
    for trial in crowd:
        x, y = ax.transData.transform((trial.latency_ms, (trial.accuracy or 0) * 100))
        assert not box.contains(x, y), f"{trial.id} under the label"
