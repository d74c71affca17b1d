"""An experiment, not the product: how fast the gateway's Slack ingest could be with the same
server, middlewares and journal if its handler built less. `bench/ingest.py --bound BOUND` runs
this in place of `main.py serve`: the gateway as `main.py serve` builds it, its Slack handler
replaced by one of two that take only well-formed `app_mention` events (the benchmark's):

- `no-models`: the signature checked, the body read by orjson, the journal's row written from
  the body's fields by hand: no envelope or event validation, no `Task`, no metrics for the
  task, no NUL or surrogate cleaning. Less than any correct handler can do: a lower bound on
  the product's CPU per Slack event with its middlewares and its journal.
- `task`: the same, but the row comes from the contract's frozen pydantic `Task` (DESIGN.md,
  "The normalized Task": one model every channel produces) through the gateway's own `ingest`,
  as every channel's does: still no validation of the envelope or the event.

What the two say is where the product's CPU per Slack event goes beyond the floor, measured
under wrk beside bare aiohttp in the same run; see README (Performance) for what they showed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from aiohttp import web

from channels.base import InboundRequest
from channels.slack import channel as slack_channel
from channels.slack.inbound import strip_mentions, verify
from models.task import Route, Sender, Task
from storage.types import new_id, utcnow


async def _read(
    channel: slack_channel.SlackChannel, inbound: InboundRequest
) -> tuple[Any, dict[str, Any], dict[str, Any], str, str, str]:
    """What both bounds take from a request: (the gateway, the body, its event, the workspace,
    the thread, the text without the bot's mention), the signature checked first."""
    verify(inbound, channel._verifier)
    body: dict[str, Any] = orjson.loads(inbound.body)
    event = body["event"]
    context: Any = channel._context
    workspace_id = await context.workspace_for("slack", body["team_id"])
    bots = tuple(a["user_id"] for a in body.get("authorizations", ()) if a.get("is_bot"))
    thread = event.get("thread_ts") or event["ts"]
    return context, body, event, workspace_id, thread, strip_mentions(event.get("text", ""), bots)


async def _no_models(self: slack_channel.SlackChannel, inbound: InboundRequest) -> web.Response:
    context, body, event, workspace_id, thread, text = await _read(self, inbound)
    values = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "channel": "slack",
        "external_id": body["event_id"],
        "kind": "message",
        "sender_channel": "slack",
        "sender_address": event["user"],
        "conversation": f"{event['channel']}:{thread}",
        "text": text,
        "attachments": [],
        "reply_route": {"channel": "slack", "address": event["channel"], "thread": thread},
        "raw": body,
        "approval": None,
        "briefing": None,
        "sender_name": None,
        "email_record": None,
        "received_at": utcnow(),
        "status": "queued",
        "attempts": 0,
    }
    # The journal's queue, reached directly: `append` takes a Task, which this bound has not.
    journal = context.journal
    future = asyncio.get_running_loop().create_future()
    journal._queue.append((None, values, future))
    journal._wakeup.set()
    await future
    return web.Response(status=200)


async def _task(self: slack_channel.SlackChannel, inbound: InboundRequest) -> web.Response:
    context, body, event, workspace_id, thread, text = await _read(self, inbound)
    task = Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="slack",
        external_id=body["event_id"],
        sender=Sender(channel="slack", address=event["user"]),
        conversation=f"{event['channel']}:{thread}",
        text=text,
        received_at=utcnow(),
        reply_route=Route(channel="slack", address=event["channel"], thread=thread),
        kind="message",
        raw=body,
    )
    await context.ingest(task)
    return web.Response(status=200)


HANDLERS = {"no-models": _no_models, "task": _task}
BOUNDS = tuple(HANDLERS)


def main() -> int:
    bound = os.environ.get("INGEST_BOUND", "")
    if bound not in HANDLERS:
        raise SystemExit(f"INGEST_BOUND must be one of {', '.join(BOUNDS)}")
    slack_channel.SlackChannel.handle = HANDLERS[bound]  # type: ignore[assignment,method-assign]
    import main as gateway

    return gateway.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
