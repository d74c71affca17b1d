"""Report files opened by their own libraries (pypdf, openpyxl, csv) and checked cell by cell."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from core.team import directory
from delivery import charts, reports
from storage.db import Database
from tests.helpers import wait_until
from tests.process import GatewayProcess

GENERATED = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)


def _rows(n: int = 60) -> list[dict[str, Any]]:
    return [
        {
            "ref": f"A-{1000 + i}",
            "subject": f"Parcel {i} never arrived, Zoë asks again" if i else "=SUM(A1:A9) refund",
            "priority": ("urgent", "high", "normal", "low")[i % 4],
            "messages": i * 3,
            "share": i / 7,
            "created": f"2026-11-{1 + i % 28:02d}T09:{i % 60:02d}:00-05:00",
            "due": f"2026-12-{1 + i % 28:02d}",
            "closed": None if i % 2 else f"2026-11-{1 + i % 28:02d}T17:00:00-05:00",
        }
        for i in range(n)
    ]


def _content(rows: list[dict[str, Any]], chart: bytes | None = None) -> reports.ReportContent:
    return reports.ReportContent(
        title="Assists report, the last 30 days",
        period="the last 30 days (2026-10-19 to 2026-11-18)",
        rows=rows,
        summary=["Opened: 60, up 5 on the period before", "By status: open 30, closed 30"],
        fields=(("Opened", "60, up 5"), ("Scores", "5★ 12, 4★ 3")),
        suggestion="Assign the 4 unassigned open assists, starting with A-1003.",
        chart_png=chart,
        generated_at=GENERATED,
    )


def _chart() -> bytes:
    return charts.bar_chart(
        "Assists by priority",
        ["urgent", "high", "normal", "low"],
        {"Opened": [15, 15, 15, 15]},
        value_label="Assists",
        category_label="Priority",
    )


def _pdf_text(data: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(data))
    return reader, [" ".join(page.extract_text().split()) for page in reader.pages]


def test_pdf_holds_title_period_summary_chart_suggestion_and_every_row() -> None:
    rows = _rows()
    data = reports.render("pdf", _content(rows, _chart()))
    assert data.startswith(b"%PDF-")
    reader, pages = _pdf_text(data)
    text = " ".join(pages)
    assert reader.metadata is not None
    assert reader.metadata.title == "Assists report, the last 30 days"
    assert text.startswith("Assists report, the last 30 days")
    assert "Period: the last 30 days (2026-10-19 to 2026-11-18)" in text
    assert "Scores 5★ 12, 4★ 3" in text  # beyond Latin-1: the font covers it
    assert "Next step Assign the 4 unassigned open assists, starting with A-1003." in text
    for row in rows:
        # Each cell as a person reads it; long subjects may wrap, so look for their words.
        assert row["ref"] in text
        assert all(word in text for word in row["subject"].split())
        assert f"{row['messages']:,}" in text
        assert f"{row['share']:,.2f}" in text
        assert row["created"][:10] + " " + row["created"][11:16] in text
        assert row["due"] in text
    assert "Zoë" in text
    # Sixty rows run over several pages; the header row repeats on each of them.
    assert len(pages) >= 3
    for number, page in enumerate(pages[1:], start=2):
        assert "Ref Subject Priority Messages Share Created Due Closed" in page
        assert f"Assists report, the last 30 days Page {number}" in page  # the footer
    (image,) = reader.pages[0].images
    chart = Image.open(io.BytesIO(image.data))
    assert chart.size == (charts.WIDTH_PX, charts.HEIGHT_PX)


def test_pdf_without_rows_or_chart_says_so() -> None:
    data = reports.render("pdf", _content([]))
    reader, pages = _pdf_text(data)
    assert len(pages) == 1 and "No rows for this period." in pages[0]
    assert not reader.pages[0].images


def test_xlsx_has_typed_rows_a_frozen_bold_header_and_a_summary_sheet() -> None:
    rows = _rows()
    book = load_workbook(io.BytesIO(reports.render("xlsx", _content(rows, _chart()))))
    assert book.sheetnames == ["Data", "Summary"]
    sheet = book["Data"]
    columns = list(rows[0])
    assert [cell.value for cell in sheet[1]] == columns
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:H{len(rows) + 1}"
    assert sheet.max_row == len(rows) + 1
    for row, cells in zip(rows, sheet.iter_rows(min_row=2), strict=True):
        got = {key: cell.value for key, cell in zip(columns, cells, strict=True)}
        assert got["ref"] == row["ref"]
        # Text that looks like a formula stays text.
        assert got["subject"] == row["subject"] and cells[1].data_type == "s"
        assert type(got["messages"]) is int and got["messages"] == row["messages"]
        assert got["share"] == pytest.approx(row["share"])
        assert isinstance(got["share"], int | float)
        # Dates as dates, at the wall time they were written in (Excel has no time zones).
        assert got["created"] == datetime.fromisoformat(row["created"]).replace(tzinfo=None)
        assert cells[5].number_format == "yyyy-mm-dd hh:mm"
        assert got["due"] == datetime.combine(date.fromisoformat(row["due"]), datetime.min.time())
        assert cells[6].is_date and cells[6].number_format == "yyyy-mm-dd"
        expected_closed = row["closed"] and datetime.fromisoformat(row["closed"]).replace(
            tzinfo=None
        )
        assert got["closed"] == expected_closed
    widths = {key: sheet.column_dimensions[chr(65 + i)].width for i, key in enumerate(columns)}
    assert widths["subject"] > widths["ref"] >= len("A-1000")
    assert all(8 <= width <= 60 for width in widths.values())

    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert book["Summary"]["A1"].value == "Assists report, the last 30 days"
    assert summary["Period"] == "the last 30 days (2026-10-19 to 2026-11-18)"
    assert summary["Generated"] == GENERATED.replace(tzinfo=None)
    assert summary["Rows"] == len(rows)
    assert summary["Opened"] == "60, up 5" and summary["Scores"] == "5★ 12, 4★ 3"
    assert summary["Next step"].startswith("Assign the 4 unassigned")
    assert len(book["Summary"]._images) == 1


def test_xlsx_without_rows_and_summary_lines_without_fields() -> None:
    content = reports.ReportContent(
        title="Topics report, today",
        period="today",
        rows=[],
        summary=["No conversations."],
        suggestion="Nothing to act on yet.",
    )
    book = load_workbook(io.BytesIO(reports.render("xlsx", content)))
    assert book["Data"]["A1"].value == "No rows for this period."
    values = [row[1] for row in book["Summary"].iter_rows(values_only=True)]
    assert "No conversations." in values and "Nothing to act on yet." in values


def test_csv_round_trips_the_rows_and_defuses_formulas() -> None:
    rows = _rows(5)
    table = list(csv.DictReader(io.StringIO(reports.render("csv", _content(rows)).decode())))
    assert [r["ref"] for r in table] == [r["ref"] for r in rows]
    assert table[0]["subject"] == "'=SUM(A1:A9) refund"
    assert table[1]["subject"] == rows[1]["subject"]
    assert [int(r["messages"]) for r in table] == [r["messages"] for r in rows]
    assert [float(r["share"]) for r in table] == [r["share"] for r in rows]
    assert table[1]["closed"] == ""


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        reports.render("docx", _content([]))  # type: ignore[arg-type]


async def test_gateway_start_and_a_request_load_no_chart_or_report_library(
    sqlite_url: str, tmp_path: Path
) -> None:
    db = Database(sqlite_url)
    await db.migrate()
    async with db.session() as session:
        ws = await directory.create_workspace(session, "Acme")
        await directory.add_member(
            session, ws.id, name="Olivia", role="owner", email="olivia@acme.test"
        )
        key = await directory.create_api_key(session, ws.id)
    await db.dispose()
    # Python lists every import on stderr, which the process helper keeps.
    env = {"DATABASE_URL": sqlite_url, "PYTHONPROFILEIMPORTTIME": "1"}
    node = await GatewayProcess(env, tmp_path).start()
    try:
        auth = {"Authorization": f"Bearer {key.secret}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.post(
                f"{node.url}/api/v1/messages",
                json={"member": "olivia@acme.test", "text": "how is our resolution rate?"},
            ) as resp:
                assert resp.status == 202, await resp.text()
                task = (await resp.json())["task_id"]

            async def answered() -> bool:
                async with http.get(f"{node.url}/api/v1/tasks/{task}") as got:
                    return bool((await got.json())["status"] == "done")

            await wait_until(answered, timeout=30)
    finally:
        assert await node.stop() == 0
    imported = {
        line.split("|")[-1].strip()
        for line in node.text.splitlines()
        if line.startswith("import time:")
    }
    assert "aiohttp" in imported and "core.reports.documents" in imported
    heavy = {m for m in imported if m.split(".")[0] in {"matplotlib", "reportlab", "openpyxl"}}
    assert heavy == set()


def test_a_heading_never_ends_a_page() -> None:
    """However long the summary, no page ends on "Summary", "Next step" or "Data (...)": a
    heading moves to the next page with what it introduces."""
    headings = ("Summary", "Next step", "Data (")
    for lines in range(34, 62, 3):
        content = reports.ReportContent(
            title="Topics report",
            period="this month",
            rows=_rows(4),
            summary=[f"Topic {i}: {i} conversations" for i in range(lines)],
            suggestion="Add Q&A for billing.",
            generated_at=GENERATED,
        )
        reader = PdfReader(io.BytesIO(reports.render("pdf", content)))
        for page in reader.pages:
            body = [
                line.strip()
                for line in page.extract_text().splitlines()
                if line.strip() and not line.startswith("Topics report")
            ]
            assert body, "an empty page"
            assert not body[-1].startswith(headings), (lines, body[-3:])


def test_units_are_shown_in_column_headings() -> None:
    content = reports.ReportContent(
        title="Topics report",
        period="this month",
        rows=[{"topic": "billing", "conversations": 12, "share": 40.0, "resolution_rate": 75.0}],
        units={"share": "%", "resolution_rate": "%"},
    )
    _, pages = _pdf_text(reports.render("pdf", content))
    assert "Topic Conversations Share (%) Resolution rate (%)" in pages[0]
