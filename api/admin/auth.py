"""The caller: a Bearer API key resolved to its workspace; directory errors become problems."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from api.admin.params import PARAMS, QUERY, parse_query
from api.http import bearer_token, problem
from api.state import GATEWAY, Gateway
from core.live.access import Forbidden
from core.team import directory


@dataclass(frozen=True)
class Caller:
    workspace_id: str
    key_id: str

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"


async def caller(request: web.Request, gateway: Gateway) -> Caller:
    token = bearer_token(request)
    if token is None:
        raise problem(401, "an API key is required", **{"WWW-Authenticate": "Bearer"})
    async with gateway.db.session() as session:
        key = await directory.authenticate_api_key(session, token)
        if key is None:
            raise problem(401, "invalid or revoked API key", **{"WWW-Authenticate": "Bearer"})
        return Caller(workspace_id=key.workspace_id, key_id=key.id)


AdminHandler = Callable[[web.Request, Gateway, Caller], Awaitable[web.Response]]


def admin_route(handler: AdminHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """HANDLER behind the API key, its query parsed by the parameters the route declares
    (`routes.setup` puts them on the request): 401 before anything else, then 400 for a
    query parameter it does not take or a bad value."""

    async def wrapped(request: web.Request) -> web.Response:
        gateway = request.app[GATEWAY]
        who = await caller(request, gateway)
        request[QUERY] = parse_query(request, request.get(PARAMS, ()))
        try:
            return await handler(request, gateway, who)
        except directory.NotFound as exc:
            raise problem(404, str(exc)) from exc
        except Forbidden as exc:  # a feature turned off (or, for a member, a scope missing)
            raise problem(403, str(exc)) from exc
        except directory.Conflict as exc:
            raise problem(409, str(exc)) from exc
        except directory.DirectoryError as exc:
            raise problem(400, str(exc)) from exc

    return wrapped
