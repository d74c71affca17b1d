"""`/api/v1/integrations/{id}/imports` and `/api/v1/imports/{id}`: start an import from a
connected help desk and follow it. The run happens in the background (scheduler/imports.py);
its counts move as it goes."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from api.admin.auth import Caller
from api.http import json_ok
from api.state import Gateway
from core.integrations.accounts import get_account
from core.integrations.imports import get_import, import_json, start_import
from storage.types import utcnow


class ImportOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    imported: int
    skipped: int
    error: str | None = None


async def start(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.writing(), gw.db.session() as session:
        account = await get_account(session, who.workspace_id, request.match_info["integration_id"])
        run = await start_import(session, account, who.actor, utcnow())
        out = ImportOut.model_validate(import_json(run))
    if gw.imports is not None:
        gw.imports.wake()
    return json_ok(out, status=202)


async def get(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        run = await get_import(session, who.workspace_id, request.match_info["import_id"])
        return json_ok(ImportOut.model_validate(import_json(run)))
