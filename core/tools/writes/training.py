"""Training write tools: Q&A pairs, training sources and suggestions, assists made training."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from core.approvals.proposals import AT_EXECUTION, Draft
from core.assists.history import training_pairs
from core.assists.personal_data import strip_personal_data
from core.tools import args as a
from core.tools.reads.inbox import load_assist
from core.tools.registry import ToolContext, error_reply
from core.tools.writes.drafting import create_row, reserve_id, set_field, short
from models.deliverable import Deliverable
from storage.domain import AssistEvent, Customer, QaPair, TrainingSource, TrainingSuggestion


async def _qa_pair(ctx: ToolContext, qa_id: int) -> QaPair | None:
    return await ctx.session.scalar(
        select(QaPair).where(QaPair.workspace_id == ctx.principal.workspace_id, QaPair.id == qa_id)
    )


async def _new_qa(ctx: ToolContext, question: str, answer: str, source: str) -> dict[str, Any]:
    return {
        "id": await reserve_id(ctx, QaPair, "qa_pair"),
        "workspace_id": ctx.principal.workspace_id,
        "question": question,
        "answer": answer,
        "source": source,
        "active": True,
        "created_at": AT_EXECUTION,
    }


async def approve_training_suggestion(
    ctx: ToolContext, args: BaseModel
) -> list[Deliverable] | Draft:
    assert isinstance(args, a.ApproveTrainingSuggestionArgs)
    suggestion = await ctx.session.scalar(
        select(TrainingSuggestion).where(
            TrainingSuggestion.workspace_id == ctx.principal.workspace_id,
            TrainingSuggestion.id == args.suggestion_id,
        )
    )
    if suggestion is None:
        return error_reply(f"There is no training suggestion {args.suggestion_id}.")
    if suggestion.status != "pending":
        return [
            Deliverable(text=f"Training suggestion {suggestion.id} is already {suggestion.status}.")
        ]
    status = set_field(
        "training_suggestion",
        suggestion,
        "status",
        "approved",
        f"training suggestion {suggestion.id} status",
    )
    existing = await _qa_pair(ctx, suggestion.conflicts_with) if suggestion.conflicts_with else None
    if existing is not None and existing.active:
        # The suggestion answers a question the agent already knows: replace, never duplicate.
        return Draft(
            tool="approve_training_suggestion",
            summary=(
                f"approve training suggestion {suggestion.id}, replacing the answer of "
                f"Q&A {existing.id} (they conflict)"
            ),
            changes=(
                status,
                set_field(
                    "qa_pair",
                    existing,
                    "answer",
                    suggestion.answer,
                    f"Q&A {existing.id} answer",
                ),
            ),
            notice=(
                f'This suggestion conflicts with Q&A {existing.id} ("{short(existing.question)}")'
                ": approving replaces that answer instead of adding a second one."
            ),
        )
    row = await _new_qa(ctx, suggestion.question, suggestion.answer, "suggestion")
    return Draft(
        tool="approve_training_suggestion",
        summary=f"approve training suggestion {suggestion.id} as Q&A {row['id']}",
        changes=(
            status,
            create_row(
                "qa_pair",
                row,
                f"new Q&A {row['id']}",
                f"{short(row['question'], 60)} → {short(row['answer'], 60)}",
            ),
        ),
    )


def _same_url(left: str, right: str) -> bool:
    def norm(url: str) -> str:
        scheme, _, rest = url.strip().partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")

    return norm(left) == norm(right)


async def add_training_source(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.AddTrainingSourceArgs)
    sources = await ctx.session.scalars(
        select(TrainingSource).where(
            TrainingSource.workspace_id == ctx.principal.workspace_id,
            TrainingSource.kind == "url",
        )
    )
    for source in sources:
        if source.url and _same_url(source.url, args.url):
            if source.active:
                return error_reply(
                    f"{args.url} is already a training source "
                    f'({source.id}, "{source.title or source.url}").'
                )
            return Draft(
                tool="add_training_source",
                summary=f"re-activate training source {source.id} ({source.url})",
                changes=(
                    set_field(
                        "training_source",
                        source,
                        "active",
                        True,
                        f"training source {source.id} active",
                    ),
                ),
            )
    row = {
        "id": await reserve_id(ctx, TrainingSource, "training_source"),
        "workspace_id": ctx.principal.workspace_id,
        "kind": "url",
        "title": args.title or args.url.split("://", 1)[1].split("/", 1)[0],
        "url": args.url,
        "content": None,
        "active": True,
        "created_at": AT_EXECUTION,
    }
    return Draft(
        tool="add_training_source",
        summary=f"add {args.url} as training source {row['id']}",
        changes=(create_row("training_source", row, f"new training source {row['id']}", args.url),),
    )


async def edit_qa_pair(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.EditQaPairArgs)
    pair = await _qa_pair(ctx, args.qa_id)
    if pair is None:
        return error_reply(f"There is no Q&A {args.qa_id}.")
    if not pair.active:
        return error_reply(f"Q&A {pair.id} was removed; undo or restore that first to edit it.")
    changes = [
        set_field("qa_pair", pair, name, value, f"Q&A {pair.id} {name}")
        for name, value in (("question", args.question), ("answer", args.answer))
        if value is not None and value != getattr(pair, name)
    ]
    if not changes:
        return [Deliverable(text=f"Q&A {pair.id} already says that.")]
    what = " and ".join(c.field for c in changes)
    return Draft(
        tool="edit_qa_pair", summary=f"edit the {what} of Q&A {pair.id}", changes=tuple(changes)
    )


async def remove_qa_pair(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.RemoveQaPairArgs)
    pair = await _qa_pair(ctx, args.qa_id)
    if pair is None:
        return error_reply(f"There is no Q&A {args.qa_id}.")
    if not pair.active:
        return [Deliverable(text=f"Q&A {pair.id} is already removed.")]
    # Soft removal: the row stays, so undo and restore bring back exactly what was there.
    return Draft(
        tool="remove_qa_pair",
        summary=f'remove Q&A {pair.id} ("{short(pair.question, 60)}")',
        changes=(
            set_field("qa_pair", pair, "active", False, f"Q&A {pair.id}", ("active", "removed")),
        ),
    )


async def promote_assist_to_training(
    ctx: ToolContext, args: BaseModel
) -> list[Deliverable] | Draft:
    assert isinstance(args, a.PromoteAssistToTrainingArgs)
    assist = await load_assist(ctx, args.assist)
    if assist is None:
        return error_reply(f"There is no assist {args.assist}.")
    events = list(
        await ctx.session.scalars(
            select(AssistEvent)
            .where(AssistEvent.assist_id == assist.id)
            .order_by(AssistEvent.created_at, AssistEvent.id)
        )
    )
    if not any(e.kind == "reply" for e in events):
        return error_reply(
            f"{assist.ref} has no reply from the team yet, so there is no answer to learn from."
        )
    names = [str(assist.customer_details.get("name") or "")]
    if assist.customer_id:
        customer = await ctx.session.get(Customer, assist.customer_id)
        names.append((customer.name if customer else None) or "")
    # Each customer question with the team's reply to it, personal data stripped.
    pairs = [
        (strip_personal_data(q, names).strip(), strip_personal_data(a_, names).strip())
        for q, a_ in training_pairs(assist, events)
    ]
    if not pairs and assist.subject:
        last = next(e for e in reversed(events) if e.kind == "reply")
        pairs = [
            (
                strip_personal_data(assist.subject, names).strip(),
                strip_personal_data(last.body, names).strip(),
            )
        ]
    pairs = [(q, a_) for q, a_ in pairs if q and a_]
    if not pairs:
        return error_reply(f"{assist.ref} has no customer question to learn from.")
    existing = set(
        await ctx.session.scalars(
            select(func.lower(QaPair.question)).where(
                QaPair.workspace_id == ctx.principal.workspace_id, QaPair.active.is_(True)
            )
        )
    )
    fresh = [(q, a_) for q, a_ in dict(pairs).items() if q.lower() not in existing]
    if not fresh:
        duplicate = await ctx.session.scalar(
            select(QaPair.id).where(
                QaPair.workspace_id == ctx.principal.workspace_id,
                QaPair.active.is_(True),
                func.lower(QaPair.question) == pairs[0][0].lower(),
            )
        )
        return error_reply(
            f"Q&A {duplicate} already has that question; edit its answer instead (edit Q&A "
            f"{duplicate})."
        )
    rows = [await _new_qa(ctx, q, a_, f"assist:{assist.ref}") for q, a_ in fresh]
    shown = " ".join(
        f'Question: "{short(row["question"], 200)}" Answer: "{short(row["answer"], 300)}"'
        for row in rows
    )
    return Draft(
        tool="promote_assist_to_training",
        summary=f"turn {assist.ref} into Q&A {', '.join(str(row['id']) for row in rows)}",
        changes=tuple(
            create_row(
                "qa_pair",
                row,
                f"new Q&A {row['id']} from {assist.ref}",
                f"{short(row['question'], 60)} → {short(row['answer'], 60)}",
            )
            for row in rows
        ),
        notice=(
            f"{shown} (names, emails, phone numbers, order and card numbers and addresses were "
            "removed)."
        ),
    )


HANDLERS = {
    "approve_training_suggestion": approve_training_suggestion,
    "add_training_source": add_training_source,
    "edit_qa_pair": edit_qa_pair,
    "remove_qa_pair": remove_qa_pair,
    "promote_assist_to_training": promote_assist_to_training,
}
