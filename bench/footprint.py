"""Footprint benchmark: resident memory of a real `main.py serve` process with every channel
on (Slack, Telegram, Twilio SMS and WhatsApp, voice, email through SendGrid, ElevenLabs),
each pointed at its provider simulator, idle and after load on the same process.

Phases: idle (once started, and after settling), an ingest burst (signed Slack mentions at
64 concurrent clients, each in its own channel, processed and answered by the pipeline and
outbox, waited for until every reply reached the simulator), end-to-end runs (open-loop
Slack mentions at 50, then 200 requests/s, as `bench/e2e.py`, each waited for until every
reply arrived), then idle again. RSS is VmRSS and the peak VmHWM from /proc.
Goal (DESIGN): <= 150 MB resident, idle, every channel on.

The gateway runs as installed, without the packages only the dev extras bring (httpx, for
one, loads rich and click when they are importable); an idle reading of the virtualenv as it
is comes first, for comparison.

Run: `python bench/footprint.py` (add `--llm` to configure the LLM classifier against the
OpenAI simulator too; it is not a channel, and loads the OpenAI SDK).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._http import Child, Conditions, closed_loop, fresh_database, python, write_results
from bench._runtime_only import dev_only_modules
from bench.e2e import SLACK_SECRET, Mentions, Replies, run_phase, seed
from tests.sims.elevenlabs import ElevenLabsSim
from tests.sims.openai import OpenAISim
from tests.sims.sendgrid import SendGridSim
from tests.sims.slack import SlackSim
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim

ROOT = Path(__file__).resolve().parents[1]
GOAL_MB = 150.0
PUBLIC_BASE_URL = "https://gw.bench.example"
# What each channel logs once it is on (LOG_LEVEL=INFO).
STARTED = {
    "slack": rb"slack channel is on",
    "telegram": rb"Telegram bot @\S+ ready",
    "twilio sms/whatsapp": rb"twilio channel is on",
    "voice": rb"voice channel is on",
    "elevenlabs": rb"answers are spoken with ElevenLabs",
    "email": rb"email channel is on",
}


def peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    return round(kb / 1024, 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settle", type=float, default=10.0, help="idle seconds before measuring")
    parser.add_argument("--burst", type=int, default=6000, help="ingest burst requests")
    parser.add_argument("--e2e-rates", default="50,200", help="as bench/e2e.py, one run each")
    parser.add_argument("--e2e-seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--llm", action="store_true", help="the LLM classifier on too")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    args = parser.parse_args()
    e2e_rates = [float(r) for r in args.e2e_rates.split(",") if r.strip()]

    readings: list[dict[str, object]] = []
    conditions = Conditions()
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_database(args.database_url, tmp) as url, AsyncExitStack() as stack:
            await seed(url)
            slack = await stack.enter_async_context(SlackSim(token="xoxb-bench-footprint"))
            telegram = await stack.enter_async_context(TelegramSim())
            twilio = await stack.enter_async_context(TwilioSim())
            sendgrid = await stack.enter_async_context(SendGridSim())
            eleven = await stack.enter_async_context(ElevenLabsSim())
            env = {
                "DATABASE_URL": url,
                "SWITCHBOARD_HOST": "127.0.0.1",
                "SWITCHBOARD_PORT": "0",
                "SWITCHBOARD_WORKERS": str(args.workers),
                "SWITCHBOARD_AUTO_MIGRATE": "true",
                "SWITCHBOARD_SECRET_KEY": "bench-footprint-secret-key-0123456789",
                "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                "LOG_LEVEL": "INFO",
                "LOG_FORMAT": "json",
                "SLACK_BOT_TOKEN": slack.token,
                "SLACK_SIGNING_SECRET": SLACK_SECRET,
                "SLACK_API_URL": slack.api_url,
                "TELEGRAM_BOT_TOKEN": telegram.token,
                "TELEGRAM_WEBHOOK_SECRET": "bench-telegram-secret",
                "TELEGRAM_API_URL": telegram.base_url,
                "TWILIO_ACCOUNT_SID": twilio.account_sid,
                "TWILIO_AUTH_TOKEN": twilio.auth_token,
                "TWILIO_API_URL": twilio.url,
                "TWILIO_SMS_FROM": "+15550009999",
                "TWILIO_WHATSAPP_FROM": "whatsapp:+15550008888",
                "EMAIL_FROM": "support@demo.example",
                "EMAIL_INBOUND_DOMAIN": "in.demo.example",
                "SENDGRID_API_KEY": sendgrid.api_key,
                "SENDGRID_API_URL": sendgrid.url,
                "ELEVENLABS_API_KEY": eleven.api_key,
                "ELEVENLABS_API_URL": eleven.base_url,
                "ELEVENLABS_VOICE_ID": eleven.voice_id,
                "ELEVENLABS_WEBHOOK_SECRET": "bench-elevenlabs-webhook-secret",
            }
            if args.llm:
                openai = await stack.enter_async_context(OpenAISim())
                env.update({"OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.base_url})
            # As installed: without the packages only the dev extras bring (bench/_runtime_only.py).
            argv = [python(), str(ROOT / "bench" / "_runtime_only.py"), "serve"]
            # Also this checkout's virtualenv as it is (dev extras importable), idle only.
            async with Child([python(), str(ROOT / "main.py"), "serve"], env, Path(tmp)) as dev:
                await asyncio.sleep(args.settle)
                dev_idle = {"rss_mb": dev.rss_mb(), "peak_mb": peak_mb(dev.pid)}
            print(
                f"{'idle, dev virtualenv as is':34} RSS {dev_idle['rss_mb']:6.1f} MB   "
                f"peak {dev_idle['peak_mb']:6.1f} MB"
            )
            installed = {**env, "ABSENT_MODULES": ",".join(sorted(dev_only_modules()))}
            async with Child(argv, installed, Path(tmp)) as gw:
                conditions.track(gw.pid)
                conditions.start()

                def reading(phase: str, **extra: object) -> None:
                    row = {"phase": phase, "rss_mb": gw.rss_mb(), "peak_mb": peak_mb(gw.pid)}
                    row.update(extra)
                    readings.append(row)
                    print(f"{phase:34} RSS {row['rss_mb']:6.1f} MB   peak {row['peak_mb']:6.1f} MB")

                reading("started")
                await asyncio.sleep(args.settle)
                output = bytes(gw.output)
                channels = [name for name, says in STARTED.items() if re.search(says, output)]
                reading(f"idle after {args.settle:g} s", channels_on=channels)

                e2e_total = sum(int(rate * args.e2e_seconds) for rate in e2e_rates)
                mentions = Mentions(channels=args.burst + e2e_total)
                began = time.monotonic()
                burst = await closed_loop(
                    "ingest burst",
                    f"{gw.url}/slack/events",
                    mentions.maker(0),
                    concurrency=64,
                    total=args.burst,
                    expect=200,
                )
                reading("after ingest burst (answered)", rate=burst.rate, errors=burst.errors)
                replies = Replies(slack, mentions)
                deadline = time.monotonic() + 300
                while replies.update() < args.burst and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
                reading(
                    "after ingest burst (all replied)",
                    replied=len(replies.arrived),
                    seconds=round(time.monotonic() - began, 1),
                )

                offset = args.burst
                for rate in e2e_rates:
                    total = int(rate * args.e2e_seconds)
                    phase = await run_phase(
                        gw, slack, mentions, rate=rate, total=total, offset=offset, grace=180
                    )
                    offset += total
                    reading(
                        f"after e2e at {rate:g} req/s",
                        reply_p50_ms=phase["reply_p50_ms"],
                        reply_p99_ms=phase["reply_p99_ms"],
                        missing=phase["missing_replies"],
                    )
                await asyncio.sleep(args.settle)
                reading(f"idle again after {args.settle:g} s")
                load = conditions.stop()

    idle = next(r for r in readings if str(r["phase"]).startswith("idle after"))
    idle_mb = float(idle["rss_mb"])  # type: ignore[arg-type]
    verdict = "met" if idle_mb <= GOAL_MB else "NOT met"
    print(f"channels on: {', '.join(idle['channels_on'])}")  # type: ignore[arg-type]
    print(
        f"goal: <= {GOAL_MB:g} MB idle with every channel on: {verdict} ({idle_mb} MB as "
        f"installed; {dev_idle['rss_mb']} MB with the dev extras importable)"
    )
    print(f"load: {load}")
    backend = "postgresql" if args.database_url else "sqlite"
    path = write_results(
        f"footprint-{backend}" + ("-llm" if args.llm else ""),
        {
            "backend": backend,
            "workers": args.workers,
            "llm": args.llm,
            "readings": readings,
            "idle_dev_virtualenv": dev_idle,
            "goal_mb": GOAL_MB,
            "verdict": verdict,
            "load": load,
        },
    )
    print(f"results written to {path}")


if __name__ == "__main__":
    asyncio.run(main())
