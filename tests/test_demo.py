"""`main.py demo` plays its scripted morning through every channel against the simulators
and prints what each provider received."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process import ROOT


@pytest.mark.timeout(300)
def test_the_demo_goes_through_every_channel_and_says_what_each_provider_received(
    tmp_path: Path,
) -> None:
    played = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "demo", "--exit"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "LOG_FORMAT": "text"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = played.stdout
    assert played.returncode == 0, played.stderr[-3000:] + out[-3000:]
    for step in range(1, 7):
        assert f"[{step}/6] " in out
    # Slack: the answer and its chart.
    assert "Slack received chat.postMessage in D0DEMO001: Resolution rate, this week" in out
    assert re.search(
        r"Slack received a file upload in D0DEMO001: chart\.png \([\d,]+ bytes, PNG", out
    )
    # Telegram: the proposal with its buttons, then approved in place.
    assert "Proposed: close A-1041" in out and "[buttons: Approve, Reject]" in out
    assert "Telegram received editMessageText: <b>Approved</b> Done: close A-1041." in out
    # SMS: the escalation, then the customer's confirmation by email.
    ref = re.search(r"assist (A-\d+) opened", out)
    assert ref is not None
    assert (
        f"Twilio received Messages.create to +15557770001: Thanks, Jane! Your request is {ref[1]}"
        in out
    )
    assert f"SendGrid received mail/send to jane.roe@mail.example: [{ref[1]}] We received" in out
    # Email: the customer's reply threads into the assist.
    assert f"the gateway answered: threaded into {ref[1]}" in out
    # The briefing fired on Slack, and the report came as a PDF.
    assert "Slack received chat.postMessage in D0DEMO001: Weekly performance digest" in out
    assert re.search(r"performance-report-[\d-]+to[\d-]+\.pdf \([\d,]+ bytes, PDF\)", out)
    assert re.search(r"/console/login/[\w-]{20,}", out)
    # Nothing of the user's: the demo's database is its own and is gone afterwards.
    assert not (tmp_path / "switchboard.db").exists()
