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
