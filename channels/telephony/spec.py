"""The telephony lines' declaration: one route for every provider. It needs no settings of
its own (each line's credentials are its account's), so it is always on."""

from __future__ import annotations

from collections.abc import Mapping

from channels.base import ChannelContext, ChannelRoute, ChannelSpec
from channels.telephony.webhook import PATH, telephony_webhook
from config import Settings
from delivery.senders import Sender

NAME = "telephony"


class TelephonyChannel:
    """Receives only: voicemails become assists, which the team answers on other channels."""

    name = NAME

    async def start(self, context: ChannelContext) -> None:
        return None

    async def stop(self) -> None:
        return None

    def senders(self) -> Mapping[str, Sender]:
        return {}


def create(settings: Settings) -> TelephonyChannel:
    return TelephonyChannel()


TELEPHONY = ChannelSpec(
    name=NAME,
    required=(),
    routes=(ChannelRoute("POST", PATH, telephony_webhook),),
    create=create,
)
