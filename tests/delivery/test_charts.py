"""Charts decoded back from their PNG bytes: size, colours, and bars as long as their values."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from delivery import charts
from models.deliverable import Deliverable

ROOT = Path(__file__).resolve().parents[2]


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _decode(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    assert image.size == (charts.WIDTH_PX, charts.HEIGHT_PX) == (800, 400)
    assert image.mode in ("RGB", "RGBA")
    return image.convert("RGB")


def _near(image: Image.Image, colour: str, tolerance: int = 40) -> int:
    """Pixels within TOLERANCE of COLOUR (anti-aliased lines are not exactly the colour)."""
    r0, g0, b0 = _rgb(colour)
    raw = image.tobytes()
    return sum(
        abs(raw[i] - r0) + abs(raw[i + 1] - g0) + abs(raw[i + 2] - b0) <= tolerance
        for i in range(0, len(raw), 3)
    )


def _bar_runs(image: Image.Image, colour: str, *, vertical: bool) -> list[int]:
    """The length of each bar of exactly COLOUR: its pixel count along the value axis."""
    target = _rgb(colour)
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    outer, inner = (width, height) if vertical else (height, width)
    lengths: list[int] = []
    current = 0
    for a in range(outer):
        run = sum(
            (pixels[a, b] if vertical else pixels[b, a]) == target  # type: ignore[index]
            for b in range(inner)
        )
        if run:
            current = max(current, run)
        elif current:
            lengths.append(current)
            current = 0
    if current:
        lengths.append(current)
    return lengths


def test_line_chart_draws_this_period_and_a_lighter_previous_period() -> None:
    points = [(f"2026-11-{day:02d}", 40.0 + day) for day in range(1, 31)]
    previous = [30.0 + day % 7 for day in range(30)]
    image = _decode(
        charts.line_chart(
            "Resolution rate per day", points, previous=previous, y_label="Rate", percent=True
        )
    )
    colours = image.getcolors(maxcolors=100_000)
    assert colours is not None and len(colours) > 50  # text, lines, grid: not a blank canvas
    white = max(count for count, colour in colours if colour == (255, 255, 255))
    assert white < 800 * 400 * 0.97
    assert _near(image, charts.CURRENT_COLOUR, 0) > 1500
    assert _near(image, charts.PREVIOUS_COLOUR, 0) > 1000

    alone = _decode(charts.line_chart("Resolution rate per day", points, y_label="Rate"))
    assert _near(alone, charts.CURRENT_COLOUR, 0) > 1500
    assert _near(alone, charts.PREVIOUS_COLOUR, 0) == 0


def test_line_chart_with_gaps_and_without_data_still_renders() -> None:
    gappy = [("2026-11-01", 50.0), ("2026-11-02", None), ("2026-11-03", 70.0)]
    assert _near(_decode(charts.line_chart("Gaps", gappy, y_label="Rate")), charts.CURRENT_COLOUR)
    empty = _decode(charts.line_chart("Nothing yet", [], y_label="Rate"))
    assert _near(empty, charts.CURRENT_COLOUR) == 0


def test_bar_lengths_follow_the_values() -> None:
    values = [10, 20, 5, 40]
    png = charts.bar_chart(
        "Conversations by topic",
        ["billing", "shipping", "returns", "account"],
        {"Conversations": values},
        value_label="Conversations",
        category_label="Topic",
    )
    lengths = _bar_runs(_decode(png), charts.CURRENT_COLOUR, vertical=True)
    assert len(lengths) == len(values)
    scale = lengths[-1] / values[-1]
    for length, value in zip(lengths, values, strict=True):
        assert abs(length - value * scale) <= 2


def test_long_labels_turn_horizontal_and_only_the_top_bars_are_drawn() -> None:
    questions = [f"How do I change the delivery address of order {n}?" for n in range(15)]
    asks = list(range(30, 15, -1))
    png = charts.bar_chart(
        "Most asked unanswered questions",
        questions,
        {"Times asked": asks},
        value_label="Times asked",
        category_label="Question",
        limit=12,
    )
    lengths = _bar_runs(_decode(png), charts.CURRENT_COLOUR, vertical=False)
    assert len(lengths) == 12
    assert lengths == sorted(lengths, reverse=True)  # the most asked on top
    assert abs(lengths[0] / lengths[-1] - asks[0] / asks[11]) < 0.03


def test_grouped_bars_show_both_periods_and_dollar_signs_stay_text() -> None:
    png = charts.bar_chart(
        "Cost by topic in $",
        ["refunds over $50", "billing"],
        {"This period": [3, 4]},
        previous=[2, None],
        value_label="Cost in $ (USD)",
        category_label="Topic",
    )
    image = _decode(png)
    # Two bars this period, one before (the other is missing), each beside a legend swatch.
    this_period, before = (
        _near(image, charts.CURRENT_COLOUR, 0),
        _near(image, charts.PREVIOUS_COLOUR, 0),
    )
    assert this_period > 2 * before > 0

    # Series that are not periods get distinct colours, not the lighter "before" shade.
    workload = _decode(
        charts.bar_chart(
            "Assists per member",
            ["Maria", "Tom"],
            {"Open": [4, 2], "Closed": [1, 3]},
            value_label="Assists",
            category_label="Member",
        )
    )
    assert _near(workload, charts.CURRENT_COLOUR, 0) > 1000
    assert _near(workload, charts.SERIES_COLOURS[1], 0) > 1000
    assert _near(workload, charts.PREVIOUS_COLOUR, 0) == 0


async def test_charts_drawn_in_threads_at_once_match_one_drawn_alone() -> None:
    points = [(f"2026-11-{day:02d}", float(day % 5)) for day in range(1, 15)]

    def draw(n: int) -> bytes:
        return charts.line_chart(
            f"Chart {n % 2}", points, previous=[v for _, v in points], y_label="Count"
        )

    alone = [draw(0), draw(1)]
    drawn = await asyncio.gather(*(asyncio.to_thread(draw, n) for n in range(8)))
    assert all(png == alone[n % 2] for n, png in enumerate(drawn))


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The titles of the charts drawn from now on (none remembered from an earlier test)."""
    titles: list[str] = []
    render = charts._render

    def counting(title: str, *args: Any) -> bytes:
        titles.append(title)
        return render(title, *args)

    monkeypatch.setattr(charts, "_render", counting)
    monkeypatch.setattr(charts, "_drawn", OrderedDict())
    return titles


async def test_a_card_asked_for_again_over_the_same_figures_is_not_drawn_again(
    drawn: list[str],
) -> None:

    def card(title: str, values: list[float]) -> Deliverable:
        series = [[f"2026-11-{day:02d}", v] for day, v in enumerate(values, start=1)]
        return Deliverable(
            kind="card",
            title=title,
            text=title,
            data={"chart": {"type": "line", "metric": "resolution_rate"}, "series": series},
        )

    first = await charts.draw_deliverable_chart(card("Resolution rate", [0.5, 0.7, 0.6]))
    again = await charts.draw_deliverable_chart(card("Resolution rate", [0.5, 0.7, 0.6]))
    other = await charts.draw_deliverable_chart(card("Resolution rate", [0.5, 0.7, 0.9]))
    retitled = await charts.draw_deliverable_chart(card("Resolution rate today", [0.5, 0.7, 0.6]))
    assert first is not None and first == again
    assert other is not None and other != first
    assert retitled is not None and retitled != first
    assert drawn == ["Resolution rate", "Resolution rate", "Resolution rate today"]


async def test_a_remembered_chart_is_answered_without_a_thread_and_one_asked_at_once_drawn_once(
    monkeypatch: pytest.MonkeyPatch, drawn: list[str]
) -> None:
    threads: list[object] = []
    to_thread = asyncio.to_thread

    async def counting_threads(func: Any, /, *args: Any) -> Any:
        threads.append(func)
        return await to_thread(func, *args)

    monkeypatch.setattr(charts.asyncio, "to_thread", counting_threads)
    card = Deliverable(
        kind="card",
        title="Volume",
        text="Volume",
        data={
            "chart": {"type": "line", "metric": "volume"},
            "series": [["2026-11-01", 3], ["2026-11-02", 5]],
        },
    )
    # Six requests at once for a chart not drawn yet: one drawing, the same PNG for all.
    first = await asyncio.gather(*(charts.draw_deliverable_chart(card) for _ in range(6)))
    assert drawn == ["Volume"]
    assert first[0] is not None and all(png == first[0] for png in first)
    asked = len(threads)
    assert asked == 6
    again = await charts.draw_deliverable_chart(card)
    assert again == first[0]
    assert len(threads) == asked  # taken on the loop: no thread to fetch what is remembered
    assert drawn == ["Volume"]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """CODE run by a Python process of its own (a clean `sys.modules` and collector)."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


def test_importing_the_chart_and_report_modules_does_not_load_the_libraries() -> None:
    code = (
        "import sys, core.reports.documents, delivery.charts, delivery.reports\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'matplotlib', 'reportlab', 'openpyxl', 'PIL', 'numpy'})\n"
        "print(','.join(heavy))"
    )
    done = _python(code)
    assert done.stdout.strip() == ""


def test_what_the_first_chart_loaded_is_out_of_the_collectors_way() -> None:
    """matplotlib is imported at the first chart, after start-up froze what it had made: the
    libraries' objects then sat in the collector's oldest generation, walked at every full
    collection (30-50 ms with every request waiting). After the first chart they are frozen
    too (over 7,000 of their functions were walked before), and the chart's own figure was
    freed first, not frozen with them."""
    code = (
        "import gc, types\n"
        "from delivery import charts\n"
        "def walked():\n"
        "    return sum(isinstance(o, types.FunctionType) and (o.__module__ or '').split('.')[0]"
        " in {'matplotlib', 'numpy', 'pyparsing', 'PIL'} for o in gc.get_objects())\n"
        "points = [('2026-11-01', 50.0), ('2026-11-02', 60.0)]\n"
        "charts.line_chart('Resolution rate per day', points, y_label='Rate', percent=True)\n"
        "first = walked()\n"
        "gc.unfreeze()\n"
        "figures = sum(type(o).__name__ == 'Figure' for o in gc.get_objects())\n"
        "print(first, figures)"
    )
    done = _python(code)
    assert done.stdout.split() == ["0", "0"]
