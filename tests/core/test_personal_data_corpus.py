"""Personal-data removal measured on the corpus: every value in it is removed and every clean
message comes back unchanged (bench/personal_data.py prints the same figures)."""

from __future__ import annotations

import pytest

from core.assists.personal_data import strip_personal_data
from tests.core.personal_data_corpus import WITH_DATA, WITHOUT_DATA


@pytest.mark.parametrize(("text", "values"), WITH_DATA)
def test_personal_values_are_removed(text: str, values: tuple[str, ...]) -> None:
    clean = strip_personal_data(text)
    for value in values:
        assert value.lower() not in clean.lower(), clean


@pytest.mark.parametrize("text", WITHOUT_DATA)
def test_text_without_personal_data_is_left_alone(text: str) -> None:
    assert strip_personal_data(text) == text


def test_an_iban_is_named_as_a_bank_account_and_what_follows_it_kept() -> None:
    assert strip_personal_data("IBAN DE89370400440532013000 thanks") == "IBAN [bank account] thanks"
    # The right shape with wrong check digits is not a bank account.
    assert strip_personal_data("code DE00370400440532013000") == "code DE00370400440532013000"


def test_national_numbers_of_the_workspace_country() -> None:
    # "020 7946 0958" is a London number written the British way.
    assert strip_personal_data("ring 020 7946 0958 ext. 12", region="GB") == "ring [phone]"
    assert strip_personal_data("call +1 415-555-0132 ext. 204") == "call [phone]"
