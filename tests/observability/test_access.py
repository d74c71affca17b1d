"""The access log: one line per request naming the route template (never a token), its status,
duration and request id; `X-Request-ID` echoed; the task a request or worker is about."""

from __future__ import annotations

import logging
import re
from datetime import datetime

import pytest

from api.state import GATEWAY
from config.logging import TASK_ID, ContextFields
from core.team.identity import Principal
from models.classification import Classification
from storage.db import Database
from tests.api import Client, ClientFactory
from tests.factories import make_tenant
from tests.helpers import wait_until
from tests.pipeline.test_pipeline import web_task

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "switchboard.access"]


def _gateway_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name != "aiohttp.access"]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(ContextFields())  # as setup_logging's handler does
    return caplog


async def test_access_lines_name_the_route_template_never_a_token(
    make_client: ClientFactory, logs: pytest.LogCaptureFixture
) -> None:
    client: Client = await make_client()
    media_token = "SeCrEtMeDiAtOkEn0123456789abcdef"
    link_token = "SiGnInLiNkToKeN0123456789abcdef"
    media = await client.get(f"/media/{media_token}")
    link = await client.get(f"/console/login/{link_token}", allow_redirects=False)
    health = await client.get("/healthz")

    lines = _access_lines(logs)
    by_route = {r.route: r for r in lines}  # type: ignore[attr-defined]
    assert set(by_route) >= {"/media/{token}", "/console/login/{token}", "/healthz"}
    for route, response in (
        ("/media/{token}", media),
        ("/console/login/{token}", link),
        ("/healthz", health),
    ):
        line = by_route[route]
        assert line.levelname == "INFO"
        assert line.method == "GET"  # type: ignore[attr-defined]
        assert line.status == response.status  # type: ignore[attr-defined]
        assert line.duration_ms >= 0  # type: ignore[attr-defined]
        assert line.request_id == response.headers["X-Request-ID"]  # type: ignore[attr-defined]
        assert line.getMessage().startswith(f"GET {route} {response.status} ")
    assert by_route["/healthz"].status == 200  # type: ignore[attr-defined]
    # Nowhere in any log line, whoever wrote it (but aiohttp's own access log, which the test
    # server keeps: the gateway's runner turns it off and setup_logging silences its logger).
    for record in _gateway_records(logs):
        assert media_token not in str(record.__dict__) and link_token not in str(record.__dict__)


async def test_unmatched_paths_are_logged_as_unmatched(
    make_client: ClientFactory, logs: pytest.LogCaptureFixture
) -> None:
    client: Client = await make_client()
    response = await client.get("/no/such/place/abc123token")
    assert response.status == 404
    (line,) = [r for r in _access_lines(logs) if r.status == 404]  # type: ignore[attr-defined]
    assert line.route == "unmatched"  # type: ignore[attr-defined]
    assert not any("abc123token" in str(r.__dict__) for r in _gateway_records(logs))


async def test_a_sane_request_id_is_echoed_and_anything_else_replaced(
    make_client: ClientFactory, logs: pytest.LogCaptureFixture
) -> None:
    client: Client = await make_client()
    given = "3f2a9c1e-proxy.id:42"
    kept = await client.get("/healthz", headers={"X-Request-ID": given})
    assert kept.headers["X-Request-ID"] == given
    for bad in ("a" * 200, "two words", 'quote"d', ""):
        replaced = await client.get("/healthz", headers={"X-Request-ID": bad})
        assert HEX_ID.match(replaced.headers["X-Request-ID"]), bad
    fresh = await client.get("/healthz")
    assert HEX_ID.match(fresh.headers["X-Request-ID"])
    # Errors carry it too, and every request gets its own.
    missing = await client.get("/api/v1/tasks/nope")
    assert missing.status == 401
    assert HEX_ID.match(missing.headers["X-Request-ID"])
    assert missing.headers["X-Request-ID"] != fresh.headers["X-Request-ID"]
    ids = [r.request_id for r in _access_lines(logs)]  # type: ignore[attr-defined]
    assert given in ids and "two words" not in ids


class _Exploding:
    """A classifier that fails, so the worker logs the task's failure."""

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        raise RuntimeError("the classifier broke")


async def test_request_and_worker_lines_name_the_task(
    make_client: ClientFactory, db: Database, logs: pytest.LogCaptureFixture
) -> None:
    tenant = await make_tenant(db)
    client: Client = await make_client(build={"classifier": _Exploding()})
    response = await client.post(
        "/api/v1/messages", json={"member": tenant.member_id, "text": "hi"}, headers=tenant.auth
    )
    assert response.status == 202
    task_id = (await response.json())["task_id"]

    def failure_logged() -> logging.LogRecord | None:
        return next((r for r in logs.records if r.getMessage() == f"task {task_id} failed"), None)

    failure = await wait_until(failure_logged)
    assert failure.task_id == task_id  # type: ignore[attr-defined]
    assert failure.levelname == "ERROR"
    (post,) = [r for r in _access_lines(logs) if r.method == "POST"]  # type: ignore[attr-defined]
    assert post.route == "/api/v1/messages"  # type: ignore[attr-defined]
    assert post.task_id == task_id  # type: ignore[attr-defined]
    # A later request of the same client is about no task.
    await client.get("/healthz")
    last = _access_lines(logs)[-1]
    assert getattr(last, "task_id", None) is None


async def test_an_ingest_outside_a_request_names_no_later_line(
    make_client: ClientFactory, db: Database
) -> None:
    # A polling loop (Telegram, IMAP) ingests outside any request: the task it committed must
    # not stick to the loop's later lines.
    tenant = await make_tenant(db)
    client: Client = await make_client(build={"run_workers": False})
    gateway = client.app[GATEWAY]
    accepted = await gateway.ingest(web_task(tenant.workspace_id, tenant.member_id))
    assert accepted.created
    assert TASK_ID.get() is None
