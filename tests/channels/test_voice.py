"""Voice through Twilio and ElevenLabs: the whole gateway, webhooks signed as Twilio and
ElevenLabs sign them, speech from the ElevenLabs simulator, texts into the Twilio simulator.
Every TwiML answer is read as XML."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from elevenlabs.client import AsyncElevenLabs
from sqlalchemy import select

from channels.voice import webhooks
from channels.voice.elevenlabs import sign
from cli.seed import Seeded, seed_workspace
from storage.db import Database
from storage.domain import Assist, Customer, Proposal
from storage.models import MediaObject, OutboxRow, TaskRow
from storage.types import utcnow
from storage.voice import VoiceCall
from tests.channels.voice_helpers import (
    OUR_NUMBER,
    PUBLIC_BASE_URL,
    WEBHOOK_SECRET,
    Call,
    EchoClassifier,
    GatedClassifier,
    TwiML,
    path_of,
    stored_rows,
    voice_settings,
)
from tests.factories import make_member, make_workspace
from tests.sims.elevenlabs import ElevenLabsSim, post_call_transcription, silent_mp3
from tests.sims.twilio import (
    TwilioSim,
    recording_webhook,
    transcription_webhook,
    twilio_signature,
)

OLIVIA = "+15550100001"  # owner in the seeded workspace
STRANGER = "+15550199999"  # nobody's number
ECHO = {"classifier": EchoClassifier()}
SIGNATURE = "X-Twilio-Signature"


def _sid() -> str:
    return "CA" + uuid.uuid4().hex


async def _seed(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=utcnow() - timedelta(minutes=1))


async def _team(db: Database, number: str = OLIVIA, name: str = "Olivia Owner") -> str:
    async with db.session() as session:
        workspace = await make_workspace(session, name="Acme Support")
        member = await make_member(session, workspace.id, name=name, identities={"sms": number})
        return member.id


async def _call(
    make_client: Any,
    twilio: TwilioSim,
    eleven: ElevenLabsSim | None = None,
    *,
    number: str = OLIVIA,
    build: dict[str, Any] | None = None,
    **settings: Any,
) -> Call:
    client = await make_client(build=build, **voice_settings(twilio, eleven, **settings))
    return Call(client, twilio, number, _sid())


async def _tasks(db: Database) -> list[TaskRow]:
    async with db.session() as session:
        return list(await session.scalars(select(TaskRow).order_by(TaskRow.received_at)))


# ---------------------------------------------------------------------------- member calls


async def test_member_request_is_answered_with_elevenlabs_audio_served_from_a_media_link(
    db: Database, make_client: Any, twilio_sim: TwilioSim, elevenlabs_sim: ElevenLabsSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, elevenlabs_sim, build=ECHO)

    greeting = await call.dial()
    answer = await call.say("How is the inbox doing?")

    assert greeting.gather is not None and greeting.gather.get("input") == "speech"
    assert greeting.gather.get("action") == f"{PUBLIC_BASE_URL}/twilio/voice/gather?turn=1"
    assert answer.gather is not None
    assert answer.gather.get("action") == f"{PUBLIC_BASE_URL}/twilio/voice/gather?turn=2"
    assert [tag for tag, _ in answer.spoken] == ["Play", "Play"]
    assert elevenlabs_sim.texts() == [
        "Hi Olivia, what can I do for you?",
        "You said: How is the inbox doing?",
        "Anything else?",
    ]
    assert {s["voice_id"] for s in elevenlabs_sim.syntheses} == {elevenlabs_sim.voice_id}
    # The link serves exactly the audio ElevenLabs made for the answer.
    link = answer.plays[0]
    assert link.startswith(f"{PUBLIC_BASE_URL}/media/")
    served = await call.client.get(path_of(link))
    assert served.status == 200
    assert served.headers["Content-Type"] == "audio/mpeg"
    assert await served.read() == silent_mp3("You said: How is the inbox doing?")
    forged = await call.client.get(path_of(link)[:-4] + "AAAA")
    assert forged.status == 404
    (task,) = await _tasks(db)
    assert (task.channel, task.external_id, task.sender_address, task.text) == (
        "voice",
        f"{call.call_sid}:1",
        OLIVIA,
        "How is the inbox doing?",
    )
    assert task.reply_route == {"channel": "voice", "address": call.call_sid, "thread": "1"}


async def test_audio_is_cached_by_text_and_voice(
    db: Database, make_client: Any, twilio_sim: TwilioSim, elevenlabs_sim: ElevenLabsSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, elevenlabs_sim, build=ECHO)

    await call.dial()
    first = await call.say("hello")
    second = await call.say("hello")

    # "You said: hello." and "Anything else?" were made once; the second turn reuses both.
    assert elevenlabs_sim.texts().count("You said: hello.") == 1
    assert elevenlabs_sim.texts().count("Anything else?") == 1
    assert first.plays == second.plays
    async with db.session() as session:
        media = list(await session.scalars(select(MediaObject)))
    assert len(media) == 3
    assert all(
        timedelta(minutes=50) < m.expires_at - m.created_at <= timedelta(hours=1) for m in media
    )


async def test_elevenlabs_errors_fall_back_to_say(
    db: Database, make_client: Any, twilio_sim: TwilioSim, elevenlabs_sim: ElevenLabsSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, elevenlabs_sim, build=ECHO)
    await call.dial()
    elevenlabs_sim.fail(500, path="/v1/text-to-speech/" + elevenlabs_sim.voice_id)

    answer = await call.say("what is open?")

    assert answer.spoken == [("Say", "You said: what is open?"), ("Say", "Anything else?")]
    assert answer.gather is not None and answer.gather.get("action", "").endswith("turn=2")


async def test_stalled_elevenlabs_falls_back_to_say_within_the_budget(
    db: Database, make_client: Any, twilio_sim: TwilioSim, elevenlabs_sim: ElevenLabsSim
) -> None:
    await _team(db)
    budget = 3.0
    call = await _call(
        make_client, twilio_sim, elevenlabs_sim, build=ECHO, SWITCHBOARD_VOICE_BUDGET=budget
    )
    await call.dial()
    elevenlabs_sim.stall(times=None)

    started = time.monotonic()
    answer = await call.say("what is open?")
    elapsed = time.monotonic() - started
    tried = len(elevenlabs_sim.calls())
    after = await call.say("and what is pending?")

    assert elapsed < budget  # the one timing assertion: Twilio would have hung up
    assert answer.spoken == [("Say", "You said: what is open?"), ("Say", "Anything else?")]
    assert {r.fault for r in elevenlabs_sim.calls()[1:]} == {"stall"}
    # ElevenLabs is left alone for a while: the next answer does not wait on it again.
    assert after.says == "You said: and what is pending? Anything else?"
    assert len(elevenlabs_sim.calls()) == tried


async def test_an_answer_not_ready_in_time_is_held_then_spoken(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    classifier = GatedClassifier()
    call = await _call(
        make_client,
        twilio_sim,
        build={"classifier": classifier},
        SWITCHBOARD_VOICE_BUDGET=1.5,
    )
    await call.dial()

    held = await call.say("a slow question")
    classifier.gate.set()
    answer = await call.follow()
    while answer.redirect is not None:  # the worker may need a moment after the gate opens
        answer = await call.follow()

    assert held.says == "One moment."
    assert held.gather is None and held.redirect == (
        f"{PUBLIC_BASE_URL}/twilio/voice/gather?turn=1&wait=1"
    )
    assert answer.says == "You said: a slow question. Anything else?"
    assert len(await _tasks(db)) == 1


async def test_an_answer_ready_after_the_caller_hung_up_is_sent_by_text(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    classifier = GatedClassifier()
    call = await _call(
        make_client,
        twilio_sim,
        build={"classifier": classifier},
        SWITCHBOARD_VOICE_BUDGET=1.5,
    )
    await call.dial()
    held = await call.say("a slow question")
    await call.hang_up()

    classifier.gate.set()
    await twilio_sim.wait_for(1, path="/Messages.json", timeout=10)

    assert held.redirect is not None
    (sent,) = twilio_sim.sent(to=OLIVIA)
    assert sent["body"] == "From your call:\nYou said: a slow question"
    async with db.session() as session:
        record = await session.get(VoiceCall, call.call_sid)
    assert record is not None and record.status == "ended" and record.pushed_turns == [1]


async def test_a_retried_gather_is_one_task_answered_once(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, build=ECHO)
    greeting = await call.dial()
    assert greeting.gather is not None
    action = greeting.gather.get("action", "")
    params = call.params(speech="what is open?")

    first = await call.twiml(action, params)
    retried = await call.twiml(action, params)

    assert (
        first.spoken
        == retried.spoken
        == [
            ("Say", "You said: what is open?"),
            ("Say", "Anything else?"),
        ]
    )
    (task,) = await _tasks(db)
    assert task.external_id == f"{call.call_sid}:1"
    async with db.session() as session:
        replies = list(await session.scalars(select(OutboxRow)))
    assert [(r.channel, r.task_id) for r in replies] == [("voice", task.id)]


async def test_the_call_ends_when_the_caller_is_done_or_silent_twice(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, build=ECHO)
    await call.dial()
    await call.say("what is open?")
    done = await call.say("No, that's all, thanks.")

    quiet = Call(call.client, twilio_sim, OLIVIA, _sid())
    await quiet.dial()
    first = await quiet.say("")
    second = await quiet.say("")

    assert done.hangs_up and done.says == "Thanks for calling. Goodbye."
    assert first.gather is not None and not first.hangs_up
    assert first.gather.get("action", "").endswith("turn=1&silent=1")
    assert first.says == "Sorry, I didn't catch that. What can I do for you?"
    assert second.hangs_up and "Goodbye" in second.says
    assert [t.text for t in await _tasks(db)] == ["what is open?"]


# ---------------------------------------------------------------------------- approvals


async def test_a_proposal_is_read_back_and_approved_by_a_spoken_yes(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    seeded = await _seed(db)
    week_ago = utcnow() - timedelta(days=7)
    async with db.session() as session:
        due = {
            a.number
            for a in await session.scalars(
                select(Assist).where(
                    Assist.workspace_id == seeded.workspace_id,
                    Assist.priority == "low",
                    Assist.status != "closed",
                    Assist.created_at < week_ago,
                )
            )
        }
    assert due
    call = await _call(make_client, twilio_sim)
    await call.dial()

    read_back = await call.say("Close every low-priority assist older than a week.")
    approved = await call.say("Yes, please.")

    assert read_back.gather is not None and "yes" in read_back.gather.get("hints", "")
    assert read_back.says.startswith(f"Close {len(due)} assists")
    assert read_back.says.endswith("Say yes to approve or no to cancel.")
    assert "→" not in read_back.says and "(s)" not in read_back.says
    assert approved.says.startswith(f"Done: close {len(due)} assists")
    assert "Say undo within 30 seconds to revert." in approved.says
    async with db.session() as session:
        rows = list(
            await session.scalars(
                select(Assist).where(
                    Assist.workspace_id == seeded.workspace_id, Assist.number.in_(due)
                )
            )
        )
        proposal = await session.scalar(select(Proposal))
    assert {a.status for a in rows} == {"closed"}
    assert proposal is not None and proposal.status == "executed"
    tasks = await _tasks(db)
    approvals = [(t.kind, t.approval or {}) for t in tasks]
    assert [(kind, a.get("decision"), a.get("proposal_id")) for kind, a in approvals] == [
        ("message", None, None),
        ("approval", "approve", proposal.id),
    ]


async def test_a_spoken_no_cancels_the_proposal(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    seeded = await _seed(db)
    call = await _call(make_client, twilio_sim)
    await call.dial()

    read_back = await call.say("Set A-1045 to urgent")
    cancelled = await call.say("No.")
    after = await call.say("no")  # nothing pending any more: "no" ends the call

    assert read_back.says == (
        "Set A 10 45 to urgent priority. A 10 45 priority: low to urgent. "
        "Say yes to approve or no to cancel."
    )
    assert "rejected" in cancelled.says.lower() or "cancel" in cancelled.says.lower()
    assert after.hangs_up
    async with db.session() as session:
        proposal = await session.scalar(select(Proposal))
        assist = await session.scalar(
            select(Assist).where(Assist.workspace_id == seeded.workspace_id, Assist.number == 1045)
        )
    assert proposal is not None and proposal.status == "rejected"
    assert assist is not None and assist.priority == "low"


# ---------------------------------------------------------------------------- pushed after the call


async def test_a_report_is_sent_by_sms_and_the_call_says_where(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _seed(db)
    call = await _call(make_client, twilio_sim)
    await call.dial()

    answer = await call.say("Run the assists report for the last 7 days as CSV")
    await twilio_sim.wait_for(1, path="/Messages.json", timeout=10)

    assert "I've sent the report to your phone by text." in answer.says
    assert answer.says.startswith("Assists report, the last 7 days.")
    (sent,) = twilio_sim.message_params()
    assert (sent["To"], sent["From"]) == (OLIVIA, OUR_NUMBER)
    assert sent["Body"].startswith("From your call:")
    link = sent["MediaUrl"]
    assert link.startswith(f"{PUBLIC_BASE_URL}/media/")
    report = await call.client.get(path_of(link))
    assert report.status == 200
    assert report.headers["Content-Type"].startswith("text/csv")
    assert (await report.text()).startswith("ref,")


# ---------------------------------------------------------------------------- customers


async def test_a_voicemail_becomes_an_assist_with_its_transcript_and_the_brand_label(
    db: Database, make_client: Any, twilio_sim: TwilioSim, elevenlabs_sim: ElevenLabsSim
) -> None:
    seeded = await _seed(db)
    call = await _call(make_client, twilio_sim, elevenlabs_sim, number=STRANGER)
    async with db.session() as session:
        before = await session.scalar(
            select(Assist.number)
            .where(Assist.workspace_id == seeded.workspace_id)
            .order_by(Assist.number.desc())
        )
    assert before is not None

    greeting = await call.dial()
    assert greeting.record is not None
    ids = {"account_sid": twilio_sim.account_sid, "call_sid": call.call_sid}
    parties = {"from_": STRANGER, "to": OUR_NUMBER}
    recorded = recording_webhook(**ids, **parties, duration=21)
    recording_sid = recorded["RecordingSid"]
    said = (
        "Hi, this is Dana. I was charged twice for my order and I'd like a refund, "
        "please call me back."
    )
    transcribed = transcription_webhook(**ids, **parties, recording_sid=recording_sid, text=said)
    callback = greeting.record.get("transcribeCallback", "")
    action = greeting.record.get("action", "")

    goodbye = await call.twiml(action, recorded)
    status, text = await call.post(callback, transcribed)
    again, _ = await call.post(callback, transcribed)  # Twilio retries: still one assist

    assert greeting.record.get("transcribe") == "true"
    assert callback == action == f"{PUBLIC_BASE_URL}/twilio/voice/recording"
    assert greeting.gather is None
    assert [tag for tag, _ in greeting.spoken] == ["Play", "Play"]
    assert elevenlabs_sim.texts()[0] == "Hi! I'm Ava from Demo Co. How can I help?"
    assert goodbye.hangs_up
    assert (status, again) == (200, 200)
    assert TwiML.parse(text).spoken == []
    async with db.session() as session:
        (assist,) = list(
            await session.scalars(
                select(Assist).where(
                    Assist.workspace_id == seeded.workspace_id, Assist.number > before
                )
            )
        )
        customer = await session.get(Customer, assist.customer_id)
        tasks = list(await session.scalars(select(TaskRow)))
    assert assist.number == before + 1
    assert (assist.status, assist.priority, assist.category) == ("open", "normal", "refund")
    assert assist.labels == ["Demo Co"]
    assert "voicemail" in assist.tags
    (entry,) = assist.transcript
    assert entry["text"] == said
    assert entry["recording_url"] == recorded["RecordingUrl"]
    assert entry["duration_seconds"] == 21
    assert said in assist.summary
    assert customer is not None and customer.phone == STRANGER
    assert assist.customer_details["phone"] == STRANGER
    # One record of the voicemail, finished: no operator work ever ran for the stranger.
    assert [(t.kind, t.status, t.external_id) for t in tasks] == [
        ("voicemail", "done", f"voicemail:{recording_sid}")
    ]


async def test_a_failed_transcription_still_leaves_an_assist(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, number=STRANGER)
    greeting = await call.dial()
    ids = {"account_sid": twilio_sim.account_sid, "call_sid": call.call_sid}
    parties = {"from_": STRANGER, "to": OUR_NUMBER}
    recorded = recording_webhook(**ids, **parties)
    failed = transcription_webhook(
        **ids, **parties, recording_sid=recorded["RecordingSid"], text=None
    )

    # The transcription callback may come first: it opens the assist, the recording joins it.
    assert greeting.record is not None
    await call.post(greeting.record.get("transcribeCallback", ""), failed)
    await call.twiml(greeting.record.get("action", ""), recorded)

    async with db.session() as session:
        (assist,) = list(await session.scalars(select(Assist)))
    assert assist.labels == ["Acme Support"]
    assert assist.transcript[0]["text"] == ""
    assert "not available" in assist.summary


async def test_a_caller_who_records_nothing_gets_no_assist(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, number=STRANGER)
    greeting = await call.dial()
    assert greeting.record is not None
    empty = recording_webhook(
        account_sid=twilio_sim.account_sid,
        call_sid=call.call_sid,
        from_=STRANGER,
        to=OUR_NUMBER,
        duration=0,
    )

    goodbye = await call.twiml(greeting.record.get("action", ""), empty)

    assert goodbye.hangs_up
    assert (await stored_rows(db))["assists"] == 0


# ---------------------------------------------------------------------------- refusals


async def test_unsigned_and_forged_twilio_requests_are_refused_storing_nothing(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, build=ECHO)
    before = await stored_rows(db)
    start = call.params()
    recorded = recording_webhook(
        account_sid=twilio_sim.account_sid, call_sid=call.call_sid, from_=OLIVIA, to=OUR_NUMBER
    )
    routes = [
        ("/twilio/voice", start),
        ("/twilio/voice/gather?turn=1", call.params(speech="close everything")),
        ("/twilio/voice/recording", recorded),
    ]
    wrong_token = "x" * len(twilio_sim.auth_token)

    answers = []
    for url, params in routes:
        answers.append(await call.post(url, params, sign=False))
        answers.append(await call.post(url, params, token=wrong_token))
        # Signed for another URL: a gather of turn 1 replayed as turn 2, a local address.
        signed = twilio_signature(twilio_sim.auth_token, PUBLIC_BASE_URL + url + "2", params)
        response = await call.client.post(url, data=params, headers={SIGNATURE: signed})
        answers.append((response.status, await response.text()))
        tampered = {**params, "From": STRANGER}
        signed = twilio_signature(twilio_sim.auth_token, PUBLIC_BASE_URL + url, params)
        response = await call.client.post(url, data=tampered, headers={SIGNATURE: signed})
        answers.append((response.status, await response.text()))
    malformed = [
        await call.post("/twilio/voice", {**start, "CallSid": "CA-not-a-sid"}),
        await call.post("/twilio/voice/gather?turn=x", call.params(speech="hi")),
        await call.post("/twilio/voice/recording", {**recorded, "RecordingSid": ""}),
    ]

    assert [status for status, _ in answers] == [403] * len(answers)
    assert all("Twilio-Signature" in text for _, text in answers)
    assert [status for status, _ in malformed] == [400, 400, 400]
    assert await stored_rows(db) == before


# ---------------------------------------------------------------------------- ElevenLabs webhook


async def _post_call(
    call: Call, payload: Any, *, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[int, dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["ElevenLabs-Signature"] = sign(body, secret, at or int(time.time()))
    response = await call.client.post("/elevenlabs/webhook", data=body, headers=headers)
    return response.status, await response.json()


async def test_a_member_call_with_the_agent_becomes_a_task_answered_by_text(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, build=ECHO)
    payload = post_call_transcription(
        caller=OLIVIA,
        called=OUR_NUMBER,
        turns=[
            ("agent", "Hi, this is the Acme operator line. How can I help?"),
            ("user", "What is open in the inbox?"),
            ("agent", "I'll pass that on."),
            ("user", "Thanks."),
        ],
    )

    status, body = await _post_call(call, payload)
    again, repeated = await _post_call(call, payload)
    await twilio_sim.wait_for(1, path="/Messages.json", timeout=10)

    assert (status, again) == (200, 200)
    assert repeated == {**body, "duplicate": True}
    (task,) = await _tasks(db)
    assert task.id == body["task_id"]
    assert (task.channel, task.sender_address, task.text) == (
        "voice",
        OLIVIA,
        "What is open in the inbox? Thanks.",
    )
    assert task.external_id == f"elevenlabs:{payload['data']['conversation_id']}"
    (sent,) = twilio_sim.sent(to=OLIVIA)
    assert sent["body"] == "You said: What is open in the inbox? Thanks."


async def test_a_customer_call_with_the_agent_becomes_an_assist(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, build=ECHO)
    payload = post_call_transcription(
        caller=STRANGER,
        called=OUR_NUMBER,
        turns=[
            ("agent", "Thanks for calling Acme. How can I help?"),
            ("user", "My package never arrived and the tracking has not moved in a week."),
            ("agent", "I'm sorry. I'll ask a teammate to look into it."),
        ],
        summary="The customer's package has not arrived; tracking is stuck.",
    )

    status, body = await _post_call(call, payload)

    assert status == 200 and body["assist"] == "A-1001"
    async with db.session() as session:
        (assist,) = list(await session.scalars(select(Assist)))
        (task,) = list(await session.scalars(select(TaskRow)))
    assert assist.category == "shipping" and assist.labels == ["Acme Support"]
    assert assist.summary == "The customer's package has not arrived; tracking is stuck."
    assert [(t["from"], t["text"]) for t in assist.transcript] == [
        ("agent", "Thanks for calling Acme. How can I help?"),
        ("customer", "My package never arrived and the tracking has not moved in a week."),
        ("agent", "I'm sorry. I'll ask a teammate to look into it."),
    ]
    assert (task.status, task.kind) == ("done", "escalation")
    assert twilio_sim.sent() == []


async def test_elevenlabs_signatures_replay_window_and_bodies(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db)
    call = await _call(make_client, twilio_sim, build=ECHO)
    payload = post_call_transcription(
        caller=OLIVIA, called=OUR_NUMBER, turns=[("user", "close everything")]
    )
    before = await stored_rows(db)
    now = int(time.time())

    refused = [
        await _post_call(call, payload, secret=""),
        await _post_call(call, payload, secret="wsec_someone_else"),
        await _post_call(call, payload, at=now - 31 * 60),  # a replay, too old
        await _post_call(call, payload, at=now + 31 * 60),
    ]
    body = json.dumps(payload).encode()
    tampered = body.replace(b"close everything", b"close nothing!!!")
    headers = {"ElevenLabs-Signature": sign(body, WEBHOOK_SECRET, now)}
    response = await call.client.post("/elevenlabs/webhook", data=tampered, headers=headers)
    refused.append((response.status, await response.json()))
    malformed = [
        await _post_call(call, b"{not json"),
        await _post_call(call, [1, 2, 3]),
        await _post_call(call, {"type": "post_call_transcription", "data": {"transcript": []}}),
        await _post_call(call, {**payload, "data": {**payload["data"], "transcript": "hi"}}),
    ]
    ignored = await _post_call(call, {"type": "post_call_audio", "data": {"full_audio": "AAAA"}})
    after = await stored_rows(db)
    within = await _post_call(call, payload, at=now - 29 * 60)

    assert [status for status, _ in refused] == [401] * 5
    assert [status for status, _ in malformed] == [400] * 4
    assert ignored == (200, {"status": "ignored", "type": "post_call_audio"})
    assert after == before
    assert within[0] == 200 and len(await _tasks(db)) == 1


async def test_our_elevenlabs_signature_is_the_one_the_sdk_checks() -> None:
    body = json.dumps(
        post_call_transcription(caller=OLIVIA, called=OUR_NUMBER, turns=[("user", "hi")])
    )
    header = sign(body.encode(), WEBHOOK_SECRET, int(time.time()))

    async with httpx.AsyncClient() as http:
        event = AsyncElevenLabs(api_key="unused", httpx_client=http).webhooks.construct_event(
            body, header, WEBHOOK_SECRET
        )

    assert event["data"]["transcript"][0]["message"] == "hi"


async def test_voice_routes_answer_404_when_the_channel_is_off(
    make_client: Any, twilio_sim: TwilioSim
) -> None:
    client = await make_client()
    call = Call(client, twilio_sim, OLIVIA, _sid())

    answers = [
        await call.post("/twilio/voice", call.params()),
        await call.post("/twilio/voice/gather", call.params(speech="hi")),
        await call.post("/twilio/voice/recording", call.params()),
        await call.post("/elevenlabs/webhook", {}),
    ]

    assert [status for status, _ in answers] == [404] * 4
    assert "TWILIO_ACCOUNT_SID" in answers[0][1]
    assert "ELEVENLABS_WEBHOOK_SECRET" in answers[3][1]


async def test_after_several_holds_the_answer_goes_by_text(
    db: Database, make_client: Any, twilio_sim: TwilioSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "MAX_HOLDS", 1)
    await _team(db)
    classifier = GatedClassifier()
    call = await _call(
        make_client,
        twilio_sim,
        build={"classifier": classifier},
        SWITCHBOARD_VOICE_BUDGET=1.5,
    )
    await call.dial()

    held = await call.say("a very slow question")
    handed_off = await call.follow()
    classifier.gate.set()
    await twilio_sim.wait_for(1, path="/Messages.json", timeout=10)
    goodbye = await call.say("That's all.")

    assert held.says == "One moment."
    assert handed_off.says == (
        "This is taking longer than usual, so I'll send the answer to your phone by text "
        "when it's ready. Anything else?"
    )
    assert handed_off.gather is not None
    assert handed_off.gather.get("action", "").endswith("turn=2")
    (sent,) = twilio_sim.sent(to=OLIVIA)
    assert sent["body"] == "From your call:\nYou said: a very slow question"
    assert goodbye.hangs_up
    assert len(await _tasks(db)) == 1
