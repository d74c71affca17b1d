"""How the person reading a message runs Switchboard's commands: `switchboard` when this
process was started by the console script (the image's entry point, a pip install), else
`python main.py` (a checkout)."""

from __future__ import annotations

import sys
from pathlib import Path


def command() -> str:
    return "switchboard" if Path(sys.argv[0]).name == "switchboard" else "python main.py"
