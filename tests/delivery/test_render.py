"""Splitting long text for providers' limits: every part fits, nothing is lost or reordered."""

from __future__ import annotations

import pytest

from delivery.render import split_text, utf16_len


def _words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("limit", [20, 57, 100, 4096])
def test_parts_fit_and_keep_every_word_in_order(limit: int) -> None:
    text = "\n\n".join(
        f"Paragraph {p}. " + " ".join(f"word{p}-{w}" for w in range(40)) for p in range(12)
    )
    parts = split_text(text, limit)
    assert all(0 < len(part) <= limit for part in parts)
    assert _words(" ".join(parts)) == _words(text)


def test_prefers_paragraph_then_line_then_sentence_boundaries() -> None:
    assert split_text("first para\n\nsecond para", 15) == ["first para", "second para"]
    assert split_text("line one here\nline two", 16) == ["line one here", "line two"]
    assert split_text("One sentence. Another one here", 20) == ["One sentence.", "Another one here"]


def test_text_within_the_limit_is_one_part() -> None:
    assert split_text("  short  ", 10) == ["short"]


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    parts = split_text("x" * 250, 100)
    assert [len(p) for p in parts] == [100, 100, 50]


def test_surrogate_pairs_are_never_split_under_a_utf16_measure() -> None:
    text = "a😀" * 60  # 😀 is two UTF-16 units
    parts = split_text(text, 51, measure=utf16_len)
    assert all(utf16_len(p) <= 51 for p in parts)
    assert "".join(parts) == text
    for part in parts:
        part.encode("utf-8")  # a lone surrogate would raise here


def test_combining_marks_stay_with_their_base() -> None:
    text = "e\u0301" * 30  # é as e + combining acute
    parts = split_text(text, 7)
    assert all(not p.startswith("\u0301") for p in parts)
    assert "".join(parts) == text
