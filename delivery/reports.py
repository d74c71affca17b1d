"""Report files from a report's content: PDF (reportlab), XLSX (openpyxl) and CSV (stdlib).

Every function here is pure and synchronous; callers run it in `asyncio.to_thread`. The
libraries are imported inside the functions, so a gateway that never exports a report does not
load them.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape

ReportFormat = Literal["pdf", "xlsx", "csv"]
CONTENT_TYPES: dict[ReportFormat, str] = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
# A spreadsheet treats a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ReportContent:
    """What a report says, whatever it is rendered into. ROWS share their keys as columns."""

    title: str
    period: str
    rows: Sequence[Mapping[str, Any]]
    summary: Sequence[str] = ()
    fields: Sequence[tuple[str, str]] = ()
    suggestion: str = ""
    chart_png: bytes | None = None
    generated_at: datetime | None = None
    columns: Sequence[str] = field(default=())
    # Units of whole columns ("share": "%"), shown in the PDF's headings (a spreadsheet's and
    # a CSV's headers stay the keys that scripts read).
    units: Mapping[str, str] = field(default_factory=dict)

    def column_names(self) -> list[str]:
        """COLUMNS when given, else every key of ROWS in first-seen order."""
        if self.columns:
            return list(self.columns)
        return list(dict.fromkeys(key for row in self.rows for key in row))


def render(fmt: ReportFormat, content: ReportContent) -> bytes:
    """The report as FMT. Raises ValueError for an unknown format."""
    renderers: dict[str, Callable[[ReportContent], bytes]] = {
        "pdf": pdf_bytes,
        "xlsx": xlsx_bytes,
        "csv": csv_bytes,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}")
    return renderers[fmt](content)


# --- values --------------------------------------------------------------------------------------


def parse_iso(value: str) -> datetime | date | None:
    """An ISO date or date-time string as a date/datetime (as written, wall time), else None."""
    if not _ISO.fullmatch(value):
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _typed(value: Any) -> Any:
    """A cell's value with its type: numbers stay numbers, ISO strings become dates."""
    if isinstance(value, str):
        parsed = parse_iso(value)
        return value if parsed is None else parsed
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _display(value: Any, places: int | None = None) -> str:
    """A value as a person reads it; fractions with PLACES decimals (2, or 0 when whole)."""
    value = _typed(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | Decimal):
        if places is None:
            places = 0 if float(value).is_integer() else 2
        return f"{value:,.{places}f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _heading(column: str, units: Mapping[str, str] | None = None) -> str:
    """A column's heading as a person reads it, with its unit: "Resolution rate (%)"."""
    words = column.replace("_", " ").strip()
    words = words[:1].upper() + words[1:]
    unit = (units or {}).get(column)
    return f"{words} ({unit})" if unit else words


# --- CSV -----------------------------------------------------------------------------------------


def csv_bytes(content: ReportContent) -> bytes:
    """The rows as UTF-8 CSV, one header line of the column keys; None as an empty field."""
    buffer = io.StringIO()
    columns = content.column_names() or ["empty"]
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in content.rows:
        writer.writerow({key: _csv_safe(row.get(key)) for key in columns})
    return buffer.getvalue().encode("utf-8")


def _csv_safe(value: Any) -> Any:
    # Customer text such as a subject "=HYPERLINK(...)" must not run as a formula when the file
    # is opened in a spreadsheet (OWASP's CSV injection advice: prefix an apostrophe).
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


# --- XLSX ----------------------------------------------------------------------------------------

_DATE_FORMAT = "yyyy-mm-dd"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
_INT_FORMAT = "#,##0"
_FLOAT_FORMAT = "#,##0.00"


def xlsx_bytes(content: ReportContent) -> bytes:
    """A workbook: "Data" (the rows; header bold and frozen, filters, typed cells, fitted
    widths) and "Summary" (title, period, key figures, next step, the chart when given)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.properties.title = content.title
    book.properties.creator = "Switchboard"
    data = book.active
    assert data is not None
    data.title = "Data"
    columns = content.column_names()
    bold = Font(bold=True)
    if not columns:
        data["A1"] = "No rows for this period."
        data["A1"].font = bold
    else:
        data.append(columns)
        header_fill = PatternFill("solid", start_color="DDE4EE")
        for cell in data[1]:
            cell.font = bold
            cell.fill = header_fill
            cell.alignment = Alignment(vertical="center")
        widths = [len(column) for column in columns]
        for r, row in enumerate(content.rows, start=2):
            for c, key in enumerate(columns, start=1):
                value = _xlsx_value(row.get(key))
                cell = data.cell(row=r, column=c, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # never a formula, whatever the text starts with
                elif isinstance(value, datetime):
                    cell.number_format = _DATETIME_FORMAT
                elif isinstance(value, date):
                    cell.number_format = _DATE_FORMAT
                elif isinstance(value, int) and not isinstance(value, bool):
                    cell.number_format = _INT_FORMAT
                elif isinstance(value, float | Decimal):
                    cell.number_format = _FLOAT_FORMAT
                widths[c - 1] = max(widths[c - 1], len(_display(value)))
        for c, width in enumerate(widths, start=1):
            data.column_dimensions[get_column_letter(c)].width = min(max(width + 2, 8), 60)
        data.freeze_panes = "A2"
        data.auto_filter.ref = data.dimensions

    summary = book.create_sheet("Summary")
    summary["A1"] = content.title
    summary["A1"].font = Font(bold=True, size=14)
    lines: list[tuple[str, Any]] = [("Period", content.period)]
    if content.generated_at is not None:
        lines.append(("Generated", _xlsx_value(content.generated_at)))
    lines.append(("Rows", len(content.rows)))
    lines.append(("", None))
    if content.fields:
        lines.extend(content.fields)
    else:
        lines.extend(("", line) for line in content.summary)
    if content.suggestion:
        lines.extend([("", None), ("Next step", content.suggestion)])
    for label, value in lines:
        summary.append([label or None, value])
        row = summary.max_row
        summary.cell(row=row, column=1).font = bold
        cell = summary.cell(row=row, column=2)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if isinstance(value, str):
            cell.data_type = "s"
        elif isinstance(value, datetime):
            cell.number_format = _DATETIME_FORMAT
    summary.column_dimensions["A"].width = 22
    summary.column_dimensions["B"].width = 90
    if content.chart_png:
        from openpyxl.drawing.image import Image

        image = Image(io.BytesIO(content.chart_png))
        summary.add_image(image, f"B{summary.max_row + 2}")

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xlsx_value(value: Any) -> Any:
    value = _typed(value)
    # Excel has no time zones: keep the wall time the report was written in.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    if isinstance(value, list | tuple | dict | set):
        return str(value)
    return value


# --- PDF -----------------------------------------------------------------------------------------

_FONT_LOCK = threading.Lock()
_FONTS: tuple[str, str] | None = None


def _fonts() -> tuple[str, str]:
    """Regular and bold font names for reportlab: DejaVu Sans (shipped with matplotlib) covers
    far more than the standard PDF fonts' Latin-1, so names, ★ and dashes print; reportlab's
    own Vera is the fallback. Registered once per process."""
    global _FONTS
    with _FONT_LOCK:
        if _FONTS is not None:
            return _FONTS
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        candidates: list[tuple[Path, str, str]] = []
        spec = importlib.util.find_spec("matplotlib")  # finds the package without importing it
        if spec is not None and spec.submodule_search_locations:
            ttf = Path(next(iter(spec.submodule_search_locations))) / "mpl-data/fonts/ttf"
            candidates.append((ttf, "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))
        rl_spec = importlib.util.find_spec("reportlab")
        if rl_spec is not None and rl_spec.submodule_search_locations:
            fonts = Path(next(iter(rl_spec.submodule_search_locations))) / "fonts"
            candidates.append((fonts, "Vera.ttf", "VeraBd.ttf"))
        for folder, regular, bold in candidates:
            if (folder / regular).is_file() and (folder / bold).is_file():
                names = (f"SB-{Path(regular).stem}", f"SB-{Path(bold).stem}")
                pdfmetrics.registerFont(TTFont(names[0], str(folder / regular)))
                pdfmetrics.registerFont(TTFont(names[1], str(folder / bold)))
                _FONTS = names
                break
        else:
            _FONTS = ("Helvetica", "Helvetica-Bold")
        return _FONTS


def pdf_bytes(content: ReportContent) -> bytes:
    """A PDF: title, period, key figures, the chart, the next step, then the rows as a table
    whose header repeats on every page. Wide tables turn the page to landscape."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        CondPageBreak,
        Image,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    regular, bold = _fonts()
    columns = content.column_names()
    # One number of decimals per column, so that a column of figures lines up.
    places = [
        0
        if all(
            float(v).is_integer()
            for row in content.rows
            if isinstance(v := _typed(row.get(key)), float | Decimal)
        )
        else 2
        for key in columns
    ]
    cells = [
        [_display(row.get(key), places[i]) for i, key in enumerate(columns)] for row in content.rows
    ]
    weights = [
        min(max([len(_heading(key, content.units)), *(len(row[i]) for row in cells)]), 40) + 2
        for i, key in enumerate(columns)
    ]
    page = landscape(A4) if sum(weights) > 95 else A4
    margin = 16 * mm
    frame_width = page[0] - 2 * margin

    base = ParagraphStyle("base", fontName=regular, fontSize=10, leading=13)
    title_style = ParagraphStyle("title", base, fontName=bold, fontSize=18, leading=22)
    muted = ParagraphStyle("muted", base, textColor=colors.HexColor("#4b5563"))
    # A heading never ends a page: it stays with what follows it, and starts a new page
    # when less than a heading, a table header and a few lines would fit.
    heading = ParagraphStyle(
        "heading",
        base,
        fontName=bold,
        fontSize=12,
        leading=15,
        spaceBefore=10,
        spaceAfter=4,
        keepWithNext=1,
    )

    def section(title: str) -> list[Any]:
        return [CondPageBreak(35 * mm), Paragraph(escape(title), heading)]

    cell_style = ParagraphStyle("cell", base, fontSize=8, leading=10)
    head_style = ParagraphStyle("head", cell_style, fontName=bold)

    story: list[Any] = [Paragraph(escape(content.title), title_style), Spacer(1, 3 * mm)]
    period = f"Period: {content.period}"
    if content.generated_at is not None:
        period += f" · generated {content.generated_at:%Y-%m-%d %H:%M %Z}".rstrip()
    story += [Paragraph(escape(period), muted), Spacer(1, 4 * mm)]

    if content.fields:
        figures = Table(
            [
                [Paragraph(escape(label), head_style), Paragraph(escape(value), cell_style)]
                for label, value in content.fields
            ],
            colWidths=[45 * mm, frame_width - 45 * mm],
            hAlign="LEFT",
        )
        figures.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d1d5db")),
                ]
            )
        )
        story += [*section("Summary"), figures]
    elif content.summary:
        story += section("Summary")
        story += [Paragraph("• " + escape(line), base) for line in content.summary]

    if content.chart_png:
        chart = Image(io.BytesIO(content.chart_png))
        chart.drawWidth = min(frame_width, 175 * mm)
        chart.drawHeight = chart.imageHeight * chart.drawWidth / chart.imageWidth
        story += [Spacer(1, 4 * mm), chart]

    if content.suggestion:
        story.append(
            KeepTogether([*section("Next step"), Paragraph(escape(content.suggestion), base)])
        )

    story += section(f"Data ({len(content.rows)} row(s))")
    if columns and cells:
        total = sum(weights)
        widths = [frame_width * w / total for w in weights]
        numeric = [
            any(_numeric(_typed(row.get(key))) for row in content.rows)
            and all(row.get(key) is None or _numeric(_typed(row.get(key))) for row in content.rows)
            for key in columns
        ]
        head_right = ParagraphStyle("head-right", head_style, alignment=TA_RIGHT)
        header = [
            Paragraph(
                escape(_heading(key, content.units)), head_right if numeric[i] else head_style
            )
            for i, key in enumerate(columns)
        ]
        body = [
            [
                Paragraph(escape(text), cell_style) if len(text) > 24 and not numeric[i] else text
                for i, text in enumerate(row)
            ]
            for row in cells
        ]
        table = Table([header, *body], colWidths=widths, repeatRows=1, hAlign="LEFT")
        style: list[tuple[Any, ...]] = [
            ("FONTNAME", (0, 1), (-1, -1), regular),
            ("FONTSIZE", (0, 1), (-1, -1), 8),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.75, colors.HexColor("#6b7280")),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f5f7fa")]),
        ]
        style += [("ALIGN", (i, 1), (i, -1), "RIGHT") for i, is_num in enumerate(numeric) if is_num]
        table.setStyle(TableStyle(style))
        story.append(table)
    else:
        story.append(Paragraph("No rows for this period.", base))

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(regular, 8)
        canvas.setFillColor(colors.HexColor("#6b7280"))
        canvas.drawString(margin, 9 * mm, content.title[:120])
        canvas.drawRightString(page[0] - margin, 9 * mm, f"Page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=content.title,
        subject=content.period,
        author="Switchboard",
        creator="Switchboard",
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
