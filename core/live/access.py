"""Who may do what with live operators: the `operator:read` scope (see the groups and who is
live) and `operator:write` (manage groups, go live, take conversations), held by role (the
workspace may change its roles' scopes) and granted per member; and the workspace's feature
flags `operator` (Live Operator Mode) and `presence` (who is live is shown to the team), both
off until an owner or admin turns them on. `presence` needs `operator`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from core.team.directory import DirectoryError, NotFound, audit
from storage.models import Member, Workspace

Scope = Literal["operator:read", "operator:write"]
READ: Scope = "operator:read"
WRITE: Scope = "operator:write"
SCOPES: tuple[Scope, ...] = (READ, WRITE)
ROLES = ("owner", "admin", "manager", "support")
# Support agents are the live operators of most teams, so every role may go live by default;
# a workspace narrows a role (say, support to `operator:read`) and grants members one by one.
DEFAULT_ROLE_SCOPES: dict[str, tuple[Scope, ...]] = {role: SCOPES for role in ROLES}

Feature = Literal["operator", "presence"]
FEATURES: tuple[Feature, ...] = ("operator", "presence")
FEATURE_TITLES = {"operator": "Live Operator Mode", "presence": "Live presence"}
# Who may change the flags and the scopes: those who run the workspace's set-up.
ADMINS = frozenset({"owner", "admin"})


class Forbidden(DirectoryError):
    """Refused for who is asking (a missing scope, a feature turned off): a 403."""


def role_scopes(workspace: Workspace) -> dict[str, list[str]]:
    """Each role's scopes in WORKSPACE: its own settings over the defaults."""
    own: Mapping[str, Any] = workspace.role_scopes or {}
    return {
        role: [s for s in SCOPES if s in own[role]]
        if isinstance(own.get(role), list)
        else list(DEFAULT_ROLE_SCOPES[role])
        for role in ROLES
    }


def scopes_of(workspace: Workspace, member: Member) -> frozenset[str]:
    """MEMBER's scopes: their role's in WORKSPACE and the ones granted to them."""
    granted = {s for s in (member.scopes or []) if s in SCOPES}
    return frozenset(role_scopes(workspace).get(member.role, [])) | granted


def features_of(workspace: Workspace) -> dict[str, bool]:
    """The flags as they act: `presence` is off whenever `operator` is."""
    flags: Mapping[str, Any] = workspace.features or {}
    operator = flags.get("operator") is True
    return {"operator": operator, "presence": operator and flags.get("presence") is True}


def enabled(workspace: Workspace, feature: Feature = "operator") -> bool:
    return features_of(workspace)[feature]


def check(
    workspace: Workspace, member: Member, scope: Scope, feature: Feature = "operator"
) -> None:
    """Raise Forbidden, saying why, unless MEMBER holds SCOPE and FEATURE is on."""
    if not enabled(workspace, "operator"):
        raise Forbidden(
            "Live Operator Mode is off for this workspace; an owner or admin turns it on "
            "under Live."
        )
    if feature == "presence" and not enabled(workspace, "presence"):
        raise Forbidden(
            "Live presence is off for this workspace, so who is live is not shown; an owner "
            "or admin turns it on under Live."
        )
    if scope not in scopes_of(workspace, member):
        raise Forbidden(f"This needs the {scope} scope, which your account does not have.")


def allowed(
    workspace: Workspace, member: Member, scope: Scope, feature: Feature = "operator"
) -> bool:
    try:
        check(workspace, member, scope, feature)
    except Forbidden:
        return False
    return True


def _admin(actor: Member) -> None:
    if actor.role not in ADMINS:
        raise Forbidden("Only an owner or admin changes live operator settings.")


def _scopes(values: Iterable[object]) -> list[str]:
    values = list(values)
    unknown = [str(v) for v in values if v not in SCOPES]
    if unknown:
        raise DirectoryError(
            f"unknown scope {', '.join(unknown)}: the scopes are {', '.join(SCOPES)}"
        )
    return [s for s in SCOPES if s in values]


async def set_features(
    session: AsyncSession,
    workspace: Workspace,
    *,
    operator: bool | None = None,
    presence: bool | None = None,
    actor: str,
) -> dict[str, bool]:
    """Turn the flags on or off; `presence` on needs `operator` on (or turned on with it),
    and `operator` off turns `presence` off. Callers end what the change stops (the live
    operators' presence) through `sessions.stop_all`."""
    flags = features_of(workspace)
    if operator is not None:
        flags["operator"] = operator
        if not operator:
            flags["presence"] = False
    if presence is not None:
        if presence and not flags["operator"]:
            raise DirectoryError("presence needs the operator feature: turn operator on first")
        flags["presence"] = presence
    before = features_of(workspace)
    workspace.features = dict(flags)
    if flags != before:
        await audit(session, workspace.id, actor, "live.features", workspace.id, dict(flags))
    return flags


async def set_role_scopes(
    session: AsyncSession, workspace: Workspace, role: str, scopes: Iterable[object], *, actor: str
) -> dict[str, list[str]]:
    if role not in ROLES:
        raise DirectoryError(f"unknown role {role!r}: the roles are {', '.join(ROLES)}")
    chosen = _scopes(scopes)
    own = dict(workspace.role_scopes or {})
    own[role] = chosen
    workspace.role_scopes = own
    await audit(session, workspace.id, actor, "live.role_scopes", role, {"scopes": chosen})
    return role_scopes(workspace)


async def set_member_scopes(
    session: AsyncSession,
    workspace: Workspace,
    member_id: str,
    scopes: Iterable[object],
    *,
    actor: str,
) -> list[str]:
    """Grant MEMBER_ID exactly SCOPES beyond their role's; returns what they now hold."""
    member = await session.get(Member, member_id)
    if member is None or member.workspace_id != workspace.id:
        raise NotFound(f"member {member_id} not found")
    chosen = _scopes(scopes)
    member.scopes = chosen
    await audit(session, workspace.id, actor, "live.member_scopes", member_id, {"scopes": chosen})
    return sorted(scopes_of(workspace, member))


def require_admin(actor: Member) -> None:
    """Raise Forbidden unless ACTOR may change flags and scopes (owner or admin)."""
    _admin(actor)
