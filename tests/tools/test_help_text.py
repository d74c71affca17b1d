"""The help answer lists each tool by its description's first sentence, never cut short."""

from __future__ import annotations

import pytest

from core.tools.args import TOOL_DESCRIPTIONS
from core.tools.catalogue import first_sentence


@pytest.mark.parametrize(
    ("text", "first"),
    [
        (
            "Turn a line (by label, e.g. 'dialpad') on or off. Use for x.",
            "Turn a line (by label, e.g. 'dialpad') on or off",
        ),
        ("Send to many, e.g. all website visitors.", "Send to many, e.g. all website visitors"),
        ("One thing, i.e. this one. Then more.", "One thing, i.e. this one"),
        ("Time, e.g. 08:00. Another sentence.", "Time, e.g. 08:00"),
        ("No full stop", "No full stop"),
    ],
)
def test_the_first_sentence_keeps_abbreviations_whole(text: str, first: str) -> None:
    assert first_sentence(text) == first


def test_no_help_line_stops_at_an_abbreviation() -> None:
    for name, description in TOOL_DESCRIPTIONS.items():
        line = first_sentence(description)
        assert not line.endswith(("e.g", "i.e", "(e", " e")), (name, line)
        assert line.count("(") == line.count(")"), (name, line)
