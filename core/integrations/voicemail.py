"""A voicemail left on a connected telephony line becomes an assist, once.

Providers deliver a voicemail in parts (the recording, then its transcript) and deliver each
part again when they are unsure we got it. Every part is claimed by a `TelephonyEvent` row
keyed `<part>:<voicemail id>` (a redelivery finds its row taken and changes nothing), and the
voicemail itself by a row keyed `line:<voicemail id>` that holds its assist: whichever part
comes first opens the assist, a later one fills it in. On PostgreSQL a second transaction
inserting the same key waits for the first to commit, then reads its assist, so two parts
arriving together still make one assist. Functions take the session and never commit."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists.records import create_assist, customer_for, guess_category
from core.integrations.labels import inbox_label
from core.routing.notices import tell_assignee
from storage.db import upsert_insert
from storage.domain import Assist
from storage.integrations import IntegrationAccount, TelephonyEvent
from storage.models import Member
from storage.types import new_id

Part = Literal["voicemail", "transcript"]


@dataclass(frozen=True, slots=True)
class LineVoicemail:
    """One part of a voicemail as a provider delivered it, parsed at the edge.

    KEY is the provider's id for the voicemail (its call id): the parts of one voicemail
    share it. CALLER is the number that called; CALLED the line's number."""

    key: str
    part: Part
    caller: str | None = None
    called: str | None = None
    transcript: str | None = None
    recording_url: str | None = None
    duration: int | None = None
    # False for a part that may belong to a call without a voicemail (Quo transcribes every
    # call): it only fills in a voicemail already recorded, and is left unclaimed otherwise.
    opens: bool = True


def _clean(vm: LineVoicemail) -> LineVoicemail:
    """VM with what the columns take: a key that fits, no NUL (PostgreSQL refuses one) and no
    half of a surrogate pair (no database encodes one; a JSON event may spell it as a \\u
    escape), a caller's number of phone length (anything longer is not a number)."""

    def text(value: str | None, limit: int) -> str | None:
        value = (value or "").replace("\x00", "")
        value = value.encode("utf-8", "replace").decode("utf-8").strip()[:limit]
        return value or None

    return replace(
        vm,
        key=text(vm.key, 150) or "-",
        caller=text(vm.caller, 32),
        called=text(vm.called, 32),
        transcript=text(vm.transcript, 20000),
        recording_url=text(vm.recording_url, 2000),
    )


async def _claim(
    session: AsyncSession, account: IntegrationAccount, key: str, now: datetime
) -> TelephonyEvent | None:
    """The new row for KEY on ACCOUNT; None when a delivery already took it."""
    event_id = new_id()
    inserted = await session.scalar(
        upsert_insert(session)(TelephonyEvent)
        .values(
            id=event_id,
            workspace_id=account.workspace_id,
            account_id=account.id,
            event_key=key[:200],
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["account_id", "event_key"])
        .returning(TelephonyEvent.id)
    )
    if inserted is None:
        return None
    return await session.get(TelephonyEvent, event_id)


def _entry(vm: LineVoicemail, at: datetime) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "from": "customer",
        "channel": "voice",
        "kind": "voicemail",
        "text": vm.transcript or "",
        "at": at.isoformat(),
    }
    if vm.recording_url:
        entry["recording_url"] = vm.recording_url
    if vm.duration is not None:
        entry["duration_seconds"] = vm.duration
    return entry


def _summary(line: str, caller: str, text: str | None, recording_url: str | None) -> str:
    if text:
        return f"Voicemail on {line} from {caller}: {text}"
    if recording_url:
        return f"Voicemail on {line} from {caller}; no transcript yet. Recording: {recording_url}"
    return f"Voicemail on {line} from {caller}; the recording is not available yet."


async def record_voicemail(
    session: AsyncSession,
    account: IntegrationAccount,
    vm: LineVoicemail,
    *,
    now: datetime,
    base_url: str | None = None,
) -> tuple[Assist | None, bool]:
    """Record VM on the line ACCOUNT: (its assist, whether it was opened now); (None, False)
    for a redelivery, which changes nothing."""
    vm = _clean(vm)
    if not vm.opens and await _anchor(session, account, vm.key, lock=False) is None:
        return None, False
    delivery = await _claim(session, account, f"{vm.part}:{vm.key}", now)
    if delivery is None:
        return None, False
    anchor = await _claim(session, account, f"line:{vm.key}", now)
    assist: Assist | None = None
    if anchor is None:
        anchor = await _anchor(session, account, vm.key, lock=True)
        if anchor is not None and anchor.assist_id:
            assist = await session.get(Assist, anchor.assist_id)
    if assist is not None:
        _fill_in(assist, account, vm, now)
        delivery.assist_id = assist.id
        return assist, False
    assist = await _open(session, account, vm, now, base_url)
    delivery.assist_id = assist.id
    if anchor is not None:
        anchor.assist_id = assist.id
    return assist, True


async def _anchor(
    session: AsyncSession, account: IntegrationAccount, key: str, *, lock: bool
) -> TelephonyEvent | None:
    query = select(TelephonyEvent).where(
        TelephonyEvent.account_id == account.id,
        TelephonyEvent.event_key == f"line:{key}"[:200],
    )
    return await session.scalar(query.with_for_update() if lock else query)


async def _open(
    session: AsyncSession,
    account: IntegrationAccount,
    vm: LineVoicemail,
    now: datetime,
    base_url: str | None,
) -> Assist:
    caller = vm.caller or "an unknown number"
    customer = (
        await customer_for(session, account.workspace_id, phone=vm.caller) if vm.caller else None
    )
    assist = await create_assist(
        session,
        workspace_id=account.workspace_id,
        subject=f"Voicemail from {caller}",
        summary=_summary(account.label, caller, vm.transcript, vm.recording_url),
        transcript=[_entry(vm, now)],
        customer=customer,
        # The line's own brand label: each line its own, so the team filters by line; spelt
        # as the inbox already has it.
        labels=[await inbox_label(session, account.workspace_id, account.label)],
        tags=["voicemail", account.provider],
        escalation_reason="the caller left a voicemail",
        now=now,
    )
    assignee = await session.get(Member, assist.assignee_id) if assist.assignee_id else None
    if assignee is not None:  # routed on Enterprise: the assignee hears of it, with the link
        await tell_assignee(session, assist, assignee, base_url=base_url)
    return assist


def _fill_in(assist: Assist, account: IntegrationAccount, vm: LineVoicemail, now: datetime) -> None:
    """What a later part brings: the transcript, or the recording link, where missing."""
    entries = list(assist.transcript or [])
    index = next((i for i, e in enumerate(entries) if e.get("kind") == "voicemail"), None)
    if index is None:
        entries.append(_entry(LineVoicemail(key=vm.key, part=vm.part), now))
        index = len(entries) - 1
    entry = dict(entries[index])
    changed = False
    if vm.transcript and not entry.get("text"):
        entry["text"] = vm.transcript
        changed = True
    if vm.recording_url and not entry.get("recording_url"):
        entry["recording_url"] = vm.recording_url
        changed = True
    if vm.duration is not None and entry.get("duration_seconds") is None:
        entry["duration_seconds"] = vm.duration
    if not changed:
        return
    entries[index] = entry
    assist.transcript = entries
    caller = vm.caller or _caller_of(assist) or "an unknown number"
    assist.summary = _summary(account.label, caller, entry.get("text"), entry.get("recording_url"))
    if vm.transcript and assist.category in (None, "other"):
        assist.category = guess_category(vm.transcript)
    assist.unread = True
    assist.updated_at = now


def _caller_of(assist: Assist) -> str | None:
    subject = assist.subject or ""
    prefix = "Voicemail from "
    return subject[len(prefix) :] if subject.startswith(prefix) else None
