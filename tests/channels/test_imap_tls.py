"""IMAP polling over TLS: the simulator serves implicit TLS (993's way) and STARTTLS (143's)
with a certificate from a CA made in the test, which the gateway trusts through the standard
SSL_CERT_FILE. The poller logs in only over TLS, fetches and answers, and marks a message
\\Seen only once its task is committed; a certificate it does not trust is refused with an
error in the log, nothing sent to the server, and the message left unseen there."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from channels.email.imap import ImapConfig, ImapPoller
from storage.db import Database
from storage.models import TaskRow
from storage.types import utcnow
from tests.channels.email_helpers import INBOX, email_settings, seed, start, stored_rows
from tests.channels.email_payloads import simple_email
from tests.sims.certs import Certificates, make_certificates
from tests.sims.imap import ImapSim
from tests.sims.sendgrid import SendGridSim

CUSTOMER = "jane.roe@mail.example"
SECURED = pytest.mark.parametrize("security", ["tls", "starttls"])


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "certs")


@pytest.fixture
async def sims() -> AsyncIterator[list[ImapSim]]:
    started: list[ImapSim] = []
    yield started
    for sim in started:
        await sim.close()


async def _sim(sims: list[ImapSim], **fields: Any) -> ImapSim:
    sim = ImapSim(**fields)
    await sim.start()
    sims.append(sim)
    return sim


async def _poller(
    make_client: Any, db: Database, sendgrid_sim: SendGridSim, sim: ImapSim, security: str
) -> ImapPoller:
    mailroom = await start(
        make_client,
        db,
        **email_settings(sendgrid_sim),
        IMAP_HOST=sim.host,
        IMAP_PORT=sim.port,
        IMAP_USER=sim.user,
        IMAP_PASSWORD=sim.password,
        IMAP_SECURITY=security,
    )
    config = ImapConfig.from_settings(mailroom.gateway.settings)
    assert config is not None
    return ImapPoller(mailroom.gateway, config)


async def _email_tasks(db: Database) -> list[TaskRow]:
    async with db.session() as session:
        return list(await session.scalars(select(TaskRow).where(TaskRow.channel == "email")))


def _parcel(sim: ImapSim) -> int:
    return sim.add(
        simple_email(
            sender=f"Jane Roe <{CUSTOMER}>",
            to=INBOX,
            subject="Where is my parcel?",
            text="My order #5521 has not arrived yet.",
            message_id="<parcel-1@mail.example>",
        )
    )


@SECURED
async def test_the_poller_fetches_over_tls_and_marks_seen_after_the_commit(
    db: Database,
    make_client: Any,
    sendgrid_sim: SendGridSim,
    sims: list[ImapSim],
    certs: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    security: str,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))
    await seed(db)
    sim = await _sim(sims, security=security, ssl_context=certs.server_context())
    poller = await _poller(make_client, db, sendgrid_sim, sim, security)
    uid = _parcel(sim)
    committed_at_store: list[list[str | None]] = []

    async def on_store(stored_uid: int) -> None:
        assert stored_uid == uid
        committed_at_store.append([t.external_id for t in await _email_tasks(db)])

    sim.on_store = on_store

    assert await poller.poll() == 1
    # When the gateway asked for \Seen, the message's task was already in the database.
    assert committed_at_store == [["<parcel-1@mail.example>"]]
    assert sim.unseen() == []
    assert sim.logins == 1 and sim.tls_logins == 1
    if security == "starttls":
        assert sim.commands.index("STARTTLS") < sim.commands.index("LOGIN")
    await sendgrid_sim.wait_for(1)
    (answer,) = sendgrid_sim.mails()
    assert answer["personalizations"][0]["to"][0]["email"] == CUSTOMER


@SECURED
async def test_a_certificate_the_gateway_does_not_trust_is_refused_and_nothing_is_lost(
    db: Database,
    make_client: Any,
    sendgrid_sim: SendGridSim,
    sims: list[ImapSim],
    certs: Certificates,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    security: str,
) -> None:
    # The gateway trusts another CA than the one that signed the server's certificate.
    other = make_certificates(tmp_path / "other", ca_name="Some Other CA")
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_file))
    await seed(db)
    sim = await _sim(sims, security=security, ssl_context=certs.server_context())
    poller = await _poller(make_client, db, sendgrid_sim, sim, security)
    uid = _parcel(sim)
    before = await stored_rows(db)

    with caplog.at_level(logging.WARNING):
        await poller(utcnow())

    [refused] = [r for r in caplog.records if r.name == "channels.email.imap"]
    assert refused.levelno == logging.ERROR
    assert "certificate is not trusted" in refused.getMessage()
    assert "SSL_CERT_FILE" in refused.getMessage()
    assert sim.password not in caplog.text
    # Nothing was sent past the handshake: no login, the message still unseen there.
    assert sim.logins == 0 and "LOGIN" not in sim.commands
    assert sim.unseen() == [uid]
    assert await stored_rows(db) == before

    # Trusted once SSL_CERT_FILE holds the right CA: the same message is fetched then.
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))
    assert await poller.poll() == 1
    assert sim.unseen() == []


async def test_starttls_never_logs_in_in_clear_to_a_server_without_it(
    db: Database,
    make_client: Any,
    sendgrid_sim: SendGridSim,
    sims: list[ImapSim],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(db)
    sim = await _sim(sims, security="none")
    poller = await _poller(make_client, db, sendgrid_sim, sim, "starttls")
    uid = _parcel(sim)

    with caplog.at_level(logging.WARNING):
        await poller(utcnow())

    assert "TLS not supported by server" in caplog.text
    assert sim.logins == 0 and "LOGIN" not in sim.commands
    assert sim.unseen() == [uid]
