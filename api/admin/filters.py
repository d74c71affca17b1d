"""The query parameters of each list (its filters, `limit` and `cursor`): one declaration the
route parses with and the OpenAPI document and the API page describe."""

from __future__ import annotations

from typing import get_args

from api.admin import apikeys, members, outbox, proposals, tasks, training
from api.admin.live import SESSION_STATUSES, SESSIONS_MAX
from api.admin.params import CREATED_AFTER, CREATED_BEFORE, Param, one_of, paged
from core.assists.inbox import STATUSES as ASSIST_STATUSES
from core.assists.triage import PRIORITIES
from core.integrations.providers import PROVIDERS
from core.live import conversations
from core.team.directory import ROLES
from models.task import ChannelName, TaskKind

CHANNELS = tuple(get_args(ChannelName))
ID_MAX = 64


def _id(name: str, what: str) -> Param:
    return Param(name, f"Only those of this {what} (its id)", max_length=ID_MAX)


WORKSPACES = paged()
MEMBERS = paged(
    one_of("role", "Only members with this role", ROLES),
    one_of("status", "Only active members, or only removed ones", members.STATUSES),
)
AGENTS = paged()
CONVERSATIONS = paged(
    one_of("status", "Only conversations in this status", conversations.STATUSES),
    one_of("channel", "Only conversations on this channel", CHANNELS[:-1]),
    _id("customer_id", "customer"),
    Param(
        "before",
        "Only those last active before this time (ISO 8601)",
        type="date-time",
    ),
    maximum=conversations.LIST_MAX,
)
OPERATOR_GROUPS = paged()
PRESENCE = paged()
LIVE_SESSIONS = paged(
    one_of("status", "Only sessions in this status", SESSION_STATUSES),
    _id("operator_id", "operator (a member)"),
    maximum=SESSIONS_MAX,
)
APIKEYS = paged(one_of("status", "Only keys in use, or only revoked ones", apikeys.STATUSES))
INTEGRATIONS = paged(
    one_of("provider", "Only accounts of this provider", sorted(PROVIDERS)),
    one_of("kind", "Only help desks, or only telephony lines", ("helpdesk", "telephony")),
    Param("enabled", "Only accounts turned on (true) or off (false)", type="boolean"),
)
ASSISTS = paged(
    one_of("status", "Only assists in this status", ASSIST_STATUSES),
    one_of("priority", "Only assists of this priority", PRIORITIES),
    Param("category", "Only assists of this category (any case)", max_length=60),
    Param("label", "Only assists carrying this label (any case)", max_length=60),
    Param(
        "assignee",
        "Only assists assigned to this member (their id), or `unassigned`",
        max_length=ID_MAX,
    ),
    Param("q", "A reference (A-1042), or text in the subject, summary, customer name or email"),
    CREATED_AFTER,
    CREATED_BEFORE,
)
PROPOSALS = paged(
    one_of("status", "Only proposals in this status", proposals.PROPOSAL_STATUSES),
    _id("requester_id", "requester (a member)"),
    CREATED_AFTER,
    CREATED_BEFORE,
)
SNAPSHOTS = paged(
    _id("member_id", "member"),
    _id("proposal_id", "proposal"),
    CREATED_AFTER,
    CREATED_BEFORE,
)
SCHEDULES = paged(
    _id("member_id", "member"),
    Param("briefing_type", "Only schedules of this briefing type", max_length=40),
    Param("active", "Only active (true) or paused (false) schedules", type="boolean"),
)
TRAINING_SOURCES = paged(
    one_of("kind", "Only text or only URL sources", training.KINDS),
    Param("active", "Only sources in use (true) or not (false)", type="boolean"),
    one_of("fetch_status", "Only URL sources in this fetch state", training.FETCH_STATUSES),
)
TASKS = paged(
    one_of("status", "Only tasks in this status", tasks.TASK_STATUSES),
    one_of("channel", "Only tasks from this channel", CHANNELS),
    one_of("kind", "Only tasks of this kind", get_args(TaskKind)),
    Param("created_after", "Only those received at or after this time (ISO 8601)", "date-time"),
    Param("created_before", "Only those received before this time (ISO 8601)", "date-time"),
)
OUTBOX = paged(
    one_of("status", "Only replies in this delivery state", outbox.OUTBOX_STATUSES),
    one_of("channel", "Only replies on this channel", CHANNELS),
    _id("task_id", "task"),
    CREATED_AFTER,
    CREATED_BEFORE,
)
AUDIT = paged(
    Param("action", "Only entries of this action, e.g. member.update", max_length=100),
    Param("actor", "Only entries by this actor, e.g. apikey:<id>", max_length=100),
    Param("target", "Only entries about this target (an id)"),
    CREATED_AFTER,
    CREATED_BEFORE,
    default=100,
    maximum=1000,
)
