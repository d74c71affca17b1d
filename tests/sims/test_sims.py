"""The provider simulators, driven by the real official SDKs over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import httpx
import openai
import pytest
import pytest_asyncio
import telegram
from aiohttp import web
from aiohttp.test_utils import TestServer
from elevenlabs import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError as ElevenLabsApiError
from python_http_client import exceptions as sendgrid_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment, Mail
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from twilio.base.exceptions import TwilioRestException
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client as TwilioClient

from tests.helpers import wait_until
from tests.sims.base import Simulator
from tests.sims.elevenlabs import ElevenLabsSim, silent_mp3
from tests.sims.openai import OpenAISim, Reply
from tests.sims.sendgrid import SendGridSim
from tests.sims.slack import SlackSim
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import CompatAsyncTwilioHttpClient, TwilioSim, twilio_client_for

# Timeout for clients facing a stalled simulator: short to keep the suite fast. Every other
# client gets a generous one, so that a loaded CI machine cannot make a test flaky.
CLIENT_TIMEOUT = 0.3
GENEROUS_TIMEOUT = 10.0


async def _raw_post(sim: Simulator, path: str, **kwargs: object) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(sim.url + path, **kwargs) as resp:
        return resp.status, await resp.text()


# ---------------------------------------------------------------------------- helpers


async def test_wait_until_returns_the_truthy_value() -> None:
    box: list[int] = []
    asyncio.get_running_loop().call_soon(box.append, 7)

    assert await wait_until(lambda: box, timeout=1.0) == [7]


async def test_wait_until_accepts_async_and_asserting_predicates() -> None:
    calls = 0

    async def ready() -> bool:
        nonlocal calls
        calls += 1
        assert calls >= 3, "not yet"
        return True

    assert await wait_until(ready, timeout=1.0) is True
    assert calls == 3


async def test_wait_until_times_out_with_a_useful_message() -> None:
    with pytest.raises(
        AssertionError, match=r"queue drained not met within 0.05s \(last value: 0\)"
    ):
        await wait_until(lambda: 0, timeout=0.05, message="queue drained")


# ---------------------------------------------------------------------------- base


async def test_simulators_bind_distinct_ephemeral_loopback_ports() -> None:
    async with SlackSim() as first, SlackSim() as second:
        assert first.url.startswith("http://127.0.0.1:")
        assert first.url != second.url
        assert int(first.url.rsplit(":", 1)[1]) > 0


async def test_recorded_request_is_immutable(slack_sim: SlackSim) -> None:
    status, _ = await _raw_post(slack_sim, "/api/auth.test?x=1", data={"a": "b"})

    record = slack_sim.last("auth.test")
    assert status == 200
    assert (record.method, record.query["x"], record.form["a"], record.params) == (
        "POST",
        "1",
        "b",
        {"x": "1", "a": "b"},
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.path = "/elsewhere"  # type: ignore[misc]


async def test_wait_for_reports_what_arrived_instead(slack_sim: SlackSim) -> None:
    await _raw_post(slack_sim, "/api/auth.test")

    with pytest.raises(AssertionError, match=r"chat.postMessage.*got 0.*POST /api/auth.test"):
        await slack_sim.wait_for(1, path="chat.postMessage", timeout=0.05)


async def test_faults_queue_in_order_and_respect_their_path(slack_sim: SlackSim) -> None:
    slack_sim.fail(503, path="chat.postMessage")
    slack_sim.forbid(path="chat.postMessage")

    statuses = [
        (await _raw_post(slack_sim, "/api/auth.test"))[0],
        (await _raw_post(slack_sim, "/api/chat.postMessage"))[0],
        (await _raw_post(slack_sim, "/api/chat.postMessage"))[0],
        (await _raw_post(slack_sim, "/api/chat.postMessage"))[0],
    ]

    assert statuses == [200, 503, 403, 200]
    assert [r.fault for r in slack_sim.requests] == [None, "fail", "forbid", None]


async def test_stalled_request_is_released_when_the_simulator_closes() -> None:
    sim = await SlackSim().start()
    sim.stall()
    pending = asyncio.create_task(_raw_post(sim, "/api/auth.test"))
    await sim.wait_for(1)
    await wait_until(lambda: sim.stalled == 1, timeout=1.0)

    async with asyncio.timeout(3):
        await sim.close()
        outcome = await asyncio.gather(pending, return_exceptions=True)

    assert sim.stalled == 0
    assert isinstance(outcome[0], aiohttp.ClientError) or outcome[0][0] == 503


async def test_release_stalled_lets_held_requests_answer_normally(slack_sim: SlackSim) -> None:
    slack_sim.stall()
    pending = asyncio.create_task(_raw_post(slack_sim, "/api/auth.test"))
    await wait_until(lambda: slack_sim.stalled == 1, timeout=1.0)

    slack_sim.release_stalled()

    status, body = await asyncio.wait_for(pending, timeout=2)
    assert status == 200
    assert json.loads(body) == {"ok": False, "error": "not_authed"}


# ---------------------------------------------------------------------------- Slack


def _slack(sim: SlackSim, **kwargs: object) -> AsyncWebClient:
    return AsyncWebClient(token=sim.token, base_url=sim.api_url, **kwargs)  # type: ignore[arg-type]


async def test_slack_sdk_posts_updates_uploads_and_looks_up(slack_sim: SlackSim) -> None:
    client = _slack(slack_sim)
    slack_sim.add_user("U0ANN", name="ann", email="ann@example.com", tz="Europe/Berlin")
    slack_sim.add_channel("C0SUPPORT", name="support")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*3* open assists"}}]

    auth = await client.auth_test()
    posted = await client.chat_postMessage(
        channel="C0SUPPORT", text="3 open assists", blocks=blocks, thread_ts="1700000000.000100"
    )
    updated = await client.chat_update(channel="C0SUPPORT", ts=posted["ts"], text="2 open assists")
    ephemeral = await client.chat_postEphemeral(channel="C0SUPPORT", user="U0ANN", text="psst")
    upload = await client.files_upload_v2(
        channel="C0SUPPORT",
        filename="report.csv",
        content=b"assist,status\r\nA-1042,open\n",
        title="Weekly report",
        initial_comment="Here it is",
    )
    channel = await client.conversations_info(channel="C0SUPPORT")
    user = await client.users_info(user="U0ANN")

    assert auth["user_id"] == slack_sim.bot_user_id
    assert posted["channel"] == "C0SUPPORT"
    assert posted["message"]["blocks"] == blocks
    assert updated["text"] == "2 open assists"
    assert ephemeral["message_ts"]
    assert upload["file"]["title"] == "Weekly report"
    assert channel["channel"]["name"] == "support"
    assert user["user"]["profile"]["email"] == "ann@example.com"
    sent = slack_sim.args("chat.postMessage")[0]
    assert (sent["channel"], sent["text"], sent["thread_ts"]) == (
        "C0SUPPORT",
        "3 open assists",
        "1700000000.000100",
    )
    assert slack_sim.posted("C0SUPPORT")[0]["text"] == "2 open assists"
    stored = slack_sim.uploads[upload["file"]["id"]]
    assert stored["data"] == b"assist,status\r\nA-1042,open\n"
    assert stored["channels"] == ["C0SUPPORT"]
    assert stored["initial_comment"] == "Here it is"
    api_calls = slack_sim.calls("/api/chat.postMessage")
    assert api_calls[0].headers["Authorization"] == f"Bearer {slack_sim.token}"


async def test_slack_rejects_a_wrong_token_like_slack(slack_sim: SlackSim) -> None:
    client = AsyncWebClient(token="xoxb-wrong", base_url=slack_sim.api_url)

    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="hi")

    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == "invalid_auth"


async def test_slack_sdk_retries_a_500(slack_sim: SlackSim) -> None:
    retry = AsyncServerErrorRetryHandler(
        max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )
    client = _slack(slack_sim, retry_handlers=[retry])
    slack_sim.fail(500)

    response = await client.chat_postMessage(channel="C1", text="after a 500")

    assert response["ok"] is True
    assert [r.fault for r in slack_sim.calls("chat.postMessage")] == ["fail", None]
    assert slack_sim.posted()[0]["text"] == "after a 500"


async def test_slack_429_exposes_retry_after(slack_sim: SlackSim) -> None:
    slack_sim.throttle(retry_after=7)

    with pytest.raises(SlackApiError) as caught:
        await _slack(slack_sim).chat_postMessage(channel="C1", text="hi")

    response = caught.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response["error"] == "ratelimited"
    assert slack_sim.posted() == []


async def test_slack_stall_hits_the_client_timeout(slack_sim: SlackSim) -> None:
    # The SDK's default retry handler covers connection errors only, not this timeout.
    client = _slack(slack_sim, timeout=CLIENT_TIMEOUT)
    slack_sim.stall()

    with pytest.raises(TimeoutError):
        await client.chat_postMessage(channel="C1", text="hi")

    assert len(slack_sim.calls("chat.postMessage")) == 1
    # The client hung up, so the simulator stops holding the request.
    await wait_until(lambda: slack_sim.stalled == 0, timeout=2.0)


async def test_slack_malformed_and_forbidden_answers_raise(slack_sim: SlackSim) -> None:
    client = _slack(slack_sim)
    slack_sim.malformed()
    slack_sim.forbid(error="not_in_channel")

    with pytest.raises(SlackApiError, match="non-JSON"):
        await client.chat_postMessage(channel="C1", text="one")
    with pytest.raises(SlackApiError) as forbidden:
        await client.chat_postMessage(channel="C1", text="two")

    assert forbidden.value.response.status_code == 403
    assert forbidden.value.response["error"] == "not_in_channel"


# ---------------------------------------------------------------------------- Telegram


def _bot(sim: TelegramSim, **kwargs: object) -> telegram.Bot:
    return telegram.Bot(
        sim.token,
        base_url=sim.base_url,
        base_file_url=sim.base_file_url,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_telegram_bot_sends_edits_uploads_and_downloads(telegram_sim: TelegramSim) -> None:
    keyboard = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("Approve", callback_data="approve:P-7")]]
    )
    async with _bot(telegram_sim) as bot:
        sent = await bot.send_message(chat_id=4242, text="Close 12 assists?", reply_markup=keyboard)
        edited = await bot.edit_message_text(
            chat_id=4242, message_id=sent.message_id, text="Closed 12 assists"
        )
        unmarked = await bot.edit_message_reply_markup(chat_id=4242, message_id=sent.message_id)
        answered = await bot.answer_callback_query("cbq-1", text="Done")
        photo = await bot.send_photo(
            chat_id=4242,
            photo=b"\x89PNG\r\n\x1a\nchart",
            caption="Resolution rate",
            filename="chart.png",
        )
        document = await bot.send_document(
            chat_id=4242, document=b"a,b\r\n1,2\n", filename="report.csv", caption="Report"
        )
        typing = await bot.send_chat_action(chat_id=4242, action="typing")
        hooked = await bot.set_webhook("https://gw.example/telegram/webhook", secret_token="s3cr3t")
        unhooked = await bot.delete_webhook()
        file = await bot.get_file(document.document.file_id)
        downloaded = bytes(await file.download_as_bytearray())

    assert bot.username == "switchboard_sim_bot"
    assert (sent.message_id, sent.chat.id, sent.text) == (1, 4242, "Close 12 assists?")
    assert sent.reply_markup == keyboard
    assert edited.text == "Closed 12 assists"
    assert isinstance(unmarked, telegram.Message)
    assert unmarked.reply_markup is None
    assert answered and typing and hooked and unhooked
    assert photo.message_id == sent.message_id + 1
    assert photo.caption == "Resolution rate"
    assert document.document.file_name == "report.csv"
    assert downloaded == b"a,b\r\n1,2\n"
    assert telegram_sim.params("sendMessage")[0]["chat_id"] == 4242
    assert telegram_sim.params("sendMessage")[0]["reply_markup"] == keyboard.to_dict()
    assert telegram_sim.params("setWebhook")[0]["secret_token"] == "s3cr3t"
    assert telegram_sim.callback_answers[0]["text"] == "Done"
    assert telegram_sim.chat_actions[0]["action"] == "typing"
    assert telegram_sim.webhook is None
    upload = telegram_sim.last("/sendPhoto").files["photo"]
    assert (upload.filename, upload.data) == ("chart.png", b"\x89PNG\r\n\x1a\nchart")
    assert telegram_sim.last("/sendPhoto").form["caption"] == "Resolution rate"
    assert [m["text"] for m in telegram_sim.messages(4242) if "text" in m] == ["Closed 12 assists"]


async def test_telegram_get_updates_long_polls_until_an_update_is_pushed(
    telegram_sim: TelegramSim,
) -> None:
    async with _bot(telegram_sim) as bot:
        polling = asyncio.create_task(bot.get_updates(timeout=5))
        await telegram_sim.wait_for(1, path="/getUpdates")

        pushed = telegram_sim.push_message(4242, "/start hello", username="ann")
        updates = await asyncio.wait_for(polling, timeout=3)
        confirmed = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)

    assert [u.update_id for u in updates] == [pushed["update_id"]]
    assert updates[0].message.text == "/start hello"
    assert updates[0].message.from_user.username == "ann"
    assert confirmed == ()
    assert telegram_sim.pending_updates == 0


async def test_telegram_wrong_token_is_unauthorized(telegram_sim: TelegramSim) -> None:
    # Through ``async with``: Bot.shutdown() is a no-op (the httpx client leaks) unless the
    # bot was initialized first, and initializing is what raises here.
    with pytest.raises(telegram.error.InvalidToken, match="rejected by the server"):
        async with telegram.Bot("999:wrong", base_url=telegram_sim.base_url):
            pass

    assert telegram_sim.last().path == "/bot999:wrong/getMe"


async def test_telegram_500_then_our_retry(telegram_sim: TelegramSim) -> None:
    telegram_sim.fail(500, path="/sendMessage")
    async with _bot(telegram_sim) as bot:
        with pytest.raises(telegram.error.NetworkError, match="Internal Server Error"):
            await bot.send_message(chat_id=1, text="first try")
        retried = await bot.send_message(chat_id=1, text="first try")

    assert retried.text == "first try"
    assert [r.fault for r in telegram_sim.calls("/sendMessage")] == ["fail", None]


async def test_telegram_429_raises_retry_after_with_the_seconds(
    telegram_sim: TelegramSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22 warns (PTBDeprecationWarning) while *building* RetryAfter unless opted in to
    # timedelta periods; production must set PTB_TIMEDELTA=1 too.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    telegram_sim.throttle(retry_after=3, path="/sendMessage")

    async with _bot(telegram_sim) as bot:
        with pytest.raises(telegram.error.RetryAfter) as caught:
            await bot.send_message(chat_id=1, text="too fast")

    assert caught.value.retry_after == timedelta(seconds=3)
    assert telegram_sim.messages() == []


async def test_telegram_stall_hits_the_read_timeout(telegram_sim: TelegramSim) -> None:
    async with _bot(telegram_sim) as bot:
        telegram_sim.stall(path="/sendMessage")
        with pytest.raises(telegram.error.TimedOut):
            await bot.send_message(chat_id=1, text="hello?", read_timeout=CLIENT_TIMEOUT)


async def test_telegram_malformed_and_forbidden_answers_raise(telegram_sim: TelegramSim) -> None:
    async with _bot(telegram_sim) as bot:
        telegram_sim.malformed(path="/sendMessage")
        telegram_sim.forbid(path="/sendMessage")
        with pytest.raises(telegram.error.TelegramError, match="Invalid server response"):
            await bot.send_message(chat_id=1, text="one")
        with pytest.raises(telegram.error.Forbidden, match="blocked by the user"):
            await bot.send_message(chat_id=1, text="two")


async def test_telegram_rejects_text_over_4096_characters(telegram_sim: TelegramSim) -> None:
    async with _bot(telegram_sim) as bot:
        with pytest.raises(telegram.error.BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(chat_id=1, text="x" * 4097)


# ---------------------------------------------------------------------------- Twilio


@pytest_asyncio.fixture
async def twilio_client(twilio_sim: TwilioSim) -> AsyncIterator[TwilioClient]:
    client = twilio_client_for(twilio_sim, timeout=GENEROUS_TIMEOUT)
    yield client
    await client.http_client.close()  # type: ignore[attr-defined]


async def test_twilio_client_sends_sms_whatsapp_and_calls(
    twilio_sim: TwilioSim, twilio_client: TwilioClient
) -> None:
    sms = await twilio_client.messages.create_async(
        to="+15551230001",
        from_="+15559870000",
        body="Your assist A-1042 is closed",
        media_url=["https://gw.example/media/a.png", "https://gw.example/media/b.png"],
        status_callback="https://gw.example/twilio/status",
    )
    whatsapp = await twilio_client.messages.create_async(
        to="whatsapp:+15551230001", from_="whatsapp:+15559870000", body="Hi on WhatsApp"
    )
    fetched = await twilio_client.messages(sms.sid).fetch_async()
    call = await twilio_client.calls.create_async(
        to="+15551230001", from_="+15559870000", url="https://gw.example/twilio/voice"
    )
    hung_up = await twilio_client.calls(call.sid).update_async(status="completed")

    assert sms.sid.startswith("MM") and whatsapp.sid.startswith("SM")
    assert (sms.status, sms.num_media, fetched.body) == (
        "queued",
        "2",
        "Your assist A-1042 is closed",
    )
    assert call.sid.startswith("CA") and hung_up.status == "completed"
    sent = twilio_sim.message_params()[0]
    assert sent["To"] == "+15551230001"
    assert sent["Body"] == "Your assist A-1042 is closed"
    assert sent["MediaUrl"] == ["https://gw.example/media/a.png", "https://gw.example/media/b.png"]
    assert sent["StatusCallback"] == "https://gw.example/twilio/status"
    assert twilio_sim.sent(to="whatsapp:+15551230001")[0]["body"] == "Hi on WhatsApp"
    credentials = f"{twilio_sim.account_sid}:{twilio_sim.auth_token}".encode()
    expected_auth = "Basic " + base64.b64encode(credentials).decode()
    assert twilio_sim.last("/Messages.json").headers["Authorization"] == expected_auth
    assert twilio_sim.last("/Calls.json").form["Url"] == "https://gw.example/twilio/voice"


async def test_twilio_status_callback_is_signed_like_twilio(
    twilio_sim: TwilioSim, twilio_client: TwilioClient
) -> None:
    received: list[tuple[str, dict[str, str], bool]] = []

    async def status_hook(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        valid = RequestValidator(twilio_sim.auth_token).validate(
            str(request.url), form, request.headers["X-Twilio-Signature"]
        )
        received.append((request.path, form, valid))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/twilio/status", status_hook)
    async with TestServer(app, host="127.0.0.1") as server:
        callback = str(server.make_url("/twilio/status"))
        message = await twilio_client.messages.create_async(
            to="+15551230001", from_="+15559870000", body="hi", status_callback=callback
        )
        status = await twilio_sim.advance(message.sid, "delivered")
        fetched = await twilio_client.messages(message.sid).fetch_async()

    assert status == 204
    assert fetched.status == "delivered"
    path, form, valid = received[0]
    assert (path, valid) == ("/twilio/status", True)
    assert (form["MessageSid"], form["MessageStatus"]) == (message.sid, "delivered")


async def test_twilio_rejects_wrong_credentials(twilio_sim: TwilioSim) -> None:
    client = twilio_client_for(twilio_sim)
    client.password = "wrong"
    client.auth = (client.username, "wrong")
    try:
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to="+15551230001", from_="+15559870000", body="x")
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]

    assert (caught.value.status, caught.value.code) == (401, 20003)


async def test_twilio_sdk_retries_a_500(twilio_sim: TwilioSim) -> None:
    client = twilio_client_for(twilio_sim, max_retries=2)
    twilio_sim.fail(500)
    try:
        message = await client.messages.create_async(
            to="+15551230001", from_="+15559870000", body="after a 500"
        )
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]

    assert message.status == "queued"
    assert [r.fault for r in twilio_sim.calls("/Messages.json")] == ["fail", None]
    assert len(twilio_sim.sent()) == 1


class _RecordingHttpClient(CompatAsyncTwilioHttpClient):
    """Keeps the raw responses: TwilioRestException carries no headers."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.responses: list[TwilioResponse] = []

    async def request(self, *args: object, **kwargs: object) -> TwilioResponse:
        response = await super().request(*args, **kwargs)  # type: ignore[arg-type]
        self.responses.append(response)
        return response


async def test_twilio_429_has_code_20429_and_retry_after(twilio_sim: TwilioSim) -> None:
    http_client = _RecordingHttpClient(timeout=GENEROUS_TIMEOUT)
    client = TwilioClient(twilio_sim.account_sid, twilio_sim.auth_token, http_client=http_client)
    client.api.base_url = twilio_sim.url
    twilio_sim.throttle(retry_after=5)
    try:
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to="+15551230001", from_="+15559870000", body="x")
    finally:
        await http_client.close()

    assert (caught.value.status, caught.value.code) == (429, 20429)
    assert http_client.responses[-1].headers["Retry-After"] == "5"


async def test_twilio_stall_hits_the_client_timeout(twilio_sim: TwilioSim) -> None:
    client = twilio_client_for(twilio_sim, timeout=CLIENT_TIMEOUT)
    twilio_sim.stall()

    try:
        with pytest.raises(TimeoutError):
            await client.messages.create_async(to="+15551230001", from_="+15559870000", body="x")
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]


async def test_twilio_malformed_and_forbidden_answers_raise(
    twilio_sim: TwilioSim, twilio_client: TwilioClient
) -> None:
    twilio_sim.malformed()
    twilio_sim.forbid()

    # The SDK does not wrap a body it cannot parse: it is json.JSONDecodeError (a ValueError).
    with pytest.raises(json.JSONDecodeError):
        await twilio_client.messages.create_async(to="+15551230001", from_="+15559870000", body="x")
    with pytest.raises(TwilioRestException) as forbidden:
        await twilio_client.messages.create_async(to="+15551230001", from_="+15559870000", body="x")

    assert (forbidden.value.status, forbidden.value.code) == (403, 20403)


async def test_twilio_validates_numbers_like_twilio(
    twilio_sim: TwilioSim, twilio_client: TwilioClient
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await twilio_client.messages.create_async(to="12345", from_="+15559870000", body="x")

    assert (caught.value.status, caught.value.code) == (400, 21211)
    assert twilio_sim.sent() == []


# ---------------------------------------------------------------------------- SendGrid


def _sendgrid(sim: SendGridSim, *, timeout: float | None = None) -> SendGridAPIClient:
    client = SendGridAPIClient(sim.api_key, host=sim.host)
    client.client.timeout = timeout  # python_http_client passes it down to urllib
    return client


def _mail() -> Mail:
    mail = Mail(
        from_email="switchboard@acme.example",
        to_emails="manager@acme.example",
        subject="Daily inbox summary",
        plain_text_content="3 open assists",
        html_content="<p>3 open assists</p>",
    )
    mail.attachment = Attachment(
        file_content=base64.b64encode(b"a,b\n1,2\n").decode(),
        file_name="summary.csv",
        file_type="text/csv",
        disposition="attachment",
    )
    return mail


async def test_sendgrid_client_sends_mail(sendgrid_sim: SendGridSim) -> None:
    response = await asyncio.to_thread(_sendgrid(sendgrid_sim).send, _mail())

    assert response.status_code == 202
    assert response.body == b""
    message_id, mail = sendgrid_sim.accepted[0]
    assert response.headers["X-Message-Id"] == message_id
    assert sendgrid_sim.recipients() == ["manager@acme.example"]
    assert mail["subject"] == "Daily inbox summary"
    assert {c["type"]: c["value"] for c in mail["content"]} == {
        "text/plain": "3 open assists",
        "text/html": "<p>3 open assists</p>",
    }
    assert base64.b64decode(mail["attachments"][0]["content"]) == b"a,b\n1,2\n"
    record = sendgrid_sim.last("/v3/mail/send")
    assert record.headers["Authorization"] == f"Bearer {sendgrid_sim.api_key}"


async def test_sendgrid_rejects_bad_key_and_bad_mail(sendgrid_sim: SendGridSim) -> None:
    wrong = SendGridAPIClient("SG.wrong", host=sendgrid_sim.host)
    incomplete = {"personalizations": [{"to": [{"email": "a@b.example"}]}], "subject": "x"}

    with pytest.raises(sendgrid_errors.UnauthorizedError):
        await asyncio.to_thread(wrong.send, _mail())
    with pytest.raises(sendgrid_errors.BadRequestsError) as bad:
        await asyncio.to_thread(_sendgrid(sendgrid_sim).send, incomplete)

    assert {e["field"] for e in bad.value.to_dict["errors"]} == {"from", "content"}
    assert sendgrid_sim.accepted == []


async def test_sendgrid_500_then_our_retry(sendgrid_sim: SendGridSim) -> None:
    client = _sendgrid(sendgrid_sim)
    sendgrid_sim.fail(500)

    with pytest.raises(sendgrid_errors.InternalServerError):
        await asyncio.to_thread(client.send, _mail())
    response = await asyncio.to_thread(client.send, _mail())

    assert response.status_code == 202
    assert len(sendgrid_sim.accepted) == 1


async def test_sendgrid_429_exposes_retry_after(sendgrid_sim: SendGridSim) -> None:
    sendgrid_sim.throttle(retry_after=9)

    with pytest.raises(sendgrid_errors.TooManyRequestsError) as caught:
        await asyncio.to_thread(_sendgrid(sendgrid_sim).send, _mail())

    assert caught.value.headers["Retry-After"] == "9"
    assert caught.value.to_dict["errors"][0]["message"] == "too many requests"


async def test_sendgrid_stall_hits_the_client_timeout(sendgrid_sim: SendGridSim) -> None:
    sendgrid_sim.stall()

    with pytest.raises(TimeoutError):
        await asyncio.to_thread(_sendgrid(sendgrid_sim, timeout=CLIENT_TIMEOUT).send, _mail())


async def test_sendgrid_forbidden_and_malformed(sendgrid_sim: SendGridSim) -> None:
    client = _sendgrid(sendgrid_sim)
    sendgrid_sim.forbid()
    sendgrid_sim.malformed()

    with pytest.raises(sendgrid_errors.ForbiddenError) as forbidden:
        await asyncio.to_thread(client.send, _mail())
    # mail/send has no body to parse: a garbage 200 is only visible as "not 202".
    odd = await asyncio.to_thread(client.send, _mail())

    assert "verified Sender Identity" in forbidden.value.to_dict["errors"][0]["message"]
    assert odd.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        odd.to_dict  # noqa: B018 - the property parses the body


# ---------------------------------------------------------------------------- ElevenLabs


@pytest_asyncio.fixture
async def eleven(elevenlabs_sim: ElevenLabsSim) -> AsyncIterator[AsyncElevenLabs]:
    # Own the httpx client so that it is closed (the SDK's AsyncElevenLabs has no aclose).
    async with httpx.AsyncClient(timeout=GENEROUS_TIMEOUT) as http:
        yield AsyncElevenLabs(
            api_key=elevenlabs_sim.api_key, base_url=elevenlabs_sim.base_url, httpx_client=http
        )


async def _speak(client: AsyncElevenLabs, voice_id: str, text: str, **kwargs: object) -> bytes:
    chunks = client.text_to_speech.convert(voice_id, text=text, **kwargs)  # type: ignore[arg-type]
    return b"".join([chunk async for chunk in chunks])


async def test_elevenlabs_sdk_synthesizes_streams_and_lists_voices(
    elevenlabs_sim: ElevenLabsSim, eleven: AsyncElevenLabs
) -> None:
    text = "Your assist A-1042 was closed."
    audio = await _speak(eleven, elevenlabs_sim.voice_id, text, model_id="eleven_flash_v2_5")
    streamed = b"".join(
        [c async for c in eleven.text_to_speech.stream(elevenlabs_sim.voice_id, text=text)]
    )
    telephony = await _speak(eleven, elevenlabs_sim.voice_id, text, output_format="ulaw_8000")
    voices = await eleven.voices.get_all()

    assert audio == streamed == silent_mp3(text)
    assert audio[:2] == b"\xff\xfb"
    assert set(telephony) == {0xFF}
    assert [v.voice_id for v in voices.voices] == [elevenlabs_sim.voice_id]
    first = elevenlabs_sim.syntheses[0]
    assert (first["text"], first["model_id"], first["stream"]) == (text, "eleven_flash_v2_5", False)
    assert elevenlabs_sim.syntheses[1]["stream"] is True
    assert elevenlabs_sim.syntheses[2]["output_format"] == "ulaw_8000"
    assert elevenlabs_sim.calls("/v1/voices")[0].headers["xi-api-key"] == elevenlabs_sim.api_key


async def test_elevenlabs_rejects_bad_key_and_unknown_voice(elevenlabs_sim: ElevenLabsSim) -> None:
    async with httpx.AsyncClient() as http:
        wrong = AsyncElevenLabs(
            api_key="sk_wrong", base_url=elevenlabs_sim.base_url, httpx_client=http
        )
        right = AsyncElevenLabs(
            api_key=elevenlabs_sim.api_key, base_url=elevenlabs_sim.base_url, httpx_client=http
        )
        with pytest.raises(ElevenLabsApiError) as unauthorized:
            await _speak(wrong, elevenlabs_sim.voice_id, "hi")
        with pytest.raises(ElevenLabsApiError) as missing:
            await _speak(right, "no-such-voice", "hi")

    assert unauthorized.value.status_code == 401
    assert missing.value.status_code == 404
    assert missing.value.body["detail"]["status"] == "voice_not_found"


async def test_elevenlabs_500_then_our_retry(
    elevenlabs_sim: ElevenLabsSim, eleven: AsyncElevenLabs
) -> None:
    # text_to_speech.convert streams, and the SDK's streaming path never retries.
    elevenlabs_sim.fail(500)

    with pytest.raises(ElevenLabsApiError) as caught:
        await _speak(eleven, elevenlabs_sim.voice_id, "hello")
    audio = await _speak(eleven, elevenlabs_sim.voice_id, "hello")

    assert caught.value.status_code == 500
    assert audio == silent_mp3("hello")
    assert elevenlabs_sim.texts() == ["hello"]


async def test_elevenlabs_429_exposes_retry_after(
    elevenlabs_sim: ElevenLabsSim, eleven: AsyncElevenLabs
) -> None:
    elevenlabs_sim.throttle(retry_after=4)

    with pytest.raises(ElevenLabsApiError) as caught:
        await _speak(eleven, elevenlabs_sim.voice_id, "hello")

    assert caught.value.status_code == 429
    assert caught.value.headers is not None
    assert caught.value.headers["retry-after"] == "4"


async def test_elevenlabs_stall_hits_the_client_timeout(
    elevenlabs_sim: ElevenLabsSim, eleven: AsyncElevenLabs
) -> None:
    elevenlabs_sim.stall()

    with pytest.raises(httpx.ReadTimeout):
        await _speak(
            eleven,
            elevenlabs_sim.voice_id,
            "hello",
            request_options={"timeout_in_seconds": CLIENT_TIMEOUT},
        )


async def test_elevenlabs_malformed_and_forbidden_answers_raise(
    elevenlabs_sim: ElevenLabsSim, eleven: AsyncElevenLabs
) -> None:
    elevenlabs_sim.malformed()
    elevenlabs_sim.forbid()

    with pytest.raises(ElevenLabsApiError) as malformed:
        await eleven.voices.get_all(request_options={"max_retries": 0})
    with pytest.raises(ElevenLabsApiError) as forbidden:
        await _speak(eleven, elevenlabs_sim.voice_id, "hello")

    assert malformed.value.status_code == 200
    assert forbidden.value.status_code == 403


# ---------------------------------------------------------------------------- OpenAI

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "close_assist",
            "description": "Propose closing an assist",
            "parameters": {
                "type": "object",
                "properties": {"assist": {"type": "string"}},
                "required": ["assist"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_metrics",
            "parameters": {
                "type": "object",
                "properties": {"metric": {"type": "string"}, "period": {"type": "string"}},
            },
        },
    },
]


def _openai(sim: OpenAISim, **kwargs: object) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sim.base_url, api_key=sim.api_key, **kwargs)  # type: ignore[arg-type]


async def test_openai_tool_calls_round_trip(openai_sim: OpenAISim) -> None:
    openai_sim.reply_tool_calls(
        [
            ("close_assist", {"assist": "A-1042"}),
            ("get_metrics", {"metric": "resolution_rate", "period": "this_week"}),
        ]
    )
    openai_sim.reply_text("Done: A-1042 proposed for closing.")
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "You are Switchboard."},
        {"role": "user", "content": "close A-1042 and how is resolution rate this week?"},
    ]

    async with _openai(openai_sim) as client:
        first = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            tools=TOOLS,
            tool_choice="auto",  # type: ignore[arg-type]
        )
        calls = first.choices[0].message.tool_calls or []
        second = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                *messages,
                first.choices[0].message.model_dump(exclude_none=True),
                *[{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in calls],
            ],  # type: ignore[list-item]
        )
        models = [m.id async for m in client.models.list()]

    assert first.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("close_assist", {"assist": "A-1042"}),
        ("get_metrics", {"metric": "resolution_rate", "period": "this_week"}),
    ]
    assert second.choices[0].message.content == "Done: A-1042 proposed for closing."
    assert first.usage is not None
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    sent = openai_sim.chat_requests()[0]
    assert sent["tools"] == TOOLS
    assert sent["tool_choice"] == "auto"
    assert sent["messages"] == messages
    assert openai_sim.last_chat_request()["messages"][-1]["tool_call_id"] == calls[-1].id
    assert models == openai_sim.models


async def test_openai_default_and_responder_replies(openai_sim: OpenAISim) -> None:
    async with _openai(openai_sim) as client:
        default = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        openai_sim.responder = lambda body: Reply(content=body["messages"][-1]["content"].upper())
        echoed = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "echo me"}]
        )

    assert default.choices[0].message.content == "OK"
    assert echoed.choices[0].message.content == "ECHO ME"


async def test_openai_rejects_a_wrong_key(openai_sim: OpenAISim) -> None:
    async with openai.AsyncOpenAI(base_url=openai_sim.base_url, api_key="sk-wrong") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.models.list()

    assert caught.value.code == "invalid_api_key"


async def test_openai_sdk_retries_a_500(openai_sim: OpenAISim) -> None:
    openai_sim.fail(500)

    async with _openai(openai_sim, max_retries=1) as client:
        answer = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )

    assert answer.choices[0].message.content == "OK"
    assert [r.fault for r in openai_sim.calls("/chat/completions")] == ["fail", None]


async def test_openai_429_exposes_retry_after(openai_sim: OpenAISim) -> None:
    openai_sim.throttle(retry_after=2)

    async with _openai(openai_sim, max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )

    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.code == "rate_limit_exceeded"


async def test_openai_stall_hits_the_client_timeout(openai_sim: OpenAISim) -> None:
    openai_sim.stall()

    async with _openai(openai_sim, timeout=CLIENT_TIMEOUT, max_retries=0) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )


async def test_openai_malformed_and_forbidden_answers(openai_sim: OpenAISim) -> None:
    openai_sim.malformed()
    openai_sim.malformed(content_type="text/html")
    openai_sim.malformed(content_type="text/html")
    openai_sim.forbid()
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

    async with (
        _openai(openai_sim, max_retries=0) as lenient,
        _openai(openai_sim, max_retries=0, _strict_response_validation=True) as strict,
    ):
        # JSON content type, non-JSON body: a bare json.JSONDecodeError, not an openai error.
        with pytest.raises(json.JSONDecodeError):
            await lenient.chat.completions.create(**request)  # type: ignore[call-overload]
        # Non-JSON content type: the lenient client returns the text instead of a ChatCompletion!
        text = await lenient.chat.completions.create(**request)  # type: ignore[call-overload]
        with pytest.raises(openai.APIResponseValidationError):
            await strict.chat.completions.create(**request)  # type: ignore[call-overload]
        with pytest.raises(openai.PermissionDeniedError):
            await lenient.chat.completions.create(**request)  # type: ignore[call-overload]

    assert isinstance(text, str)
