"""What each role sees in the console, by plan: one table every page and action checks."""

from __future__ import annotations

from typing import Literal

Area = Literal[
    "inbox", "operator", "history", "team", "agents", "integrations", "management", "live"
]

_EVERYONE = frozenset({"owner", "admin", "manager", "support"})
_ADMINS = frozenset({"owner", "admin"})
_PAID = frozenset({"pro", "enterprise"})

# area -> (roles on every plan, extra roles on Enterprise, plans it exists on)
_RULES: dict[Area, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "inbox": (_EVERYONE, frozenset(), frozenset({"plus", "pro", "enterprise"})),
    # The operator's AI Inbox tools reach Enterprise managers; everything else is for admins.
    "operator": (_ADMINS, frozenset({"manager"}), _PAID),
    "history": (_ADMINS, frozenset(), _PAID),
    "team": (_ADMINS, frozenset(), frozenset({"plus", "pro", "enterprise"})),
    "agents": (_ADMINS, frozenset(), frozenset({"plus", "pro", "enterprise"})),
    "integrations": (_ADMINS, frozenset(), frozenset({"plus", "pro", "enterprise"})),
    "management": (_ADMINS, frozenset({"manager"}), frozenset({"enterprise"})),
    "live": (_EVERYONE, frozenset(), frozenset({"plus", "pro", "enterprise"})),
}

AREA_TITLES: dict[Area, str] = {
    "inbox": "AI Inbox",
    "operator": "Operator",
    "history": "History",
    "team": "Team",
    "agents": "AI agents",
    "integrations": "Integrations",
    "management": "Management",
    "live": "Live",
}


def can(role: str, plan: str, area: Area) -> bool:
    roles, enterprise_roles, plans = _RULES[area]
    if plan not in plans:
        return False
    return role in roles or (plan == "enterprise" and role in enterprise_roles)


def why_not(role: str, plan: str, area: Area) -> str:
    """The sentence a 403 page shows: who may open this area, and on which plan."""
    title = AREA_TITLES[area]
    roles, enterprise_roles, plans = _RULES[area]
    if plan not in plans:
        named = " and ".join(p.capitalize() for p in sorted(plans))
        return f"{title} comes with the {named} plan{'s' if len(plans) > 1 else ''}."
    who = sorted(roles) + [f"{r} (Enterprise)" for r in sorted(enterprise_roles)]
    return f"{title} is for {', '.join(who)}; you are signed in as {role}."


# What a member may do to an assist, beyond opening the AI Inbox (one table; the console
# checks it on every action). DESIGN gives support "view and reply to assists, notes, status,
# priority": triage (category, tags, labels) sits with priority; handing work out (assign)
# is for those who run the team. Adding a resolution to training follows the training tool's
# own rule (the operator's `promote_assist_to_training`).
InboxAction = Literal["view", "reply", "note", "status", "priority", "triage", "assign"]
_RUNS_THE_TEAM = frozenset({"owner", "admin", "manager"})
_ACTIONS: dict[InboxAction, frozenset[str]] = {
    "view": _EVERYONE,
    "reply": _EVERYONE,
    "note": _EVERYONE,
    "status": _EVERYONE,
    "priority": _EVERYONE,
    "triage": _EVERYONE,
    "assign": _RUNS_THE_TEAM,
}
ACTION_TITLES: dict[InboxAction, str] = {
    "view": "Opening assists",
    "reply": "Replying to customers",
    "note": "Adding internal notes",
    "status": "Changing an assist's status",
    "priority": "Changing an assist's priority",
    "triage": "Changing an assist's category, tags and labels",
    "assign": "Assigning assists",
}


def may(role: str, plan: str, action: InboxAction) -> bool:
    """Whether ROLE on PLAN may do ACTION to an assist (the inbox itself must be open to them)."""
    return can(role, plan, "inbox") and role in _ACTIONS[action]


def why_not_action(role: str, action: InboxAction) -> str:
    who = ", ".join(sorted(_ACTIONS[action]))
    return f"{ACTION_TITLES[action]} is for {who}; you are signed in as {role}."
