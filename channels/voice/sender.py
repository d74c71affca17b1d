"""The voice sender: a call's replies are held for the webhook that speaks them, or pushed to
the caller's text channel."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import ChannelContext
from channels.voice import store
from channels.voice.config import NAME, VoiceConfig
from delivery.senders import Op
from models.deliverable import Deliverable, Receipt
from models.task import Route


def usable_channels(context: ChannelContext) -> list[str]:
    """Channels with a real sender, where a call's long answers can be pushed."""
    names: set[str] = set()
    for channel in context.channels.values():
        names.update(channel.senders())
    names.discard(NAME)
    return sorted(names)


async def push_route(
    session: AsyncSession,
    context: ChannelContext,
    config: VoiceConfig,
    workspace_id: str,
    caller: str,
    called: str,
) -> Route | None:
    """Where this caller's unspoken answers go (see `store.push_route`)."""
    return await store.push_route(
        session,
        workspace_id,
        caller,
        called=called,
        usable=usable_channels(context),
        sms_from=config.sms_from,
    )


class VoiceSender:
    """A call's replies are spoken by the webhook that waits for them, so "sending" one only
    stores it, like the web channel. Except when its turn was handed to the caller's text
    channel (they waited too long, or hung up): then it is pushed there."""

    def __init__(self, config: VoiceConfig, context: ChannelContext) -> None:
        self._config = config
        self._context = context

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return [Op("hold", {"deliverable": deliverable})]

    async def perform(self, route: Route, op: Op) -> Receipt:
        turn = int(route.thread) if route.thread and route.thread.isdigit() else None
        if turn is None:
            return Receipt(status="stored")
        async with self._context.db.session() as session:
            call = await store.lock_call(session, route.address)
            if call is None or turn not in (call.pushed_turns or []):
                return Receipt(status="stored")
            target = await push_route(
                session, self._context, self._config, call.workspace_id, call.caller, call.called
            )
            if target is None:
                return Receipt(status="stored")
            created = await store.push(session, call, turn, [op.payload["deliverable"]], target)
        if created:
            self._context.wake_outbox()
        return Receipt(status="pushed")
