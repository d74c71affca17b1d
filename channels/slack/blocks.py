"""Block Kit rendering of deliverables: pure functions that keep within Slack's limits.

Blocks are built as the dicts Slack's API takes, the very ones `slack_sdk.models.blocks` would
serialise (a test parses each back into the SDK's models and compares): building the models
and serialising them cost about 110 µs of a metric card's 120, on every reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.approvals.proposals import CREATE
from delivery.render import split_text
from models.deliverable import CardField, Deliverable

# Slack's documented limits (Block Kit reference; chat.postMessage truncates `text` at 40,000).
SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS_PER_SECTION = 10
HEADER_TEXT = 150
BLOCKS_PER_MESSAGE = 50
MESSAGE_TEXT = 40_000
MAX_CHANGES_SHOWN = 20

APPROVE_ACTION = "proposal_approve"
REJECT_ACTION = "proposal_reject"
# The buttons on a live conversation offered to an operator live by Slack (core.live).
LIVE_ACCEPT_ACTION = "live_accept"
LIVE_DECLINE_ACTION = "live_decline"

SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,40}")

OUTCOMES = {
    "executed": "✅ Approved",
    "rejected": "❌ Rejected",
    "expired": "⌛ Expired",
    "stale": "⚠️ Not carried out",
}
# What an answered live offer says in place of its buttons.
LIVE_OUTCOMES = {
    "accepted": "✅ Accepted",
    "declined": "↩️ Declined",
    "gone": "⌛ No longer offered",
}


@dataclass(frozen=True, slots=True)
class Message:
    """One chat.postMessage / chat.update: its blocks and the plain `text` fallback that
    notifications and screen readers show."""

    text: str
    blocks: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class _Unit:
    block: dict[str, Any]
    text: str  # this block's share of the fallback text (already escaped)


# --------------------------------------------------------------------------- Block Kit objects
# As Slack's reference defines them; the limits they carry are kept by the callers.


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(label),
        "action_id": action_id,
        "value": value,
    }
    if style is not None:
        button["style"] = style
    return button


def _actions(block_id: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id[:255], "elements": buttons}


def escape(text: str) -> str:
    """Slack's mrkdwn control characters (its "Escaping text" rules)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped_len(text: str) -> int:
    return len(escape(text))


def render(deliverable: Deliverable) -> list[Message]:
    """DELIVERABLE as one or more messages (more only where the limits force a split)."""
    match deliverable.kind:
        case "card":
            units = _card(deliverable)
        case "list":
            units = _list(deliverable)
        case "proposal" if isinstance(deliverable.data.get("proposal"), Mapping):
            units = _proposal(deliverable, deliverable.data["proposal"], outcome=None)
        case _ if isinstance(deliverable.data.get("live_offer"), Mapping):
            units = _live_offer(deliverable, deliverable.data["live_offer"])
        case "error":
            units = _sections(f"⚠️ {deliverable.text}")
        case _:
            units = _sections(deliverable.text)
    return _pack(units) or [Message(text=escape(deliverable.text) or " ", blocks=())]


def render_decided(deliverable: Deliverable, decided_by: str | None) -> list[Message]:
    """A decided proposal's card again, its buttons replaced by the outcome, for chat.update."""
    proposal = deliverable.data.get("proposal")
    if not isinstance(proposal, Mapping):
        return render(deliverable)
    status = str(proposal.get("status"))
    label = OUTCOMES.get(status, "Decided")
    who = ""
    if status in ("executed", "rejected") and decided_by and SLACK_USER_ID.fullmatch(decided_by):
        who = f" by <@{decided_by}>"
    return _pack(_proposal(deliverable, proposal, outcome=f"*{label}{who}:*"))


# --------------------------------------------------------------------------- kinds


def _header(title: str | None) -> list[_Unit]:
    if not title or not title.strip():
        return []
    shown = title.strip()
    if len(shown) > HEADER_TEXT:
        shown = shown[: HEADER_TEXT - 1].rstrip() + "…"
    return [_Unit({"type": "header", "text": _plain(shown)}, escape(shown))]


def _sections(text: str, *, prefix: str = "") -> list[_Unit]:
    """TEXT in section blocks of at most SECTION_TEXT characters once escaped; PREFIX is
    mrkdwn put before the first one."""
    if not text.strip():
        return [_Unit(_section(prefix), prefix)] if prefix else []
    # With a prefix every part is cut a little shorter, so that the first one fits with it.
    room = SECTION_TEXT - len(prefix) - 1 if prefix else SECTION_TEXT
    parts = [escape(p) for p in split_text(text, room, measure=_escaped_len)]
    if prefix:
        parts[0] = f"{prefix} {parts[0]}"
    return [_Unit(_section(p), p) for p in parts]


def _bullets(lines: Iterable[str]) -> list[_Unit]:
    """Lines as "• line" bullets, as many to a section as fit."""
    units: list[_Unit] = []
    current: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal current, size
        if current:
            body = "\n".join(current)
            units.append(_Unit(_section(body), body))
        current, size = [], 0

    for line in lines:
        pieces = split_text(line, SECTION_TEXT - 2, measure=_escaped_len) if line.strip() else []
        for index, piece in enumerate(pieces):
            shown = ("• " if index == 0 else "") + escape(piece)
            if size + len(shown) + (1 if current else 0) > SECTION_TEXT:
                flush()
            size += len(shown) + (1 if current else 0)
            current.append(shown)
    flush()
    return units


def _field_text(field: CardField) -> str:
    label = escape(field.label)[:200]
    room = FIELD_TEXT - len(label) - 3
    value = escape(field.value)
    if len(value) > room:
        value = value[: room - 1] + "…"
    return f"*{label}*\n{value}"


def _card(deliverable: Deliverable) -> list[_Unit]:
    units = _header(deliverable.title)
    fields = list(deliverable.fields)
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        chunk = fields[start : start + FIELDS_PER_SECTION]
        shown = [_field_text(f) for f in chunk]
        units.append(
            _Unit(
                {"type": "section", "fields": [_mrkdwn(t) for t in shown]},
                "\n".join(t.replace("*\n", "*: ", 1) for t in shown),
            )
        )
    # The text repeats the fields as "Label: value" lines; show only what it adds.
    repeated = {f"{f.label}: {f.value}" for f in fields}
    rest = "\n".join(ln for ln in deliverable.text.splitlines() if ln.strip() not in repeated)
    return units + _sections(rest)


def _strip_bullet(line: str) -> str:
    return re.sub(r"^\s*(?:[-•*]\s+)", "", line).strip()


def _list(deliverable: Deliverable) -> list[_Unit]:
    """Header, the text's lead-in, the items as bullets, then what the text says after them."""
    items = [i for i in deliverable.items if i.strip()]
    if not items:
        return _header(deliverable.title) + _sections(deliverable.text)
    wanted = {i.strip() for i in items}
    lines = deliverable.text.splitlines()
    at = [n for n, line in enumerate(lines) if _strip_bullet(line) in wanted]
    before = lines[: at[0]] if at else []
    after = [ln for ln in lines[at[-1] + 1 :] if _strip_bullet(ln) not in wanted] if at else []
    return (
        _header(deliverable.title)
        + _sections("\n".join(before))
        + _bullets(items)
        + _sections("\n".join(after))
    )


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        return "new" if value else "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    return str(value)


def _change_line(change: Mapping[str, Any]) -> str:
    label = str(change.get("label", change.get("field", "change")))
    if change.get("field") == CREATE:
        verb = "create" if change.get("before") is None else "delete"
        detail = change.get("after") if isinstance(change.get("after"), str) else None
        return f"{label}: {verb}" + (f" ({detail})" if detail else "")
    return f"{label}: {_shown(change.get('before'))} → {_shown(change.get('after'))}"


def _notices(text: str) -> list[str]:
    """Lines of the proposal's text that the structured card does not show (warnings the
    write carries), as the core renders them (core.approvals.proposals.render_proposal)."""
    kept = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("Proposed:", "This will touch", "- ")):
            continue
        if stripped.startswith('Reply "approve'):
            continue
        kept.append(stripped)
    return kept


def _utc(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def slack_date(iso: str, fallback: str) -> str:
    """A timestamp Slack shows in each reader's own time zone (`<!date^...>`), FALLBACK where
    it cannot."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return escape(fallback)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{escape(fallback)}>"


def _proposal(
    deliverable: Deliverable, proposal: Mapping[str, Any], *, outcome: str | None
) -> list[_Unit]:
    code = str(proposal.get("code", ""))
    title = deliverable.title or "Approval needed"
    units = _header(title if outcome is None else f"Proposal {code}".strip())
    summary = str(proposal.get("summary") or "")
    if summary:
        units += _sections(summary, prefix="*Proposed:*")
    changes = [c for c in proposal.get("changes") or () if isinstance(c, Mapping)]
    lines = [_change_line(c) for c in changes[:MAX_CHANGES_SHOWN]]
    if len(changes) > MAX_CHANGES_SHOWN:
        lines.append(f"… and {len(changes) - MAX_CHANGES_SHOWN} more changes")
    units += _bullets(lines)
    if outcome is None:
        units += _sections("\n".join(_notices(deliverable.text)))
    facts: list[tuple[str, str]] = []  # (mrkdwn, plain text for the fallback)
    count = proposal.get("estimated_count")
    if isinstance(count, int):
        facts.append((f"Touches {count} item(s)",) * 2)
    expires = proposal.get("expires_at")
    if outcome is None and isinstance(expires, str):
        shown = _utc(expires)
        facts.append((f"Expires {slack_date(expires, shown)}", f"Expires {escape(shown)}"))
    if code:
        hint = f'Code {escape(code)} (or reply "approve {escape(code)}")'
        facts.append((hint if outcome is None else f"Code {escape(code)}",) * 2)
    if facts:
        units.append(
            _Unit(
                {"type": "context", "elements": [_mrkdwn(" · ".join(m for m, _ in facts))]},
                " · ".join(p for _, p in facts),
            )
        )
    if outcome is not None:
        return units + _sections(deliverable.text, prefix=outcome)
    proposal_id = str(proposal.get("id", ""))
    if proposal_id:
        buttons = [
            _button("Approve", APPROVE_ACTION, proposal_id, "primary"),
            _button("Reject", REJECT_ACTION, proposal_id, "danger"),
        ]
        units.append(_Unit(_actions(f"proposal:{proposal_id}", buttons), ""))
    return units


def _live_offer(deliverable: Deliverable, offer: Mapping[str, Any]) -> list[_Unit]:
    """A live conversation offered to the operator: Accept and Decline while it waits; once
    answered (the same message, updated in place), the outcome where the buttons were."""
    units = _header(deliverable.title)
    outcome = offer.get("outcome")
    if isinstance(outcome, str):
        label = LIVE_OUTCOMES.get(outcome, "Answered")
        return units + _sections(deliverable.text, prefix=f"*{label}:*")
    units += _sections(deliverable.text)
    session_id = str(offer.get("session_id") or "")
    if not session_id:
        return units
    buttons = [
        _button("Accept", LIVE_ACCEPT_ACTION, session_id, "primary"),
        _button("Decline", LIVE_DECLINE_ACTION, session_id),
    ]
    return [*units, _Unit(_actions(f"live:{session_id}", buttons), "")]


# --------------------------------------------------------------------------- packing


def _pack(units: Sequence[_Unit]) -> list[Message]:
    """Units into messages of at most BLOCKS_PER_MESSAGE blocks and MESSAGE_TEXT characters of
    fallback text, in order."""
    messages: list[Message] = []
    blocks: list[dict[str, Any]] = []
    texts: list[str] = []
    size = 0
    for unit in units:
        extra = len(unit.text) + (1 if texts and unit.text else 0)
        if blocks and (len(blocks) >= BLOCKS_PER_MESSAGE or size + extra > MESSAGE_TEXT):
            messages.append(Message(text="\n".join(texts) or " ", blocks=tuple(blocks)))
            blocks, texts, size = [], [], 0
            extra = len(unit.text)
        blocks.append(unit.block)
        if unit.text:
            texts.append(unit.text)
            size += extra
    if blocks:
        messages.append(Message(text="\n".join(texts) or " ", blocks=tuple(blocks)))
    return messages
