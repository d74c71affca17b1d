"""PNG charts for reports and briefings, drawn headless with matplotlib's object API.

matplotlib is imported inside the functions: a gateway that never draws does not pay for it
(about 30 MB resident). Only `matplotlib.figure.Figure` on an Agg canvas is used, never pyplot's
global state, so a chart can be drawn in `asyncio.to_thread`; drawing is still serialised by a
lock because matplotlib does not promise that artists are thread-safe. Text uses the DejaVu Sans
font matplotlib ships, so no system font is needed.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import date
from functools import partial
from typing import TYPE_CHECKING

from models.deliverable import Deliverable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)

WIDTH_PX, HEIGHT_PX, DPI = 800, 400, 100
CURRENT_COLOUR = "#1f5fbf"
PREVIOUS_COLOUR = "#9dbbe6"  # the same hue, lighter: the period before recedes
SERIES_COLOURS = (CURRENT_COLOUR, "#e07b39", "#3f9a5c", "#8c6bb1")
MAX_LABEL = 38
_RATE_METRICS = frozenset({"resolution_rate", "escalation_rate"})
_DRAWING = threading.Lock()
# Whether a chart was drawn in this process yet (see `_render`); read and set under _DRAWING.
_settled = False
# The charts of cards and topic lists drawn lately, by everything they show: the same question
# asked again over the same figures (a morning's "resolution rate this week" from several
# managers) is sent the same PNG without drawing it again, which costs ~10 ms of CPU. A few
# dozen PNGs of some 30 KB each.
_REMEMBERED = 64
_drawn: OrderedDict[Hashable, bytes] = OrderedDict()
_drawn_lock = threading.Lock()
# Held while a chart that was not remembered is drawn: the same chart asked for by several
# requests at once (a card's figures asked about by a team) is drawn by the first, and the
# others take its PNG. Charts are drawn one at a time anyway (`_DRAWING`).
_filling = threading.Lock()


def line_chart(
    title: str,
    points: Sequence[tuple[str, float | None]],
    *,
    previous: Sequence[float | None] | None = None,
    y_label: str,
    x_label: str = "Day",
    current_label: str = "This period",
    previous_label: str = "The period before",
    percent: bool = False,
) -> bytes:
    """A daily metric as a line; PREVIOUS (the period before, day by day) as a lighter line.

    POINTS are (day, value) pairs, the day as an ISO date ("2026-11-12") or any label; a None
    value leaves a gap. Returns PNG bytes, WIDTH_PX by HEIGHT_PX.
    """

    def draw(ax: Axes) -> None:
        if not points:
            _no_data(ax)
            return
        xs = list(range(len(points)))
        marker = "o" if len(points) <= 31 else None
        if previous:
            before = [_number(v) for v in previous[: len(points)]]
            ax.plot(
                xs[: len(before)],
                before,
                color=PREVIOUS_COLOUR,
                linewidth=1.8,
                marker=marker,
                markersize=3,
                label=_text(previous_label),
            )
        ax.plot(
            xs,
            [_number(v) for _, v in points],
            color=CURRENT_COLOUR,
            linewidth=2.4,
            marker=marker,
            markersize=4,
            label=_text(current_label),
        )
        step = max(1, math.ceil(len(points) / 10))
        ticks = xs[::step]
        ax.set_xticks(ticks, [_day_label(points[i][0]) for i in ticks])
        ax.set_xlim(-0.5, len(points) - 0.5)
        ax.set_ylim(bottom=0)
        if percent:
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        if previous:
            ax.legend(loc="best", fontsize=9, frameon=False)

    return _render(title, x_label, y_label, draw)


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    previous: Sequence[float | None] | None = None,
    previous_label: str = "The period before",
    value_label: str,
    category_label: str,
    limit: int = 12,
) -> bytes:
    """Bars per category (topics, members, questions); several SERIES side by side, in order,
    and PREVIOUS (the first series in the period before) in a lighter shade beside the first.

    The first LIMIT categories are drawn, and the title says so when there were more. Long or
    many labels turn the bars horizontal so the labels stay readable. Returns PNG bytes.
    """
    shown = list(categories[:limit])
    if len(categories) > limit:
        title = f"{title} (top {limit} of {len(categories)})"
    bars: list[tuple[str, Sequence[float | None], str]] = [
        (name, values, SERIES_COLOURS[n % len(SERIES_COLOURS)])
        for n, (name, values) in enumerate(series.items())
    ]
    if previous is not None and bars:
        bars.insert(1, (previous_label, previous, PREVIOUS_COLOUR))
    labels = [_text(c, MAX_LABEL) for c in shown]
    horizontal = len(shown) > 6 or any(len(label) > 12 for label in labels)

    def draw(ax: Axes) -> None:
        if not shown or not bars:
            _no_data(ax)
            return
        width = 0.8 / len(bars)
        drawn: list[float] = []
        for n, (name, raw, colour) in enumerate(bars):
            values = [_number(v) for v in list(raw)[: len(shown)]]
            values += [math.nan] * (len(shown) - len(values))
            drawn += values
            offsets = [i - 0.4 + width * (n + 0.5) for i in range(len(shown))]
            label = _text(name) if len(bars) > 1 else None
            if horizontal:
                group = ax.barh(offsets, values, height=width, color=colour, label=label)
            else:
                group = ax.bar(offsets, values, width=width, color=colour, label=label)
            ax.bar_label(group, labels=[_value_label(v) for v in values], fontsize=8, padding=2)
        positions = list(range(len(shown)))
        ax.grid(False, axis="y" if horizontal else "x")
        if horizontal:
            ax.set_yticks(positions, labels, fontsize=9)
            ax.invert_yaxis()  # the first category on top, as it reads
            ax.set_xlim(left=0)
            ax.margins(x=0.12)
        else:
            ax.set_xticks(positions, labels, fontsize=9)
            ax.set_ylim(bottom=0)
            ax.margins(y=0.12)
        if all(math.isnan(v) or v.is_integer() for v in drawn):
            from matplotlib.ticker import MaxNLocator

            (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
        if len(bars) > 1:
            ax.legend(loc="best", fontsize=9, frameon=False)

    if horizontal:  # the values run along x
        return _render(title, value_label, category_label, draw)
    return _render(title, category_label, value_label, draw)


class _Chart:
    """A chart to draw (call it, in a thread), or to take as drawn lately (`remembered`)."""

    __slots__ = ("_drawing", "_key")

    def __init__(self, key: Hashable, drawing: Callable[[], bytes]) -> None:
        self._key = key
        self._drawing = drawing

    def remembered(self) -> bytes | None:
        """The PNG when the same chart was drawn lately; nothing is drawn (cheap enough for
        the event loop)."""
        with _drawn_lock:
            png = _drawn.get(self._key)
            if png is not None:
                _drawn.move_to_end(self._key)
            return png

    def __call__(self) -> bytes:
        png = self.remembered()
        if png is not None:
            return png
        with _filling:
            png = self.remembered()  # drawn by another thread while this one waited
            if png is not None:
                return png
            png = self._drawing()
            with _drawn_lock:
                _drawn[self._key] = png
                while len(_drawn) > _REMEMBERED:
                    _drawn.popitem(last=False)
        return png


def deliverable_chart(deliverable: Deliverable) -> _Chart | None:
    """How to draw the chart a metric card (its daily series) or a topic list asks for in
    `data["chart"]`, to be run in a thread; None when the deliverable has none. Cheap: nothing
    is drawn until it is called."""
    spec = deliverable.data.get("chart")
    if not isinstance(spec, dict):
        return None
    title = deliverable.title or "Chart"
    if spec.get("type") == "line" and isinstance(deliverable.data.get("series"), list):
        points = [
            (str(p[0]), p[1] if isinstance(p[1], int | float) else None)
            for p in deliverable.data["series"]
            if isinstance(p, list | tuple) and len(p) == 2
        ]
        metric = str(spec.get("metric") or "")
        return _remembered(
            line_chart,
            title,
            points,
            y_label=metric.replace("_", " ").capitalize() or "Value",
            percent=metric in _RATE_METRICS,
        )
    if spec.get("type") == "bar" and isinstance(deliverable.data.get("topics"), list):
        pairs = [
            (str(p[0]), p[1])
            for p in deliverable.data["topics"]
            if isinstance(p, list | tuple) and len(p) == 2 and isinstance(p[1], int | float)
        ]
        if pairs:
            return _remembered(
                bar_chart,
                title,
                [label for label, _ in pairs],
                {"Conversations": [value for _, value in pairs]},
                value_label="Conversations",
                category_label="Topic",
            )
    return None


def _remembered(draw: Callable[..., bytes], *args: object, **kwargs: object) -> _Chart:
    """DRAW(*ARGS, **KWARGS), answered from the charts drawn lately when they showed the same."""
    return _Chart((draw.__name__, _frozen(args), _frozen(kwargs)), partial(draw, *args, **kwargs))


def _frozen(value: object) -> Hashable:
    """VALUE (lists, tuples and dicts of plain values) as a hashable key."""
    if isinstance(value, Mapping):
        return tuple((key, _frozen(item)) for key, item in value.items())
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


async def draw_deliverable_chart(deliverable: Deliverable) -> bytes | None:
    """The PNG of DELIVERABLE's chart, drawn off the event loop; None when it has none or it
    cannot be drawn (a chart is an extra: the reply stands without it)."""
    draw = deliverable_chart(deliverable)
    if draw is None:
        return None
    png = draw.remembered()
    if png is not None:  # no thread for what needs no drawing
        return png
    try:
        return await asyncio.to_thread(draw)
    except (ValueError, TypeError, OverflowError):
        log.warning("chart for %r could not be drawn", deliverable.title, exc_info=True)
        return None


def _render(title: str, x_label: str, y_label: str, draw: Callable[[Axes], None]) -> bytes:
    global _settled
    with _DRAWING:
        png = _png(title, x_label, y_label, draw)
        if not _settled:
            _settled = True
            # The first drawing imported matplotlib, numpy, PIL and pyparsing and filled their
            # caches (fonts, mathtext's grammar): some 80,000 objects that live as long as the
            # process. Start-up froze what it had made (`cli.processes`), but these came
            # later, and the collector walked them all at every full collection: 30-50 ms
            # with every request waiting, every few seconds under load. Frozen, they are out
            # of its way too. The collection first (once, tens of milliseconds) frees the
            # drawing's own figure, a web of cycles that frozen would never be freed.
            gc.collect()
            gc.freeze()
    return png


def _png(title: str, x_label: str, y_label: str, draw: Callable[[Axes], None]) -> bytes:
    # Anyone importing pyplot later in this process still gets a headless backend.
    os.environ.setdefault("MPLBACKEND", "Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_title(_text(title, 90), fontsize=13, loc="left", fontweight="bold")
    ax.set_xlabel(_text(x_label), fontsize=10)
    ax.set_ylabel(_text(y_label), fontsize=10)
    ax.grid(True, axis="both", color="#e3e6ea", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    draw(ax)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "No data for this period", ha="center", va="center", fontsize=12,
            color="#6b7280", transform=ax.transAxes)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def _text(value: str, limit: int = 80) -> str:
    """Plain text for matplotlib: `$` would otherwise start mathtext; long labels are cut."""
    value = " ".join(str(value).split())
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value.replace("$", r"\$")


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _value_label(value: float) -> str:
    if math.isnan(value):
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _day_label(day: str) -> str:
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return _text(day, 12)
    return f"{parsed:%b} {parsed.day}"
