"""The Block Kit the Slack channel renders is what slack_sdk's own models would build.

`channels/slack/blocks.py` writes its blocks as dicts; every block it renders, for every kind of
deliverable, is built again here from the SDK's models as the channel built it before (a header
of plain text with emoji, sections of mrkdwn text or fields, a context of mrkdwn, actions of
buttons), must pass their validation (Slack's documented limits) and serialise to the very same
dict.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from channels.slack.blocks import Message, render, render_decided
from models.deliverable import CardField, Deliverable

text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=4000
)
short = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
)


def sdk_model(block: dict[str, Any]) -> Block:
    """BLOCK built from the SDK's models, from what it shows."""
    match block["type"]:
        case "header":
            return HeaderBlock(text=PlainTextObject(text=block["text"]["text"], emoji=True))
        case "section" if "fields" in block:
            return SectionBlock(
                fields=[MarkdownTextObject(text=f["text"]) for f in block["fields"]]
            )
        case "section":
            return SectionBlock(text=MarkdownTextObject(text=block["text"]["text"]))
        case "context":
            return ContextBlock(
                elements=[MarkdownTextObject(text=e["text"]) for e in block["elements"]]
            )
        case "actions":
            buttons = [
                ButtonElement(
                    text=PlainTextObject(text=e["text"]["text"], emoji=True),
                    action_id=e["action_id"],
                    value=e["value"],
                    style=e.get("style"),
                )
                for e in block["elements"]
            ]
            return ActionsBlock(block_id=block["block_id"], elements=buttons)
    raise AssertionError(f"a block of an unexpected type: {block}")


def as_the_sdk_builds_it(messages: list[Message]) -> None:
    for message in messages:
        assert message.text  # chat.postMessage's fallback
        assert len(message.blocks) <= 50
        for block in message.blocks:
            model = sdk_model(block)
            model.validate_json()  # raises SlackObjectFormationError past a limit
            assert model.to_dict() == block


def proposal(status: str = "pending", changes: int = 2) -> dict[str, Any]:
    return {
        "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "code": "4821",
        "summary": "close A-1 & <A-2>",
        "status": status,
        "expires_at": "2025-01-02T03:04:05+00:00",
        "estimated_count": changes,
        "changes": [
            {"label": f"A-{n} status", "field": "status", "before": "open", "after": "closed"}
            for n in range(changes)
        ],
    }


def test_every_kind_renders_the_blocks_the_sdk_would() -> None:
    deliverables = [
        Deliverable(text="plain <b> & co"),
        Deliverable(kind="error", text="That proposal no longer exists."),
        Deliverable(
            kind="card",
            title="CSAT, this month",
            text="CSAT: 4.5\nUp from 4.3",
            fields=tuple(CardField(label=f"F{n}", value="v" * 2500) for n in range(13)),
        ),
        Deliverable(
            kind="list", title="Team", text="Team:\n- Ann\n- Bo\nThat's all", items=("Ann", "Bo")
        ),
        Deliverable(
            kind="proposal",
            title="Approval needed",
            text="Proposed: close A-1",
            data={"proposal": proposal(changes=25)},
        ),
        Deliverable(
            kind="text",
            title="Live conversation waiting",
            text="A customer asks for a person.",
            data={"live_offer": {"session_id": "s" * 300}},
        ),
        Deliverable(
            kind="text",
            title="Live conversation",
            text="Taken.",
            data={"live_offer": {"session_id": "s-1", "outcome": "accepted"}},
        ),
    ]
    for deliverable in deliverables:
        messages = render(deliverable)
        assert any(m.blocks for m in messages), deliverable.kind
        as_the_sdk_builds_it(messages)
    kinds = {b["type"] for d in deliverables for m in render(d) for b in m.blocks}
    assert kinds == {"header", "section", "context", "actions"}
    for status in ("executed", "rejected", "expired", "stale"):
        decided = Deliverable(kind="proposal", text="Proposed", data={"proposal": proposal(status)})
        as_the_sdk_builds_it(render_decided(decided, "U0123ABC"))


@given(
    title=short,
    body=text,
    fields=st.lists(st.tuples(short, text), max_size=25),
    items=st.lists(text, max_size=8),
)
def test_any_text_renders_the_blocks_the_sdk_would(
    title: str, body: str, fields: list[tuple[str, str]], items: list[str]
) -> None:
    card = Deliverable(
        kind="card",
        title=title,
        text=body,
        fields=tuple(CardField(label=label, value=value) for label, value in fields),
    )
    listed = Deliverable(kind="list", title=title, text=body, items=tuple(items))
    offer = Deliverable(
        kind="text", title=title, text=body, data={"live_offer": {"session_id": title or "s"}}
    )
    for deliverable in (card, listed, offer, Deliverable(text=body)):
        messages = render(deliverable)
        if messages[0].blocks:
            as_the_sdk_builds_it(messages)
