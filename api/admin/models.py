"""The admin API's request and response bodies (pydantic; they make the OpenAPI schemas)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.http import Input

Channel = Literal["slack", "telegram", "sms", "whatsapp", "email", "voice"]
EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
Role = Literal["owner", "admin", "manager", "support"]
LiveScope = Literal["operator:read", "operator:write"]
LIVE_ROUTING = (
    "new conversations on this agent are offered to live operators of the groups handling it "
    "(with the operator feature on); the AI answers when none takes them"
)


class WorkspaceOut(BaseModel):
    id: str
    name: str
    plan: str
    timezone: str
    country: str | None = None
    created_at: datetime


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    address: str = Field(min_length=1, max_length=320)


class IdentityOut(BaseModel):
    id: str
    channel: str
    address: str


class MemberIn(Input):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    email: str | None = Field(None, max_length=320)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)


class MemberPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    default_channel: Channel | None = Field(None, description="null clears it")
    availability: Literal["available", "offline"] | None = Field(
        None,
        description="set by hand: holds until the work schedule's next start or end (for good "
        "without a schedule); becoming available on Enterprise hands out waiting assists",
    )
    work_schedule: dict[str, Any] | None = Field(
        None,
        description='weekly hours, e.g. {"tz": null, "days": {"mon": [["09:00", "17:00"]]}} '
        "(tz null: the member's time zone, else the workspace's); null clears it",
    )
    scopes: list[LiveScope] | None = Field(
        None,
        max_length=2,
        description="live operator scopes granted to the member beyond their role's "
        "(replaces the grant; [] removes it)",
    )

    @field_validator("name", "role", "availability", "scopes")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # Omit a field to keep it; only default_channel can be cleared with null.
        if value is None:
            raise ValueError("must not be null")
        return value


class MemberOut(BaseModel):
    id: str
    workspace_id: str
    name: str
    email: str | None
    role: str
    status: str
    default_channel: str | None
    identities: list[IdentityOut]
    availability: str = "available"  # now, as routing reads it (schedule and manual change)
    work_schedule: dict[str, Any] | None = None
    scopes: list[str] = Field(
        default_factory=list,
        description="live operator scopes the member holds: their role's and their own grant",
    )


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(BaseModel):
    id: str
    prefix: str
    key: str = Field(description="shown once; store it now")


class TaskSummary(BaseModel):
    id: str
    channel: str
    kind: str
    status: str
    sender: str
    text: str
    received_at: datetime
    attempts: int


class OutboxOut(BaseModel):
    id: str
    task_id: str | None
    channel: str
    address: str
    thread: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    provider_message_id: str | None
    created_at: datetime
    sent_at: datetime | None


class ReplayOut(BaseModel):
    replayed: int


class AuditOut(BaseModel):
    id: str
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
    created_at: datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, in the list's stable order."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class AssistOut(BaseModel):
    ref: str
    status: str
    priority: str
    category: str | None
    subject: str | None
    summary: str
    assignee_id: str | None
    labels: list[Any]
    tags: list[Any]
    unread: bool
    created_at: datetime
    closed_at: datetime | None
    snoozed_until: datetime | None = Field(
        None, description="status `snoozed`: when it reopens by itself (or at the customer's reply)"
    )


class AssistEventOut(BaseModel):
    id: str
    kind: str = Field(description="note|reply|customer_reply|csat")
    author: str | None
    body: str
    flagged: bool
    created_at: datetime


class PreviousAssistOut(BaseModel):
    ref: str
    status: str
    subject: str | None
    created_at: datetime
    resolution: str | None


class AssistDetail(AssistOut):
    customer_details: dict[str, Any]
    suggested_reply: str | None
    escalation_reason: str | None
    resolution: str | None
    csat: int | None = Field(description="the customer's rating, 1-5")
    events: list[AssistEventOut] = Field(description="notes, replies, customer replies, ratings")
    previous: list[PreviousAssistOut] = Field(description="the customer's other assists")
    training_offer: str | None = Field(
        None, description="closed with a reply: how to add the resolution to training"
    )
    survey_sent_to: str | None = Field(None, description="where the CSAT survey went on closing")


class AssistPatch(Input):
    status: Literal["open", "pending", "snoozed", "closed"] | None = None
    snoozed_until: datetime | None = Field(
        None,
        description="with status `snoozed` (and only then): ISO 8601 with a time zone, in the "
        "future, at most 90 days ahead; the assist reopens then, or when the customer replies",
    )
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    assignee_id: str | None = Field(None, description="a member id; null unassigns")
    resolution: str | None = Field(None, max_length=4000)
    csat_survey: bool = Field(True, description="on closing, email the customer a CSAT survey")


class ReplyIn(Input):
    text: str | None = Field(
        None, min_length=1, max_length=20000, description="omitted: the suggested reply"
    )
    to: str | None = Field(
        None, max_length=320, description="omitted: the customer's email address"
    )
    author: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_ADDRESS.fullmatch(value):
            raise ValueError("must be an email address")
        return value.lower() if value else value


class ReplyOut(BaseModel):
    assist: str
    event_id: str
    to: str
    subject: str
    text: str
    message_id: str | None = Field(description="null when email threading is off")


class NoteIn(Input):
    text: str = Field(min_length=1, max_length=20000)
    author: str | None = Field(None, min_length=1, max_length=200)


class RefineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["regenerate", "shorter", "formal", "casual"]


class SuggestedReplyOut(BaseModel):
    assist: str
    mode: str
    text: str
    backend: str = Field(description="llm or offline")


class CsatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)


class CsatOut(BaseModel):
    assist: str
    rating: int
    negative: bool = Field(description="2 or less: flagged on the assist")


class ProposalOut(BaseModel):
    id: str
    code: str
    status: str
    summary: str
    requester_id: str
    estimated_count: int | None
    changes: list[dict[str, Any]]
    created_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    outcome: str | None


class SnapshotOut(BaseModel):
    id: int
    proposal_id: str | None
    member_id: str | None
    summary: str
    reversible: bool = Field(description="false for writes that sent something out")
    created_at: datetime
    undone_at: datetime | None
    restored_at: datetime | None


class TrainingSourceOut(BaseModel):
    id: int
    kind: str
    title: str | None
    url: str | None
    active: bool
    content_chars: int
    fetch_status: str | None = Field(description="URL sources: pending|fetching|fetched|failed")
    fetch_error: str | None
    fetched_at: datetime | None
    created_at: datetime


class ScheduleOut(BaseModel):
    id: int
    member_id: str
    briefing_type: str
    frequency: str
    days: list[Any]
    time: str
    timezone: str
    channel: str | None
    active: bool
    next_run_at: datetime | None
    day_of_month: int | None = None
    one_off_at: datetime | None = None
    last_run_at: datetime | None = None


AgentChannel = Literal["sms", "whatsapp", "telegram", "email", "voice", "web", "all"]
CHANNELS_SERVED = (
    'the channels it serves; [] or ["all"]: every channel. A channel listed by one agent '
    "cannot be listed by another; an agent listing it wins over one serving every channel."
)
CONFIDENCE = (
    "0 to 1: when its best answer scores below this, it hands the customer to the team; "
    "null: SWITCHBOARD_ESCALATION_CONFIDENCE"
)
WELCOME = "what it says to a customer's hello; null: a greeting with its name"
PERSONALITY = "how it speaks (e.g. friendly and concise); the operator's chat calls it tone"
RULES = "what it must always or never do; the operator's chat calls them instructions"


class AgentIn(Input):
    model_config = ConfigDict(allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=120)
    channels: list[AgentChannel] = Field(
        default_factory=list, max_length=7, description=CHANNELS_SERVED
    )
    welcome_message: str | None = Field(None, max_length=1000, description=WELCOME)
    personality: str | None = Field(None, max_length=500, description=PERSONALITY)
    rules: str | None = Field(None, max_length=4000, description=RULES)
    escalation_confidence: float | None = Field(
        None, ge=0, le=1, strict=True, description=CONFIDENCE
    )
    live_routing: bool = Field(False, strict=True, description=LIVE_ROUTING)


class AgentPatch(Input):
    """Omit a field to keep it; null clears a text setting or the escalation confidence."""

    model_config = ConfigDict(allow_inf_nan=False)

    name: str | None = Field(None, min_length=1, max_length=120)
    channels: list[AgentChannel] | None = Field(None, max_length=7, description=CHANNELS_SERVED)
    welcome_message: str | None = Field(None, max_length=1000, description=WELCOME)
    personality: str | None = Field(None, max_length=500, description=PERSONALITY)
    rules: str | None = Field(None, max_length=4000, description=RULES)
    escalation_confidence: float | None = Field(
        None, ge=0, le=1, strict=True, description=CONFIDENCE
    )
    live_routing: bool | None = Field(None, strict=True, description=LIVE_ROUTING)

    @field_validator("name", "channels", "live_routing")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null")
        return value


class AgentOut(BaseModel):
    id: str
    workspace_id: str
    name: str
    channels: list[str] = Field(description='["all"]: every channel')
    welcome_message: str | None
    personality: str | None
    rules: str | None
    escalation_confidence: float | None = Field(description=CONFIDENCE)
    live_routing: bool = Field(False, description=LIVE_ROUTING)
    created_at: datetime


class MemberWorkloadOut(BaseModel):
    member_id: str
    name: str
    email: str | None
    availability: str = Field(description="available|offline")
    open_assists: int = Field(description="assists assigned to the member, status open or pending")
    avg_resolution_seconds: float | None = Field(
        description="mean closed_at - created_at of the member's assists closed in the last 30 "
        "days; null when none"
    )
    csat: float | None = Field(
        description="mean customer rating (1-5) of those assists; null when none rated"
    )
    high_load: bool = Field(
        description="open assists at least 1.5x the team average and at least 3 above it"
    )


class QueueOut(BaseModel):
    unassigned: int = Field(description="open or pending assists with no assignee")
    oldest_unassigned_age_seconds: float | None = Field(
        description="age of the oldest of them; null when none"
    )
    backlog_7d: list[int] = Field(
        description="assists created and not yet closed at now - 6 days, ..., now - 1 day, now "
        "(oldest first)"
    )


class ManagementOut(BaseModel):
    members: list[MemberWorkloadOut]
    queue: QueueOut


# --- live operators (core.live) -------------------------------------------------------------------


class CustomerRefOut(BaseModel):
    id: str | None
    name: str | None
    address: str | None = Field(description="the customer's address on the channel")


class ConversationOut(BaseModel):
    id: str
    channel: str
    status: Literal["open", "snoozed", "closed"]
    customer: CustomerRefOut
    agent_id: str | None
    assist: str | None = Field(description="the assist it opened (A-1042), if any")
    live_session_id: str | None
    resolved_by_ai: bool | None
    escalated: bool | None
    started_at: datetime
    updated_at: datetime = Field(description="its last message (the listing's order)")
    messages: int = Field(description="how many messages it holds")
    last_message: str | None


class ConversationMessageOut(BaseModel):
    id: str
    seq: int = Field(description="its position in the conversation, from 1")
    author: Literal["customer", "agent", "member", "system"]
    member_id: str | None = Field(description="the team member who wrote it (author member)")
    live_session_id: str | None
    text: str
    at: datetime


class ConversationDetail(ConversationOut):
    messages: list[ConversationMessageOut] = Field(  # type: ignore[assignment]
        description="every message in order: the customer's, the AI agent's, the team's and "
        "the gateway's notices"
    )
    message_count: int


class NamedRef(BaseModel):
    id: str
    name: str


class GroupMemberOut(BaseModel):
    id: str
    name: str
    email: str | None


class OperatorGroupIn(Input):
    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(None, max_length=1000)
    workflows: list[str] = Field(
        default_factory=list, max_length=100, description="ids of the AI agents it handles"
    )
    members: list[str] = Field(default_factory=list, max_length=500, description="member ids")


class OperatorGroupPatch(Input):
    """Omit a field to keep it; workflows and members, when given, replace the lists."""

    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=1000)
    workflows: list[str] | None = Field(None, max_length=100)
    members: list[str] | None = Field(None, max_length=500)

    @field_validator("name", "workflows", "members")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null")
        return value


class OperatorGroupOut(BaseModel):
    id: str
    name: str
    description: str
    workflows: list[NamedRef] = Field(description="the AI agents it handles")
    members: list[GroupMemberOut]
    created_at: datetime
    updated_at: datetime


class LiveOperatorOut(BaseModel):
    member_id: str
    name: str
    email: str | None
    workflows: list[NamedRef] = Field(description="the AI agents they are live on")
    via: Literal["console", "chat"]
    since: datetime
    active_sessions: int = Field(description="sessions they hold now, offers waiting included")


class LiveSessionOut(BaseModel):
    id: str
    conversation_id: str
    agent_id: str | None
    status: str = Field(description="offered, active, completed or ai (handed to the AI)")
    operator_id: str | None
    offered_to: str | None
    offer_expires_at: datetime | None
    outcome: str | None
    created_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None


class LiveSessionDetail(LiveSessionOut):
    messages: list[ConversationMessageOut] = Field(
        description="its conversation's messages in order"
    )


class LiveFeatures(BaseModel):
    operator: bool = Field(description="Live Operator Mode")
    presence: bool = Field(description="who is live is shown (needs operator)")


class LiveFeaturesPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: bool | None = Field(None, strict=True)
    presence: bool | None = Field(None, strict=True)


class LiveSettingsOut(BaseModel):
    features: LiveFeatures
    role_scopes: dict[str, list[str]] = Field(description="each role's live operator scopes")


class LiveSettingsPatch(Input):
    features: LiveFeaturesPatch | None = Field(
        None,
        description="turning operator off ends every presence and hands every live session "
        "back to the AI",
    )
    role_scopes: dict[Role, list[LiveScope]] | None = Field(
        None, description='e.g. {"support": ["operator:read"]}: replaces those roles\' scopes'
    )
