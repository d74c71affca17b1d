"""Sending email replies: one provider call per deliverable, in the thread it answers."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from channels.base import ChannelContext
from channels.email import store
from channels.email.choice import ProviderChoice
from channels.email.render import Envelope, default_subject, render_email
from core.assists.email_identity import EmailIdentity
from delivery.errors import InvalidRecipient
from delivery.senders import Op
from models.deliverable import Deliverable, Receipt
from models.email_threads import new_message_id, reply_subject, thread_references
from models.task import Route

# No provider documents a per-recipient limit; a 429 (account-wide at every provider) holds
# back all email for its Retry-After, and one recipient's key only that recipient.
ACCOUNT_KEY = ("email.account", "all")


class EmailSender:
    """Each deliverable is one email: multipart/alternative text and HTML, charts inline, files
    attached. A reply to an email continues its thread (In-Reply-To, References, "Re:");
    emails about an assist carry the headers `core.assists.mail.send_assist_email` chose."""

    def __init__(
        self, identity: EmailIdentity, choice: ProviderChoice, context: ChannelContext
    ) -> None:
        self._identity = identity
        self._choice = choice
        self._context = context

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return [
            Op(
                "send",
                {"deliverable": deliverable},
                rate_keys=(ACCOUNT_KEY, ("email.to", route.address.lower())),
            )
        ]

    async def perform(self, route: Route, op: Op) -> Receipt:
        """Render and send OP's deliverable through the workspace's provider.

        Raises:
            DeliveryError: InvalidRecipient (not an address), BadRequest (a file expired),
                or the provider's mapped error.
        """
        if "@" not in route.address or any(c.isspace() for c in route.address.strip()):
            raise InvalidRecipient(f"{route.address!r} is not an email address")
        deliverable: Deliverable = op.payload["deliverable"]
        envelope, workspace_id = await self._envelope(route, deliverable)
        provider = await self._choice.provider_for(workspace_id)
        mail = await render_email(
            deliverable,
            route.address.strip(),
            envelope,
            self._identity,
            load_media=self._context.media.load,
            inline_images=provider.inline_images,
        )
        return await provider.send(mail)

    async def _envelope(
        self, route: Route, deliverable: Deliverable
    ) -> tuple[Envelope, str | None]:
        """Subject and thread headers, and the workspace the email is sent for."""
        domain = self._identity.domain
        given = deliverable.data.get("email")
        if isinstance(given, dict):
            envelope = _given(given, deliverable, route, domain)
            record_id = _str(given.get("reply_record"))
            if record_id is not None:
                reply_to = self._identity.reply_address(record_id)
                envelope = replace(envelope, reply_to=reply_to)
            return envelope, _str(given.get("workspace_id"))
        async with self._context.db.session() as session:
            parent = (
                await store.thread_of(session, route.thread, route.address)
                if route.thread
                else None
            )
            workspace_id = (
                parent.workspace_id
                if parent is not None
                else await store.workspace_of_address(session, route.address)
            )
        if route.thread is None:
            return Envelope(default_subject(deliverable), new_message_id(domain)), workspace_id
        # Derived from what is sent: a retry after a lost answer reuses the Message-ID.
        seed = json.dumps(
            [route.address, route.thread, deliverable.model_dump(mode="json")], sort_keys=True
        )
        subject = parent.subject if parent is not None and parent.subject else ""
        envelope = Envelope(
            subject=reply_subject(subject or default_subject(deliverable)),
            message_id=new_message_id(domain, seed=seed),
            in_reply_to=route.thread,
            references=tuple(thread_references(parent.references if parent else [], route.thread)),
        )
        return envelope, workspace_id


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _given(given: dict[str, Any], deliverable: Deliverable, route: Route, domain: str) -> Envelope:
    references = given.get("references")
    seed = json.dumps([route.address, deliverable.model_dump(mode="json")], sort_keys=True)
    return Envelope(
        subject=_str(given.get("subject")) or default_subject(deliverable),
        message_id=_str(given.get("message_id")) or new_message_id(domain, seed=seed),
        in_reply_to=_str(given.get("in_reply_to")),
        references=tuple(str(r) for r in references) if isinstance(references, list) else (),
        reply_to=_str(given.get("reply_to")),
    )
