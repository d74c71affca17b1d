"""The team page: members and pending invitations for owners and admins; inviting sends the
link at once (the approved invite_member's path), Resend and Cancel, role changes by the tool's
rules; refused to support, and to forged posts."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from api.state import GATEWAY
from cli.seed import Seeded, seed_workspace
from storage.db import Database
from storage.domain import Invitation, Proposal, Snapshot
from storage.models import AuditEntry, Member, OutboxRow
from storage.types import utcnow
from tests.console.helpers import another_browser, csrf_of, origin, sign_in

OLIVIA, ADAM, SAM = "olivia@demo.example", "adam@demo.example", "sam@demo.example"
BASE = "http://console.example"  # http: the test client keeps a Secure cookie off http
LINK = re.compile(re.escape(BASE) + r"(/console/invitations/[\w-]+)")


@pytest.fixture
async def seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=utcnow() - timedelta(hours=1), conversations=0)


async def signed_in(
    make_client: Any, db: Database, member_id: str, **build: Any
) -> tuple[Any, str]:
    client = await make_client(PUBLIC_BASE_URL=BASE, build=build or None)
    return client, await sign_in(client, db, member_id)


async def post(client: Any, path: str, csrf: str, *, via: Any = None, **data: str) -> Any:
    """A form post from CLIENT's page (VIA: another browser on the same gateway)."""
    return await (via or client).post(
        path, data={"csrf_token": csrf, **data}, headers=origin(client), allow_redirects=False
    )


async def links_to(db: Database, address: str) -> list[str]:
    """The acceptance links emailed to ADDRESS, oldest first (paths on the gateway)."""
    async with db.session() as session:
        rows = await session.scalars(
            select(OutboxRow)
            .where(OutboxRow.address == address, OutboxRow.channel == "email")
            .order_by(OutboxRow.created_at, OutboxRow.id)
        )
        texts = [row.deliverable["text"] for row in rows]
    found = [LINK.search(text) for text in texts]
    assert all(found), texts
    return [m.group(1) for m in found if m]


async def invitation(db: Database, seeded: Seeded, email: str) -> Invitation | None:
    async with db.session() as session:
        return await session.scalar(
            select(Invitation).where(
                Invitation.workspace_id == seeded.workspace_id, Invitation.email == email
            )
        )


async def test_owner_sees_members_and_their_channels(
    make_client: Any, db: Database, seeded: Seeded
) -> None:
    client, _ = await signed_in(make_client, db, seeded.member_ids[OLIVIA])
    response = await client.get("/console/team")
    assert response.status == 200
    html = await response.text()
    for name, email in (("Olivia Owner", OLIVIA), ("Adam Admin", ADAM), ("Sam Support", SAM)):
        assert name in html and email in html
    olivia_row = html[html.index("Olivia Owner") : html.index("Adam Admin")]
    assert "SMS" in olivia_row and "+15550100001" in olivia_row
    assert "Slack" in olivia_row and "U0DEMO001" in olivia_row
    assert "(you)" in olivia_row and "Never" not in olivia_row  # she just signed in
    sam_row = html[html.index("Sam Support") :]
    assert "Never" in sam_row.split("</tr>")[0]
    assert "No pending invitations." in html
    for label in ("Email", "Name", "Role"):
        assert f'">{label}</label>' in html
    assert '<option value="owner"' in html  # an owner may invite owners


async def test_invite_sends_the_link_at_once_and_the_invitee_joins(
    make_client: Any, db: Database, seeded: Seeded
) -> None:
    client, csrf = await signed_in(make_client, db, seeded.member_ids[ADAM])
    response = await post(
        client,
        "/console/team/invitations",
        csrf,
        email="Jo@Acme.com",
        name="Jo <b>Park</b>",
        role="manager",
    )
    assert response.status == 302, await response.text()
    page = await client.get(response.headers["Location"])
    html = await page.text()
    # No email provider here: the page says where the email went instead.
    assert "Invitation made for jo@acme.com. The link works once, for 7 days." in html
    assert "printed in the gateway&#39;s output" in html
    assert "Jo &lt;b&gt;Park&lt;/b&gt;" in html and "<b>Park</b>" not in html
    pending = html[html.index("Pending invitations") :]
    assert "jo@acme.com" in pending and "manager" in pending and "Adam Admin" in pending
    assert "Resend link" in pending and "Cancel" in pending

    invited = await invitation(db, seeded, "jo@acme.com")
    assert invited is not None and invited.status == "pending" and invited.sent_at is not None
    (link,) = await links_to(db, "jo@acme.com")
    async with db.session() as session:
        # The same engine as an approval in chat: an executed proposal with its snapshot.
        proposal = await session.scalar(select(Proposal).where(Proposal.summary.like("invite%")))
        assert proposal is not None and proposal.status == "executed"
        assert proposal.decided_by == seeded.member_ids[ADAM]
        assert await session.scalar(select(Snapshot).where(Snapshot.proposal_id == proposal.id))
    # The invitee, in another browser, accepts and lands in the inbox signed in.
    async with another_browser(client) as guest:
        form = await guest.get(link)
        assert form.status == 200
        accepted = await post(
            client,
            link,
            csrf_of(await form.text()),
            via=guest,
            name="Jo Park",
            password="a long enough pass",
            confirm="a long enough pass",
        )
        assert accepted.status == 302 and accepted.headers["Location"] == "/console/inbox"
        inbox = await guest.get("/console/inbox")
        assert "Jo Park" in await inbox.text()
    after = await (await client.get("/console/team")).text()
    assert "No pending invitations." in after
    assert "Jo Park" in after and "jo@acme.com" in after


async def test_only_owners_invite_owners(make_client: Any, db: Database, seeded: Seeded) -> None:
    client, csrf = await signed_in(make_client, db, seeded.member_ids[ADAM])
    html = await (await client.get("/console/team")).text()
    assert '<option value="owner"' not in html
    response = await post(
        client, "/console/team/invitations", csrf, email="boss@acme.com", role="owner"
    )
    assert response.status == 400
    assert "Only an owner can invite another owner." in await response.text()
    assert await invitation(db, seeded, "boss@acme.com") is None
    assert await links_to(db, "boss@acme.com") == []


async def test_invite_refusals_keep_what_was_typed(
    make_client: Any, db: Database, seeded: Seeded
) -> None:
    client, csrf = await signed_in(make_client, db, seeded.member_ids[OLIVIA])
    response = await post(client, "/console/team/invitations", csrf, email="not-an-address")
    assert response.status == 400
    html = await response.text()
    assert "Enter the email address to invite" in html and 'value="not-an-address"' in html
    response = await post(client, "/console/team/invitations", csrf, email=SAM, role="support")
    assert response.status == 400
    assert "is already a member (Sam Support, support)" in await response.text()


async def test_resend_and_cancel(make_client: Any, db: Database, seeded: Seeded) -> None:
    client, csrf = await signed_in(make_client, db, seeded.member_ids[OLIVIA])
    await post(client, "/console/team/invitations", csrf, email="jo@acme.com", role="support")
    invited = await invitation(db, seeded, "jo@acme.com")
    assert invited is not None
    (first,) = await links_to(db, "jo@acme.com")

    response = await post(client, f"/console/team/invitations/{invited.id}/resend", csrf)
    assert response.status == 302
    html = await (await client.get(response.headers["Location"])).text()
    assert "A new link was made for jo@acme.com; earlier links no longer work." in html
    first_again, second = await links_to(db, "jo@acme.com")
    assert first_again == first and second != first
    async with another_browser(client) as guest:
        assert (await guest.get(first)).status == 400  # the earlier link stopped working
        assert (await guest.get(second)).status == 200

    response = await post(client, f"/console/team/invitations/{invited.id}/cancel", csrf)
    assert response.status == 302
    html = await (await client.get(response.headers["Location"])).text()
    assert "The invitation for jo@acme.com is cancelled" in html
    assert "No pending invitations." in html
    async with another_browser(client) as guest:
        assert (await guest.get(second)).status == 400
    cancelled = await invitation(db, seeded, "jo@acme.com")
    assert cancelled is not None and cancelled.status == "cancelled"
    async with db.session() as session:
        actions = set(
            await session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.actor == f"member:{seeded.member_ids[OLIVIA]}",
                    AuditEntry.target == "jo@acme.com",
                )
            )
        )
    assert {"invitation.send", "invitation.resend", "invitation.cancel"} <= actions
    # Cancelling twice says why, and changes nothing.
    again = await post(client, f"/console/team/invitations/{invited.id}/cancel", csrf)
    assert again.status == 400
    assert "is cancelled" in await again.text()


async def test_forged_and_forbidden_posts_change_nothing(
    make_client: Any, db: Database, seeded: Seeded
) -> None:
    client, csrf = await signed_in(make_client, db, seeded.member_ids[OLIVIA])
    forged = await post(client, "/console/team/invitations", "forged", email="x@acme.com")
    assert forged.status == 403
    cross_site = await client.post(
        "/console/team/invitations",
        data={"csrf_token": csrf, "email": "x@acme.com"},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert cross_site.status == 403
    async with another_browser(client) as support:
        support_csrf = await sign_in(support, db, seeded.member_ids[SAM])
        for path in (
            "/console/team/invitations",
            f"/console/team/members/{seeded.member_ids[SAM]}",
        ):
            response = await post(
                client, path, support_csrf, via=support, email="x@acme.com", role="owner"
            )
            assert response.status == 403
            assert "Team is not available to you" in await response.text()
    assert await invitation(db, seeded, "x@acme.com") is None
    async with db.session() as session:
        sam = await session.get(Member, seeded.member_ids[SAM])
        assert sam is not None and sam.role == "support"


async def test_role_changes_follow_the_tools_rules(
    make_client: Any, db: Database, seeded: Seeded
) -> None:
    client, csrf = await signed_in(make_client, db, seeded.member_ids[OLIVIA])
    sam = seeded.member_ids[SAM]
    response = await post(client, f"/console/team/members/{sam}", csrf, action="role", role="admin")
    assert response.status == 302
    html = await (await client.get(response.headers["Location"])).text()
    assert "Sam Support is now admin and active." in html
    # The last owner cannot step down or be removed.
    olivia = seeded.member_ids[OLIVIA]
    refused = await post(
        client, f"/console/team/members/{olivia}", csrf, action="role", role="admin"
    )
    assert refused.status == 400
    assert "the workspace&#39;s only owner" in await refused.text()
    # An admin cannot touch an owner.
    async with another_browser(client) as admin:
        admin_csrf = await sign_in(admin, db, seeded.member_ids[ADAM])
        path = f"/console/team/members/{olivia}"
        refused = await post(client, path, admin_csrf, via=admin, action="remove")
        assert refused.status == 400
        assert "Only an owner can change an owner" in await refused.text()

    # Removing a member signs them out at once; reactivating brings them back.
    async with another_browser(client) as support:
        await sign_in(support, db, sam)
        removed = await post(client, f"/console/team/members/{sam}", csrf, action="remove")
        assert removed.status == 302
        assert (await support.get("/console/inbox", allow_redirects=False)).status == 302
    back = await post(client, f"/console/team/members/{sam}", csrf, action="reactivate")
    assert back.status == 302
    async with db.session() as session:
        member = await session.get(Member, sam)
        assert member is not None and (member.role, member.status) == ("admin", "active")
        executed = await session.scalar(
            select(func.count())
            .select_from(Proposal)
            .where(Proposal.workspace_id == seeded.workspace_id, Proposal.status == "executed")
        )
    assert executed == 3


async def test_accepting_while_another_writer_commits(
    make_client: Any, db: Database, seeded: Seeded
) -> None:
    """On SQLite, the outbox (or anyone) committing while the invitee's accept is between its
    first read and its first write must not fail the accept."""
    if not db.url.startswith("sqlite"):
        pytest.skip("a SQLite locking case")
    # No background workers: the listener below runs on the event loop and blocks it while it
    # writes, so a worker caught holding the write lock could never release it.
    client, csrf = await signed_in(make_client, db, seeded.member_ids[OLIVIA], run_workers=False)
    await post(client, "/console/team/invitations", csrf, email="jo@acme.com", role="support")
    (link,) = await links_to(db, "jo@acme.com")
    engine = client.server.app[GATEWAY].db.engine.sync_engine
    path = db.url.split("///", 1)[1]
    fired: list[str] = []

    def another_writer(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not fired and statement.lstrip().startswith("SELECT") and "one_time_tokens" in statement:
            fired.append(statement)
            with contextlib.closing(sqlite3.connect(path, timeout=10)) as other:
                other.execute("UPDATE workspaces SET name = name")
                other.commit()

    async with another_browser(client) as guest:
        form = await guest.get(link)
        event.listen(engine, "after_cursor_execute", another_writer)
        try:
            accepted = await post(
                client,
                link,
                csrf_of(await form.text()),
                via=guest,
                name="Jo",
                password="a long enough pass",
                confirm="a long enough pass",
            )
        finally:
            event.remove(engine, "after_cursor_execute", another_writer)
        assert fired
        assert accepted.status == 302, await accepted.text()
