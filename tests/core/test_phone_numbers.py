"""Phone numbers as people write them: with their country code anywhere, the national way
when the workspace's country says which country's way."""

from __future__ import annotations

import pytest

from core.team.directory import DirectoryError, normalize_address


@pytest.mark.parametrize(
    ("written", "country", "e164"),
    [
        ("+1 (415) 555-0132", None, "+14155550132"),
        ("whatsapp:+447700900123", None, "+447700900123"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("07700 900123", "gb", "+447700900123"),
        ("(415) 555-0132", "US", "+14155550132"),
        ("030 901820", "DE", "+4930901820"),
        ("01 42 68 53 00", "FR", "+33142685300"),
        ("+33 1 42 68 53 00", "GB", "+33142685300"),  # a country code wins over the country
    ],
)
def test_numbers_are_stored_in_e164(written: str, country: str | None, e164: str) -> None:
    assert normalize_address("sms", written, country) == e164


def test_a_national_number_without_a_country_says_how_to_write_it() -> None:
    with pytest.raises(DirectoryError, match=r"country code.*set the workspace's country"):
        normalize_address("sms", "020 7946 0958")


@pytest.mark.parametrize("written", ["12", "phone me", "020 79", "+0 123"])
def test_what_is_not_a_number_is_refused(written: str) -> None:
    with pytest.raises(DirectoryError):
        normalize_address("voice", written, "GB")
