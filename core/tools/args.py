"""Argument models of every catalogue tool, shaped to serve as strict function-calling schemas."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from core.routing.schedule import ScheduleError
from core.routing.schedule import validate as validate_schedule

# --- vocabularies (spelled exactly as in DESIGN.md) -----------------------------------------------

Metric = Literal["resolution_rate", "csat", "volume", "first_response_time", "escalation_rate"]
Period = Literal[
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "last_7_days",
    "last_30_days",
]
Priority = Literal["low", "normal", "high", "urgent"]
AssistStatus = Literal["open", "pending", "snoozed", "closed"]
SettableStatus = Literal["open", "pending", "closed"]  # snoozing needs a time: snooze_assist
ChannelName = Literal["slack", "telegram", "sms", "whatsapp", "email", "voice"]
BriefingType = Literal[
    "daily_inbox_summary", "weekly_performance_digest", "weekly_knowledge_gaps", "monthly_roi"
]
ReportFormat = Literal["pdf", "xlsx", "csv"]
ReportType = Literal[
    "performance", "inbox", "assists", "topics", "knowledge_gaps", "workload", "roi", "csat"
]
Role = Literal["owner", "admin", "manager", "support"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Frequency = Literal["daily", "weekdays", "weekly", "monthly"]
BulkAction = Literal["close", "reopen", "assign", "set_priority", "set_status", "label"]
AgentConfigField = Literal[
    "name",
    "welcome_message",
    "away_message",
    "handoff_message",
    "fallback_message",
    "tone",
    "language",
    "business_hours",
    "instructions",
    "signature",
]
PatternFocus = Literal["escalations", "conversations", "assists", "feedback"]
SuggestionStatus = Literal["pending", "approved", "rejected"]
BroadcastAudience = Literal["website_visitors", "all_customers", "active_conversations"]
ImportRecords = Literal["tickets", "conversations", "contacts", "articles", "macros"]

# --- validated scalars ----------------------------------------------------------------------------

_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_URL_RE = re.compile(r"^https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?(?:[/?#]\S*)?$")


def _lower_email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError(f"not an email address: {value!r}")
    return value.lower()


def _check_url(value: str) -> str:
    if not _URL_RE.match(value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


AssistRef = Annotated[
    str,
    StringConstraints(pattern=r"^A-\d{1,9}$"),
    Field(description="Assist reference such as A-1042."),
]
ClockTime = Annotated[
    str,
    StringConstraints(pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d$"),
    Field(description="Time of day, 24-hour HH:MM, e.g. 08:00 or 16:30."),
]
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=_EMAIL_RE.pattern),
    AfterValidator(_lower_email),
    Field(description="An email address."),
]
Url = Annotated[
    str,
    StringConstraints(max_length=2048, pattern=r"^https?://\S+$"),
    AfterValidator(_check_url),
    Field(description="An http(s) URL."),
]
MemberName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
    Field(description="A team member as the user named them (name, email, or 'me')."),
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
PositiveId = Annotated[int, Field(ge=1, le=10**9)]


class _Args(BaseModel):
    """Common base: unknown keys are errors, so the schema is strict-mode compatible."""

    model_config = ConfigDict(extra="forbid")


# --- read tools -----------------------------------------------------------------------------------


class GetMetricsArgs(_Args):
    metric: Metric
    period: Period | None = None
    channel: ChannelName | None = None


class GetTopicBreakdownArgs(_Args):
    period: Period | None = None
    limit: Annotated[int, Field(ge=1, le=50)] | None = None


class GetKnowledgeGapsArgs(_Args):
    period: Period | None = None
    limit: Annotated[int, Field(ge=1, le=50)] | None = None


class GetInboxPerformanceArgs(_Args):
    period: Period | None = None
    member: MemberName | None = None


class GetAgentWorkloadArgs(_Args):
    member: MemberName | None = None


class GetQueueHealthArgs(_Args):
    pass


class ListAssistsArgs(_Args):
    status: AssistStatus | None = None
    priority: Priority | None = None
    assignee: MemberName | None = None
    unassigned: bool | None = None
    label: Label | None = None
    category: Label | None = None
    older_than_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] | None = None


class ShowAssistArgs(_Args):
    assist: AssistRef


class AnalyzePatternsArgs(_Args):
    focus: PatternFocus | None = None
    period: Period | None = None


class ListTrainingSuggestionsArgs(_Args):
    status: SuggestionStatus | None = None


class GetAgentConfigArgs(_Args):
    field: AgentConfigField | None = None


class ListTeamArgs(_Args):
    role: Role | None = None


class ListSchedulesArgs(_Args):
    briefing_type: BriefingType | None = None


class RunReportArgs(_Args):
    report: ReportType
    period: Period | None = None
    format: ReportFormat | None = None


class ShowHistoryArgs(_Args):
    period: Period | None = None
    limit: Annotated[int, Field(ge=1, le=200)] | None = None


class ListIntegrationsArgs(_Args):
    integration: Label | None = None


class ConnectIntegrationArgs(_Args):
    provider: (
        Annotated[str, StringConstraints(to_lower=True, min_length=1, max_length=60)] | None
    ) = None


class HelpArgs(_Args):
    topic: Label | None = None


# --- write tools ----------------------------------------------------------------------------------


class AssignAssistArgs(_Args):
    assist: AssistRef
    member: MemberName


class CloseAssistArgs(_Args):
    assist: AssistRef
    reason: Text | None = None


class SetAssistPriorityArgs(_Args):
    assist: AssistRef
    priority: Priority


class SnoozeAssistArgs(_Args):
    assist: AssistRef
    until: str = Field(
        min_length=1,
        max_length=60,
        description="when it reopens, in the requester's time zone: 'in 2 hours', 'tomorrow', "
        "'tomorrow 09:00', 'monday 09:00', or an ISO 8601 time",
    )


ReplyRefinement = Literal["regenerate", "shorter", "formal", "casual"]


class ReplyToAssistArgs(_Args):
    assist: AssistRef
    message: Text | None = None
    refine: ReplyRefinement | None = None


class AddInternalNoteArgs(_Args):
    assist: AssistRef
    note: Text


class AssistFilter(_Args):
    """Which assists a bulk update touches; every given condition must hold."""

    assists: list[AssistRef] | None = None
    status: AssistStatus | None = None
    priority: Priority | None = None
    older_than_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    label: Label | None = None
    assignee: MemberName | None = None
    unassigned: bool | None = None
    category: Label | None = None


class AssistChanges(_Args):
    """What a bulk update sets on every matching assist."""

    status: SettableStatus | None = None
    priority: Priority | None = None
    assignee: MemberName | None = None
    add_label: Label | None = None


class BulkUpdateAssistsArgs(_Args):
    action: BulkAction
    filter: AssistFilter
    set: AssistChanges


class ApproveTrainingSuggestionArgs(_Args):
    suggestion_id: PositiveId


class AddTrainingSourceArgs(_Args):
    url: Url
    title: Label | None = None


class EditQaPairArgs(_Args):
    qa_id: PositiveId
    question: Text | None = None
    answer: Text | None = None

    @model_validator(mode="after")
    def _something_changes(self) -> EditQaPairArgs:
        if self.question is None and self.answer is None:
            raise ValueError("give a new question or a new answer")
        return self


class RemoveQaPairArgs(_Args):
    qa_id: PositiveId


class PromoteAssistToTrainingArgs(_Args):
    assist: AssistRef


class UpdateAgentConfigArgs(_Args):
    field: AgentConfigField
    value: Text


class InviteMemberArgs(_Args):
    email: Email
    role: Role | None = None
    name: MemberName | None = None


class UpdateMemberArgs(_Args):
    member: MemberName
    role: Role | None = None
    active: bool | None = None
    # Set by hand until the work schedule's next start or end (for good without a schedule).
    availability: Literal["available", "offline"] | None = None
    # Weekly hours: {"tz": null, "days": {"mon": [["09:00", "17:00"]], ...}} (tz null: the
    # member's time zone, else the workspace's).
    work_schedule: dict[str, Any] | None = None

    @field_validator("work_schedule")
    @classmethod
    def _valid_schedule(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        try:
            return validate_schedule(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _something_changes(self) -> UpdateMemberArgs:
        if (self.role, self.active, self.availability, self.work_schedule) == (None,) * 4:
            raise ValueError("give a new role, an active flag, an availability or a schedule")
        return self


class CancelInvitationArgs(_Args):
    email: Email


class CreateApiKeyArgs(_Args):
    name: Label | None = None


class RevokeApiKeyArgs(_Args):
    name: Label


DayOfMonth = Annotated[
    int,
    Field(
        ge=1,
        le=31,
        description="Monthly briefings: the day of the month (31: the last day of every month).",
    ),
]


class ScheduleBriefingArgs(_Args):
    briefing_type: BriefingType
    channel: ChannelName | None = None
    time: ClockTime | None = None
    frequency: Frequency | None = None
    days: list[Weekday] | None = None
    day_of_month: DayOfMonth | None = None
    address: Label | None = None
    agent: (
        Annotated[
            Label, Field(description="The AI agent the briefing is for, when the team has several.")
        ]
        | None
    ) = None


class UpdateScheduleArgs(_Args):
    briefing_type: BriefingType | None = None
    schedule_id: PositiveId | None = None
    channel: ChannelName | None = None
    time: ClockTime | None = None
    frequency: Frequency | None = None
    days: list[Weekday] | None = None
    day_of_month: DayOfMonth | None = None


class CancelScheduleArgs(_Args):
    briefing_type: BriefingType | None = None
    schedule_id: PositiveId | None = None


class ToggleIntegrationArgs(_Args):
    integration: Annotated[str, StringConstraints(to_lower=True, min_length=1, max_length=60)]
    enabled: bool


class RunImportArgs(_Args):
    source: Annotated[str, StringConstraints(to_lower=True, min_length=1, max_length=60)]
    records: ImportRecords | None = None
    status: SettableStatus | None = None


class SendBroadcastArgs(_Args):
    message: Text
    audience: BroadcastAudience | None = None
    channel: ChannelName | None = None


class RestoreSnapshotArgs(_Args):
    snapshot_id: PositiveId


# --- control tools --------------------------------------------------------------------------------

ProposalCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,16}$")]
Address = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=254),
    Field(description="Email address, E.164 phone number, Slack channel or member name."),
]


class ListLiveOperatorsArgs(_Args):
    pass


WorkflowName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    Field(description="An AI agent (workflow) or operator group by name, as the user said it."),
]


class SetLiveArgs(_Args):
    live: bool
    workflows: (
        Annotated[
            list[WorkflowName],
            Field(
                max_length=20,
                description="What to go live on; omitted: every workflow of the member's groups.",
            ),
        ]
        | None
    ) = None


class ApproveProposalArgs(_Args):
    code: ProposalCode | None = None


class RejectProposalArgs(_Args):
    code: ProposalCode | None = None
    reason: Text | None = None


class UndoLastArgs(_Args):
    pass


class SendToArgs(_Args):
    channel: ChannelName | None = None
    address: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
        | None
    ) = None

    @model_validator(mode="after")
    def _has_destination(self) -> SendToArgs:
        if self.channel is None and self.address is None:
            raise ValueError("give a channel or an address")
        return self


# --- registries -----------------------------------------------------------------------------------

READ_TOOLS: frozenset[str] = frozenset(
    {
        "get_metrics",
        "get_topic_breakdown",
        "get_knowledge_gaps",
        "get_inbox_performance",
        "get_agent_workload",
        "get_queue_health",
        "list_assists",
        "show_assist",
        "analyze_patterns",
        "list_training_suggestions",
        "get_agent_config",
        "list_team",
        "list_schedules",
        "run_report",
        "show_history",
        "list_integrations",
        "connect_integration",
        "list_live_operators",
        "help",
    }
)
WRITE_TOOLS: frozenset[str] = frozenset(
    {
        "assign_assist",
        "close_assist",
        "set_assist_priority",
        "snooze_assist",
        "reply_to_assist",
        "add_internal_note",
        "bulk_update_assists",
        "approve_training_suggestion",
        "add_training_source",
        "edit_qa_pair",
        "remove_qa_pair",
        "promote_assist_to_training",
        "update_agent_config",
        "invite_member",
        "update_member",
        "cancel_invitation",
        "create_api_key",
        "revoke_api_key",
        "schedule_briefing",
        "update_schedule",
        "cancel_schedule",
        "toggle_integration",
        "run_import",
        "send_broadcast",
        "restore_snapshot",
    }
)
CONTROL_TOOLS: frozenset[str] = frozenset(
    {"approve_proposal", "reject_proposal", "undo_last", "send_to", "set_live"}
)

TOOL_ARGS: dict[str, type[BaseModel]] = {
    "get_metrics": GetMetricsArgs,
    "get_topic_breakdown": GetTopicBreakdownArgs,
    "get_knowledge_gaps": GetKnowledgeGapsArgs,
    "get_inbox_performance": GetInboxPerformanceArgs,
    "get_agent_workload": GetAgentWorkloadArgs,
    "get_queue_health": GetQueueHealthArgs,
    "list_assists": ListAssistsArgs,
    "show_assist": ShowAssistArgs,
    "analyze_patterns": AnalyzePatternsArgs,
    "list_training_suggestions": ListTrainingSuggestionsArgs,
    "get_agent_config": GetAgentConfigArgs,
    "list_team": ListTeamArgs,
    "list_schedules": ListSchedulesArgs,
    "run_report": RunReportArgs,
    "show_history": ShowHistoryArgs,
    "list_integrations": ListIntegrationsArgs,
    "connect_integration": ConnectIntegrationArgs,
    "list_live_operators": ListLiveOperatorsArgs,
    "help": HelpArgs,
    "assign_assist": AssignAssistArgs,
    "close_assist": CloseAssistArgs,
    "set_assist_priority": SetAssistPriorityArgs,
    "snooze_assist": SnoozeAssistArgs,
    "reply_to_assist": ReplyToAssistArgs,
    "add_internal_note": AddInternalNoteArgs,
    "bulk_update_assists": BulkUpdateAssistsArgs,
    "approve_training_suggestion": ApproveTrainingSuggestionArgs,
    "add_training_source": AddTrainingSourceArgs,
    "edit_qa_pair": EditQaPairArgs,
    "remove_qa_pair": RemoveQaPairArgs,
    "promote_assist_to_training": PromoteAssistToTrainingArgs,
    "update_agent_config": UpdateAgentConfigArgs,
    "invite_member": InviteMemberArgs,
    "update_member": UpdateMemberArgs,
    "cancel_invitation": CancelInvitationArgs,
    "create_api_key": CreateApiKeyArgs,
    "revoke_api_key": RevokeApiKeyArgs,
    "schedule_briefing": ScheduleBriefingArgs,
    "update_schedule": UpdateScheduleArgs,
    "cancel_schedule": CancelScheduleArgs,
    "toggle_integration": ToggleIntegrationArgs,
    "run_import": RunImportArgs,
    "send_broadcast": SendBroadcastArgs,
    "restore_snapshot": RestoreSnapshotArgs,
    "approve_proposal": ApproveProposalArgs,
    "reject_proposal": RejectProposalArgs,
    "undo_last": UndoLastArgs,
    "send_to": SendToArgs,
    "set_live": SetLiveArgs,
}

TOOL_DESCRIPTIONS: dict[str, str] = {
    "get_metrics": "One headline metric (resolution_rate, csat, volume, first_response_time, "
    "escalation_rate) over a period. Use for 'how is our CSAT', 'how many conversations came "
    "in'. Call once per metric asked for.",
    "get_topic_breakdown": "What customers are contacting us about: top topics and their share "
    "over a period.",
    "get_knowledge_gaps": "Questions the AI agent could not answer well: missing knowledge to "
    "add. Use for 'knowledge gaps', 'what couldn't the bot answer'.",
    "get_inbox_performance": "How the AI Inbox (human-handled assists) is doing: open, closed, "
    "response and resolution times over a period, optionally for one member.",
    "get_agent_workload": "Open assists per team member; who is busiest. Give member to ask "
    "about one person: their open assists, average resolution time, CSAT and availability.",
    "get_queue_health": "The AI Inbox queue: unassigned open assists, how long the oldest has "
    "waited, and the backlog over the last 7 days. Use for 'how is the queue', 'anything "
    "waiting unassigned?'.",
    "list_assists": "List assists in the AI Inbox filtered by status, priority, assignee, "
    "label, category or age. Use for 'show open urgent assists'.",
    "show_assist": "Details of one assist (A-1234): summary, messages, assignee, status.",
    "analyze_patterns": "Find recurring issues, trends and root causes across recent "
    "escalations or conversations.",
    "list_training_suggestions": "Training suggestions (proposed Q&A from conversations) "
    "waiting for review.",
    "get_agent_config": "Show the AI agent's settings (name, welcome message, tone, hours...); "
    "field narrows it to one setting.",
    "list_team": "Team members and their roles; role filters to one role.",
    "list_schedules": "Scheduled briefings of the asking member: type, channel, time, days.",
    "run_report": "Build a downloadable report (performance, inbox, assists, topics, "
    "knowledge_gaps, workload, roi, csat) for a period as pdf, xlsx or csv.",
    "show_history": "What the operator changed recently (audit trail of executed proposals).",
    "list_integrations": "Connected integrations (help-desk accounts, phone lines) and "
    "channels and whether each is on.",
    "connect_integration": "Where to connect a help desk or phone line (zendesk, freshdesk, "
    "intercom, helpscout, happyfox, twilio, dialpad, ringcentral, aircall, quo, vonage): the "
    "console form's link. Credentials are entered only there: never pass them here, never "
    "repeat them. Use for 'connect Zendesk', 'set up the Dialpad line'.",
    "list_live_operators": "Who is live now as a live operator: on which workflows, and how "
    "many customer conversations each holds. Use for 'who is live', 'is anyone live?'.",
    "help": "Explain what the operator can do. Use for questions about capabilities.",
    "assign_assist": "Assign one assist to a team member ('me' for the requester).",
    "close_assist": "Close one assist, with an optional reason.",
    "set_assist_priority": "Set one assist's priority: low, normal, high or urgent.",
    "snooze_assist": "Snooze one assist until a time: it leaves the open list and reopens by "
    "itself then (or when the customer replies). until: 'in 2 hours', 'tomorrow 09:00', "
    "'monday 09:00' or ISO 8601, in the requester's time zone.",
    "reply_to_assist": "Email a reply to the customer of an assist; message is the text sent. "
    "Without a message the assist's suggested reply is sent; refine (regenerate, shorter, formal, "
    "casual) rewrites the text first.",
    "add_internal_note": "Add an internal note (never shown to the customer) to an assist.",
    "bulk_update_assists": "Change many assists at once: filter says which (status, priority, "
    "age in days, label, assignee, category or explicit refs), action and set say what changes. "
    "Use for 'close all low-priority assists older than a week'.",
    "approve_training_suggestion": "Approve a training suggestion by its number, adding it to "
    "the agent's knowledge.",
    "add_training_source": "Add a web page or document URL the agent learns from.",
    "edit_qa_pair": "Change the question or answer of a Q&A pair by its number.",
    "remove_qa_pair": "Delete a Q&A pair by its number.",
    "promote_assist_to_training": "Turn a resolved assist into training data for the agent.",
    "update_agent_config": "Change one AI agent setting (field) to a new value.",
    "invite_member": "Invite a new team member by email with a role.",
    "update_member": "Change an existing member's role, or deactivate them (active=false).",
    "cancel_invitation": "Withdraw a pending invitation, by the invited email.",
    "create_api_key": "Create an API key with a name (label) for an integration.",
    "revoke_api_key": "Revoke an API key by its name.",
    "schedule_briefing": "Schedule a recurring briefing (daily_inbox_summary, "
    "weekly_performance_digest, weekly_knowledge_gaps, monthly_roi) to a channel at a time "
    "(HH:MM, 24-hour): daily, on weekdays, weekly on given days or monthly on a day of the "
    "month. Without a channel it goes to the member's default channel (or the agent's, when the "
    "team has several AI agents).",
    "update_schedule": "Change an existing briefing's time, channel, days, day of the month or "
    "frequency.",
    "cancel_schedule": "Stop a scheduled briefing.",
    "toggle_integration": "Turn a connected account or line (by provider or label, e.g. "
    "'dialpad', 'Support line') or a channel on (enabled=true) or off.",
    "run_import": "Import the open and pending tickets of a connected help desk (zendesk, "
    "freshdesk, intercom, helpscout, happyfox) into the AI Inbox, with their history.",
    "send_broadcast": "Send one message to many customers at once, e.g. all website visitors.",
    "restore_snapshot": "Restore workspace data to a numbered snapshot taken before a change.",
    "approve_proposal": "Approve a pending proposal, by its code when given ('yes 4821').",
    "reject_proposal": "Reject a pending proposal, by its code when given ('no 4821').",
    "undo_last": "Undo the last executed change (within 30 seconds).",
    "set_live": "The asking member's own live operator presence: live=true goes live (taking "
    "customer conversations routed to them) on workflows (AI agents or operator groups by "
    "name; all of theirs when omitted), live=false takes them offline. Use for 'go live on "
    "billing', 'take me offline'. Not for availability ('set Maria offline': update_member).",
    "send_to": "Send the previous result to another channel and/or address ('send that to "
    "my email').",
}
