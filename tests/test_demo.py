"""`main.py demo --serve` plays its scripted morning through every channel against the
simulators, prints what each provider received, then serves the console it all shows in."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.process import ROOT


def _read_until_signin(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Sign in as Olivia"):
            break
    return "".join(seen)


@pytest.mark.timeout(300)
def test_the_demo_goes_through_every_channel_then_serves_its_console(tmp_path: Path) -> None:
    errors = (tmp_path / "stderr.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "demo", "--serve"],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "LOG_FORMAT": "text",
            "PYTHONUNBUFFERED": "1",
        },
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    try:
        out = _read_until_signin(process)
        assert "Sign in as Olivia" in out, out[-3000:]
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
            "Twilio received Messages.create to +15557770001: Thanks, Jane! Your request is "
            f"{ref[1]}" in out
        )
        assert f"SendGrid received mail/send to jane.roe@mail.example: [{ref[1]}] We rec" in out
        # Email: the customer's reply threads into the assist.
        assert f"the gateway answered: threaded into {ref[1]}" in out
        # The briefing fired on Slack, and the report came as a PDF.
        assert "Slack received chat.postMessage in D0DEMO001: Weekly performance digest" in out
        assert re.search(r"performance-report-[\d-]+to[\d-]+\.pdf \([\d,]+ bytes, PDF\)", out)

        # The console it prints shows the assist the customer's texts opened.
        link = re.search(r"(http://127\.0\.0\.1:\d+/console/login/[\w-]{20,})", out)
        assert link is not None
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        with browser.open(link[1], timeout=30) as signed_in:
            assert signed_in.status == 200
        base = link[1].split("/console/")[0]
        with browser.open(f"{base}/console/assists/{ref[1]}", timeout=30) as page:
            html = page.read().decode()
        assert "Jane Roe" in html and "99812" in html  # her email reply is on the timeline
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            assert process.stdout is not None
            process.stdout.close()
            errors.close()
    assert process.returncode == 0
    # Nothing of the user's: the demo's database is its own.
    assert not (tmp_path / "switchboard.db").exists()
