"""Files in web channel replies: each carries a signed, expiring `download_url` that answers the
file itself, or a note saying what is missing instead of a link that cannot work."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from yarl import URL

from api.state import GATEWAY
from api.web import file_out
from delivery.media import MediaStore
from storage.db import Database
from storage.types import utcnow
from tests.api import Client, ClientFactory, finished_task
from tests.factories import make_tenant

PUBLIC = "https://gw.example"


async def _ask(client: Client, auth: dict[str, str], member: str, text: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/messages", json={"member": member, "text": text}, headers=auth
    )
    assert response.status == 202, await response.text()
    return await finished_task(client, (await response.json())["task_id"], **auth)


@pytest.mark.parametrize(
    ("request_text", "content_type", "extension"),
    [
        ("give me last week's performance report as a PDF", "application/pdf", "pdf"),
        (
            "the inbox report as a spreadsheet",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        ("export the topics report as csv", "text/csv", "csv"),
    ],
)
async def test_a_report_reply_links_to_its_file(
    make_client: ClientFactory,
    db: Database,
    request_text: str,
    content_type: str,
    extension: str,
) -> None:
    tenant = await make_tenant(db)
    client = await make_client()  # the offline classifier: the request picks run_report

    task = await _ask(client, tenant.auth, tenant.member_id, request_text)

    # The report's card, its file, and (learning mode) the offer to schedule it.
    [file] = [r for r in task["replies"] if r["kind"] == "file"]
    assert all(r["files"] == [] for r in task["replies"] if r is not file)
    [linked] = file["files"]
    assert linked["filename"].endswith(f".{extension}")
    assert linked["content_type"] == content_type
    # Neither PUBLIC_BASE_URL nor SWITCHBOARD_SECRET_KEY is set here: the link is built on the
    # address this request reached, and both limits are said.
    url = URL(linked["download_url"])
    assert (url.host, url.port) == (client.host, client.port)
    assert url.path.startswith("/media/")
    assert "PUBLIC_BASE_URL is not set" in linked["note"]
    assert "SWITCHBOARD_SECRET_KEY is not set" in linked["note"]

    # Fetched without any API key: the signed link itself is the permission.
    async with client.session.get(linked["download_url"]) as got:
        assert got.status == 200
        assert got.content_type == content_type
        body = await got.read()
    assert len(body) == linked["size"]
    if extension == "pdf":
        assert body.startswith(b"%PDF-")
    elif extension == "xlsx":
        assert load_workbook(io.BytesIO(body)).sheetnames
    else:
        assert next(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_links_use_public_base_url_and_a_forged_one_is_refused(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await make_client(PUBLIC_BASE_URL=PUBLIC, SWITCHBOARD_SECRET_KEY="k" * 32)

    task = await _ask(client, tenant.auth, tenant.member_id, "export the topics report as csv")

    [linked] = [f for r in task["replies"] for f in r["files"]]
    assert linked["download_url"].startswith(f"{PUBLIC}/media/")
    assert linked["note"] is None
    path = URL(linked["download_url"]).path
    good = await client.get(path)
    assert (good.status, good.content_type) == (200, "text/csv")
    token = path.rsplit("/", 1)[1]
    media_id, expiry, _signature = token.split(".")
    forged = await client.get(f"/media/{media_id}.{int(expiry) + 86400}.{_signature}")
    assert forged.status == 404


async def test_an_expired_file_gets_no_link_but_says_why(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await make_client(PUBLIC_BASE_URL=PUBLIC, SWITCHBOARD_SECRET_KEY="k" * 32)
    task = await _ask(client, tenant.auth, tenant.member_id, "export the topics report as csv")
    [linked] = [f for r in task["replies"] for f in r["files"]]
    media: MediaStore = client.server.app[GATEWAY].media
    stored = {
        "id": "0" * 32,
        "filename": linked["filename"],
        "content_type": linked["content_type"],
        "size": linked["size"],
        "expires_at": linked["expires_at"],
    }

    later = file_out(media, stored, None, utcnow() + timedelta(days=8))

    assert later.download_url is None
    assert later.note is not None and "expired" in later.note
