"""The customer's CSAT survey page (`/csat/{token}`): signed links, no API key."""

from __future__ import annotations

import html

from aiohttp import web

from api.admin.mailing import assist_links, email_identity
from api.http import problem
from api.state import GATEWAY
from core.assists.csat import csat_key, read_csat_token, record_csat
from core.assists.notify import notify_team
from storage.domain import Assist
from storage.types import utcnow

_CSAT_LABELS = {5: "Great", 4: "Good", 3: "OK", 2: "Poor", 1: "Bad"}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    document = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=document, status=status, content_type="text/html")


def _rating_form(token: str) -> str:
    buttons = "".join(
        f'<button name=rating value={n} style="margin:.2rem;padding:.5rem 1rem">'
        f"{n} - {label}</button>"
        for n, label in _CSAT_LABELS.items()
    )
    return f'<form method=post action="/csat/{html.escape(token)}">{buttons}</form>'


async def csat(request: web.Request) -> web.Response:
    """`GET /csat/{token}?rating=N` (the one-click link in the email) or `POST` with a `rating`
    form field records the rating; `GET` without one shows the choices. The token is signed
    with SWITCHBOARD_SECRET_KEY: forged, altered or expired ones get 404, as do all without
    a key. A rating of 2 or less is flagged on the assist and the team is told."""
    gw = request.app[GATEWAY]
    secret = gw.settings.switchboard_secret_key
    token = request.match_info["token"]
    now = utcnow()
    assist_id = (
        read_csat_token(csat_key(secret.get_secret_value().encode()), token, now)
        if secret is not None
        else None
    )
    if assist_id is None:
        raise problem(404, "this survey link is not valid (or has expired)")
    if request.method == "POST":
        try:
            form = await request.post()
        except ValueError as exc:  # a body that is not UTF-8, or a broken multipart form
            raise problem(400, "the form body cannot be read") from exc
        given = form.get("rating")
    else:
        given = request.query.get("rating")
    if given is None:
        return _page("How did we do?", _rating_form(token))
    if not isinstance(given, str) or given.strip() not in {"1", "2", "3", "4", "5"}:
        raise problem(400, "rating must be 1, 2, 3, 4 or 5")
    rating = int(given)
    identity = email_identity(gw)
    async with gw.db.session() as session:
        x = await session.get(Assist, assist_id)
        if x is None:
            raise problem(404, "this survey link is not valid (or has expired)")
        result = await record_csat(session, x, rating, now=now)
        if result.negative and result.changed and identity is not None:
            await notify_team(
                session,
                x,
                title=f"[{x.ref}] Negative rating: {rating}/5",
                text=f"The customer of {x.ref} ({x.subject or 'no subject'}) rated our help "
                f"{rating}/5. The assist is flagged; please follow up.\n\n"
                + assist_links(gw).assist_pointer(x.ref),
                dedupe_key=f"csat:{x.id}:{now.isoformat()}",
                identity=identity,
            )
    gw.wake_outbox()
    thanks = (
        "Thank you! We're sorry it wasn't better: the team will follow up."
        if (result.negative)
        else "Thank you for your feedback!"
    )
    return _page(
        thanks,
        f"<p>You rated our help {rating} of 5 ({_CSAT_LABELS[rating]}). "
        "Changed your mind? Choose again:</p>" + _rating_form(token),
    )
