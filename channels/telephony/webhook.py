"""`POST /telephony/{provider}/{integration_id}`: a connected line's provider calling.

The line is loaded (404 for an unknown one, or one of another provider), its credentials are
opened by the vault for the check only, the provider's signature is verified exactly as the
provider signs (403 and nothing stored when it does not match), a turned-off line is refused
(403, nothing stored), and each voicemail part is recorded once (`core/integrations/
voicemail.py`) and committed before the provider gets its 2xx. A transcript the event only
points at is fetched from the provider first; when the provider is throttling or failing,
the rest is recorded and the event refused with 503 and Retry-After, so the provider
delivers it again and the transcript is fetched then (never acknowledged and lost)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from channels.base import ChannelContext, InboundRequest, from_aiohttp
from channels.errors import ChannelRejected, SignatureRejected
from channels.telephony import aircall, dialpad, quo, ringcentral, twilio, vonage
from channels.telephony.base import Inbound, Line, MalformedEvent, SignatureError
from core.integrations.accounts import credentials_of
from core.integrations.lines import LineSetupError, TryLater, fetch_transcript
from core.integrations.lines.common import line_secrets, webhook_url
from core.integrations.vault import VaultError, vault_of
from core.integrations.voicemail import record_voicemail
from storage.integrations import IntegrationAccount
from storage.types import utcnow

log = logging.getLogger(__name__)

PATH = "/telephony/{provider}/{integration_id}"
Reader = Callable[[InboundRequest, Line], Inbound]

READERS: dict[str, Reader] = {
    "twilio": twilio.read,
    "dialpad": dialpad.read,
    "aircall": aircall.read,
    "quo": quo.read,
    "ringcentral": ringcentral.read,
    "vonage": vonage.read,
}


async def telephony_webhook(request: web.Request, context: ChannelContext) -> web.StreamResponse:
    provider = request.match_info["provider"]
    integration_id = request.match_info["integration_id"]
    reader = READERS.get(provider)
    if reader is None:
        raise ChannelRejected(404, f"no telephony provider {provider!r}")
    handshake = request.headers.get(ringcentral.VALIDATION)
    if provider == "ringcentral" and handshake:
        # RingCentral checks the address while the line is still being connected (its
        # account not yet committed): echoing the token it sent proves nothing else.
        return web.Response(headers={ringcentral.VALIDATION: handshake[:200]})
    inbound = await from_aiohttp(request)
    async with context.db.session() as session:
        account = await session.get(IntegrationAccount, integration_id[:32])
    if account is None or account.id != integration_id or account.provider != provider:
        raise ChannelRejected(404, f"no {provider} line {integration_id}")
    try:
        vault = vault_of(context.settings)
        line = Line(
            account_id=account.id,
            provider=provider,
            label=account.label,
            credentials=credentials_of(vault, account),
            secrets=line_secrets(vault, account),
            url=webhook_url(context.settings.base_url, account),
            base_url=context.settings.base_url,
        )
    except VaultError as exc:
        log.error("the %s line %s cannot be checked: %s", provider, account.id, exc)
        raise ChannelRejected(
            503,
            "this line's credentials cannot be opened: SWITCHBOARD_SECRET_KEY is not set, or "
            "not the one they were saved with",
        ) from exc
    try:
        heard = reader(inbound, line)
    except SignatureError as exc:
        raise SignatureRejected(403, f"not signed by {provider} for this line: {exc}") from exc
    except MalformedEvent as exc:
        raise ChannelRejected(400, str(exc)) from exc
    if not account.enabled:
        raise ChannelRejected(
            403, f"the line {account.label!r} is turned off: turn it on under Integrations"
        )
    voicemails = list(heard.voicemails)
    later: TryLater | None = None
    for pending in heard.pending:
        # Fetched before the transaction: the provider's answer is awaited holding nothing.
        try:
            part = await fetch_transcript(vault, account, pending)
        except TryLater as exc:
            later = exc
            log.warning("a %s transcript is not fetched yet (%s): asked again", provider, exc)
            continue
        except LineSetupError as exc:
            log.warning("the transcript of a %s voicemail cannot be fetched: %s", provider, exc)
            continue
        if part is not None:
            voicemails.append(part)
    if voicemails:
        now = utcnow()
        async with context.db.writing(), context.db.session() as session:
            current = await session.get(IntegrationAccount, account.id)
            if current is None or not current.enabled:
                raise ChannelRejected(403, f"the line {account.label!r} was turned off or removed")
            for part in voicemails:
                assist, created = await record_voicemail(
                    session, current, part, now=now, base_url=context.settings.base_url
                )
                if created and assist is not None:
                    log.info("a voicemail on a %s line became assist %s", provider, assist.ref)
    if later is not None:
        # What did arrive is kept; the provider delivers the event again (a redelivered part
        # changes nothing) and the transcript is fetched then, rather than acknowledged and lost.
        wait = str(max(1, min(3600, round(later.retry_after))))
        raise ChannelRejected(
            503,
            f"the transcript could not be fetched from {provider} yet: deliver the event again",
            {"Retry-After": wait},
        )
    return heard.answer if heard.answer is not None else web.json_response({"ok": True})
