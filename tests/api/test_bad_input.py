"""Bad input on every route: a clear 4xx with a JSON message, and the database unchanged."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from api.admin.routes import ENDPOINTS
from core.team import directory
from storage.db import Database
from tests.api import Client, ClientFactory, count_rows, start_gateway
from tests.factories import make_api_key, make_member, make_outbox_row, make_task_row, make_tenant

SMALL = {"SWITCHBOARD_MAX_BODY_BYTES": 2048}
OPEN = {"SWITCHBOARD_WEB_AUTH": "open"}
MEMBER = {"name": "Dana", "role": "support"}


@dataclass(frozen=True)
class Case:
    """One bad request. Strings in path, headers and a dict body are formatted with the seed."""

    id: str
    method: str
    path: str
    status: int
    says: str
    body: bytes | dict[str, Any] | None = None
    auth: str | None = "key_a"
    headers: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def _members(id: str, body: bytes | dict[str, Any], status: int, says: str, **kw: Any) -> Case:
    return Case(id, "POST", "/api/v1/members", status, says, body=body, **kw)


def _message(id: str, body: bytes | dict[str, Any], status: int, says: str, **kw: Any) -> Case:
    return Case(id, "POST", "/api/v1/messages", status, says, body=body, **kw)


HELLO = {"member": "{member_a}", "text": "hello"}

CASES = [
    # Routing.
    Case("unknown route", "GET", "/api/v1/nothing-here", 404, "no route"),
    Case("unknown top-level route", "POST", "/wp-login.php", 404, "no route", auth=None),
    Case("wrong method on members", "PUT", "/api/v1/members", 405, "not allowed"),
    Case("wrong method on messages", "GET", "/api/v1/messages", 405, "not allowed"),
    Case("wrong method on a task", "DELETE", "/api/v1/tasks/{task_a}", 405, "not allowed"),
    Case("wrong method on healthz", "POST", "/healthz", 405, "not allowed", auth=None),
    Case("wrong method on openapi", "POST", "/api/v1/openapi.json", 405, "not allowed"),
    Case("NUL in a path id", "GET", "/api/v1/members/%00", 404, "no such"),
    Case("NUL in a task id", "GET", "/api/v1/tasks/x%00y", 404, "no such"),
    # Bearer keys on the admin API.
    Case("no key", "GET", "/api/v1/members", 401, "API key is required", auth=None),
    _members("no key on a write", MEMBER, 401, "API key is required", auth=None),
    Case(
        "basic instead of bearer",
        "GET",
        "/api/v1/members",
        401,
        "Bearer <api key>",
        auth=None,
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    ),
    Case(
        "bearer without a key",
        "GET",
        "/api/v1/members",
        401,
        "Bearer <api key>",
        auth=None,
        headers={"Authorization": "Bearer"},
    ),
    Case(
        "garbled key",
        "GET",
        "/api/v1/members",
        401,
        "invalid or revoked",
        auth=None,
        headers={"Authorization": "Bearer sb_not-a-real-key"},
    ),
    Case(
        "key without the prefix",
        "GET",
        "/api/v1/members",
        401,
        "invalid or revoked",
        auth=None,
        headers={"Authorization": "Bearer 0123456789abcdef"},
    ),
    Case(
        "over-long key",
        "GET",
        "/api/v1/members",
        401,
        "invalid or revoked",
        auth=None,
        headers={"Authorization": "Bearer sb_" + "x" * 5000},
    ),
    Case(
        "non-ASCII key",
        "GET",
        "/api/v1/members",
        401,
        "Bearer <api key>",
        auth=None,
        headers={"Authorization": "Bearer sb_clé"},
    ),
    Case("revoked key", "GET", "/api/v1/members", 401, "revoked", auth="revoked_key"),
    Case(
        "revoked key revoking",
        "DELETE",
        "/api/v1/apikeys/{key_a_id}",
        401,
        "revoked",
        auth="revoked_key",
    ),
    Case(
        "revoked key replaying", "POST", "/api/v1/outbox/replay", 401, "revoked", auth="revoked_key"
    ),
    # JSON bodies (the members endpoint stands for all; every body route is checked below).
    _members("empty body", b"", 400, "empty"),
    _members("malformed JSON", b'{"name": ', 400, "not valid JSON"),
    _members("invalid UTF-8", b'{"name": "\xff\xfe"}', 400, "not valid JSON"),
    _members("JSON array", b"[1, 2]", 400, "JSON object"),
    _members("JSON string", b'"Dana"', 400, "JSON object"),
    _members("JSON null", b"null", 400, "JSON object"),
    _members("deeply nested JSON", b"[" * 100_000, 400, "nested too deeply"),
    _members("huge number", b'{"name": 1' + b"1" * 5000 + b"}", 400, "not valid JSON"),
    _members("NUL in a string", {"name": "Da\x00na", "role": "support"}, 400, "NUL"),
    _members("missing field", {"role": "support"}, 400, "name"),
    _members("extra field", {**MEMBER, "is_admin": True}, 400, "is_admin"),
    _members("wrong type", {"name": 42, "role": "support"}, 400, "name"),
    _members("identities not a list", {**MEMBER, "identities": "sms"}, 400, "identities"),
    _members("unknown role", {"name": "Dana", "role": "god"}, 400, "role"),
    _members("blank name", {"name": "   ", "role": "support"}, 400, "name"),
    _members("bad email", {**MEMBER, "email": "not-an-email"}, 400, "not an email"),
    _members(
        "bad phone",
        {**MEMBER, "identities": [{"channel": "sms", "address": "12345"}]},
        400,
        "E.164",
    ),
    _members(
        "bad Slack id",
        {**MEMBER, "identities": [{"channel": "slack", "address": "bob"}]},
        400,
        "Slack user id",
    ),
    _members(
        "bad Telegram id",
        {**MEMBER, "identities": [{"channel": "telegram", "address": "@bob"}]},
        400,
        "Telegram user id",
    ),
    _members(
        "unknown channel",
        {**MEMBER, "identities": [{"channel": "fax", "address": "1"}]},
        400,
        "channel",
    ),
    _members(
        "two addresses on one channel",
        {
            **MEMBER,
            "identities": [
                {"channel": "sms", "address": "+15550100005"},
                {"channel": "sms", "address": "+15550100006"},
            ],
        },
        400,
        "one address per channel",
    ),
    _members(
        "body over the limit", {**MEMBER, "name": "D" * 3000}, 413, "limit is 2048", settings=SMALL
    ),
    # Members, identities, keys.
    Case(
        "patch unknown role",
        "PATCH",
        "/api/v1/members/{member_a}",
        400,
        "role",
        body={"role": "god"},
    ),
    Case(
        "patch null name", "PATCH", "/api/v1/members/{member_a}", 400, "name", body={"name": None}
    ),
    Case(
        "patch email (not patchable)",
        "PATCH",
        "/api/v1/members/{member_a}",
        400,
        "email",
        body={"email": "x@example.com"},
    ),
    Case(
        "patch web as default channel",
        "PATCH",
        "/api/v1/members/{member_a}",
        400,
        "default_channel",
        body={"default_channel": "web"},
    ),
    Case("patch empty body", "PATCH", "/api/v1/members/{member_a}", 400, "empty", body=b""),
    Case(
        "patch unknown member",
        "PATCH",
        "/api/v1/members/nobody",
        404,
        "no member",
        body={"role": "admin"},
    ),
    Case("get unknown member", "GET", "/api/v1/members/nobody", 404, "no member"),
    Case("delete unknown member", "DELETE", "/api/v1/members/nobody", 404, "no member"),
    Case(
        "link a bad phone",
        "POST",
        "/api/v1/members/{member_a}/identities",
        400,
        "E.164",
        body={"channel": "sms", "address": "call me"},
    ),
    Case(
        "link without an address",
        "POST",
        "/api/v1/members/{member_a}/identities",
        400,
        "address",
        body={"channel": "sms"},
    ),
    Case(
        "link to an unknown member",
        "POST",
        "/api/v1/members/nobody/identities",
        404,
        "no member",
        body={"channel": "telegram", "address": "42"},
    ),
    Case(
        "unlink an unknown identity",
        "DELETE",
        "/api/v1/members/{member_a}/identities/nope",
        404,
        "no such identity",
    ),
    Case(
        "key name of the wrong type", "POST", "/api/v1/apikeys", 400, "name", body={"name": ["ci"]}
    ),
    Case("key name too long", "POST", "/api/v1/apikeys", 400, "name", body={"name": "k" * 201}),
    Case("revoke an unknown key", "DELETE", "/api/v1/apikeys/nope", 404, "no API key"),
    Case("unknown workspace", "GET", "/api/v1/workspaces/nope", 404, "no such workspace"),
    # Query parameters.
    Case("limit not a number", "GET", "/api/v1/tasks?limit=abc", 400, "must be an integer"),
    Case("limit zero", "GET", "/api/v1/tasks?limit=0", 400, "between 1 and 500"),
    Case("limit too large", "GET", "/api/v1/tasks?limit=501", 400, "between 1 and 500"),
    Case("unknown task status", "GET", "/api/v1/tasks?status=bogus", 400, "status must be one of"),
    Case(
        "unknown outbox status", "GET", "/api/v1/outbox?status=bogus", 400, "status must be one of"
    ),
    Case("negative outbox limit", "GET", "/api/v1/outbox?limit=-1", 400, "between"),
    Case("audit limit not a number", "GET", "/api/v1/audit?limit=ten", 400, "must be an integer"),
    # Outbox.
    Case("replay an unknown entry", "POST", "/api/v1/outbox/nope/replay", 404, "no outbox entry"),
    Case(
        "replay a delivered reply",
        "POST",
        "/api/v1/outbox/{sent_a}/replay",
        409,
        "only dead letters",
    ),
    # The web channel (an API key; a console session is tested with the console).
    _message("message malformed JSON", b'{"member": "x", "text": "hi"', 400, "not valid JSON"),
    _message("message not an object", b'["hello"]', 400, "JSON object"),
    _message("message missing text", {"member": "{member_a}"}, 400, "text"),
    _message("message missing member", {"text": "hello"}, 400, "member is required"),
    _message("message extra field", {**HELLO, "priority": "high"}, 400, "priority"),
    _message("message text not a string", {"member": "{member_a}", "text": 42}, 400, "text"),
    _message(
        "message member not a string", {"member": ["{member_a}"], "text": "hi"}, 400, "member"
    ),
    _message("message empty text", {"member": "{member_a}", "text": ""}, 400, "text"),
    _message("message blank text", {"member": "{member_a}", "text": " \n\t "}, 400, "text"),
    _message(
        "message text over the limit",
        {"member": "{member_a}", "text": "x" * 8001},
        400,
        "at most 8000",
    ),
    _message("message NUL in text", {"member": "{member_a}", "text": "a\x00b"}, 400, "NUL"),
    _message(
        "message body over the limit",
        {"member": "{member_a}", "text": "x" * 3000},
        413,
        "limit is 2048",
        settings=SMALL,
    ),
    _message(
        "message from an unknown member",
        {"member": "nobody@example.com", "text": "hi"},
        404,
        "no member",
    ),
    _message(
        "message from a removed member", {"member": "{removed_a}", "text": "hi"}, 404, "no member"
    ),
    _message(
        "Idempotency-Key too long",
        HELLO,
        400,
        "at most 128",
        headers={"Idempotency-Key": "k" * 129},
    ),
    _message(
        "Idempotency-Key not ASCII",
        HELLO,
        400,
        "printable ASCII",
        headers={"Idempotency-Key": "clé"},
    ),
    Case("unknown task", "GET", "/api/v1/tasks/nope", 404, "no task"),
    Case("over-long task id", "GET", "/api/v1/tasks/" + "a" * 100, 404, "no such task"),
    Case(
        "message with a revoked key",
        "POST",
        "/api/v1/messages",
        401,
        "revoked",
        body=HELLO,
        auth="revoked_key",
    ),
    Case(
        "message with A's key as B's member",
        "POST",
        "/api/v1/messages",
        404,
        "no member",
        body={"member": "{member_b}", "text": "hi"},
    ),
    Case("A's key reading B's task", "GET", "/api/v1/tasks/{task_b}", 404, "no task"),
    # Without credentials the web channel is closed unless SWITCHBOARD_WEB_AUTH=open is set,
    # and a key keeps to its workspace even then.
    _message(
        "message without a key", HELLO, 401, "API key (Authorization: Bearer <key>)", auth=None
    ),
    _message("message with neither member nor key", {"text": "hi"}, 401, "session", auth=None),
    Case(
        "task without a key",
        "GET",
        "/api/v1/tasks/{task_a}",
        401,
        "or a console session is required",
        auth=None,
    ),
    Case(
        "open mode: revoked key",
        "POST",
        "/api/v1/messages",
        401,
        "revoked",
        body=HELLO,
        auth="revoked_key",
        settings=OPEN,
    ),
    Case(
        "open mode: A's key as B's member email",
        "POST",
        "/api/v1/messages",
        404,
        "no member",
        body={"member": "{email_b}", "text": "hi"},
        settings=OPEN,
    ),
    Case(
        "open mode: A's key reading B's task",
        "GET",
        "/api/v1/tasks/{task_b}",
        404,
        "no task",
        settings=OPEN,
    ),
    Case(
        "A's key as B's member email",
        "POST",
        "/api/v1/messages",
        404,
        "no member",
        body={"member": "{email_b}", "text": "hi"},
    ),
]


async def _seed(db: Database) -> dict[str, str]:
    """Workspaces A and B with members, keys, a task each, and replies in A's and B's outbox."""
    a = await make_tenant(db)
    b = await make_tenant(db)
    async with db.session() as session:
        revoked = await make_api_key(session, a.workspace_id, name="old")
        await directory.revoke_api_key(session, a.workspace_id, revoked.id, actor="system")
        removed = await make_member(session, a.workspace_id, role="admin")
        removed.status = "removed"
        task_a = await make_task_row(session, a.workspace_id, a.member_id)
        task_b = await make_task_row(session, b.workspace_id, b.member_id)
        sent_a = await make_outbox_row(
            session, a.workspace_id, a.member_id, status="sent", task_id=task_a.id
        )
        await make_outbox_row(session, b.workspace_id, b.member_id, task_id=task_b.id)
    return {
        "key_a": a.key,
        "key_a_id": a.key_id,
        "key_b": b.key,
        "revoked_key": revoked.secret,
        "member_a": a.member_id,
        "member_b": b.member_id,
        "email_b": b.member_email,
        "removed_a": removed.id,
        "task_a": task_a.id,
        "task_b": task_b.id,
        "sent_a": sent_a.id,
    }


def _fill(value: Any, seed: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(seed)
    if isinstance(value, dict):
        return {k: _fill(v, seed) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, seed) for v in value]
    return value


async def _send(client: Client, case: Case, seed: dict[str, str]) -> Any:
    headers = {k: _fill(v, seed) for k, v in case.headers.items()}
    if case.auth is not None:
        headers["Authorization"] = f"Bearer {seed[case.auth]}"
    kwargs: dict[str, Any] = {"headers": headers}
    if isinstance(case.body, bytes):
        headers["Content-Type"] = "application/json"
        kwargs["data"] = case.body
    elif case.body is not None:
        kwargs["json"] = _fill(case.body, seed)
    return await client.request(case.method, _fill(case.path, seed), **kwargs)


async def _assert_refused(response: Any, status: int, says: str) -> None:
    text = await response.text()
    assert response.status == status, text
    body = await response.json()
    assert body["message"], text
    assert says.lower() in body["message"].lower(), body["message"]
    assert body["error"] == response.reason.lower().replace(" ", "_")
    if not response.url.path.startswith("/api/v1/"):
        assert response.content_type == "application/json", text
        return
    # RFC 9457 problem details, with the two fields clients written before read.
    assert response.content_type == "application/problem+json", text
    assert body["type"] == "about:blank"
    assert body["title"] == response.reason
    assert body["status"] == status
    assert body["detail"] == body["message"]
    assert body["instance"] == response.url.raw_path
    if status == 401:
        assert response.headers.get("WWW-Authenticate") == "Bearer"
    if status == 405:
        assert response.headers.get("Allow")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_bad_input_is_refused_and_changes_nothing(
    make_client: ClientFactory, db: Database, case: Case
) -> None:
    seed = await _seed(db)
    client = await start_gateway(make_client, **case.settings)
    before = await count_rows(db)

    response = await _send(client, case, seed)

    await _assert_refused(response, case.status, case.says)
    assert await count_rows(db) == before


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


async def test_every_route_wants_a_key(make_client: ClientFactory, db: Database) -> None:
    seed = await _seed(db)
    client = await start_gateway(make_client)
    before = await count_rows(db)

    for ep in ENDPOINTS:
        if ep.auth == "none":
            continue
        path = ep.path.format_map(
            {
                "workspace_id": "w",
                "member_id": seed["member_a"],
                "identity_id": "i",
                "key_id": seed["key_a_id"],
                "task_id": seed["task_a"],
                "outbox_id": seed["sent_a"],
                "ref": "A-1042",
                "proposal_id": "p",
                "agent_id": "a",
                "conversation_id": "c",
                "group_id": "g",
                "session_id": "s",
                "integration_id": "x",
                "import_id": "x",
            }
        )
        response = await client.request(
            ep.method, path, json={"member": seed["member_a"], "text": "hi"}
        )
        # The admin API says "an API key is required", the web channel "an API key (...) or
        # a console session is required".
        await _assert_refused(response, 401, "API key")
        assert "required" in (await response.json())["message"]

    assert await count_rows(db) == before


async def test_every_route_with_a_body_refuses_malformed_json(
    make_client: ClientFactory, db: Database
) -> None:
    seed = await _seed(db)
    client = await start_gateway(make_client)
    auth = {"Authorization": f"Bearer {seed['key_a']}", "Content-Type": "application/json"}
    before = await count_rows(db)

    with_body = [ep for ep in ENDPOINTS if ep.request is not None]
    assert len(with_body) >= 5
    for ep in with_body:
        path = ep.path.format(
            member_id=seed["member_a"], ref="A-1042", agent_id="a", group_id="g", integration_id="n"
        )
        for body in (b"{not json", b"[]", b"", b'{"unexpected": true}'):
            response = await client.request(ep.method, path, data=body, headers=auth)
            assert response.status == 400, (ep.method, ep.path, body, await response.text())
            assert (await response.json())["message"]

    assert await count_rows(db) == before


async def test_every_route_refuses_other_methods(make_client: ClientFactory, db: Database) -> None:
    seed = await _seed(db)
    client = await start_gateway(make_client)
    before = await count_rows(db)
    methods: dict[str, set[str]] = {}
    for ep in ENDPOINTS:
        methods.setdefault(ep.path, set()).add(ep.method)

    for path, allowed in methods.items():
        concrete = path.format_map(
            {
                "workspace_id": "w",
                "member_id": seed["member_a"],
                "identity_id": "i",
                "key_id": "k",
                "task_id": seed["task_a"],
                "outbox_id": seed["sent_a"],
                "ref": "A-1042",
                "proposal_id": "p",
                "agent_id": "a",
                "conversation_id": "c",
                "group_id": "g",
                "session_id": "s",
                "integration_id": "x",
                "import_id": "x",
            }
        )
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed:
            response = await client.request(
                method, concrete, json={}, headers={"Authorization": f"Bearer {seed['key_a']}"}
            )
            await _assert_refused(response, 405, "not allowed")
            assert set(response.headers["Allow"].split(",")) >= allowed

    assert await count_rows(db) == before


async def _raw_request(client: Client, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes no HTTP client library would produce; return the status and body."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def test_header_bytes_that_are_not_utf8_are_refused(
    make_client: ClientFactory, db: Database
) -> None:
    seed = await _seed(db)
    client = await start_gateway(make_client)
    before = await count_rows(db)
    message = json.dumps({"member": seed["member_a"], "text": "hi"}).encode()

    bad_key = await _raw_request(
        client, b"GET /api/v1/members HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sb_\xff\xfe\r\n"
    )
    key = seed["key_a"].encode()
    bad_idempotency = await _raw_request(
        client,
        b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\xff\xfe\r\n"
        b"Authorization: Bearer " + key + b"\r\n",
        message,
    )

    assert bad_key[0] == 401, bad_key
    assert "Bearer <api key>" in json.loads(bad_key[1])["message"]
    assert bad_idempotency[0] == 400, bad_idempotency
    assert "printable ASCII" in json.loads(bad_idempotency[1])["message"]
    assert await count_rows(db) == before
