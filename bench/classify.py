"""Offline classification benchmark: latency per request (p50/p99) and throughput over a mixed
corpus of typed, texted, spoken, emailed and compound requests. Run: `python bench/classify.py`.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.classify.offline import OfflineClassifier

RESULTS = Path(__file__).resolve().parent / "results"

# Mixed on purpose: short questions, typos, transcripts, long emails, compound requests.
CORPUS: dict[str, list[str]] = {
    "typed": [
        "how is our resolution rate this week?",
        "csat for last month",
        "how many chats came in today",
        "what are customers asking about this month",
        "show me the knowledge gaps",
        "who has the most open assists",
        "show open urgent assists",
        "pull up A-2210",
        "any recurring issues in recent escalations?",
        "what briefings do I have scheduled",
        "export last week's performance report as a PDF",
        "which integrations are connected",
        "assign A-1042 to Maria",
        "close A-1043",
        "mark A-1050 as urgent",
        "reply to A-1042 saying we've issued the refund",
        "add a note on A-1042: customer called twice",
        "close all low priority assists older than 7 days",
        "approve training suggestion 12",
        "add https://example.com/returns as a training source",
        "change the answer of Q&A 9 to: refunds take 5 business days",
        "change the welcome message to 'Hi! How can we help today?'",
        "invite jo@acme.com as support",
        "make Sam an admin",
        "revoke the zapier API key",
        "send me a daily inbox summary to Slack at 8am",
        "move my daily summary to 9:30",
        "turn off the Twilio line",
        "import open tickets from Zendesk",
        "tell all website visitors we have maintenance tonight at 10pm",
        "restore snapshot 31",
        "yes 4821",
        "undo that",
        "send that to my email",
    ],
    "typos_shorthand": [
        "resolutoin rate tdy",
        "assing A-1042 to maria",
        "shcedule the weekly perfromance digest on slakc mondays 9am",
        "show hi-pri tix pls",
        "whats our csat thsi wk",
        "invte jo@acme.com as suport",
    ],
    "spoken": [
        "assign a ten forty two to maria",
        "close assist one oh four three",
        "send me the daily inbox summary on telegram at eight am",
        "uh what is our see sat for the last seven days",
        "yes four eight two one",
        "move my daily summary to half past seven",
    ],
    "email": [
        "Hi Switchboard,\n\nCould you please assign A-3301 to Jordan when you get a chance?\n\n"
        "Thanks,\nPriya Shah\nHead of Support, Acme Inc\npriya@acme.com",
        "Subject: CSAT\n\nHello team, how is our CSAT looking this month? Best regards, Tom",
        "Dear Switchboard, please invite new.hire@acme.com as support. Kind regards, Lee Park",
        "Good morning! Reply to A-610 saying the refund was processed today. Thank you! - Sam",
    ],
    "compound": [
        "what's our CSAT this month, and schedule the weekly knowledge gap report for Fridays "
        "at 4pm on Telegram",
        "assign A-1042 to Maria and mark it high priority",
        "reply to A-5 saying we shipped it and tracking will follow, and close it",
        "close A-1, A-2 and A-3 then assign A-4 to Bea",
        "show urgent assists and the escalation rate today",
    ],
    "small_talk_and_questions": [
        "thanks!",
        "good morning :)",
        "assign it to Maria",
        "schedule a briefing",
        "the quick brown fox jumps over the lazy dog",
    ],
}


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200, help="passes over the corpus")
    parser.add_argument("--extra", type=Path, help="a JSONL file of {'text': ...} lines to add")
    args = parser.parse_args()

    corpus = [(kind, text) for kind, texts in CORPUS.items() for text in texts]
    if args.extra:
        lines = args.extra.read_text().splitlines()
        corpus += [("extra", json.loads(line)["text"]) for line in lines if line.strip()]

    started = time.perf_counter()
    classifier = OfflineClassifier()
    build_ms = (time.perf_counter() - started) * 1000

    # First pass: typo cache empty, as for a fresh process.
    cold: list[float] = []
    for _, text in corpus:
        t0 = time.perf_counter()
        classifier.classify(text)
        cold.append((time.perf_counter() - t0) * 1000)

    gc.collect()
    warm: list[float] = []
    by_kind: dict[str, list[float]] = {kind: [] for kind, _ in corpus}
    loop_started = time.perf_counter()
    for _ in range(args.rounds):
        for kind, text in corpus:
            t0 = time.perf_counter()
            classifier.classify(text)
            elapsed = (time.perf_counter() - t0) * 1000
            warm.append(elapsed)
            by_kind[kind].append(elapsed)
    loop_seconds = time.perf_counter() - loop_started

    warm.sort()
    cold.sort()
    result = {
        "requests_in_corpus": len(corpus),
        "rounds": args.rounds,
        "build_ms": round(build_ms, 2),
        "cold": {
            "p50_ms": round(percentile(cold, 0.50), 3),
            "p99_ms": round(percentile(cold, 0.99), 3),
            "max_ms": round(cold[-1], 3),
        },
        "warm": {
            "requests": len(warm),
            "p50_ms": round(percentile(warm, 0.50), 3),
            "p90_ms": round(percentile(warm, 0.90), 3),
            "p99_ms": round(percentile(warm, 0.99), 3),
            "max_ms": round(warm[-1], 3),
            "mean_ms": round(statistics.fmean(warm), 3),
        },
        "throughput_per_s": round(len(warm) / loop_seconds, 1),
        "p99_ms_by_kind": {
            kind: round(percentile(sorted(values), 0.99), 3) for kind, values in by_kind.items()
        },
        "goal_p99_ms": 5.0,
    }

    print(f"corpus: {len(corpus)} requests x {args.rounds} rounds; build {build_ms:.1f} ms")
    print(f"cold   p50 {result['cold']['p50_ms']:.3f} ms   p99 {result['cold']['p99_ms']:.3f} ms")
    w = result["warm"]
    print(f"warm   p50 {w['p50_ms']:.3f} ms   p99 {w['p99_ms']:.3f} ms   max {w['max_ms']:.3f} ms")
    print(f"throughput {result['throughput_per_s']:.0f} requests/s (one core)")
    for kind, p99 in result["p99_ms_by_kind"].items():
        print(f"  p99 {kind:<26} {p99:.3f} ms")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "classify.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
