"""How well personal-data removal does on the corpus in tests/core/personal_data_corpus.py:
the share of personal values removed (recall) and of clean messages left untouched.

    .venv/bin/python bench/personal_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.assists.personal_data import strip_personal_data
from tests.core.personal_data_corpus import WITH_DATA, WITHOUT_DATA


def main() -> None:
    values = removed = 0
    for text, secret in WITH_DATA:
        clean = strip_personal_data(text)
        for value in secret:
            values += 1
            if value.lower() in clean.lower():
                print(f"kept   {value!r}: {clean!r}")
            else:
                removed += 1
    untouched = 0
    for text in WITHOUT_DATA:
        clean = strip_personal_data(text)
        if clean == text:
            untouched += 1
        else:
            print(f"changed {text!r} -> {clean!r}")
    print(f"personal values removed: {removed}/{values} ({100 * removed / values:.0f}%)")
    print(
        f"clean messages untouched: {untouched}/{len(WITHOUT_DATA)} "
        f"({100 * untouched / len(WITHOUT_DATA):.0f}%)"
    )


if __name__ == "__main__":
    main()
