"""The role and plan matrix: every tool is offered and executed only where DESIGN.md allows."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from core.processing.pipeline import TaskProcessor
from core.team.identity import Principal
from core.tools.args import CONTROL_TOOLS, READ_TOOLS, TOOL_ARGS, WRITE_TOOLS
from core.tools.catalogue import build_registry
from core.tools.registry import ToolContext
from models.classification import Classification, ToolCall
from models.deliverable import Deliverable
from models.task import Route, Sender, Task
from storage.types import new_id, utcnow

# Written out from DESIGN.md ("Who uses it") rather than derived from the code under test.
INBOX = {
    "list_assists",
    "show_assist",
    "assign_assist",
    "close_assist",
    "set_assist_priority",
    "snooze_assist",
    "reply_to_assist",
    "add_internal_note",
    "bulk_update_assists",
    "get_agent_workload",
    "get_queue_health",
    "get_inbox_performance",
}
CONTROL = {"approve_proposal", "reject_proposal", "undo_last", "send_to", "set_live"}
# Live operators are any role on any plan: the operator scopes and feature flags decide.
LIVE = {"list_live_operators", "set_live"}
ROLES = ("owner", "admin", "manager", "support")
PLANS = ("plus", "pro", "enterprise")

# Minimal valid arguments per tool, so execution is attempted with arguments that validate.
SAMPLE_ARGS: dict[str, dict[str, Any]] = {
    "get_metrics": {"metric": "csat"},
    "show_assist": {"assist": "A-1"},
    "promote_assist_to_training": {"assist": "A-1"},
    "run_report": {"report": "performance"},
    "assign_assist": {"assist": "A-1", "member": "maria"},
    "close_assist": {"assist": "A-1"},
    "set_assist_priority": {"assist": "A-1", "priority": "high"},
    "snooze_assist": {"assist": "A-1", "until": "tomorrow 09:00"},
    "reply_to_assist": {"assist": "A-1", "message": "hello"},
    "add_internal_note": {"assist": "A-1", "note": "called them"},
    "bulk_update_assists": {"action": "close", "filter": {"status": "open"}, "set": {}},
    "approve_training_suggestion": {"suggestion_id": 1},
    "add_training_source": {"url": "https://example.com/faq"},
    "edit_qa_pair": {"qa_id": 1, "answer": "yes"},
    "remove_qa_pair": {"qa_id": 1},
    "update_agent_config": {"field": "tone", "value": "friendly"},
    "invite_member": {"email": "new@example.com"},
    "update_member": {"member": "maria", "role": "admin"},
    "cancel_invitation": {"email": "new@example.com"},
    "revoke_api_key": {"name": "ci"},
    "schedule_briefing": {"briefing_type": "daily_inbox_summary"},
    "toggle_integration": {"integration": "slack", "enabled": True},
    "run_import": {"source": "zendesk"},
    "send_broadcast": {"message": "We are back"},
    "restore_snapshot": {"snapshot_id": 1},
    "send_to": {"channel": "email"},
    "set_live": {"live": True},
}


def expected(tool: str, role: str, plan: str) -> bool:
    if tool == "help" or tool in LIVE:
        return True
    if plan == "plus" or role == "support":
        return False
    if role in ("owner", "admin"):
        return True
    return role == "manager" and plan == "enterprise" and (tool in INBOX or tool in CONTROL)


def principal(role: str, plan: str) -> Principal:
    return Principal("ws", "Acme", plan, "UTC", member_id="m1", name="Pat", role=role)


def test_catalogue_is_complete_and_classified() -> None:
    design = """get_metrics get_topic_breakdown get_knowledge_gaps get_inbox_performance
    get_agent_workload get_queue_health list_assists show_assist analyze_patterns
    list_training_suggestions
    get_agent_config list_team list_schedules run_report show_history list_integrations help
    assign_assist close_assist set_assist_priority reply_to_assist add_internal_note
    bulk_update_assists approve_training_suggestion add_training_source edit_qa_pair
    remove_qa_pair promote_assist_to_training update_agent_config invite_member update_member
    cancel_invitation create_api_key revoke_api_key schedule_briefing update_schedule
    cancel_schedule toggle_integration run_import send_broadcast restore_snapshot
    approve_proposal reject_proposal undo_last send_to snooze_assist list_live_operators
    set_live connect_integration""".split()
    registry = build_registry()
    assert sorted(registry.names()) == sorted(design)
    assert READ_TOOLS | WRITE_TOOLS | CONTROL_TOOLS == set(design)
    assert CONTROL_TOOLS == CONTROL
    for name in design:
        spec = registry.get(name)
        assert spec is not None
        assert spec.kind == (
            "control" if name in CONTROL else "write" if name in WRITE_TOOLS else "read"
        )


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("role", ROLES)
def test_offered_tools_follow_role_and_plan(role: str, plan: str) -> None:
    registry = build_registry()
    offered = {d["function"]["name"] for d in registry.openai_tools(principal(role, plan))}
    assert offered == {t for t in TOOL_ARGS if expected(t, role, plan)}
    for definition in registry.openai_tools(principal(role, plan)):
        fn = definition["function"]
        assert fn["strict"] is True
        assert fn["parameters"]["additionalProperties"] is False
        assert set(fn["parameters"]["required"]) == set(fn["parameters"]["properties"])


class FixedClassifier:
    def __init__(self, tool: str) -> None:
        self.tool = tool

    async def classify(self, text: str, p: Principal, now: Any) -> Classification:
        return Classification(
            calls=(ToolCall(tool=self.tool, args=SAMPLE_ARGS.get(self.tool, {})),)
        )


class FakeSession:
    """Stands in for the session: these handlers and this principal never touch the database."""

    async def scalar(self, _query: Any) -> Any:
        # Learning mode asks whether a report was offered as a schedule before: it was.
        return "offered before"


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("tool", sorted(TOOL_ARGS))
async def test_tools_execute_only_where_allowed(
    tool: str, role: str, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    async def record(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
        ran.append(ctx.principal.role or "")
        return [Deliverable(text=f"ran {tool}")]

    registry = build_registry({name: record for name in TOOL_ARGS})
    processor = TaskProcessor(FixedClassifier(tool), registry)
    task = Task(
        id=new_id(),
        workspace_id="ws",
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address="m1"),
        conversation="web:m1",
        text="do it",
        received_at=utcnow(),
        reply_route=Route(channel="web", address="m1"),
    )
    who = principal(role, plan)

    async def resolve(_session: Any, _task: Task) -> Principal:
        return who

    monkeypatch.setattr("core.processing.pipeline.resolve", resolve)
    outcome = await processor.process(FakeSession(), task, utcnow())  # type: ignore[arg-type]
    allowed = expected(tool, role, plan)
    assert ran == ([role] if allowed else [])
    text = outcome.deliverables[0].text
    if allowed:
        assert text == f"ran {tool}"
    else:
        assert text.startswith("I can't do that for you.")
        assert ("Pro and Enterprise" in text) if plan == "plus" else True
